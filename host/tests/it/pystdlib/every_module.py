import importlib
import sys

from gateway_tool import tool


@tool
def every_module(prefix: str = "") -> dict:
    """Imports every public module of the standard library inside the sandbox.

    Args:
        prefix: Only modules whose names start with this.
    """
    names = sorted(
        n for n in sys.stdlib_module_names if not n.startswith("_") and n.startswith(prefix)
    )
    failed = {}
    for name in names:
        try:
            importlib.import_module(name)
        except BaseException as e:  # noqa: BLE001  (the test wants each failure's type)
            failed[name] = type(e).__name__
    return {"total": len(names), "failed": failed}
