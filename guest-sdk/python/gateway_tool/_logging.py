"""Python ``logging`` into the gateway's logs."""

import logging

from . import _host

# Python level number -> WIT `log.level`, first match from the top.
_LEVELS = (
    (logging.ERROR, "error"),
    (logging.WARNING, "warn"),
    (logging.INFO, "info"),
    (logging.DEBUG, "debug"),
)


class GatewayHandler(logging.Handler):
    """Sends each record to the gateway's log at the matching WIT level."""

    def emit(self, record):
        try:
            message = self.format(record)
            _host.log(wit_level(record.levelno), message)
        except Exception:
            self.handleError(record)


def wit_level(levelno):
    """The WIT level name for a Python level number (below DEBUG is ``trace``)."""
    for threshold, name in _LEVELS:
        if levelno >= threshold:
            return name
    return "trace"


def install():
    """Put one :class:`GatewayHandler` on the root logger, at level INFO.

    Idempotent, so importing the SDK twice (or reloading it) adds no second
    handler. Scripts may lower the level with ``logging.getLogger().setLevel``.
    """
    root = logging.getLogger()
    if any(isinstance(h, GatewayHandler) for h in root.handlers):
        return
    handler = GatewayHandler()
    handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
    root.addHandler(handler)
    root.setLevel(logging.INFO)
