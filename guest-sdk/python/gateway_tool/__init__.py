"""gateway_tool: write an Agent Gateway tool as one plain Python function.

::

    from gateway_tool import tool, http, config, InvalidInput

    @tool
    def github_stars(owner: str, repo: str) -> dict:
        \"\"\"Star count of a GitHub repository.

        Args:
            owner: Account or organisation that owns the repository.
            repo: Repository name.
        \"\"\"
        resp = http.get(f"{config.require('api_base')}/repos/{owner}/{repo}")
        if resp.status == 404:
            raise InvalidInput(f"{owner}/{repo} does not exist")
        resp.raise_for_status()
        return {"stars": resp.json()["stargazers_count"]}

The tool runs in a WebAssembly sandbox with the standard library plus this
package: no sockets, processes or threads (use :mod:`gateway_tool.http`), and
only the modules imported at the top of the script. Importing the package
sends :mod:`logging` (level INFO) to the gateway's logs.
"""

from . import _host, _logging, config, http
from ._tool import tool
from .content import Audio, Image, Resource, Result
from .errors import Denied, InvalidInput, ToolError, UpstreamError

__all__ = [
    "tool", "http", "config", "progress", "Result", "Image", "Audio", "Resource",
    "ToolError", "InvalidInput", "UpstreamError", "Denied",
]


def progress(done, total=None, message=None):
    """Report that ``done`` of ``total`` units are finished (``total`` when
    known), with an optional short message such as ``"page 3 of 7"``.

    The gateway passes it to the agent as an MCP progress notification when
    the agent asked for progress, and drops it otherwise, so calling it is
    always cheap. Keep ``done`` from decreasing: a report that goes backwards
    is dropped. Reports faster than the gateway's rate are coalesced, the
    last one always arriving before the result.
    """
    _host.progress(float(done), None if total is None else float(total),
                   None if message is None else str(message))

_logging.install()
