"""The official Python SDK against a server's SSE and Streamable HTTP endpoints: list, call, error, resources, prompts.

    python check_clients.py http://127.0.0.1:PORT [--stdio-command 'CMD ARGS']

Drives client.py (one process per exchange, as a user's client would connect)
against BASE/sse and BASE/mcp, in every era each serves: the legacy
`initialize` handshake over both, and 2026-07-28 stateless requests over
Streamable HTTP; with --stdio-command, also over stdio against a server that
command starts (once per exchange). The server must expose the conformance test tools described
in CONFORMANCE.md (the gateway's test-only tools folder, or
reference_server.py). Prints one line per check and a closing
"python-sdk: N passed, M failed"; exits 1 if any check failed.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

CLIENT = Path(__file__).with_name("client.py")
SIMPLE_TEXT = "This is a simple text response for testing."
ERROR_TEXT = "This tool intentionally returns an error for testing"
LOG_LINES = ["Tool execution started", "Tool processing data", "Tool execution completed"]
# What test_tool_with_progress reports, as (progress, total), in order.
PROGRESS = [(0, 100), (50, 100), (100, 100)]
JSON_RPC_INVALID_PARAMS = -32602
RESOURCE_NOT_FOUND = -32002
FIELDS_URI = "fields://conformance"
FIELD_URI = "fields://conformance/text"
SKILL_URI = "skill://test-simple-prompt/SKILL.md"


class Run:
    def __init__(self, code: int, out: Any, err: Any, raw: str) -> None:
        self.code, self.out, self.err, self.raw = code, out, err, raw


def client(connection: list[str], *args: str) -> Run:
    cmd = [sys.executable, str(CLIENT), *connection, "--timeout", "20", *args]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    return Run(p.returncode, parse(p.stdout), parse(p.stderr), f"exit {p.returncode}\n{p.stdout}{p.stderr}")


def parse(text: str) -> Any:
    lines = text.strip().splitlines()
    try:
        return json.loads(lines[-1]) if lines else None
    except json.JSONDecodeError:
        return None


def expect_list(r: Run) -> str | None:
    if r.code != 0:
        return "list failed"
    tools = {t["name"]: t for t in r.out["tools"]}
    missing = {"test_simple_text", "test_error_handling", "test_tool_with_logging", "json_schema_2020_12_tool"} - set(
        tools
    )
    if missing:
        return f"missing tools {sorted(missing)}"
    if any(not t.get("description") or t.get("inputSchema", {}).get("type") != "object" for t in tools.values()):
        return "a tool lacks a description or an object input schema"
    schema = tools["json_schema_2020_12_tool"]["inputSchema"]
    if "$defs" not in schema or "allOf" not in schema or "if" not in schema:
        return "json_schema_2020_12_tool's input schema lost keywords"
    return None


def expect_text(r: Run) -> str | None:
    if r.code != 0 or r.out["isError"]:
        return "expected a successful result"
    if not any(SIMPLE_TEXT in text for text in r.out["content"] if isinstance(text, str)):
        return "the text is missing from content"
    structured = r.out["structuredContent"]
    if structured is not None and SIMPLE_TEXT not in json.dumps(structured):
        return "structuredContent does not carry the text"
    return None


def expect_tool_error(r: Run) -> str | None:
    if r.code != 0:
        return "a tool error must still be a successful exchange (exit 0)"
    if r.out["isError"] is not True:
        return "expected isError: true"
    if not any(ERROR_TEXT in text for text in r.out["content"] if isinstance(text, str)):
        return "the error text is missing from content"
    return None


def expect_unknown_tool(r: Run) -> str | None:
    if r.code != 1 or not r.err or r.err.get("kind") != "mcp-error":
        return "expected an mcp-error"
    if r.err.get("code") != JSON_RPC_INVALID_PARAMS:
        return f"expected JSON-RPC {JSON_RPC_INVALID_PARAMS}, got {r.err.get('code')}"
    return None


def expect_logs(r: Run) -> str | None:
    if r.code != 0 or r.out["isError"]:
        return "expected a successful result"
    # `data` may be the line itself or an object carrying it; the order must hold.
    got = [json.dumps(entry.get("data")) for entry in r.out.get("logs", []) if entry.get("level") == "info"]
    wanted = iter(LOG_LINES)
    line = next(wanted)
    for data in got:
        if line in data:
            line = next(wanted, None)
            if line is None:
                return None
    return f"expected info log messages carrying {LOG_LINES} in order, got {got}"


def expect_progress(r: Run) -> str | None:
    if r.code != 0 or r.out["isError"]:
        return "expected a successful result"
    got = [(p["progress"], p["total"]) for p in r.out.get("progress", [])]
    if got != PROGRESS:
        return f"expected progress {PROGRESS} before the result, got {got}"
    return None


def expect_resources(r: Run) -> str | None:
    if r.code != 0:
        return "resources/list failed"
    uris = {res["uri"]: res for res in r.out["resources"]}
    for uri in (FIELDS_URI, FIELD_URI, SKILL_URI):
        if uri not in uris:
            return f"{uri} is not listed"
    if uris[FIELDS_URI]["mimeType"] != "application/json" or uris[SKILL_URI]["mimeType"] != "text/markdown":
        return "wrong mimeType on a listed resource"
    templates = {t["uriTemplate"] for t in r.out["templates"]}
    if "fields://{integration}/{field}" not in templates:
        return f"the field template is missing from {sorted(templates)}"
    return None


def expect_field(r: Run) -> str | None:
    if r.code != 0:
        return "resources/read failed"
    [content] = r.out["contents"]
    if content["uri"] != FIELD_URI or content["mimeType"] != "application/json":
        return f"unexpected content {content!r}"
    field = json.loads(content["text"])
    if (field.get("integration"), field.get("field"), field.get("type")) != ("conformance", "text", "string"):
        return f"unexpected definition {field!r}"
    return None


def expect_not_found(code: int) -> Callable[[Run], str | None]:
    def check(r: Run) -> str | None:
        if r.code != 1 or not r.err or r.err.get("kind") != "mcp-error":
            return "expected an mcp-error"
        if r.err.get("code") != code:
            return f"expected JSON-RPC {code}, got {r.err.get('code')}"
        if (r.err.get("data") or {}).get("uri") != "fields://no-such-integration":
            return "the error data lacks the uri"
        return None

    return check


def expect_prompts(r: Run) -> str | None:
    if r.code != 0:
        return "prompts/list failed"
    prompts = {p["name"]: p for p in r.out["prompts"]}
    if set(prompts) != {"test_simple_prompt", "test_prompt_with_arguments", "test_prompt_with_embedded_resource"}:
        return f"expected the three tools with a SKILL.md, got {sorted(prompts)}"
    args = [(a["name"], a["required"]) for a in prompts["test_prompt_with_arguments"]["arguments"]]
    if sorted(args) != [("arg1", True), ("arg2", True)] or not prompts["test_simple_prompt"]["description"]:
        return f"unexpected arguments {args!r} or no description"
    return None


def expect_prompt(r: Run) -> str | None:
    if r.code != 0:
        return "prompts/get failed"
    [message] = r.out["messages"]
    text = message["text"] or ""
    if message["role"] != "user" or "## When to use it" not in text or '"arg1": "one"' not in text:
        return f"the message lacks the SKILL.md body or the suggested call: {text!r}"
    return None


def expect_refused(status: int) -> Callable[[Run], str | None]:
    def check(r: Run) -> str | None:
        if r.code != 1 or not r.err or r.err.get("httpStatus") != status:
            return f"expected a failure with HTTP {status}"
        return None

    return check


def main(base: str, stdio_command: str | None) -> int:
    base = base.rstrip("/")
    # label -> client.py's connection options
    connections = {
        "sse": ["--transport", "sse", "--url", base + "/sse", "--era", "legacy"],
        "http/2025": ["--transport", "http", "--url", base + "/mcp", "--era", "legacy"],
        "http/2026": ["--transport", "http", "--url", base + "/mcp", "--era", "modern"],
    }
    if stdio_command:
        connections["stdio"] = ["--transport", "stdio", "--command", stdio_command, "--era", "legacy"]
    checks: list[tuple[str, Callable[[], Run], Callable[[Run], str | None]]] = []
    for label, connection in connections.items():

        def run(*args: str, c: list[str] = connection) -> Callable[[], Run]:
            return lambda: client(c, *args)

        checks += [
            (f"{label} list", run("list"), expect_list),
            (f"{label} call test_simple_text", run("call", "test_simple_text"), expect_text),
            (f"{label} call test_error_handling", run("call", "test_error_handling"), expect_tool_error),
            (f"{label} call an unknown tool", run("call", "no_such_tool"), expect_unknown_tool),
            (
                f"{label} call test_tool_with_logging",
                run("--log-level", "info", "call", "test_tool_with_logging"),
                expect_logs,
            ),
            (
                f"{label} call test_tool_with_progress",
                run("--progress", "call", "test_tool_with_progress"),
                expect_progress,
            ),
            (f"{label} resources", run("resources"), expect_resources),
            (f"{label} read a field resource", run("read", FIELD_URI), expect_field),
            (
                f"{label} read an unknown resource",
                run("read", "fields://no-such-integration"),
                # resource not found: -32002 in 2025 sessions, -32602 from 2026-07-28
                expect_not_found(JSON_RPC_INVALID_PARAMS if label == "http/2026" else RESOURCE_NOT_FOUND),
            ),
            (f"{label} prompts", run("prompts"), expect_prompts),
            (
                f"{label} get a prompt with arguments",
                run("prompt", "test_prompt_with_arguments", '{"arg1": "one", "arg2": "two"}'),
                expect_prompt,
            ),
        ]
        if label != "stdio":
            checks.append(
                (
                    f"{label} a browser Origin is refused",
                    run("--header", "Origin=http://evil.example.com", "list"),
                    expect_refused(403),
                )
            )

    passed = failed = 0
    for name, run_check, expect in checks:
        result = run_check()
        problem = expect(result)
        if problem is None:
            passed += 1
            print(f"ok    {name}")
        else:
            failed += 1
            print(f"FAIL  {name}: {problem}")
            print("      " + result.raw.strip().replace("\n", "\n      "))
    print(f"python-sdk: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="The official Python SDK against a server: list, call, error.")
    parser.add_argument("base", help="http://127.0.0.1:PORT, serving /sse and /mcp")
    parser.add_argument("--stdio-command", help="also check stdio against the server this command line starts")
    args = parser.parse_args()
    sys.exit(main(args.base, args.stdio_command))
