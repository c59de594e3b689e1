"""The Helm chart (deploy/helm/agent-gateway), rendered with the pinned helm
and checked: `helm lint --strict`, every rendered object against the
Kubernetes schemas (kubernetes-validate --strict) and yamllint, the settings
that make a pod behave (grace periods, probes, security context, git-sync,
allowed hosts), and the rendered gateway.toml accepted by the real gateway
(GATEWAY_BIN), whose Host check then admits the Service's DNS names.

Tools come from scripts/setup-deploy (DEPLOY_VENV, default
~/.cache/agent-gateway/deploy-venv). Run with that venv's python (PyYAML).
"""

import json
import os
import signal
import subprocess
import tempfile
import threading
import time
import tomllib
import unittest
import urllib.error
import urllib.request
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy/helm/agent-gateway"
YAMLLINT_CONFIG = ROOT / "deploy/helm/.yamllint"
VENV = Path(os.environ.get("DEPLOY_VENV", Path.home() / ".cache/agent-gateway/deploy-venv"))
HELM = VENV / "bin/helm"
GATEWAY = os.environ.get("GATEWAY_BIN", "")
RELEASE, NAMESPACE = "gw", "tools"
SERVICE = "gw-agent-gateway"


def helm(*args):
    return subprocess.run([str(HELM), *args], capture_output=True, text=True)


def render(values):
    done = helm("template", RELEASE, str(CHART), "-n", NAMESPACE, "-f", str(CHART / "ci" / values))
    if done.returncode != 0:
        raise AssertionError(done.stderr)
    return done.stdout


def objects(text):
    return {(o["kind"], o["metadata"]["name"]): o for o in yaml.safe_load_all(text) if o}


@unittest.skipUnless(HELM.exists(), "scripts/setup-deploy installs helm")
class Chart(unittest.TestCase):
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        cls.dir = Path(tempfile.mkdtemp(prefix="chart-"))
        cls.rendered = {}
        for values in ("keys-values.yaml", "oauth-values.yaml"):
            text = render(values)
            path = cls.dir / values.replace("-values", "-rendered")
            path.write_text(text)
            cls.rendered[values] = (path, objects(text))

    @classmethod
    def tearDownClass(cls):
        subprocess.run(["rm", "-rf", str(cls.dir)], check=False)

    def test_lint_schemas_and_yamllint(self):
        for values in self.rendered:
            with self.subTest(values=values):
                lint = helm("lint", "--strict", str(CHART), "-f", str(CHART / "ci" / values))
                self.assertEqual(lint.returncode, 0, lint.stdout + lint.stderr)
        paths = [str(p) for p, _ in self.rendered.values()]
        validate = subprocess.run(
            [str(VENV / "bin/kubernetes-validate"), "--strict", "--quiet", *paths],
            capture_output=True, text=True)
        self.assertEqual(validate.returncode, 0, validate.stdout + validate.stderr)
        lint = subprocess.run(
            [str(VENV / "bin/yamllint"), "--strict", "-c", str(YAMLLINT_CONFIG), *paths,
             str(CHART / "values.yaml"), str(CHART / "Chart.yaml"), str(CHART / "ci")],
            capture_output=True, text=True)
        self.assertEqual(lint.returncode, 0, lint.stdout + lint.stderr)

    def test_unsafe_or_incomplete_values_are_refused(self):
        # Defaults: team keys, but no Secret named.
        self.assertNotEqual(helm("template", RELEASE, str(CHART)).returncode, 0)
        for sets in (
            ["gateway.auth.mode=none", "gateway.secrets.existingSecret=s"],
            ["gateway.auth.mode=basic", "gateway.secrets.existingSecret=s"],
            ["gitSync.enabled=false", "gateway.secrets.existingSecret=s"],
        ):
            with self.subTest(sets=sets):
                args = [a for s in sets for a in ("--set", s)]
                self.assertNotEqual(helm("template", RELEASE, str(CHART), *args).returncode, 0)
        # values.schema.json: one wrong value in otherwise good values.
        good = ["-f", str(CHART / "ci/keys-values.yaml")]
        self.assertEqual(helm("template", RELEASE, str(CHART), *good).returncode, 0)
        for wrong in ("replicaCount=three", "gitSync.image.tag=v3.6.9", "gateway.auth.mode=basic",
                      "networkPolicy.egress.httpsCidrs={example.com}", "gateway.secrets.env.bad-name=key",
                      "gitSync.link=a/b", "gateway.shutdownGraceMs=0"):
            with self.subTest(wrong=wrong):
                self.assertNotEqual(helm("template", RELEASE, str(CHART), *good, "--set", wrong).returncode, 0)

    def deployment(self, values="keys-values.yaml"):
        return self.rendered[values][1][("Deployment", SERVICE)]

    def config(self, values="keys-values.yaml"):
        return self.rendered[values][1][("ConfigMap", SERVICE)]["data"]["gateway.toml"]

    def test_the_pod_drains_before_it_is_killed(self):
        pod = self.deployment()["spec"]["template"]["spec"]
        gateway = pod["containers"][0]
        grace_ms = tomllib.loads(self.config())["server"]["shutdown_grace_ms"]
        env = {e["name"]: e.get("value") for e in gateway["env"]}
        self.assertEqual(int(env["GATEWAY_SHUTDOWN_GRACE_MS"]), grace_ms)
        pre_stop = gateway["lifecycle"]["preStop"]["exec"]["command"]
        self.assertEqual(pre_stop[0], "/bin/sleep")
        self.assertGreater(pod["terminationGracePeriodSeconds"] * 1000, int(pre_stop[1]) * 1000 + grace_ms)
        probes = {k: gateway[k]["httpGet"] for k in ("startupProbe", "readinessProbe", "livenessProbe")}
        self.assertEqual({k: p["path"] for k, p in probes.items()},
                         {"startupProbe": "/readyz", "readinessProbe": "/readyz", "livenessProbe": "/healthz"})
        for probe in probes.values():
            self.assertEqual(probe["httpHeaders"], [{"name": "Host", "value": "localhost"}])
        pdb = self.rendered["keys-values.yaml"][1][("PodDisruptionBudget", SERVICE)]
        self.assertEqual(pdb["spec"]["maxUnavailable"], 1)

    def test_every_container_is_locked_down(self):
        pod = self.deployment()["spec"]["template"]["spec"]
        self.assertTrue(pod["securityContext"]["runAsNonRoot"])
        self.assertFalse(pod["automountServiceAccountToken"])
        containers = pod["containers"] + pod["initContainers"]
        self.assertEqual([c["name"] for c in containers], ["gateway", "git-sync", "git-sync-init"])
        for c in containers:
            with self.subTest(container=c["name"]):
                sc = c["securityContext"]
                self.assertTrue(sc["readOnlyRootFilesystem"])
                self.assertFalse(sc["allowPrivilegeEscalation"])
                self.assertEqual(sc["capabilities"]["drop"], ["ALL"])
                self.assertEqual(sc["seccompProfile"]["type"], "RuntimeDefault")
        mounts = {m["mountPath"]: m for m in pod["containers"][0]["volumeMounts"]}
        writable = sorted(p for p, m in mounts.items() if not m.get("readOnly"))
        self.assertEqual(writable, ["/tmp", "/var/cache/agent-gateway"])

    def test_git_sync_feeds_the_folders_the_gateway_reads(self):
        pod = self.deployment()["spec"]["template"]["spec"]
        gateway, sync = pod["containers"]
        init = pod["initContainers"][0]
        repository, tag = sync["image"].rsplit(":", 1)
        self.assertEqual(repository, "registry.k8s.io/git-sync/git-sync")
        self.assertEqual(tag.split(".")[0], "v4")
        self.assertEqual(init["image"], sync["image"])
        args = dict(a.removeprefix("--").split("=", 1) for a in sync["args"])
        self.assertEqual((args["root"], args["link"], args["ref"]), ("/git", "current", "served"))
        self.assertEqual(args["max-failures"], "-1")
        self.assertIn("--one-time", init["args"])
        self.assertNotIn("--max-failures=-1", init["args"])
        env = {e["name"]: e.get("value") for e in gateway["env"]}
        self.assertEqual(env["GATEWAY_TOOLS_DIR"], "/git/current/tools-wasm")
        self.assertEqual(env["GATEWAY_FIELDS_DIR"], "/git/current/fields")
        gateway_git = [m for m in gateway["volumeMounts"] if m["name"] == "git"]
        self.assertEqual(gateway_git, [{"name": "git", "mountPath": "/git", "readOnly": True}])
        self.assertEqual([v for v in pod["volumes"] if v["name"] == "git"], [{"name": "git", "emptyDir": {}}])

    def test_network_policy_opens_the_mcp_port_dns_and_https(self):
        policy = self.rendered["keys-values.yaml"][1][("NetworkPolicy", SERVICE)]["spec"]
        self.assertEqual(policy["policyTypes"], ["Ingress", "Egress"])
        self.assertEqual(policy["ingress"][0]["ports"], [{"port": "mcp", "protocol": "TCP"}])
        ports = sorted((p["port"], p["protocol"]) for rule in policy["egress"] for p in rule["ports"])
        self.assertEqual(ports, [(53, "TCP"), (53, "UDP"), (443, "TCP")])
        https = policy["egress"][1]["to"]
        self.assertEqual(https, [{"ipBlock": {"cidr": "203.0.113.0/24"}}])

    def test_rendered_config_names_the_service_and_auth(self):
        keys = tomllib.loads(self.config())
        self.assertEqual(keys["server"]["allowed_hosts"], [
            SERVICE, f"{SERVICE}.{NAMESPACE}", f"{SERVICE}.{NAMESPACE}.svc",
            f"{SERVICE}.{NAMESPACE}.svc.cluster.local", "gateway.example.com"])
        self.assertEqual(keys["auth"], {"mode": "keys", "keys_file": "/etc/agent-gateway/keys/keys.toml"})
        self.assertEqual(keys["integrations"]["stripe"]["secrets"], ["STRIPE_API_KEY"])
        oauth = tomllib.loads(self.config("oauth-values.yaml"))
        self.assertEqual(oauth["auth"]["mode"], "oauth")
        self.assertEqual(oauth["auth"]["oauth"]["issuer"], "https://sso.example.com/realms/acme")
        self.assertEqual(oauth["auth"]["teams"]["finance"]["tools"], ["stripe_*", "hubspot_*"])

    @unittest.skipUnless(GATEWAY, "GATEWAY_BIN names the gateway binary")
    def test_the_gateway_accepts_the_rendered_config(self):
        tools = self.dir / "tools"
        tools.mkdir(exist_ok=True)
        # OAuth: parsed and checked (serving would fetch the issuer's keys).
        oauth = self.dir / "oauth.toml"
        oauth.write_text(self.config("oauth-values.yaml"))
        listed = subprocess.run([GATEWAY, "--config", str(oauth), "--tools-dir", str(tools), "tools", "list"],
                                capture_output=True, text=True)
        self.assertEqual(listed.returncode, 0, listed.stderr)

        # Team keys: served, with the keys file where the Secret would be.
        keys_file = self.dir / "keys.toml"
        key = subprocess.run([GATEWAY, "keys", "create", "--team", "ops", "--tools", "*",
                              "--file", str(keys_file)], capture_output=True, text=True, check=True).stdout.strip()
        config = self.dir / "gateway.toml"
        config.write_text(self.config().replace("/etc/agent-gateway/keys/keys.toml", str(keys_file)))
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MCP_", "GATEWAY_"))}
        proc = subprocess.Popen(
            [GATEWAY, "--config", str(config), "--tools-dir", str(tools), "--fields-dir", str(self.dir / "fields"),
             "serve", "--transport", "http", "--host", "127.0.0.1", "--port", "0"],
            env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            port = None
            deadline = time.monotonic() + 60
            while port is None and time.monotonic() < deadline:
                line = proc.stderr.readline()
                self.assertTrue(line, "the gateway exited before listening")
                if "listening on http://" in line:
                    port = int(line.split("http://", 1)[1].split("/", 1)[0].rsplit(":", 1)[1])
            threading.Thread(target=proc.stderr.read, daemon=True).start()
            for host, status in ((f"{SERVICE}.{NAMESPACE}.svc.cluster.local:8000", 200),
                                 (f"{SERVICE}:8000", 200), ("gateway.example.com", 200),
                                 ("evil.example.com", 403)):
                with self.subTest(host=host):
                    self.assertEqual(self.list_status(port, host, key), status)
            proc.send_signal(signal.SIGTERM)
            self.assertEqual(proc.wait(timeout=60), 0)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            proc.stderr.close()

    @staticmethod
    def list_status(port, host, key):
        meta = {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
                "io.modelcontextprotocol/clientInfo": {"name": "t", "version": "1"},
                "io.modelcontextprotocol/clientCapabilities": {}}
        body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"_meta": meta}}
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/mcp", data=json.dumps(body).encode(), method="POST",
            headers={"host": host, "authorization": f"Bearer {key}", "content-type": "application/json",
                     "accept": "application/json, text/event-stream", "mcp-protocol-version": "2026-07-28",
                     "mcp-method": "tools/list"})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status
        except urllib.error.HTTPError as e:
            return e.code


if __name__ == "__main__":
    unittest.main()
