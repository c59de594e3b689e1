"""The ``@tool`` decorator: one function per script becomes the tool."""

import dataclasses
import inspect
import re
import typing

from . import _docstring, _schema
from ._schema import DefinitionError
from .content import Result
from ._serialise import plain

# The rule tool.toml applies to `name`.
_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")
_NO_DEFAULT = inspect.Parameter.empty

_registered = None


@dataclasses.dataclass(frozen=True)
class Param:
    """One argument of the tool function."""

    name: str
    node: _schema.Node
    default: typing.Any
    description: str

    @property
    def required(self):
        """True when the argument has no default."""
        return self.default is _NO_DEFAULT


@dataclasses.dataclass(frozen=True)
class ToolSpec:
    """Everything the gateway learns about the tool, built when the script is imported."""

    name: str
    func: typing.Callable
    description: str
    params: tuple
    output: _schema.Node

    def input_schema(self):
        """The input JSON Schema: an object with one property per argument."""
        properties = []
        for p in self.params:
            schema = _schema.to_schema(p.node)
            if not p.required:
                schema["default"] = plain(p.default)
            properties.append((p.name, schema, p.description, p.required))
        return {"$schema": _schema.SCHEMA_DIALECT, **_schema.object_schema(properties, closed=True)}

    def output_schema(self):
        """The output JSON Schema, from the return annotation."""
        return {"$schema": _schema.SCHEMA_DIALECT, **_schema.to_schema(self.output)}


def tool(func=None, *, name=None):
    """Make ``func`` the script's tool; use as ``@tool`` or ``@tool(name="...")``.

    The function's name (or ``name``) must equal ``name`` in tool.toml. Its
    docstring is the description agents read, with a Google-style ``Args:``
    section describing each argument; its type hints become the input and
    output schemas, and input is checked against them before each call.
    The function itself is returned unchanged, so it can be tested directly.

    Raises:
        DefinitionError: When the script is imported (so when the tool is
            built), if the function cannot be a tool or a second function
            is registered.
    """
    if func is None:
        return lambda f: tool(f, name=name)
    if isinstance(func, str):
        return lambda f: tool(f, name=func)
    _register(build_spec(func, name))
    return func


def build_spec(func, name=None):
    """The :class:`ToolSpec` of ``func``; raises :class:`DefinitionError` if it cannot be a tool."""
    name = func.__name__ if name is None else name
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise DefinitionError(
            f"tool name {name!r}: use lowercase letters, digits and '_', starting with a letter (at most 64)"
        )
    where = f"@tool {func.__name__}"
    if inspect.iscoroutinefunction(func) or inspect.isgeneratorfunction(func):
        raise DefinitionError(f"{where}: must be a plain function (not async, not a generator)")
    if not (func.__doc__ or "").strip():
        raise DefinitionError(f"{where}: add a docstring; it is the description agents read")
    description, arg_docs = _docstring.split(func.__doc__, _docstring.ARGS)
    if not description:
        raise DefinitionError(f"{where}: the docstring has an Args section but no description")
    try:
        hints = typing.get_type_hints(func)
    except Exception as err:
        raise DefinitionError(f"{where}: cannot resolve its type hints: {type(err).__name__}: {err}") from None
    params = tuple(_param(p, hints, arg_docs, where) for p in inspect.signature(func).parameters.values())
    if "return" not in hints:
        raise DefinitionError(f"{where}: add a return type hint (a TypedDict, a dataclass or dict)")
    returns = hints["return"]
    if returns is Result:
        raise DefinitionError(f"{where}: annotate the return as Result[YourTypedDict], naming the JSON's type")
    if typing.get_origin(returns) is Result:
        # Result[T]: the JSON is a T; the content blocks have no schema.
        returns = typing.get_args(returns)[0]
    output = _schema.parse(returns, output=True, where=f"{where} return type")
    if output.kind not in ("object", "map"):
        raise DefinitionError(
            f"{where}: a tool returns a JSON object; annotate the return as a TypedDict, a dataclass or dict"
        )
    return ToolSpec(name, func, description, params, output)


def _param(p, hints, arg_docs, where):
    if p.kind not in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY):
        raise DefinitionError(f"{where}: {p} cannot be described by a schema; list each argument by name")
    if p.name not in hints:
        raise DefinitionError(f"{where}: argument {p.name} needs a type hint")
    node = _schema.parse(hints[p.name], where=f"{where} argument {p.name}")
    if p.default is not _NO_DEFAULT:
        try:
            plain(p.default)
        except (TypeError, ValueError):
            raise DefinitionError(f"{where}: the default of {p.name} is not JSON") from None
    return Param(p.name, node, p.default, arg_docs.get(p.name, ""))


def _register(spec):
    global _registered
    if _registered is not None:
        raise DefinitionError(
            f"@tool {spec.func.__name__}: a script has exactly one @tool function, "
            f"and {_registered.func.__name__} already is it"
        )
    _registered = spec


def registered():
    """The registered :class:`ToolSpec`, or None."""
    return _registered


def _reset():
    """Forget the registered tool (for tests)."""
    global _registered
    _registered = None
