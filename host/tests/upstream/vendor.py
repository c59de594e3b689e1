"""A stand-in vendor MCP server on the official Python SDK, for the gateway's
upstream tests (host/tests/it/upstream.rs).

    python vendor.py stdio
    python vendor.py streamable-http PORT
    python vendor.py sse PORT

Tools: lookup_charge (read-only, structured), refund_charge (a write),
fail (a tool error), slow (sleeps), whoami (pid, cwd and the environment's
variable names, never values), add_tool (adds a tool and says the list
changed). lookup_charge's description is read from the file named by
VENDOR_DESCRIPTION_FILE when set, so a test can change it between starts.
"""

import asyncio
import os
import sys
from typing import TypedDict

from mcp.server.mcpserver import Context, MCPServer
from mcp.types import ToolAnnotations

server = MCPServer("vendor")

description = "Looks up one charge by id: amount in cents and currency."
if os.environ.get("VENDOR_DESCRIPTION_FILE"):
    with open(os.environ["VENDOR_DESCRIPTION_FILE"], encoding="utf-8") as f:
        description = f.read().strip()


class Who(TypedDict):
    pid: int
    cwd: str
    env: list[str]


class Charge(TypedDict):
    id: str
    amount: int
    currency: str


@server.tool(description=description, annotations=ToolAnnotations(readOnlyHint=True))
def lookup_charge(charge_id: str) -> Charge:
    return {"id": charge_id, "amount": 1200, "currency": "usd"}


@server.tool(
    description="Refunds a charge.",
    annotations=ToolAnnotations(readOnlyHint=False, destructiveHint=True),
)
def refund_charge(charge_id: str) -> dict:
    return {"id": charge_id, "refunded": True}


@server.tool(description="Always fails with the given reason.", annotations=ToolAnnotations(readOnlyHint=True))
def fail(reason: str) -> str:
    raise ValueError(reason)


@server.tool(description="Answers after the given number of seconds.", annotations=ToolAnnotations(readOnlyHint=True))
async def slow(seconds: float) -> str:
    await asyncio.sleep(seconds)
    return "done"


@server.tool(description="This server's process id, working directory and environment variable names.", annotations=ToolAnnotations(readOnlyHint=True))
def whoami() -> "Who":
    return {"pid": os.getpid(), "cwd": os.getcwd(), "env": sorted(os.environ)}


@server.tool(description="Adds a read-only tool with the given name and announces the change.", annotations=ToolAnnotations(readOnlyHint=True))
async def add_tool(name: str, ctx: Context) -> str:
    def added() -> str:
        return name

    server.add_tool(added, name=name, description=f"The tool {name}.", annotations=ToolAnnotations(readOnlyHint=True))
    await ctx.session.send_tool_list_changed()
    return "added"


if __name__ == "__main__":
    transport = sys.argv[1] if len(sys.argv) > 1 else "stdio"
    if transport == "stdio":
        server.run("stdio")
    else:
        server.run(transport, host="127.0.0.1", port=int(sys.argv[2]))
