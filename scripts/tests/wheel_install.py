"""The `gateway` CLI as operators install it without Rust: a wheel.

Builds the wheel with maturin (pyproject.toml, `bindings = "bin"`) in the dev
profile, reusing `$CARGO_TARGET_DIR`, installs it into a fresh virtual
environment, and then, from a folder outside this checkout, with a clean
environment (PATH = the venv's bin/ then /usr/bin:/bin, HOME a new empty
folder, none of this repository's variables), scaffolds a Python tool,
builds it, runs its own cases and calls it against its recorded upstream.
What it proves: the binary carries the WIT contract and the Python SDK, and
finds the componentize-py the wheel depends on beside itself (on PATH or
not: a symlink to `gateway` from another folder, as pipx installs it, too).

Run from scripts/test (after scripts/setup-wheel), or on its own:
  CARGO_TARGET_DIR=... python3 -m unittest discover -s scripts/tests -p 'wheel_*.py'
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
import unittest
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MATURIN = Path(os.environ.get(
    "GATEWAY_MATURIN", Path.home() / ".cache" / "agent-gateway" / "wheel-venv" / "bin" / "maturin"))
COMPONENTIZE_PY_PIN = "componentize-py==0.25.1"
# The wasm binary format's magic, then the component layer's version.
COMPONENT_PREFIX = b"\0asm\x0d\x00\x01\x00"


def run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, check=False,
                          stdin=subprocess.DEVNULL, **kwargs)


class WheelInstallTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not MATURIN.is_file():
            raise AssertionError(f"no maturin at {MATURIN}; run scripts/setup-wheel")
        cls.tmp = tempfile.TemporaryDirectory(prefix="gateway-wheel-")
        tmp = Path(cls.tmp.name)
        cls.dist, cls.venv, cls.home, cls.work = (
            tmp / "dist", tmp / "venv", tmp / "home", tmp / "work")
        cls.home.mkdir()
        cls.work.mkdir()
        # The dev profile: the target directory the other tests built is reused
        # (a release build compiles wasmtime again, 20+ minutes on 2 cores).
        build = run([str(MATURIN), "build", "--locked", "--out", str(cls.dist)], cwd=ROOT)
        if build.returncode != 0:
            raise AssertionError(f"maturin build failed:\n{build.stdout}\n{build.stderr}")
        cls.wheels = sorted(cls.dist.glob("*.whl"))
        venv = run([sys.executable, "-m", "venv", str(cls.venv)])
        if venv.returncode != 0:
            raise AssertionError(venv.stderr)
        install = run([str(cls.venv / "bin" / "pip"), "install", "-q", *map(str, cls.wheels)])
        if install.returncode != 0:
            raise AssertionError(f"pip install failed:\n{install.stdout}\n{install.stderr}")
        # What an operator's shell has: the venv first, the system's tools
        # after; nothing of this checkout, its caches or its variables.
        cls.env = {
            "PATH": f"{cls.venv / 'bin'}:/usr/bin:/bin",
            "HOME": str(cls.home),
            "LANG": "C.UTF-8",
            "GATEWAY_CONFIG": str(cls.work / "gateway.toml"),
        }

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def gateway(self, *args: str) -> subprocess.CompletedProcess:
        return run(["gateway", *args], cwd=self.work, env=self.env)

    def test_the_wheel_holds_the_binary_and_pins_componentize_py(self):
        self.assertEqual(len(self.wheels), 1, self.wheels)
        wheel = self.wheels[0]
        self.assertTrue(wheel.name.startswith("agent_gateway-"), wheel.name)
        version = tomllib.loads((ROOT / "Cargo.toml").read_text())["workspace"]["package"]["version"]
        with zipfile.ZipFile(wheel) as z:
            names = z.namelist()
            metadata = z.read(f"agent_gateway-{version}.dist-info/METADATA").decode()
        self.assertIn(f"agent_gateway-{version}.data/scripts/gateway", names)
        fields = [line.split(": ", 1) for line in metadata.splitlines() if ": " in line]
        self.assertIn(["Name", "agent-gateway"], fields)
        self.assertIn(["Version", version], fields)
        self.assertIn(["Requires-Dist", COMPONENTIZE_PY_PIN], fields)
        # pip put both executables in the venv's bin/, side by side.
        self.assertTrue((self.venv / "bin" / "gateway").is_file())
        cpy = run(["componentize-py", "--version"], env=self.env)
        self.assertEqual(cpy.stdout.strip(), COMPONENTIZE_PY_PIN.replace("==", " "))

    def test_a_python_tool_is_scaffolded_built_tested_and_called_outside_the_checkout(self):
        # The work folder is outside this checkout, and the environment has
        # no GATEWAY_COMPONENTIZE_PY and no ~/.cache/agent-gateway/venv.
        self.assertFalse(self.work.resolve().is_relative_to(ROOT))
        self.assertNotIn("GATEWAY_COMPONENTIZE_PY", self.env)
        (self.work / "gateway.toml").write_text(
            'tools_dir = "tools"\ncache_dir = "cache"\n'
            '[outbound]\nallow_private = ["127.0.0.1/32"]\n')

        new = self.gateway("tool", "new", "item_lookup", "--lang", "python")
        self.assertEqual(new.returncode, 0, new.stderr)
        tool = self.work / "tools" / "item_lookup"
        self.assertTrue((tool / "scripts" / "item_lookup.py").is_file())

        build = self.gateway("tool", "build", "tools/item_lookup")
        self.assertEqual(build.returncode, 0, build.stderr)
        self.assertEqual((tool / "tool.wasm").read_bytes()[:8], COMPONENT_PREFIX)

        # Installed with pipx, or run by its full path, `gateway` is not beside
        # componentize-py on PATH: it finds the one beside its own executable.
        linked = self.home / ".local" / "bin"
        linked.mkdir(parents=True)
        (linked / "gateway").symlink_to(self.venv / "bin" / "gateway")
        bare_env = dict(self.env, PATH=f"{linked}:/usr/bin:/bin")
        self.assertIsNone(shutil.which("componentize-py", path=bare_env["PATH"]))
        check = run(["gateway", "tool", "check", "tools/item_lookup"], cwd=self.work, env=bare_env)
        self.assertEqual(check.returncode, 0, check.stderr)

        test = self.gateway("tool", "test", "tools/item_lookup")
        self.assertEqual(test.returncode, 0, test.stdout + test.stderr)
        self.assertEqual(test.stdout.strip().splitlines()[-1], "3 passed, 0 failed")

        # A call against the tool's recorded upstream, served on loopback.
        fixtures = subprocess.Popen(
            ["gateway", "fixtures", "serve", "tools/item_lookup", "--listen", "127.0.0.1:0"],
            cwd=self.work, env=self.env, stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            line = fixtures.stderr.readline()
            found = re.search(r"http://127\.0\.0\.1:\d+", line)
            self.assertIsNotNone(found, line)
            with open(self.work / "gateway.toml", "a") as f:
                f.write(f'[tools.item_lookup.config]\napi_base = "{found.group(0)}"\n')
            call = self.gateway("call", "item_lookup", '{"item_id": "42"}')
            self.assertEqual(call.returncode, 0, call.stderr)
            self.assertEqual(json.loads(call.stdout),
                             {"id": "42", "name": "Blue widget", "status": "active"})
            refused = self.gateway("call", "item_lookup", '{"item_id": ""}')
            self.assertEqual(refused.returncode, 1, refused.stderr)
        finally:
            fixtures.terminate()
            fixtures.wait()
            fixtures.stderr.close()


if __name__ == "__main__":
    unittest.main()
