"""Recording stand-ins for `gh` and `gateway`, and a git fixture, for the gitops script tests.

A stand-in is a small Python script put on PATH (or named by GH_BIN /
GATEWAY). It appends {"argv": [...], "stdin": "..."} to calls.jsonl in its
folder and answers from answers.json there: the first entry whose "argv"
list is a prefix of the call's arguments gives its "stdout" and "exit"
(default 0); "write" maps file paths to contents the stand-in writes first
(how the gateway stand-in mimics `gateway promote` writing tools-wasm/).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

STAND_IN = r'''#!{python}
import json, os, sys
from pathlib import Path
here = Path(__file__).resolve().parent
args = sys.argv[1:]
stdin = "" if sys.stdin is None or sys.stdin.isatty() else sys.stdin.read()
with open(here / "calls.jsonl", "a", encoding="utf-8") as log:
    log.write(json.dumps({{"argv": args, "stdin": stdin}}) + "\n")
answers = json.loads((here / "answers.json").read_text()) if (here / "answers.json").exists() else []
for answer in answers:
    if args[: len(answer["argv"])] == answer["argv"]:
        for path, text in answer.get("write", {{}}).items():
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            Path(path).write_text(text)
        sys.stdout.write(answer.get("stdout", ""))
        sys.stderr.write(answer.get("stderr", ""))
        sys.exit(answer.get("exit", 0))
sys.stderr.write("stand-in: no canned answer for " + json.dumps(args) + "\n")
sys.exit(97)
'''


class StandIn:
    """One recording stand-in executable in its own folder."""

    def __init__(self, folder: Path, name: str):
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self.path = folder / name
        self.path.write_text(STAND_IN.format(python=sys.executable))
        self.path.chmod(0o755)

    def answer(self, argv: list[str], stdout: str = "", exit: int = 0, write: dict | None = None) -> None:
        answers_file = self.folder / "answers.json"
        answers = json.loads(answers_file.read_text()) if answers_file.exists() else []
        answers.append({"argv": argv, "stdout": stdout, "exit": exit, "write": write or {}})
        answers_file.write_text(json.dumps(answers))

    def calls(self) -> list[dict]:
        log = self.folder / "calls.jsonl"
        if not log.exists():
            return []
        return [json.loads(line) for line in log.read_text().splitlines()]

    def argvs(self) -> list[list[str]]:
        return [call["argv"] for call in self.calls()]


def clean_env(root: Path) -> dict:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(root / "home"),
        "GIT_CONFIG_NOSYSTEM": "1",
        "LANG": "C.UTF-8",
    }
    (root / "home").mkdir(exist_ok=True)
    return env


def git(cwd: Path, env: dict, *args: str) -> str:
    out = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise AssertionError(f"git {' '.join(args)}: {out.stderr}")
    return out.stdout.strip()


class GitFixture:
    """A bare origin with main, and a clone to work in."""

    def __init__(self, root: Path, env: dict):
        self.env = env
        self.origin = root / "origin.git"
        self.clone = root / "clone"
        git(root, env, "init", "--quiet", "--bare", "--initial-branch=main", str(self.origin))
        git(root, env, "clone", "--quiet", str(self.origin), str(self.clone))
        self.git("config", "user.name", "Someone")
        self.git("config", "user.email", "someone@example.invalid")
        self.git("checkout", "--quiet", "-b", "main")
        self.write("README.md", "repo\n")
        self.write("local-workspace/README.md", "workspace\n")
        self.write("fields/stripe.yaml", "integration: stripe\nfields: {}\n")
        self.commit("initial")
        self.git("push", "--quiet", "origin", "main")

    def git(self, *args: str) -> str:
        return git(self.clone, self.env, *args)

    def write(self, rel: str, text: str) -> None:
        path = self.clone / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)

    def commit(self, message: str) -> str:
        self.git("add", "--all")
        self.git("commit", "--quiet", "-m", message)
        return self.git("rev-parse", "HEAD")

    def origin_rev(self, ref: str) -> str:
        return git(self.origin, self.env, "rev-parse", ref)
