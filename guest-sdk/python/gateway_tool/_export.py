"""The component's export: the registered tool as the WIT ``tool`` interface.

The gateway generates the component's entry module as exactly::

    from gateway_tool import _environ, _upstreams
    _environ.install({...})  # tool.toml secret variables -> header names
    _upstreams.install({...})  # tool.toml [config] URLs -> their defaults
    import <script_module>  # noqa: F401  (registers the @tool function)
    from gateway_tool._export import export_registered
    Tool = export_registered()
"""

import json
import os
import sys
import traceback

from . import _environ, _host, _tool, _validate
from ._schema import DefinitionError
from ._serialise import to_json
from .content import Result
from .errors import InvalidInput, ToolError
from ._requests import RequestException
from .http import HttpError


def export_registered():
    """The class componentize-py binds as ``Tool``, for the registered @tool function.

    Runs while the component is built, so a script without a @tool
    function fails the build here.
    """
    spec = _tool.registered()
    if spec is None:
        raise DefinitionError(
            "no @tool function was registered: decorate the tool's function with "
            "@tool (from gateway_tool import tool)"
        )
    _host.preload()

    class Tool(_Entry, _host.tool_protocol()):
        """The WIT ``tool`` export for the registered tool."""

        _spec = spec
        # Built now, so the snapshot holds them and a bad default fails the build.
        _schemas = (json.dumps(spec.input_schema()), json.dumps(spec.output_schema()))

    return Tool


class _Entry:
    _spec = None
    _schemas = (None, None)

    def describe(self):
        """Name, description and JSON Schemas (WIT ``tool-description``)."""
        _host.enter()
        return _host.description(self._spec.name, self._spec.description, *self._schemas)

    def call(self, input):
        """Run the tool on JSON text; returns the WIT ``tool-output`` (the JSON
        text, no content blocks) or raises the WIT ``tool-error``."""
        _host.enter()
        _environ.ensure()
        try:
            return _host.output(*invoke_with_content(self._spec, input))
        except ToolError as err:
            raise _host.tool_error(err.kind, str(err)) from None
        except HttpError as err:
            kind = "denied" if err.kind == "denied" else "upstream"
            raise _host.tool_error(kind, str(err)) from None
        except RequestException as err:
            # The requests shim's failures (HTTPError, ConnectionError, ...)
            # are the upstream's, as gateway_tool.http's are.
            raise _host.tool_error("upstream", _one_line(err)) from None
        except (Exception, SystemExit) as err:
            # The gateway captures stderr into its logs: the traceback is for
            # the operator, the one-line message for the agent.
            traceback.print_exception(type(err), err, _user_frames(err.__traceback__), file=sys.stderr)
            raise _host.tool_error("internal", _one_line(err)) from None


def invoke(spec, text):
    """Decode, validate, call and serialise; errors propagate as the tool raised them.
    Returns the JSON text (content blocks, if any, are dropped: see
    :func:`invoke_with_content`)."""
    return invoke_with_content(spec, text)[0]


def invoke_with_content(spec, text):
    """Like :func:`invoke`, returning ``(json_text, content_blocks)``: a tool
    that returns a :class:`~gateway_tool.content.Result` has its blocks there."""
    try:
        data = json.loads(text, parse_constant=_reject_constant)
    except ValueError as err:
        raise InvalidInput(f"the input is not valid JSON: {err}") from None
    kwargs = _validate.arguments(spec.params, data)
    result = spec.func(**kwargs)
    if isinstance(result, Result):
        return to_json(result.data), result.content
    return to_json(result), []


_SDK_DIR = os.path.dirname(os.path.abspath(__file__))


def _user_frames(tb):
    # Skip the SDK's own call/invoke frames: the operator's code is the story.
    first = tb
    while tb is not None and os.path.dirname(tb.tb_frame.f_code.co_filename) == _SDK_DIR:
        tb = tb.tb_next
    return tb or first


def _reject_constant(name):
    raise ValueError(f"{name} is not JSON")


def _one_line(err):
    text = str(err)
    return f"{type(err).__name__}: {text}" if text else type(err).__name__
