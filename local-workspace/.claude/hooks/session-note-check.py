#!/usr/bin/env python3
"""PostToolUse hook (Write|Edit|MultiEdit): is there a session note for today?

Session notes are `local-workspace/context/<operator>/sessions/YYYY-MM-DD.md`
(the local date). When today's is missing, the hook exits 2: Claude Code
shows the message to the agent (the write itself has already happened), and
the agent writes the note. Exit 0 when the note exists.

Without an operator name there is no folder for notes: the hook exits 2 too,
with how to set one, so the agent can run /workspace-onboarding.
"""

from __future__ import annotations

import datetime
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from workspace import SET_OPERATOR_HELP, OperatorError, operator_name, read_event, workspace_dir  # noqa: E402

# Claude Code's "feed this back to the agent" exit status for PostToolUse.
MISSING = 2


def main() -> int:
    read_event()  # the input is not needed: any write in the session counts
    ws = workspace_dir()
    try:
        operator = operator_name(ws)
    except OperatorError as err:
        print(f"Session notes: {err}", file=sys.stderr)
        return MISSING
    if operator is None:
        print(
            "Session notes: no operator name is configured, so there is no notes folder.\n"
            + SET_OPERATOR_HELP,
            file=sys.stderr,
        )
        return MISSING
    today = datetime.date.today().isoformat()
    note = ws / "context" / operator / "sessions" / f"{today}.md"
    if note.is_file():
        return 0
    rel = note.relative_to(ws).as_posix()
    print(
        f"Session notes: today's note {rel} does not exist yet. Create it now (in "
        "local-workspace/): what you set out to answer, the endpoints and fields you "
        "found and what they mean, what you codified, and open questions. Keep "
        "adding to it during this session.",
        file=sys.stderr,
    )
    return MISSING


if __name__ == "__main__":
    sys.exit(main())
