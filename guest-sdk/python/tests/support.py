"""Shared test helpers: the SDK on sys.path and a fake ``wit_world``.

The fake mirrors what ``componentize-py bindings`` generates for
guest-sdk/rust/wit (class and case names included), records what the SDK sends
and answers from a script the test sets up.
"""

import dataclasses
import enum
import sys
import types
from pathlib import Path

SDK_ROOT = Path(__file__).resolve().parent.parent
if str(SDK_ROOT) not in sys.path:
    sys.path.insert(0, str(SDK_ROOT))

from gateway_tool import _host, _tool  # noqa: E402

_MODULES = (
    "componentize_py_types",
    "wit_world",
    "wit_world.exports",
    "wit_world.imports",
    "wit_world.imports.http",
    "wit_world.imports.log",
    "wit_world.imports.config",
    "wit_world.imports.types",
    "wit_world.imports.progress",
)


@dataclasses.dataclass(frozen=True)
class Err(Exception):
    value: object


def _variant(module, name, fields=("value",)):
    cls = dataclasses.make_dataclass(name, list(fields))
    cls.__module__ = module.__name__
    setattr(module, name, cls)


class FakeGateway:
    """Installs fake binding modules; ``responses`` answers ``http.send`` in order.

    Each entry of ``responses`` is a ``(status, headers, body)`` tuple or a
    WIT ``http-error`` case instance (raised as ``Err``).
    """

    def __init__(self, config=None, live=True):
        self.config = dict(config or {})
        self.responses = []
        self.sent = []
        self.logs = []
        self.progress = []
        self.live = live
        self._saved = {}

    def install(self):
        for name in _MODULES:
            self._saved[name] = sys.modules.get(name)
        cpt = types.ModuleType("componentize_py_types")
        cpt.Err = Err
        root, exports, imports = (types.ModuleType(n) for n in _MODULES[1:4])
        http, log, config, wtypes, progress = (types.ModuleType(n) for n in _MODULES[4:])
        http.Request = dataclasses.make_dataclass("Request", ["method", "url", "headers", "body"])
        http.Response = dataclasses.make_dataclass("Response", ["status", "headers", "body"])
        http.DeniedReason = enum.Enum("DeniedReason", "INVALID_URL SCHEME HOST PORT PATH METHOD "
                                      "BODY_NOT_ALLOWED FORBIDDEN_HEADER PRIVATE_ADDRESS REQUEST_BUDGET")
        for name in ("HttpError_Denied", "HttpError_Dns", "HttpError_Connect", "HttpError_Protocol"):
            _variant(http, name)
        for name in ("HttpError_Timeout", "HttpError_TooLarge"):
            _variant(http, name, fields=())
        http.send = self._send
        log.Level = enum.Enum("Level", "TRACE DEBUG INFO WARN ERROR")
        log.log = lambda level, message: self.logs.append((level.name.lower(), message))
        config.get = self.config.get
        for name in ("ToolError_InvalidInput", "ToolError_Upstream", "ToolError_Denied", "ToolError_Internal"):
            _variant(wtypes, name)
        wtypes.ToolDescription = dataclasses.make_dataclass(
            "ToolDescription", ["name", "description", "input_schema", "output_schema"])
        wtypes.ToolOutput = dataclasses.make_dataclass("ToolOutput", ["json", "content"])
        wtypes.Media = dataclasses.make_dataclass("Media", ["mime_type", "data"])
        wtypes.Embedded = dataclasses.make_dataclass("Embedded", ["uri", "mime_type", "text", "blob"])
        for name in ("ContentBlock_Text", "ContentBlock_Image", "ContentBlock_Audio", "ContentBlock_Resource"):
            setattr(wtypes, name, dataclasses.make_dataclass(name, ["value"]))
        progress.report = lambda done, total, message: self.progress.append((done, total, message))
        exports.Tool = type("Tool", (), {"__module__": "wit_world.exports"})
        root.exports, root.imports = exports, imports
        imports.http, imports.log, imports.config, imports.types = http, log, config, wtypes
        imports.progress = progress
        for module in (cpt, root, exports, imports, http, log, config, wtypes, progress):
            sys.modules[module.__name__] = module
        self.http, self.types = http, wtypes
        _host._live = self.live
        return self

    def uninstall(self):
        for name, module in self._saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module
        _host._live = False

    def _send(self, request):
        self.sent.append(request)
        answer = self.responses.pop(0) if self.responses else (200, [], b"{}")
        if isinstance(answer, tuple):
            return self.http.Response(*answer)
        raise Err(answer)


def use_fake_gateway(test_case, **kwargs):
    """Install a :class:`FakeGateway` for one test; it is removed afterwards."""
    gateway = FakeGateway(**kwargs).install()
    test_case.addCleanup(gateway.uninstall)
    return gateway


def fresh_registry(test_case):
    """Forget any registered tool before and after the test."""
    _tool._reset()
    test_case.addCleanup(_tool._reset)
