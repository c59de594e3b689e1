"""The one module that crosses into the gateway through componentize-py's
generated ``wit_world`` bindings.

Every import of the bindings is inside a function, so the rest of the SDK runs
(and is unit-tested) on a plain CPython, where tests put a fake ``wit_world``
in ``sys.modules``. Inside the sandbox only modules loaded while the
component was built exist, so :func:`preload` runs all of them at build time.

While the component is built (the script's import), the gateway's imports
are stubs that trap: until :func:`enter` marks the first describe or call,
logs go to stderr and HTTP or config raise a readable error instead.
"""

import sys

# False in the build-time snapshot every call starts from; see enter().
_live = False

# WIT `http-error` case (generated class name) -> `HttpError.kind`.
_HTTP_ERROR_KINDS = {
    "HttpError_Denied": "denied",
    "HttpError_Dns": "dns",
    "HttpError_Connect": "connect",
    "HttpError_Timeout": "timeout",
    "HttpError_TooLarge": "too-large",
    "HttpError_Protocol": "protocol",
}

_OUTSIDE = (
    "{what} only works inside the gateway sandbox (the wit_world bindings are "
    "missing); run the tool with `gateway call <tool-dir> '<json>'`"
)


class SendFailure(Exception):
    """A WIT `http-error`, without the bindings' types.

    ``kind`` is the WIT case name; ``detail`` its payload as text (for
    ``denied``, the WIT `denied-reason` name) or None.
    """

    def __init__(self, kind, detail):
        super().__init__(kind, detail)
        self.kind = kind
        self.detail = detail


def enter():
    """Mark that the gateway is calling the component, so its imports work."""
    global _live
    _live = True


def _require_live(what):
    if not _live:
        raise RuntimeError(
            f"{what} cannot run while the tool is being built (the script's import); "
            "call it inside the @tool function"
        )


def preload():
    """Import every binding module now, while the component is being built."""
    import componentize_py_types  # noqa: F401
    from wit_world import exports  # noqa: F401
    from wit_world.imports import config, http, log, progress, types  # noqa: F401


def tool_protocol():
    """The generated ``exports.Tool`` protocol class the entry class must subclass."""
    from wit_world import exports

    return exports.Tool


def send(method, url, headers, body):
    """Send one request; returns ``(status, [(name, value)], body_bytes)``.

    Raises :class:`SendFailure` when the gateway returns a WIT `http-error`.
    """
    try:
        from componentize_py_types import Err
        from wit_world.imports import http
    except ImportError:
        raise RuntimeError(_OUTSIDE.format(what="gateway_tool.http")) from None
    _require_live("gateway_tool.http")
    request = http.Request(method=method, url=url, headers=headers, body=body)
    try:
        response = http.send(request)
    except Err as err:
        raise _failure(err.value) from None
    return response.status, list(response.headers), bytes(response.body)


def _failure(value):
    kind = _HTTP_ERROR_KINDS.get(type(value).__name__, "protocol")
    detail = getattr(value, "value", None)
    if kind == "denied":
        # DeniedReason.INVALID_URL -> "invalid-url", the WIT spelling.
        detail = detail.name.lower().replace("_", "-")
    return SendFailure(kind, detail)


def config_get(name):
    """The deployment setting ``name``, or None."""
    try:
        from wit_world.imports import config
    except ImportError:
        raise RuntimeError(_OUTSIDE.format(what="gateway_tool.config")) from None
    _require_live("gateway_tool.config")
    return config.get(name)


def log(level, message):
    """Emit one log line; ``level`` is a WIT level name (``"info"``, ``"warn"``, ...).

    Outside the sandbox, and while the component is built, the line goes
    to stderr (so a script can also be tried with plain ``python3``).
    """
    try:
        from wit_world.imports import log as wit_log
    except ImportError:
        wit_log = None
    if wit_log is None or not _live:
        sys.stderr.write(f"{level.upper()} {message}\n")
        return
    wit_log.log(getattr(wit_log.Level, level.upper()), message)


def progress(done, total, message):
    """Report progress (WIT ``progress.report``); dropped outside a call.

    Outside the sandbox, and while the component is built, nothing is sent
    (there is no caller to tell).
    """
    try:
        from wit_world.imports import progress as wit_progress
    except ImportError:
        return
    if not _live:
        return
    wit_progress.report(done, total, message)


def output(json_text, content=()):
    """The WIT ``tool-output`` record: the JSON result and its content blocks
    (:mod:`gateway_tool.content` objects, or ``str`` for a text block)."""
    from wit_world.imports import types

    return types.ToolOutput(json=json_text, content=[_block(types, b) for b in content])


def _block(types, block):
    """One :mod:`gateway_tool.content` block as the WIT ``content-block``."""
    kind = getattr(block, "kind", None)
    if isinstance(block, str):
        return types.ContentBlock_Text(block)
    if kind == "image":
        return types.ContentBlock_Image(types.Media(mime_type=block.mime_type, data=block.data))
    if kind == "audio":
        return types.ContentBlock_Audio(types.Media(mime_type=block.mime_type, data=block.data))
    if kind == "resource":
        return types.ContentBlock_Resource(types.Embedded(
            uri=block.uri, mime_type=block.mime_type, text=block.text, blob=block.blob))
    raise TypeError(f"content blocks are Image, Audio, Resource or str, not {type(block).__name__}")


def tool_error(kind, message):
    """The exception that makes ``call`` return WIT `tool-error` case ``kind``."""
    from componentize_py_types import Err
    from wit_world.imports import types

    cases = {
        "invalid-input": types.ToolError_InvalidInput,
        "upstream": types.ToolError_Upstream,
        "denied": types.ToolError_Denied,
        "internal": types.ToolError_Internal,
    }
    return Err(cases[kind](message))


def description(name, text, input_schema, output_schema):
    """A WIT `tool-description` record."""
    from wit_world.imports import types

    return types.ToolDescription(
        name=name,
        description=text,
        input_schema=input_schema,
        output_schema=output_schema,
    )
