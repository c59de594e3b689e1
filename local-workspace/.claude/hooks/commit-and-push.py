#!/usr/bin/env python3
"""Stop hook: commit the workspace and push it to `operator/<name>` on origin.

Runs when the agent finishes a response (`.claude/settings.json`, "Stop").
Only `local-workspace/` is committed; everything else in the checkout is left
as it is. The push goes to `refs/heads/operator/<name>`, which the
auto_pr workflow turns into a pull request (docs/gitops.md).

Exit status (Claude Code's hook contract):
  0  done, nothing to do, or nothing it can do yet (no operator configured,
     not a git checkout, `stop_hook_active` set): the agent is never held up
  1  refused or failed (a bad operator name, a failed commit or push); the
     message reaches the operator, and the agent stops as usual
It never exits 2, so it can never make the agent continue, and it does
nothing at all when `stop_hook_active` is true.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path, PurePosixPath

sys.path.insert(0, str(Path(__file__).resolve().parent))

from workspace import (  # noqa: E402
    SET_OPERATOR_HELP,
    OperatorError,
    git,
    operator_name,
    read_event,
    workspace_dir,
)


def is_env_file(path: str) -> bool:
    """`.env` and `.env.*` files hold credentials; only `.env.example` is shared."""
    name = PurePosixPath(path).name
    return name == ".env" or (name.startswith(".env.") and name != ".env.example")


def summary(paths: list[str], rel: str) -> str:
    """A short commit subject: which skills, field files and notes changed."""
    skills, fields, other = set(), set(), False
    notes = False
    for path in paths:
        parts = PurePosixPath(path).relative_to(rel).parts if rel != "." else PurePosixPath(path).parts
        if len(parts) >= 3 and parts[0] == ".claude" and parts[1] == "skills":
            skills.add(parts[2])
        elif len(parts) == 2 and parts[0] == "fields":
            fields.add(PurePosixPath(parts[1]).stem)
        elif parts and parts[0] == "context":
            notes = True
        else:
            other = True
    items = []
    if skills:
        items.append("skills " + ", ".join(sorted(skills)))
    if fields:
        items.append("fields " + ", ".join(sorted(fields)))
    if notes:
        items.append("notes")
    if other:
        items.append("workspace files")
    return "; ".join(items)


def main() -> int:
    event = read_event()
    if event.get("stop_hook_active") is True:
        # Claude Code is already continuing because of a stop hook: do nothing,
        # the next stop commits whatever is left.
        return 0

    ws = workspace_dir()
    try:
        top = Path(git(ws, "rev-parse", "--show-toplevel").stdout.strip())
    except (OSError, subprocess.CalledProcessError):  # git missing, or not a checkout
        print(
            f"agent-gateway: {ws} is not inside a git checkout; nothing was committed or pushed.",
            file=sys.stderr,
        )
        return 0

    try:
        operator = operator_name(ws)
    except OperatorError as err:
        print(f"agent-gateway: not pushing: {err}", file=sys.stderr)
        return 1
    if operator is None:
        print(
            "agent-gateway: no operator name is configured, so this workspace was not "
            "committed or pushed.\n" + SET_OPERATOR_HELP,
            file=sys.stderr,
        )
        return 0

    rel = ws.resolve().relative_to(top.resolve()).as_posix()
    status = git(top, "status", "--porcelain", "--untracked-files=all", "--", rel).stdout
    if not status.strip():
        return 0

    git(top, "add", "--all", "--", rel)
    staged = [
        p for p in git(top, "diff", "--cached", "--name-only", "-z", "--", rel).stdout.split("\0") if p
    ]
    kept = []
    for path in staged:
        if is_env_file(path):
            # Never commit credentials, even if a .gitignore line went missing.
            git(top, "reset", "--quiet", "--", path, check=False)
            git(top, "rm", "--cached", "--quiet", "--ignore-unmatch", "--", path, check=False)
            print(f"agent-gateway: left {path} out of the commit (credentials stay local)", file=sys.stderr)
        else:
            kept.append(path)
    if not kept:
        return 0

    identity = []
    if not git(top, "config", "--get", "user.email", check=False).stdout.strip():
        identity = ["-c", f"user.name={operator}", "-c", f"user.email={operator}@users.noreply.invalid"]
    subject = f"workspace({operator}): {summary(kept, rel)}"
    commit = git(top, *identity, "commit", "--quiet", "--no-verify", "-m", subject, "--", *kept, check=False)
    if commit.returncode != 0:
        print(f"agent-gateway: commit failed:\n{commit.stderr.strip()}", file=sys.stderr)
        return 1

    branch = f"operator/{operator}"
    push = git(top, "push", "--quiet", "origin", f"HEAD:refs/heads/{branch}", check=False)
    if push.returncode != 0:
        print(
            f"agent-gateway: committed locally, but the push to {branch} failed:\n"
            f"{push.stderr.strip()}\n"
            f"It goes with the next push; to retry now: git push origin HEAD:refs/heads/{branch}",
            file=sys.stderr,
        )
        return 1
    head = git(top, "rev-parse", "--short", "HEAD").stdout.strip()
    print(f"agent-gateway: pushed {subject} ({head}) to {branch}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
