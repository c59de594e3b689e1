"""A known-good MCP server built on the official Python SDK (mcp 2.3.0).

It is the peer the real-client harness is checked against before it is pointed
at `gateway serve`, and the Python baseline for benchmarks. Like the gateway it
serves, on one loopback port:

    /mcp                  Streamable HTTP (2025 sessions and 2026-07-28 stateless requests)
    /sse  + /messages/    the legacy HTTP+SSE transport

and tools shaped the way the gateway answers: a tool returns a JSON
object, sent as one text block and as `structuredContent`; a failure is
`isError: true` with one text block. The tools are `echo` and `fail`, plus the
conformance suite's test tools that apply to a tool gateway (CONFORMANCE.md
gives each one's name, schema and behaviour; the WebAssembly test tools must
match them). Like the gateway (docs/resources-and-prompts.md) it also serves
the conformance field registry (`fields/conformance.yaml`) as `fields://`
resources, and the test tools' `SKILL.md` files as prompts and
`skill://` resources, in the same shapes.

    python reference_server.py [--port N]
    python reference_server.py --stdio

prints `http://127.0.0.1:PORT` on stdout once it accepts connections (port 0,
the default, picks a free one) and serves until interrupted; with --stdio it
serves one client over stdin and stdout instead.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import socket
import sys
import warnings
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
from pathlib import Path
import mcp_types as types
import uvicorn
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import Server
from mcp.server.sse import SseServerTransport
from mcp.server.stdio import stdio_server
from mcp.server.transport_security import TransportSecuritySettings
from mcp.shared.exceptions import MCPDeprecationWarning, MCPError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route

# Logging is deprecated from 2026-07-28 (per-request opt-in there), but the
# gateway serves 2025 clients too, so this server keeps it, as the gateway does.
warnings.filterwarnings("ignore", category=MCPDeprecationWarning)

# DNS-rebinding protection as the gateway applies it: loopback Host and Origin only.
LOOPBACK_ONLY = TransportSecuritySettings(
    enable_dns_rebinding_protection=True,
    allowed_hosts=["127.0.0.1:*", "localhost:*", "[::1]:*"],
    allowed_origins=["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"],
)

NO_ARGUMENTS: dict[str, Any] = {"type": "object", "properties": {}, "additionalProperties": False}

# The input schema the suite's json-schema-2020-12 scenario looks for, verbatim:
# every keyword must come back unchanged from tools/list.
JSON_SCHEMA_2020_12: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "$defs": {
        "address": {
            "$anchor": "addressDef",
            "type": "object",
            "properties": {"street": {"type": "string"}, "city": {"type": "string"}},
        }
    },
    "properties": {
        "name": {"type": "string"},
        "address": {"$ref": "#/$defs/address"},
        "contactMethod": {"type": "string", "enum": ["phone", "email"]},
        "phone": {"type": "string"},
        "email": {"type": "string"},
    },
    "allOf": [{"anyOf": [{"required": ["phone"]}, {"required": ["email"]}]}],
    "if": {"properties": {"contactMethod": {"const": "phone"}}, "required": ["contactMethod"]},
    "then": {"required": ["phone"]},
    "else": {"required": ["email"]},
    "additionalProperties": False,
}


class ToolFailed(Exception):
    """A tool's own failure: reported as `isError: true`, never as a JSON-RPC error."""


Log = Callable[[str], Awaitable[None]]
# (progress, total): a notifications/progress when the request carried a progressToken.
Report = Callable[[float, float], Awaitable[None]]


@dataclass(frozen=True)
class ToolSpec:
    description: str
    input_schema: dict[str, Any]
    run: Callable[[dict[str, Any], Log, Report], Awaitable[Any]]
    output_schema: dict[str, Any] | None = None


async def echo(args: dict[str, Any], log: Log, report: Report) -> dict[str, Any]:
    return {"text": args["text"]}


async def fail(args: dict[str, Any], log: Log, report: Report) -> dict[str, Any]:
    raise ToolFailed("internal: this tool always fails")


async def simple_text(args: dict[str, Any], log: Log, report: Report) -> dict[str, Any]:
    return {"text": "This is a simple text response for testing."}


async def error_handling(args: dict[str, Any], log: Log, report: Report) -> dict[str, Any]:
    raise ToolFailed("This tool intentionally returns an error for testing")


async def tool_with_logging(args: dict[str, Any], log: Log, report: Report) -> dict[str, Any]:
    await log("Tool execution started")
    await anyio.sleep(0.05)
    await log("Tool processing data")
    await anyio.sleep(0.05)
    await log("Tool execution completed")
    return {"text": "Tool with logging executed successfully"}


async def tool_with_progress(args: dict[str, Any], log: Log, report: Report) -> dict[str, Any]:
    await report(0, 100)
    await anyio.sleep(0.05)
    await report(50, 100)
    await anyio.sleep(0.05)
    await report(100, 100)
    return {"text": "Tool with progress executed successfully"}


async def logging_tool(args: dict[str, Any], log: Log, report: Report) -> dict[str, Any]:
    await log("test_logging_tool ran")
    return {"text": "logged one line at info"}


async def json_schema_tool(args: dict[str, Any], log: Log, report: Report) -> dict[str, Any]:
    return {"received": args}


async def x_mcp_header(args: dict[str, Any], log: Log, report: Report) -> dict[str, Any]:
    return {"region": args["region"]}


# The content-block tools' media (tools/test_*_content/src: the same bytes).
TOOLS_DIR = Path(__file__).resolve().parent / "tools"


def _media(tool: str, file: str) -> str:
    return base64.b64encode((TOOLS_DIR / tool / "src" / file).read_bytes()).decode()


def _image() -> types.ImageContent:
    return types.ImageContent(type="image", data=_media("test_image_content", "red.png"), mime_type="image/png")


def _resource(uri: str, mime_type: str, text: str) -> types.EmbeddedResource:
    return types.EmbeddedResource(
        type="resource", resource=types.TextResourceContents(uri=uri, mime_type=mime_type, text=text)
    )


async def image_content(args: dict[str, Any], log: Log, report: Report) -> tuple[dict[str, Any], list[Any]]:
    return {"image": "a 1x1 red pixel"}, [_image()]


async def audio_content(args: dict[str, Any], log: Log, report: Report) -> tuple[dict[str, Any], list[Any]]:
    audio = types.AudioContent(type="audio", data=_media("test_audio_content", "tone.wav"), mime_type="audio/wav")
    return {"audio": "a 0.1 s square wave"}, [audio]


async def embedded_resource(args: dict[str, Any], log: Log, report: Report) -> tuple[dict[str, Any], list[Any]]:
    uri = "test://embedded-resource"
    return {"uri": uri}, [_resource(uri, "text/plain", "This is an embedded resource content.")]


async def multiple_content_types(args: dict[str, Any], log: Log, report: Report) -> tuple[dict[str, Any], list[Any]]:
    blocks = [
        types.TextContent(type="text", text="Multiple content types test:"),
        _image(),
        _resource("test://mixed-content-resource", "application/json", '{"test":"data","value":123}'),
    ]
    return {"blocks": 3}, blocks


async def simple_prompt(args: dict[str, Any], log: Log, report: Report) -> dict[str, Any]:
    return {"text": "This is a simple prompt for testing."}


async def prompt_with_arguments(args: dict[str, Any], log: Log, report: Report) -> dict[str, Any]:
    return {"arg1": args["arg1"], "arg2": args["arg2"]}


async def prompt_with_embedded_resource(args: dict[str, Any], log: Log, report: Report) -> dict[str, Any]:
    return {"text": f"Asked about {args['resourceUri']}"}


TEXT_OUTPUT = {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]}

TOOLS: dict[str, ToolSpec] = {
    "echo": ToolSpec(
        "Returns its input text.",
        {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]},
        echo,
        TEXT_OUTPUT,
    ),
    "fail": ToolSpec("Always fails, as a tool error.", NO_ARGUMENTS, fail),
    "test_simple_text": ToolSpec("Returns a fixed text.", NO_ARGUMENTS, simple_text, TEXT_OUTPUT),
    "test_error_handling": ToolSpec("Always fails, as a tool error.", NO_ARGUMENTS, error_handling),
    "test_tool_with_logging": ToolSpec(
        "Logs three info lines 50 ms apart.", NO_ARGUMENTS, tool_with_logging, TEXT_OUTPUT
    ),
    "test_tool_with_progress": ToolSpec(
        "Reports progress 0, 50 and 100 of 100, 50 ms apart.", NO_ARGUMENTS, tool_with_progress, TEXT_OUTPUT
    ),
    "test_logging_tool": ToolSpec("Logs one info line.", NO_ARGUMENTS, logging_tool, TEXT_OUTPUT),
    "json_schema_2020_12_tool": ToolSpec(
        "Tool with JSON Schema 2020-12 features", JSON_SCHEMA_2020_12, json_schema_tool
    ),
    "test_image_content": ToolSpec("Returns a 1x1 red PNG as an image block.", NO_ARGUMENTS, image_content),
    "test_audio_content": ToolSpec("Returns a short WAV as an audio block.", NO_ARGUMENTS, audio_content),
    "test_embedded_resource": ToolSpec(
        "Returns a text document as an embedded resource.", NO_ARGUMENTS, embedded_resource
    ),
    "test_multiple_content_types": ToolSpec(
        "Returns text, an image and an embedded JSON resource.", NO_ARGUMENTS, multiple_content_types
    ),
    "test_x_mcp_header": ToolSpec(
        "Returns its region, which clients mirror into the Mcp-Param-Region header.",
        {
            "type": "object",
            "properties": {"region": {"type": "string", "x-mcp-header": "Region"}},
            "required": ["region"],
        },
        x_mcp_header,
    ),
    "test_simple_prompt": ToolSpec(
        "Returns a fixed text; its SKILL.md is a prompt without arguments.", NO_ARGUMENTS, simple_prompt, TEXT_OUTPUT
    ),
    "test_prompt_with_arguments": ToolSpec(
        "Returns its two arguments; its SKILL.md is a prompt taking them.",
        {
            "type": "object",
            "properties": {
                "arg1": {"type": "string", "description": "First test argument."},
                "arg2": {"type": "string", "description": "Second test argument."},
            },
            "required": ["arg1", "arg2"],
        },
        prompt_with_arguments,
    ),
    "test_prompt_with_embedded_resource": ToolSpec(
        "Returns a text naming its resourceUri; its prompt embeds the conformance field definitions.",
        {
            "type": "object",
            "properties": {
                "resourceUri": {"type": "string", "description": 'Any resource URI, e.g. "test://example-resource".'}
            },
            "required": ["resourceUri"],
            "additionalProperties": False,
        },
        prompt_with_embedded_resource,
        TEXT_OUTPUT,
    ),
}

HERE = Path(__file__).resolve().parent
# The conformance field registry, as fields/conformance.yaml defines it.
FIELDS: dict[str, dict[str, Any]] = {
    "region": {
        "display_name": "Region",
        "description": "The region test_x_mcp_header echoes, as the caller sent it.",
        "type": "string",
        "nullable": False,
    },
    "text": {
        "display_name": "Text",
        "description": "The fixed text test_simple_text and test_simple_prompt return.",
        "type": "string",
        "nullable": False,
    },
}
PROMPT_TOOLS = ["test_prompt_with_arguments", "test_prompt_with_embedded_resource", "test_simple_prompt"]
# Tools of the conformance integration: their prompt embeds fields://conformance.
INTEGRATION_TOOLS = {"test_prompt_with_embedded_resource"}


def skill_md(tool: str) -> tuple[str, str, str]:
    """A test tool's SKILL.md: (text with `name` as its skill name, description, body)."""
    text = (HERE / "tools" / tool / "SKILL.md").read_text()
    _, front, body = text.split("---\n", 2)
    description = next(line.split(":", 1)[1].strip() for line in front.splitlines() if line.startswith("description:"))
    served = text.replace(f"name: {tool}\n", f"name: {tool.replace('_', '-')}\n", 1)
    return served, description, body.lstrip("\n")


async def list_resources(
    ctx: ServerRequestContext, params: types.PaginatedRequestParams | None
) -> types.ListResourcesResult:
    resources = [types.Resource(uri="fields://conformance", name="conformance", mime_type="application/json")]
    resources += [
        types.Resource(uri=f"fields://conformance/{f}", name=f"conformance/{f}", mime_type="application/json")
        for f in FIELDS
    ]
    resources += [
        types.Resource(uri=f"skill://{t.replace('_', '-')}/SKILL.md", name=t.replace("_", "-"), mime_type="text/markdown")
        for t in PROMPT_TOOLS
    ]
    return types.ListResourcesResult(resources=resources)


async def list_resource_templates(
    ctx: ServerRequestContext, params: types.PaginatedRequestParams | None
) -> types.ListResourceTemplatesResult:
    return types.ListResourceTemplatesResult(
        resource_templates=[
            types.ResourceTemplate(uri_template="fields://{integration}", name="integration-fields", mime_type="application/json"),
            types.ResourceTemplate(
                uri_template="fields://{integration}/{field}", name="field-definition", mime_type="application/json"
            ),
        ]
    )


async def read_resource(ctx: ServerRequestContext, params: types.ReadResourceRequestParams) -> types.ReadResourceResult:
    uri = str(params.uri)
    text: str | None = None
    mime = "application/json"
    if uri == "fields://conformance":
        text = json.dumps({"integration": "conformance", "fields": FIELDS})
    elif uri.startswith("fields://conformance/") and uri.split("/", 3)[3] in FIELDS:
        field = uri.split("/", 3)[3]
        text = json.dumps({"integration": "conformance", "field": field, **FIELDS[field]})
    else:
        for tool in PROMPT_TOOLS:
            if uri == f"skill://{tool.replace('_', '-')}/SKILL.md":
                text, mime = skill_md(tool)[0], "text/markdown"
    if text is None:
        # Resource not found: -32002 until 2025-11-25, invalid params (-32602) from 2026-07-28.
        code = types.INVALID_PARAMS if ctx.protocol_version >= "2026-07-28" else -32002
        raise MCPError(code, f"no resource {uri}", {"uri": uri})
    return types.ReadResourceResult(contents=[types.TextResourceContents(uri=uri, mime_type=mime, text=text)])


async def list_prompts(ctx: ServerRequestContext, params: types.PaginatedRequestParams | None) -> types.ListPromptsResult:
    prompts = []
    for tool in PROMPT_TOOLS:
        schema = TOOLS[tool].input_schema
        required = schema.get("required", [])
        arguments = [
            types.PromptArgument(name=name, description=prop.get("description"), required=name in required)
            for name, prop in schema.get("properties", {}).items()
        ]
        prompts.append(types.Prompt(name=tool, description=skill_md(tool)[1], arguments=arguments or None))
    return types.ListPromptsResult(prompts=prompts)


async def get_prompt(ctx: ServerRequestContext, params: types.GetPromptRequestParams) -> types.GetPromptResult:
    if params.name not in PROMPT_TOOLS:
        raise MCPError(types.INVALID_PARAMS, f"unknown prompt: {params.name}")
    _, description, body = skill_md(params.name)
    text = f"Use the `{params.name}` tool of this MCP server. Its guide (SKILL.md) follows.\n\n{body.rstrip()}"
    if params.arguments:
        call = json.dumps(params.arguments, indent=2)
        text += f"\n\n---\n\nSuggested call: `{params.name}` with arguments\n\n```json\n{call}\n```"
    messages = [types.PromptMessage(role="user", content=types.TextContent(type="text", text=text))]
    if params.name in INTEGRATION_TOOLS:
        messages[0].content.text += "\n\nWhat each field of its result means: fields://conformance, attached."
        fields = json.dumps({"integration": "conformance", "fields": FIELDS})
        resource = types.TextResourceContents(uri="fields://conformance", mime_type="application/json", text=fields)
        messages.append(
            types.PromptMessage(role="user", content=types.EmbeddedResource(type="resource", resource=resource))
        )
    return types.GetPromptResult(description=description, messages=messages)


def text_result(text: str, structured: dict[str, Any] | None, is_error: bool) -> types.CallToolResult:
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=text)], structured_content=structured, is_error=is_error
    )


async def list_tools(ctx: ServerRequestContext, params: types.PaginatedRequestParams | None) -> types.ListToolsResult:
    return types.ListToolsResult(
        tools=[
            types.Tool(name=name, description=t.description, input_schema=t.input_schema, output_schema=t.output_schema)
            for name, t in TOOLS.items()
        ]
    )


async def call_tool(ctx: ServerRequestContext, params: types.CallToolRequestParams) -> types.CallToolResult:
    spec = TOOLS.get(params.name)
    if spec is None:
        raise MCPError(types.INVALID_PARAMS, f"unknown tool: {params.name}")

    async def log(message: str) -> None:
        # On this request's stream; 2026-07-28 sends it only if the request opted in.
        await ctx.session.send_log_message("info", message, logger=params.name, related_request_id=ctx.request_id)

    token = (params.meta or {}).get("progress_token")

    async def report(done: float, total: float) -> None:
        if token is not None:
            await ctx.session.send_progress_notification(token, done, total, related_request_id=ctx.request_id)

    try:
        output = await spec.run(params.arguments or {}, log, report)
    except ToolFailed as e:
        return text_result(str(e), None, True)
    except KeyError as e:
        return text_result(f"invalid_input: missing argument {e}", None, True)
    blocks: list[Any] = []
    if isinstance(output, tuple):
        # Content blocks after the JSON, as the gateway sends a 0.2.0 tool's.
        output, blocks = output
    result = text_result(json.dumps(output, separators=(",", ":")), output, False)
    result.content.extend(blocks)
    return result


async def set_logging_level(ctx: ServerRequestContext, params: types.SetLevelRequestParams) -> types.EmptyResult:
    return types.EmptyResult()


def build_server() -> Server:
    return Server(
        "agent-gateway-reference",
        version="1",
        on_list_tools=list_tools,
        on_call_tool=call_tool,
        on_set_logging_level=set_logging_level,
        on_list_resources=list_resources,
        on_list_resource_templates=list_resource_templates,
        on_read_resource=read_resource,
        on_list_prompts=list_prompts,
        on_get_prompt=get_prompt,
    )


async def serve_stdio() -> None:
    server = build_server()
    async with stdio_server() as (read, write):
        await server.run(read, write, server.create_initialization_options())


def build_app() -> Any:
    server = build_server()
    app = server.streamable_http_app(streamable_http_path="/mcp", transport_security=LOOPBACK_ONLY)

    sse = SseServerTransport("/messages/", security_settings=LOOPBACK_ONLY)

    async def sse_endpoint(request: Request) -> Response:
        async with sse.connect_sse(request.scope, request.receive, request._send) as (read, write):
            await server.run(read, write, server.create_initialization_options())
        return Response()

    app.router.routes.extend(
        [Route("/sse", endpoint=sse_endpoint, methods=["GET"]), Mount("/messages/", app=sse.handle_post_message)]
    )
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: any free port)")
    parser.add_argument("--stdio", action="store_true", help="serve one client over stdin/stdout")
    args = parser.parse_args()
    if args.stdio:
        anyio.run(serve_stdio)
        return

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", args.port))
    sock.listen(128)
    print(f"http://127.0.0.1:{sock.getsockname()[1]}", flush=True)

    config = uvicorn.Config(build_app(), log_level="warning", lifespan="on")
    with contextlib.suppress(KeyboardInterrupt):
        uvicorn.Server(config).run(sockets=[sock])
    sys.exit(0)


if __name__ == "__main__":
    main()
