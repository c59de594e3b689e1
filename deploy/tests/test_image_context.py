"""The Dockerfile's build context, without a container engine: every file the
Dockerfile COPYs from the context exists and is let through by .dockerignore,
and the context alone (as .dockerignore leaves it) is a Cargo workspace that
resolves with the lockfile unchanged (`cargo metadata --locked`), with what
host/build.rs embeds. Building the image itself needs an engine: not here.
"""

import fnmatch
import os
import shutil
import subprocess
import tempfile
import unittest
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def ignore_rules():
    rules = []
    for line in (ROOT / ".dockerignore").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        pattern = line.lstrip("!").strip("/")
        rules.append((negate, pattern))
    return rules


def matches(pattern, path):
    """Docker's matching, for the patterns used here: `*` within one path
    segment, `**/` for any number of leading segments."""
    if pattern.startswith("**/"):
        rest = pattern[3:]
        parts = path.split("/")
        return any(fnmatch.fnmatchcase("/".join(parts[i:]), rest) for i in range(len(parts)))
    return path.count("/") == pattern.count("/") and fnmatch.fnmatchcase(path, pattern)


def included(path, rules):
    """Whether `path` (relative, with '/') reaches the build: the last rule
    matching it or one of its parent folders decides."""
    parts = path.split("/")
    verdict = True
    for negate, pattern in rules:
        for depth in range(1, len(parts) + 1):
            if matches(pattern, "/".join(parts[:depth])):
                verdict = negate
                break
    return verdict


def copied_sources():
    """Context paths in COPY instructions (not COPY --from=stage)."""
    sources = []
    lines = (ROOT / "Dockerfile").read_text().replace("\\\n", " ").splitlines()
    for line in lines:
        words = line.split()
        if not words or words[0] != "COPY" or any(w.startswith("--from") for w in words):
            continue
        args = [w for w in words[1:] if not w.startswith("--")]
        sources.extend(args[:-1])
    return sources


class Context(unittest.TestCase):
    def test_every_copied_path_exists_and_passes_dockerignore(self):
        rules = ignore_rules()
        sources = copied_sources()
        self.assertEqual(sources, ["Cargo.toml", "Cargo.lock", "host", "guest-sdk",
                                   "deploy/docker/entrypoint.sh"])
        for source in sources:
            with self.subTest(source=source):
                self.assertTrue((ROOT / source).exists())
                self.assertTrue(included(source, rules))
        # And what stays out.
        for path in ("target", "host/target", ".git", "tools-wasm", "local-workspace",
                     "host/test-programs/guests/echo/target"):
            with self.subTest(path=path):
                self.assertFalse(included(path, rules))

    @unittest.skipUnless(shutil.which("cargo"), "cargo")
    def test_the_context_alone_is_a_locked_workspace(self):
        rules = ignore_rules()
        with tempfile.TemporaryDirectory() as context:
            for source in copied_sources():
                origin = ROOT / source
                files = [origin] if origin.is_file() else [p for p in origin.rglob("*") if p.is_file()]
                for f in files:
                    relative = f.relative_to(ROOT).as_posix()
                    if included(relative, rules):
                        (Path(context) / relative).parent.mkdir(parents=True, exist_ok=True)
                        shutil.copy2(f, Path(context) / relative)
            for embedded in ("guest-sdk/rust/wit/tool.wit", "guest-sdk/python/gateway_tool"):
                self.assertTrue((Path(context) / embedded).exists(), embedded)
            env = dict(os.environ, CARGO_TARGET_DIR=str(Path(context) / "target"))
            done = subprocess.run(
                ["cargo", "metadata", "--locked", "--format-version", "1",
                 "--filter-platform", "x86_64-unknown-linux-gnu",
                 "--manifest-path", str(Path(context) / "Cargo.toml")],
                capture_output=True, text=True, env=env)
            self.assertEqual(done.returncode, 0, done.stderr)


if __name__ == "__main__":
    unittest.main()
