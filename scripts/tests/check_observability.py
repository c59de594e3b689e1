"""The real `gateway serve`'s /metrics after some calls, checked by promtool,
and the Grafana dashboard (deploy/grafana/agent-gateway.json) checked against
it: valid JSON, every PromQL expression parses (promtool check rules), and
every metric name it queries is in the real exposition.

Run by scripts/test:  python3 scripts/tests/check_observability.py
Needs: GATEWAY_BIN (or $CARGO_TARGET_DIR/debug/gateway), promtool
(scripts/setup-ops), the echo test component the host tests build.
"""

import json
import os
import pathlib
import re
import shutil
import subprocess
import tempfile
import time
import unittest
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "grafana" / "agent-gateway.json"
CALLS = 4


def gateway_bin():
    explicit = os.environ.get("GATEWAY_BIN")
    if explicit:
        return explicit
    target = os.environ.get(
        "CARGO_TARGET_DIR", str(pathlib.Path.home() / ".cache/agent-gateway/target")
    )
    return str(pathlib.Path(target) / "debug" / "gateway")


def echo_component():
    wasm_target = os.environ.get(
        "GATEWAY_WASM_TARGET_DIR",
        str(pathlib.Path.home() / ".cache/agent-gateway/wasm-target"),
    )
    return pathlib.Path(wasm_target) / "wasm32-wasip2" / "release" / "echo.wasm"


def post_call(port, call_id):
    meta = {
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientInfo": {"name": "t", "version": "1"},
        "io.modelcontextprotocol/clientCapabilities": {},
    }
    body = {
        "jsonrpc": "2.0",
        "id": call_id,
        "method": "tools/call",
        "params": {"name": "echo", "arguments": {"text": f"hi-{call_id}"}, "_meta": meta},
    }
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/mcp",
        data=json.dumps(body).encode(),
        headers={
            "content-type": "application/json",
            "accept": "application/json, text/event-stream",
            "mcp-protocol-version": "2026-07-28",
            "mcp-method": "tools/call",
            "mcp-name": "echo",
        },
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


class RealMetrics(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if shutil.which("promtool") is None:
            raise AssertionError("promtool not found: run scripts/setup-ops (Debian package prometheus)")
        binary = gateway_bin()
        if not os.path.exists(binary):
            raise AssertionError(f"no gateway binary at {binary}: build it or set GATEWAY_BIN")
        cls.dir = tempfile.TemporaryDirectory()
        root = pathlib.Path(cls.dir.name)
        tool = root / "tools" / "echo"
        tool.mkdir(parents=True)
        (tool / "tool.toml").write_text('name = "echo"\n')
        shutil.copy(echo_component(), tool / "tool.wasm")
        (root / "gateway.toml").write_text(
            'tools_dir = "tools"\nfields_dir = "fields"\ncache_dir = "cache"\n'
        )
        cls.proc = subprocess.Popen(
            [binary, "--config", str(root / "gateway.toml"), "serve",
             "--transport", "http", "--port", "0"],
            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
        )
        cls.port = None
        deadline = time.monotonic() + 120
        for line in cls.proc.stderr:
            match = re.search(r"listening on http://127\.0\.0\.1:(\d+)/mcp", line)
            if match:
                cls.port = int(match.group(1))
                break
            if time.monotonic() > deadline:
                break
        if cls.port is None:
            cls.proc.kill()
            raise AssertionError("gateway serve did not start listening")
        for call_id in range(1, CALLS + 1):
            reply = post_call(cls.port, call_id)
            assert reply["result"]["isError"] is False, reply
        with urllib.request.urlopen(f"http://127.0.0.1:{cls.port}/metrics", timeout=30) as r:
            cls.content_type = r.headers["content-type"]
            cls.exposition = r.read().decode()

    @classmethod
    def tearDownClass(cls):
        cls.proc.terminate()
        cls.proc.wait(timeout=60)
        cls.dir.cleanup()

    def test_promtool_accepts_the_real_exposition(self):
        checked = subprocess.run(
            ["promtool", "check", "metrics"], input=self.exposition,
            capture_output=True, text=True,
        )
        self.assertEqual(checked.returncode, 0, checked.stdout + checked.stderr)
        self.assertEqual(self.content_type, "text/plain; version=0.0.4; charset=utf-8")

    def test_the_calls_made_are_counted(self):
        series = 'gateway_tool_calls_total{tool="echo",team="",outcome="ok"}'
        values = [float(line.split()[-1]) for line in self.exposition.splitlines()
                  if line.startswith(series + " ")]
        self.assertEqual(values, [float(CALLS)])

    def test_the_dashboard_queries_only_metrics_that_exist_and_parses(self):
        dashboard = json.loads(DASHBOARD.read_text())
        exprs = [target["expr"] for panel in dashboard["panels"]
                 for target in panel.get("targets", [])]
        self.assertGreaterEqual(len(exprs), 4)
        names = set()
        for expr in exprs:
            names.update(re.findall(r"\bgateway_[a-z0-9_]+", expr))
        exposed = set(re.findall(r"^(?:# TYPE )?(gateway_[a-z0-9_]+)", self.exposition, re.M))
        self.assertEqual(sorted(names - exposed), [])
        for query in (v["definition"] for v in dashboard["templating"]["list"] if "definition" in v):
            self.assertEqual(sorted(set(re.findall(r"\bgateway_[a-z0-9_]+", query)) - exposed), [])
        # Every expression, with Grafana's variables filled in, is PromQL
        # promtool parses (as recording rules).
        concrete = [
            expr.replace("$__rate_interval", "5m").replace("$__range", "1h")
            .replace("$__interval", "1m").replace("$tool", ".*").replace("$team", ".*")
            for expr in exprs
        ]
        rules = {"groups": [{"name": "dashboard", "rules": [
            {"record": f"dashboard:expr{i}", "expr": expr} for i, expr in enumerate(concrete)
        ]}]}
        with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as f:
            json.dump(rules, f)  # JSON is YAML
            path = f.name
        try:
            checked = subprocess.run(["promtool", "check", "rules", path],
                                     capture_output=True, text=True)
        finally:
            os.unlink(path)
        self.assertEqual(checked.returncode, 0, checked.stdout + checked.stderr)


if __name__ == "__main__":
    unittest.main()
