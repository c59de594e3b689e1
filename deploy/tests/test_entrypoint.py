"""The image's entrypoint (deploy/docker/entrypoint.sh), run directly against
the gateway binary named by GATEWAY_BIN, as the container would run it: it
serves /mcp, becomes the gateway itself (so SIGTERM drains it and it exits 0),
refuses 0.0.0.0 without [auth], turns GATEWAY_ALLOWED_HOSTS into the Host
check, and hands other commands to the gateway.

No container engine here: the image's build is not exercised, only its
entrypoint, its paths given through the environment.
"""

import http.server
import json
import os
import signal
import socketserver
import subprocess
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ENTRYPOINT = ROOT / "deploy/docker/entrypoint.sh"
GATEWAY = os.environ.get("GATEWAY_BIN", "")
DEADLINE = 60.0


def post(port, body, host=None, key=None):
    """A stateless (2026-07-28) JSON-RPC POST to /mcp on 127.0.0.1: (status, JSON or None)."""
    meta = {
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientInfo": {"name": "t", "version": "1"},
        "io.modelcontextprotocol/clientCapabilities": {},
    }
    body = dict(body)
    body["params"] = dict(body.get("params", {}), _meta=meta)
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/mcp",
        data=json.dumps(body).encode(),
        method="POST",
        headers={
            "content-type": "application/json",
            "accept": "application/json, text/event-stream",
            "mcp-protocol-version": "2026-07-28",
            "mcp-method": body["method"],
        },
    )
    if host:
        request.add_header("host", host)
    if key:
        request.add_header("authorization", f"Bearer {key}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            text = response.read().decode()
            status = response.status
    except urllib.error.HTTPError as e:
        return e.code, None
    try:
        return status, json.loads(text)
    except json.JSONDecodeError:
        for line in text.splitlines():
            if line.startswith("data:"):
                return status, json.loads(line[5:])
        return status, None


@unittest.skipUnless(GATEWAY, "GATEWAY_BIN names the gateway binary")
class Entrypoint(unittest.TestCase):
    def setUp(self):
        self.dir = Path(tempfile.mkdtemp(prefix="entrypoint-"))
        self.tools = self.dir / "tools"
        self.fields = self.dir / "fields"
        self.tools.mkdir()
        self.fields.mkdir()
        self.cache = self.dir / "cache"
        self.procs = []

    def tearDown(self):
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            for stream in (proc.stdout, proc.stderr):
                if stream:
                    stream.close()
        subprocess.run(["rm", "-rf", str(self.dir)], check=False)

    def env(self, **extra):
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("MCP_", "GATEWAY_")) and k != "XDG_CACHE_HOME"
        }
        env.update(
            GATEWAY_BIN=GATEWAY,
            GATEWAY_TOOLS_DIR=str(self.tools),
            GATEWAY_FIELDS_DIR=str(self.fields),
            XDG_CACHE_HOME=str(self.cache),
            MCP_SERVER_PORT="0",
        )
        env.update(extra)
        return env

    def keys_config(self):
        """gateway.toml with team keys, and one key for team `ops`."""
        keys = self.dir / "keys.toml"
        created = subprocess.run(
            [GATEWAY, "keys", "create", "--team", "ops", "--tools", "*", "--file", str(keys)],
            capture_output=True, text=True, check=True,
        )
        config = self.dir / "gateway.toml"
        config.write_text(f'[auth]\nmode = "keys"\nkeys_file = "{keys}"\n')
        return config, created.stdout.strip()

    def start(self, env, *args):
        proc = subprocess.Popen(
            ["sh", str(ENTRYPOINT), *args],
            env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, text=True,
        )
        self.procs.append(proc)
        return proc

    def port_of(self, proc):
        """The port from the gateway's `listening on http://HOST:PORT/mcp` line."""
        lines = []
        deadline = time.monotonic() + DEADLINE
        while time.monotonic() < deadline:
            line = proc.stderr.readline()
            if not line:
                self.fail(f"exited {proc.wait()} before listening:\n{''.join(lines)}")
            lines.append(line)
            if "listening on http://" in line:
                address = line.split("http://", 1)[1].split("/", 1)[0]
                threading.Thread(target=proc.stderr.read, daemon=True).start()
                return int(address.rsplit(":", 1)[1])
        self.fail("never listened")

    def test_serves_mcp_as_the_gateway_itself_and_sigterm_exits_0(self):
        config, key = self.keys_config()
        # The image's defaults: http on 0.0.0.0 (allowed: [auth] is on).
        proc = self.start(self.env(GATEWAY_CONFIG=str(config)))
        port = self.port_of(proc)

        status, answer = post(port, {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}, key=key)
        self.assertEqual(status, 200)
        names = [t["name"] for t in answer["result"]["tools"]]
        self.assertIn("health_check", names)
        status, _ = post(port, {"jsonrpc": "2.0", "id": 2, "method": "tools/list"})
        self.assertEqual(status, 401)

        # exec: the entrypoint's process is the gateway, so the signal is its.
        self.assertEqual(Path(f"/proc/{proc.pid}/comm").read_text().strip(), "gateway")
        proc.send_signal(signal.SIGTERM)
        self.assertEqual(proc.wait(timeout=DEADLINE), 0)

    def test_refuses_all_interfaces_without_auth(self):
        proc = self.start(self.env())
        self.assertEqual(proc.wait(timeout=DEADLINE), 1)

    def test_loopback_without_auth_serves(self):
        proc = self.start(self.env(MCP_SERVER_HOST="127.0.0.1"))
        port = self.port_of(proc)
        status, _ = post(port, {"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
        self.assertEqual(status, 200)
        proc.send_signal(signal.SIGTERM)
        self.assertEqual(proc.wait(timeout=DEADLINE), 0)

    def test_allowed_hosts_from_the_environment(self):
        proc = self.start(self.env(
            MCP_SERVER_HOST="127.0.0.1",
            GATEWAY_ALLOWED_HOSTS="gateway.example.com, agw.tools.svc",
        ))
        port = self.port_of(proc)
        request = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
        self.assertEqual(post(port, request, host=f"gateway.example.com:{port}")[0], 200)
        self.assertEqual(post(port, request, host="agw.tools.svc")[0], 200)
        self.assertEqual(post(port, request, host="elsewhere.example.com")[0], 403)

    def test_bad_settings_are_refused_before_the_gateway_starts(self):
        for extra in (
            {"MCP_SERVER_PORT": "eighty"},
            {"MCP_TRANSPORT": "websocket"},
            {"GATEWAY_TOOLS_DIR": str(self.dir / "missing")},
            {"GATEWAY_CONFIG": str(self.dir / "missing.toml")},
        ):
            with self.subTest(extra=extra):
                proc = self.start(self.env(MCP_SERVER_HOST="127.0.0.1", **extra))
                self.assertEqual(proc.wait(timeout=DEADLINE), 64)

    def test_other_commands_reach_the_gateway(self):
        config, _ = self.keys_config()
        listed = subprocess.run(
            ["sh", str(ENTRYPOINT), "keys", "list", "--file", str(self.dir / "keys.toml")],
            env=self.env(GATEWAY_CONFIG=str(config)), capture_output=True, text=True,
        )
        self.assertEqual(listed.returncode, 0)
        self.assertEqual(listed.stdout.split()[1], "ops")


class Handler(http.server.BaseHTTPRequestHandler):
    status = 200

    def do_GET(self):  # noqa: N802 (the standard library's name)
        self.send_response(self.status if self.path == "/healthz" else 404)
        self.end_headers()

    def log_message(self, *args):
        pass


class Healthcheck(unittest.TestCase):
    """`entrypoint.sh healthcheck`, the image's HEALTHCHECK, against a real
    HTTP server on 127.0.0.1 standing where the gateway listens."""

    def run_check(self, port, host="0.0.0.0"):
        env = dict(os.environ, MCP_SERVER_PORT=str(port), MCP_SERVER_HOST=host)
        return subprocess.run(["sh", str(ENTRYPOINT), "healthcheck"], env=env,
                              capture_output=True).returncode

    def serve(self, status):
        handler = type("H", (Handler,), {"status": status})
        server = socketserver.TCPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self.addCleanup(server.server_close)
        self.addCleanup(server.shutdown)
        return server.server_address[1]

    def test_healthy_when_healthz_answers_2xx(self):
        port = self.serve(200)
        self.assertEqual(self.run_check(port), 0)
        self.assertEqual(self.run_check(port, host="127.0.0.1"), 0)

    def test_unhealthy_on_an_error_or_nothing_listening(self):
        self.assertEqual(self.run_check(self.serve(503)), 22)  # curl --fail
        with socketserver.TCPServer(("127.0.0.1", 0), Handler) as closed:
            port = closed.server_address[1]
        self.assertEqual(self.run_check(port), 7)  # curl: could not connect


if __name__ == "__main__":
    unittest.main()
