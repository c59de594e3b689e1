"""Shared helpers for the scripts in scripts/gitops/ (Python standard library only).

The GitOps loop these scripts run is described in docs/gitops.md.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

# The marker that opens the QA review comment (`gateway qa --format markdown`
# prints it as its first line); sticky-comment finds the comment by it.
QA_MARKER = "<!-- agent-gateway-qa -->"

# What an operator branch looks like: operator/<name>, the name as the
# workspace hooks accept it (local-workspace/.claude/hooks/workspace.py).
OPERATOR_BRANCH = re.compile(r"^operator/([a-z0-9](?:[a-z0-9-]{0,37}[a-z0-9])?)$")

# The paths whose changes are promoted: skills (tool folders) and field files.
SKILLS_DIR = "local-workspace/.claude/skills"
FIELDS_DIR = "local-workspace/fields"


class CommandError(Exception):
    """An external command (git, gh) failed."""

    def __init__(self, argv: list[str], result: subprocess.CompletedProcess):
        self.argv = argv
        self.returncode = result.returncode
        self.stderr = (result.stderr or "").strip()
        super().__init__(f"{' '.join(argv[:3])} ... exited {result.returncode}: {self.stderr}")


def run(argv: list[str], stdin: str | None = None) -> str:
    """Runs a command, returning its stdout; CommandError when it fails."""
    result = subprocess.run(
        argv,
        input=stdin,
        stdin=None if stdin is not None else subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise CommandError(argv, result)
    return result.stdout


def gh() -> str:
    """The gh executable ($GH_BIN for tests and odd installs, else gh on PATH)."""
    return os.environ.get("GH_BIN", "gh")


def json_values(text: str) -> list:
    """Every JSON value in `text`, one after another (gh api --paginate prints one array per page)."""
    decoder = json.JSONDecoder()
    values, pos = [], 0
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos >= len(text):
            return values
        value, pos = decoder.raw_decode(text, pos)
        values.append(value)


def set_output(**values: str) -> None:
    """Writes step outputs for GitHub Actions when $GITHUB_OUTPUT is set."""
    path = os.environ.get("GITHUB_OUTPUT")
    if not path:
        return
    with open(path, "a", encoding="utf-8") as out:
        for key, value in values.items():
            out.write(f"{key}={value}\n")


def fail(message: str, status: int = 2) -> int:
    """Prints an error for the job log; returns the exit status."""
    print(f"{os.path.basename(sys.argv[0])}: {message}", file=sys.stderr)
    return status
