"""Errors a tool raises to fail a call, one per case of the WIT `tool-error`.

The message is what the agent reads: say what to change, not what broke inside.
"""


class ToolError(Exception):
    """A bug or unexpected state inside the tool (WIT `internal`).

    Also the base class of the other tool errors, so ``except ToolError``
    catches all of them.
    """

    #: The WIT `tool-error` case this class maps to.
    kind = "internal"


class InvalidInput(ToolError):
    """The input made no sense, beyond what the type hints check (WIT `invalid-input`)."""

    kind = "invalid-input"


class UpstreamError(ToolError):
    """An upstream API failed or answered something unusable (WIT `upstream`)."""

    kind = "upstream"


class Denied(ToolError):
    """Something the tool tried was refused (WIT `denied`)."""

    kind = "denied"
