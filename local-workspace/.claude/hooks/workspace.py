"""Shared helpers for the workspace hooks (Python standard library only).

The hooks live in `local-workspace/.claude/hooks/`; the workspace is two
folders up from this file, wherever the checkout is. See
`local-workspace/README.md` ("Hooks") for what each hook does.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

# An operator name is part of a branch name (`operator/<name>`) and of a
# folder name (`context/<name>/`): lowercase letters, digits and '-', starting
# and ending with a letter or digit, at most 39 characters (GitHub's limit).
OPERATOR_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,37}[a-z0-9])?$")

SET_OPERATOR_HELP = (
    "Set your operator name once with /workspace-onboarding, or run\n"
    "    git config agent-gateway.operator <name>\n"
    "(lowercase letters, digits and '-'), or export GATEWAY_OPERATOR=<name>."
)


def workspace_dir() -> Path:
    """The `local-workspace/` folder this hook belongs to."""
    return Path(__file__).resolve().parents[2]


def read_event() -> dict:
    """The hook's JSON input from stdin; {} when there is none or it is not an object."""
    try:
        raw = sys.stdin.read()
    except (OSError, ValueError):
        return {}
    try:
        data = json.loads(raw) if raw.strip() else {}
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def git(cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Runs git in `cwd`, capturing text output."""
    return subprocess.run(
        ["git", *args],
        cwd=cwd,
        check=check,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
    )


class OperatorError(Exception):
    """The configured operator name cannot be used."""


def operator_name(ws: Path) -> str | None:
    """The operator's name: $GATEWAY_OPERATOR, else `git config agent-gateway.operator`.

    None when neither is set; OperatorError when the value is not a valid name.
    """
    name = os.environ.get("GATEWAY_OPERATOR", "").strip()
    source = "GATEWAY_OPERATOR"
    if not name:
        try:
            found = git(ws, "config", "--get", "agent-gateway.operator", check=False)
        except OSError:
            return None
        name = found.stdout.strip() if found.returncode == 0 else ""
        source = "git config agent-gateway.operator"
    if not name:
        return None
    if not OPERATOR_RE.match(name):
        raise OperatorError(
            f"{source} is {name!r}, which is not an operator name: use lowercase "
            "letters, digits and '-' (at most 39, not starting or ending with '-').\n"
            + SET_OPERATOR_HELP
        )
    return name
