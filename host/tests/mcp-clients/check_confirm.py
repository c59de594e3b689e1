"""Confirmations of approved writes (docs/confirmations.md) with the official
Python SDK (client.py), against `gateway serve` and the loopback recorder
check_gateway.sh starts:

    python check_confirm.py CLIENT_PY http://127.0.0.1:PORT RECORDER_LOG

Calls test_input_required_result_elicitation (one POST that needs the
caller's confirmation) in a 2025 session over Streamable HTTP and legacy SSE
(elicitation/create) and as a 2026-07-28 client (input_required, then the
retry), answering accept, decline, or not declaring elicitation at all, and
checks the typed result and how many writes reached the recorder: one per
accepted call, none otherwise. Exits 1 if any check failed.
"""

from __future__ import annotations

import json
import subprocess
import sys

TOOL = "test_input_required_result_elicitation"


def writes(log: str) -> int:
    with open(log) as f:
        return sum(1 for line in f if line.startswith("write "))


def main() -> int:
    client, base, log = sys.argv[1:4]
    cases = [
        # (name, transport args, elicit, wants isError, wants answer, wants writes)
        ("2025 http accept", ["--transport", "http", "--url", f"{base}/mcp", "--era", "legacy"], "accept", False, None, 1),
        ("2025 sse accept", ["--transport", "sse", "--url", f"{base}/sse"], "accept", False, None, 1),
        ("2026 accept", ["--transport", "http", "--url", f"{base}/mcp", "--era", "modern"], "accept", False, None, 1),
        ("2025 http decline", ["--transport", "http", "--url", f"{base}/mcp", "--era", "legacy"], "decline", True, "declined", 0),
        ("2026 cancel", ["--transport", "http", "--url", f"{base}/mcp", "--era", "modern"], "cancel", True, "cancelled", 0),
        ("2025 no elicitation", ["--transport", "http", "--url", f"{base}/mcp", "--era", "legacy"], None, True, "unsupported", 0),
    ]
    failed = 0
    for name, transport, elicit, want_error, want_answer, want_writes in cases:
        before = writes(log)
        argv = [sys.executable, client, *transport]
        if elicit:
            argv += ["--elicit", elicit]
        run = subprocess.run([*argv, "call", TOOL], capture_output=True, text=True, timeout=60)
        problem = None
        try:
            out = json.loads(run.stdout)
        except json.JSONDecodeError:
            out, problem = {}, f"exit {run.returncode}: {run.stderr.strip()[-300:]}"
        if problem is None:
            error = (out.get("structuredContent") or {}).get("error") or {}
            # The recorder logs a write before it answers it, so the line
            # is in the file before the tool's result is.
            got = (out.get("isError"), error.get("code"), error.get("answer"), writes(log) - before)
            want = (want_error, "not_confirmed" if want_error else None, want_answer, want_writes)
            if got != want:
                problem = f"got (isError, code, answer, writes) {got!r}, want {want!r}"
        print(("ok    " if problem is None else "FAIL  ") + f"confirm: {name}")
        if problem is not None:
            print(f"confirm: {name}: {problem}", file=sys.stderr)
            failed += 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
