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

from . import _logging, config, http
from ._tool import tool
from .errors import Denied, InvalidInput, ToolError, UpstreamError

__all__ = ["tool", "http", "config", "ToolError", "InvalidInput", "UpstreamError", "Denied"]

_logging.install()
