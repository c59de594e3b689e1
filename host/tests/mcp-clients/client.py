"""A real MCP client for the gateway's end-to-end tests: the official Python SDK (mcp 2.3.0).

    python client.py --transport sse  --url http://127.0.0.1:PORT/sse list
    python client.py --transport http --url http://127.0.0.1:PORT/mcp call echo '{"text": "hi"}'
    python client.py --transport stdio --command 'gateway serve' list

Options: --era legacy|modern|auto (legacy: the `initialize` handshake; modern:
2026-07-28 `server/discover` and stateless requests; auto: discover, falling
back to initialize as the SDK's own `Client` does; default legacy over sse
and stdio, auto over http), --header K=V (repeatable; e.g. an Origin), --log-level LEVEL
(ask for the server's log messages and print them with `call`), --progress (ask for
progress notifications, through the SDK's `progress_callback`, and print them with
`call`), --timeout S,
--elicit accept|decline|cancel (declare elicitation and answer every question
so: `accept` with {"confirm": true}, the gateway's confirmation of a write,
docs/confirmations.md; over 2026-07-28 the `input_required` rounds are driven
the same way; `call` then also prints "elicitations", the messages asked).

Commands and what they print on stdout, one JSON object:
    list              {"protocolVersion", "tools": [{"name", "description", "inputSchema", "outputSchema"}]}
    call NAME JSON    {"protocolVersion", "isError", "content", "structuredContent"[, "logs"][, "progress"]}
                      (progress: [{"progress", "total", "message"}] in the order received)
                      (content: a text block as its string, any other block as its JSON)
    resources         {"protocolVersion", "resources": [{"uri", "name", "mimeType"}],
                       "templates": [{"uriTemplate", "name", "mimeType"}]}
    read URI          {"protocolVersion", "contents": [{"uri", "mimeType", "text"}]}
    prompts           {"protocolVersion", "prompts": [{"name", "description", "arguments"}]}
    prompt NAME JSON  {"protocolVersion", "description", "messages": [{"role", "text"}]}

Exit 0 when the protocol exchange succeeded, even for a tool's `isError: true`.
Otherwise exit 1 with one JSON object on stderr, by what failed:
    {"kind": "mcp-error", "code": <JSON-RPC code>, "message", "data"}   the server answered an error
    {"kind": "invalid-result", "message"}    the SDK rejected what the server sent (schema, shape)
    {"kind": "timeout", "message"}           no answer within --timeout
    {"kind": "transport", "type", "message"} connecting or HTTP failed (refused, 4xx/5xx, closed)
    {"kind": "sdk-warning", "logger", "message"}  the exchange worked but the SDK logged a
                                             warning (e.g. a session's end answered 202)
and, when the last HTTP response was an error status, "httpStatus" too
(e.g. 403 for a refused Origin: the SDK itself reports that as an mcp-error).
Exit 2 for a bad command line.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shlex
import sys
import warnings
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, NoReturn

import anyio
import httpx2
import mcp_types as types
from mcp.client.session import ClientSession
from mcp.client.sse import sse_client
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPDeprecationWarning, MCPError
from pydantic import ValidationError

# logging/setLevel is deprecated from 2026-07-28 but is how 2025 sessions ask for logs.
warnings.filterwarnings("ignore", category=MCPDeprecationWarning)

CLIENT_INFO = types.Implementation(name="agent-gateway-tests", version="1")
LOG_LEVELS = ["debug", "info", "notice", "warning", "error", "critical", "alert", "emergency"]


class Failure(Exception):
    """The typed outcome of a failed exchange, printed as JSON on stderr."""

    def __init__(self, **report: Any) -> None:
        super().__init__(report)
        self.report = report


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="A real MCP client (official Python SDK) for the gateway's tests.")
    p.add_argument("--transport", choices=["sse", "http", "stdio"], required=True)
    p.add_argument("--url", help="the /sse or /mcp endpoint (sse, http)")
    p.add_argument("--command", help="the server command line, run with this environment (stdio)")
    p.add_argument("--era", choices=["legacy", "modern", "auto"], help="default: auto over http, else legacy")
    p.add_argument("--header", action="append", default=[], metavar="K=V", help="extra HTTP header (repeatable)")
    p.add_argument("--log-level", choices=LOG_LEVELS, help="ask for log messages at this level and print them")
    p.add_argument("--progress", action="store_true", help="ask for progress notifications and print them")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds for the whole exchange (default 30)")
    p.add_argument("--elicit", choices=["accept", "decline", "cancel"], help="declare elicitation and answer so")
    sub = p.add_subparsers(dest="action", required=True)
    sub.add_parser("list", help="list the tools")
    call = sub.add_parser("call", help="call one tool")
    call.add_argument("name")
    call.add_argument("arguments", nargs="?", default="{}", help="a JSON object (default {})")
    sub.add_parser("resources", help="list the resources and resource templates")
    read = sub.add_parser("read", help="read one resource")
    read.add_argument("uri")
    sub.add_parser("prompts", help="list the prompts")
    prompt = sub.add_parser("prompt", help="get one prompt")
    prompt.add_argument("name")
    prompt.add_argument("arguments", nargs="?", default="{}", help="a JSON object of strings (default {})")
    args = p.parse_args(argv)

    headers: dict[str, str] = {}
    for item in args.header:
        key, sep, value = item.partition("=")
        if not sep or not key:
            p.error(f"--header wants K=V, got {item!r}")
        headers[key] = value
    args.headers = headers
    if args.transport == "stdio" and not args.command:
        p.error("--transport stdio needs --command")
    if args.transport != "stdio" and not args.url:
        p.error(f"--transport {args.transport} needs --url")
    args.era = args.era or ("auto" if args.transport == "http" else "legacy")
    if args.action in ("call", "prompt"):
        try:
            args.arguments = json.loads(args.arguments)
        except json.JSONDecodeError as e:
            p.error(f"arguments are not JSON: {e}")
        if not isinstance(args.arguments, dict):
            p.error("arguments must be a JSON object")
    return args


class HttpLog:
    """Builds the transports' HTTP clients and remembers the status of the last response.

    The SDK turns an HTTP 4xx/5xx into a generic error; tests of Origin, Host
    and body-size checks want the status itself.
    """

    def __init__(self, headers: dict[str, str]) -> None:
        self.headers = headers
        self.last_status: int | None = None

    async def _on_response(self, response: httpx2.Response) -> None:
        self.last_status = response.status_code

    def client(
        self,
        headers: dict[str, str] | None = None,
        timeout: httpx2.Timeout | None = None,
        auth: httpx2.Auth | None = None,
    ) -> httpx2.AsyncClient:
        """An `McpHttpClientFactory` (the SDK's signature and default timeouts) plus the response hook."""
        return httpx2.AsyncClient(
            headers={**self.headers, **(headers or {})},
            timeout=timeout or httpx2.Timeout(30.0, read=300.0),
            auth=auth,
            event_hooks={"response": [self._on_response]},
        )


@asynccontextmanager
async def connect(
    args: argparse.Namespace, http: HttpLog, logs: list[dict[str, Any]], asked: list[str] | None = None
) -> AsyncIterator[ClientSession]:
    """A session over the chosen transport, negotiated in the chosen era."""

    async def on_elicit(context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        return answer(args.elicit, params, asked)

    async def on_log(params: types.LoggingMessageNotificationParams) -> None:
        logs.append(params.model_dump(mode="json", by_alias=True, exclude_none=True))

    if args.transport == "stdio":
        argv = shlex.split(args.command)
        transport = stdio_client(StdioServerParameters(command=argv[0], args=argv[1:], env=dict(os.environ)))
    elif args.transport == "sse":
        transport = sse_client(args.url, httpx_client_factory=http.client)
    else:
        transport = streamable_http_client(args.url, http_client=http.client())
    async with transport as (read, write):
        session = ClientSession(
            read,
            write,
            client_info=CLIENT_INFO,
            logging_callback=on_log,
            elicitation_callback=on_elicit if args.elicit else None,
            log_level=args.log_level,  # the 2026-07-28 per-request opt-in; ignored by legacy sessions
        )
        async with session:
            await negotiate(session, args.era)
            if args.log_level and session.initialize_result is not None:
                await session.set_logging_level(args.log_level)
            yield session


async def negotiate(session: ClientSession, era: str) -> None:
    if era == "legacy":
        await session.initialize()
    elif era == "modern":
        await session.discover()
    else:
        try:
            await session.discover()
        except MCPError:
            await session.initialize()


async def list_tools(session: ClientSession) -> dict[str, Any]:
    tools: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        params = types.PaginatedRequestParams(cursor=cursor) if cursor else None
        page = await session.list_tools(params=params)
        for tool in page.tools:
            tools.append(
                {
                    "name": tool.name,
                    "description": tool.description,
                    "inputSchema": tool.input_schema,
                    "outputSchema": tool.output_schema,
                }
            )
        cursor = page.next_cursor
        if not cursor:
            return {"protocolVersion": session.protocol_version, "tools": tools}


def answer(how: str, params: Any, asked: list[str] | None) -> types.ElicitResult:
    """The answer `--elicit` gives to any question, which it notes in `asked`."""
    if asked is not None:
        asked.append(getattr(params, "message", ""))
    if how == "accept":
        return types.ElicitResult(action="accept", content={"confirm": True})
    return types.ElicitResult(action="decline" if how == "decline" else "cancel")


async def call_tool(
    session: ClientSession,
    name: str,
    arguments: dict[str, Any],
    progress: list[dict[str, Any]] | None = None,
    elicit: str | None = None,
    asked: list[str] | None = None,
) -> dict[str, Any]:
    # Listing first is what real clients do, and what lets the SDK validate
    # structuredContent against the output schema and mirror x-mcp-header arguments.
    await session.list_tools()

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        if progress is not None:
            progress.append({"progress": done, "total": total, "message": message})

    # With a callback the SDK sends a progressToken in the request's _meta.
    callback = on_progress if progress is not None else None
    if elicit:
        # 2026-07-28: answer each input_required round's questions and retry.
        result = await session.call_tool(name, arguments, progress_callback=callback, allow_input_required=True)
        for _ in range(5):
            if not isinstance(result, types.InputRequiredResult):
                break
            responses: dict[str, Any] = {
                key: answer(elicit, request.params, asked)
                for key, request in (result.input_requests or {}).items()
                if isinstance(request, types.ElicitRequest)
            }
            result = await session.call_tool(
                name,
                arguments,
                progress_callback=callback,
                input_responses=responses,
                request_state=result.request_state,
                allow_input_required=True,
            )
    else:
        result = await session.call_tool(name, arguments, progress_callback=callback)
    assert isinstance(result, types.CallToolResult)
    content = [
        block.text
        if isinstance(block, types.TextContent)
        else block.model_dump(mode="json", by_alias=True, exclude_none=True)
        for block in result.content
    ]
    return {
        "protocolVersion": session.protocol_version,
        "isError": bool(result.is_error),
        "content": content,
        "structuredContent": result.structured_content,
    }


async def list_resources(session: ClientSession) -> dict[str, Any]:
    resources = await session.list_resources()
    templates = await session.list_resource_templates()
    return {
        "protocolVersion": session.protocol_version,
        "resources": [
            {"uri": str(r.uri), "name": r.name, "mimeType": r.mime_type} for r in resources.resources
        ],
        "templates": [
            {"uriTemplate": t.uri_template, "name": t.name, "mimeType": t.mime_type}
            for t in templates.resource_templates
        ],
    }


async def read_resource(session: ClientSession, uri: str) -> dict[str, Any]:
    result = await session.read_resource(uri)
    assert isinstance(result, types.ReadResourceResult)
    return {
        "protocolVersion": session.protocol_version,
        "contents": [
            {"uri": str(c.uri), "mimeType": c.mime_type, "text": getattr(c, "text", None)} for c in result.contents
        ],
    }


async def list_prompts(session: ClientSession) -> dict[str, Any]:
    result = await session.list_prompts()
    return {
        "protocolVersion": session.protocol_version,
        "prompts": [
            {
                "name": p.name,
                "description": p.description,
                "arguments": [
                    {"name": a.name, "description": a.description, "required": a.required}
                    for a in (p.arguments or [])
                ],
            }
            for p in result.prompts
        ],
    }


async def get_prompt(session: ClientSession, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    result = await session.get_prompt(name, {k: str(v) for k, v in arguments.items()})
    return {
        "protocolVersion": session.protocol_version,
        "description": result.description,
        "messages": [
            {"role": m.role, "text": m.content.text if isinstance(m.content, types.TextContent) else None}
            for m in result.messages
        ],
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    logs: list[dict[str, Any]] = []
    progress: list[dict[str, Any]] | None = [] if args.progress else None
    asked: list[str] = []
    http = HttpLog(args.headers)
    try:
        with anyio.fail_after(args.timeout):
            async with connect(args, http, logs, asked) as session:
                if args.action == "list":
                    out = await list_tools(session)
                elif args.action == "resources":
                    out = await list_resources(session)
                elif args.action == "read":
                    out = await read_resource(session, args.uri)
                elif args.action == "prompts":
                    out = await list_prompts(session)
                elif args.action == "prompt":
                    out = await get_prompt(session, args.name, args.arguments)
                else:
                    out = await call_tool(session, args.name, args.arguments, progress, args.elicit, asked)
                    if args.elicit:
                        out["elicitations"] = asked
    except TimeoutError as e:
        raise Failure(kind="timeout", message=f"no answer within {args.timeout:g} s") from e
    except BaseException as e:  # anyio task groups wrap the cause in exception groups
        failure = classify(e)
        if isinstance(failure, Failure) and http.last_status is not None and http.last_status >= 400:
            failure.report["httpStatus"] = http.last_status
        raise failure from e
    if args.action == "call" and args.log_level:
        out["logs"] = logs
    if args.action == "call" and progress is not None:
        out["progress"] = progress
    return out


def classify(exc: BaseException) -> Failure | BaseException:
    cause = innermost(exc)
    if isinstance(cause, MCPError):
        report: dict[str, Any] = {"kind": "mcp-error", "code": cause.code, "message": cause.message}
        if cause.data is not None:
            report["data"] = cause.data
        return Failure(**report)
    if isinstance(cause, (ValidationError, RuntimeError)):
        return Failure(kind="invalid-result", message=str(cause))
    if isinstance(cause, TimeoutError):
        return Failure(kind="timeout", message=str(cause) or "timed out")
    if isinstance(cause, Exception):
        return Failure(kind="transport", type=type(cause).__name__, message=str(cause))
    return exc  # KeyboardInterrupt, SystemExit: not ours to report


def innermost(exc: BaseException) -> BaseException:
    """The first leaf of nested exception groups, else the exception itself."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


class _Warnings(logging.Handler):
    """Keeps the SDK's own warnings: a clean exchange logs none."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def main(argv: list[str]) -> NoReturn:
    args = parse_args(argv)
    sdk = logging.getLogger("mcp")
    kept = _Warnings()
    sdk.addHandler(kept)
    try:
        out = anyio.run(run, args)
    except Failure as f:
        print(json.dumps(f.report), file=sys.stderr)
        sys.exit(1)
    if kept.records:
        first = kept.records[0]
        print(json.dumps({"kind": "sdk-warning", "logger": first.name, "message": first.getMessage()}), file=sys.stderr)
        sys.exit(1)
    print(json.dumps(out))
    sys.exit(0)


if __name__ == "__main__":
    main(sys.argv[1:])
