"""The static checker as a tool, so it runs on the sandbox's own Python.

``gateway tool build`` builds this module into a component once (cached by
the SDK's content) and calls it with each script's text: ``ast`` and
``sys.stdlib_module_names`` are then those of the CPython inside
componentize-py, the one that runs the tool (3.14 syntax such as
``type X = ...`` parses; a real syntax error is still reported at its line).
The checker cannot see the script's folder, so the gateway passes the names
of the modules beside it.
"""

import dataclasses
import sys

from gateway_tool import tool
from gateway_tool.check import check_source


@tool
def check_script(source: str, filename: str, local_modules: list[str]) -> dict:
    """Static checks of one tool script, with the sandbox's Python.

    Args:
        source: The script's text.
        filename: The path diagnostics name.
        local_modules: Modules beside the script (helper files and packages).
    """
    found = check_source(source, filename, frozenset(local_modules))
    version = f"{sys.version_info[0]}.{sys.version_info[1]}.{sys.version_info[2]}"
    return {"python": version, "diagnostics": [dataclasses.asdict(d) for d in found]}
