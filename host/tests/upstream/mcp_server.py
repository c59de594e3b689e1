"""An upstream MCP server for the gateway's client-transport tests.

Built on the official Python MCP SDK (`MCPServer`, FastMCP's name in mcp 2).
Serves on 127.0.0.1 on a port the OS picks, printed as `PORT <n>` on stdout
once the socket is bound, so the test never races for a free port.

    python mcp_server.py sse
    python mcp_server.py streamable-http [--stateless] [--json-response]
    ... --require-authorization 'Bearer t'   (any other request: 401)
    ... --port N                              (a restart on the same port)

Tools:
  add(a, b)  -> structured {"result": a + b}
  whoami()   -> the Authorization and X-Team headers this request carried
"""

import argparse
import socket
import sys

import anyio
import uvicorn
from pydantic import BaseModel

from mcp.server.mcpserver import Context, MCPServer


class Caller(BaseModel):
    authorization: str | None
    team: str | None


server = MCPServer("upstream-test", log_level="WARNING")


@server.tool()
def add(a: int, b: int) -> int:
    """Adds two integers."""
    return a + b


@server.tool()
def whoami(ctx: Context) -> Caller:
    """The credentials this request arrived with."""
    request = ctx.request_context.request
    headers = getattr(request, "headers", None)
    if headers is None:
        return Caller(authorization=None, team=None)
    return Caller(authorization=headers.get("authorization"), team=headers.get("x-team"))


class RequireAuthorization:
    """ASGI middleware: every HTTP request (the SSE GET, each POST) must carry
    exactly this Authorization header, else 401."""

    def __init__(self, app, expected: str):
        self.app = app
        self.expected = expected.encode()

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            got = dict(scope["headers"]).get(b"authorization")
            if got != self.expected:
                await send({"type": "http.response.start", "status": 401, "headers": [(b"content-type", b"text/plain")]})
                await send({"type": "http.response.body", "body": b"unauthorized"})
                return
        await self.app(scope, receive, send)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("transport", choices=["sse", "streamable-http"])
    parser.add_argument("--stateless", action="store_true")
    parser.add_argument("--json-response", action="store_true")
    parser.add_argument("--require-authorization")
    parser.add_argument("--port", type=int, default=0, help="0: one the OS picks")
    args = parser.parse_args()

    if args.transport == "sse":
        app = server.sse_app()
    else:
        app = server.streamable_http_app(stateless_http=args.stateless, json_response=args.json_response)

    if args.require_authorization is not None:
        app = RequireAuthorization(app, args.require_authorization)

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", args.port))
    sock.listen(64)
    print(f"PORT {sock.getsockname()[1]}", flush=True)

    config = uvicorn.Config(app, log_level="warning")
    anyio.run(lambda: uvicorn.Server(config).serve(sockets=[sock]))


if __name__ == "__main__":
    sys.exit(main())
