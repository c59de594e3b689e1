"""Team keys through the official MCP client (check_gateway.sh runs it).

    python check_auth.py CLIENT URL KEY

Over Streamable HTTP and legacy SSE: with the key, the team's tools only
(test_simple_*) are listed and callable and only their prompts listed
(test_simple_prompt's, not test_prompt_with_arguments'), a tool outside the scope answers
exactly like an unknown one (-32602); without a key, HTTP 401. Exits 1 when
an expectation fails.
"""

from __future__ import annotations

import json
import subprocess
import sys


def run(client: str, args: list[str], key: str | None) -> tuple[int, dict]:
    header = ["--header", f"Authorization=Bearer {key}"] if key else []
    p = subprocess.run([sys.executable, client, *args[:4], *header, *args[4:]],
                       capture_output=True, text=True, timeout=60)
    return p.returncode, json.loads(p.stdout or p.stderr or "{}")


def main() -> int:
    client, url, key = sys.argv[1:]
    failures: list[str] = []

    def expect(what: str, got: object, want: object) -> None:
        print(("ok    " if got == want else "FAIL  ") + what)
        if got != want:
            failures.append(f"{what}: got {got!r}, want {want!r}")

    for transport, path in (("http", "/mcp"), ("sse", "/sse")):
        base = ["--transport", transport, "--url", url + path]
        code, listed = run(client, [*base, "list"], key)
        promoted = sorted(t["name"] for t in listed.get("tools", []) if t["name"].startswith("test_"))
        expect(
            f"{transport}: a key lists its team's tools only",
            (code, promoted),
            (0, ["test_simple_prompt", "test_simple_text"]),
        )
        code, prompts = run(client, [*base, "prompts"], key)
        names = sorted(p["name"] for p in prompts.get("prompts", []))
        expect(f"{transport}: a key lists its team's prompts only", (code, names), (0, ["test_simple_prompt"]))
        code, called = run(client, [*base, "call", "test_simple_text", "{}"], key)
        expect(f"{transport}: a call in scope", (code, called.get("isError")), (0, False))
        code, refused = run(client, [*base, "call", "test_logging_tool", "{}"], key)
        expect(f"{transport}: out of scope answers like an unknown tool",
               (code, refused.get("kind"), refused.get("code")), (1, "mcp-error", -32602))
        code, anonymous = run(client, [*base, "list"], None)
        expect(f"{transport}: no key is 401", (code, anonymous.get("httpStatus")), (1, 401))
    for f in failures:
        print("check_auth: " + f, file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
