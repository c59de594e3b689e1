"""FastMCP (the seed's Python stack) serving the benchmark's trivial tool.

Run by benches/mcp.rs: python fastmcp_echo.py PORT. Stateless HTTP with JSON
responses, one worker: the fastest mode FastMCP offers.
"""

import sys

from fastmcp import FastMCP

mcp = FastMCP("fastmcp-echo")


@mcp.tool
def echo(text: str) -> dict:
    """Returns its input text."""
    return {"text": text}


if __name__ == "__main__":
    mcp.run(
        transport="http",
        host="127.0.0.1",
        port=int(sys.argv[1]),
        log_level="warning",
        json_response=True,
        stateless_http=True,
        show_banner=False,
    )
