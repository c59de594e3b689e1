"""Deployment settings: ``[config]`` in ``tool.toml``, which the gateway's own
configuration may override (that is how tests point a tool at a mock upstream).

Settings are strings and never secrets: the gateway injects secrets into
requests itself, and the tool cannot read them.
"""

from . import _host
from .errors import ToolError

__all__ = ["get", "require"]


def get(name, default=None):
    """The setting ``name``, or ``default`` when it is not set."""
    value = _host.config_get(name)
    return default if value is None else value


def require(name):
    """The setting ``name``; raises :class:`ToolError` when it is missing or empty."""
    value = _host.config_get(name)
    if not value:
        state = "empty" if value == "" else "not set"
        raise ToolError(
            f"config key {name!r} is {state}: add it to [config] in tool.toml "
            f"or to the gateway's [tools.<tool>.config]"
        )
    return value
