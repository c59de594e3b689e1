"""Type hints -> a small tree of :class:`Node` -> JSON Schema (draft 2020-12).

The same tree drives input validation (:mod:`._validate`), so what the schema
promises and what the SDK checks cannot drift apart.
"""

import dataclasses
import enum
import sys
import types
import typing

from . import _docstring

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"

# Python type -> JSON Schema "type".
_SCALARS = {str: "string", int: "integer", float: "number", bool: "boolean"}
_UNIONS = (typing.Union, types.UnionType)


class DefinitionError(TypeError):
    """The @tool function cannot be turned into a tool; raised when the script is imported."""


@dataclasses.dataclass(frozen=True)
class Field:
    """One property of an object node."""

    name: str
    node: "Node"
    required: bool
    description: str = ""


@dataclasses.dataclass(frozen=True)
class Node:
    """One type hint, reduced to what the schema and the validator need.

    ``kind`` is one of ``string``, ``integer``, ``number``, ``boolean``
    (scalars), ``array`` and ``map`` (``item`` is the element type, None for
    any), ``optional`` (``item`` may also be null), ``choice`` (``choices``
    from a Literal, or ``enum_class``'s values), and, in outputs only,
    ``object`` (``fields``, from a TypedDict or dataclass), ``date-time``,
    ``date``, ``time`` (ISO 8601 strings) and ``any``.
    """

    kind: str
    item: typing.Optional["Node"] = None
    choices: tuple = ()
    enum_class: typing.Optional[type] = None
    fields: tuple = ()
    description: str = ""


def parse(hint, output=False, where="", _seen=()):
    """Reduce a resolved type hint to a :class:`Node`.

    Args:
        hint: The hint, as ``typing.get_type_hints`` returns it.
        output: Also allow what only output schemas need (TypedDict,
            dataclass, ``typing.Any``).
        where: What the hint annotates, for error messages.

    Raises:
        DefinitionError: The hint is not supported.
    """
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if isinstance(hint, type) and hint in _SCALARS:
        return Node(_SCALARS[hint])
    if hint is list or origin is list:
        return Node("array", item=_one_arg(args, output, where, _seen))
    if hint is dict or origin is dict:
        if args and args[0] is not str:
            raise DefinitionError(f"{where}: JSON object keys are strings; use dict[str, ...]")
        return Node("map", item=_one_arg(args[1:], output, where, _seen))
    if origin in _UNIONS:
        rest = [a for a in args if a is not type(None)]
        if len(rest) != 1 or len(args) != 2:
            raise DefinitionError(
                f"{where}: a Union of several types is not supported; use one type or Optional[T]"
            )
        return Node("optional", item=parse(rest[0], output, where, _seen))
    if origin is typing.Literal:
        return Node("choice", choices=_choices(args, where))
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return Node("choice", choices=_choices([m.value for m in hint], where), enum_class=hint)
    if output and hint is typing.Any:
        return Node("any")
    if output and _serialised_scalar(hint):
        return Node(_serialised_scalar(hint))
    if output and (typing.is_typeddict(hint) or _is_dataclass(hint)):
        if hint in _seen:
            raise DefinitionError(f"{where}: {hint.__name__} refers to itself; recursive types are not supported")
        return _object(hint, where, _seen + (hint,))
    raise DefinitionError(f"{where}: {_name(hint)} is not a supported type hint; {_SUPPORTED}")


_SUPPORTED = (
    "use str, int, float, bool, list[T], dict[str, T], Optional[T], Literal[...] "
    "or an Enum (and, in the return type, a TypedDict or dataclass)"
)


def _one_arg(args, output, where, seen):
    return parse(args[0], output, where, seen) if args else None


def _choices(values, where):
    for value in values:
        if type(value) not in _SCALARS:
            raise DefinitionError(f"{where}: choice {value!r} is not a string, number or boolean")
    if not values:
        raise DefinitionError(f"{where}: an Enum or Literal needs at least one value")
    return tuple(values)


def _object(cls, where, seen):
    description, docs = _docstring.split(cls.__doc__ if _own_doc(cls) else "", _docstring.ATTRIBUTES)
    try:
        hints = typing.get_type_hints(cls)
    except Exception as err:
        raise DefinitionError(f"{where}: cannot resolve the hints of {cls.__name__}: {err}") from None
    if _is_dataclass(cls):
        names = [f.name for f in dataclasses.fields(cls)]
        required = {
            f.name
            for f in dataclasses.fields(cls)
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        }
    else:
        names, required = list(hints), set(cls.__required_keys__)
    fields = tuple(
        Field(n, parse(hints[n], True, f"{cls.__name__}.{n}", seen), n in required, docs.get(n, ""))
        for n in names
    )
    return Node("object", fields=fields, description=description)


def _own_doc(cls):
    # A dataclass without a docstring gets a generated one ("Point(x: int)"),
    # and a TypedDict may inherit dict's; neither describes the output.
    doc = cls.__dict__.get("__doc__")
    return bool(doc) and doc != dict.__doc__ and not doc.startswith(f"{cls.__name__}(")


# Output types ._serialise converts: (module, class) -> Node kind.
_SERIALISED = {
    ("datetime", "datetime"): "date-time",
    ("datetime", "date"): "date",
    ("datetime", "time"): "time",
    ("decimal", "Decimal"): "number",
}


def _serialised_scalar(hint):
    # Looked up in sys.modules, not imported: see ._serialise.
    for (module, name), kind in _SERIALISED.items():
        loaded = sys.modules.get(module)
        if loaded is not None and hint is getattr(loaded, name, None):
            return kind
    return None


def _is_dataclass(hint):
    return isinstance(hint, type) and dataclasses.is_dataclass(hint)


def _name(hint):
    return getattr(hint, "__name__", None) if isinstance(hint, type) else repr(hint)


def to_schema(node):
    """The JSON Schema of a node (a dict; no ``$schema`` key)."""
    if node.kind in ("string", "integer", "number", "boolean"):
        return {"type": node.kind}
    if node.kind in ("date-time", "date", "time"):
        return {"type": "string", "format": node.kind}
    if node.kind == "array":
        return {"type": "array", **({"items": to_schema(node.item)} if node.item else {})}
    if node.kind == "map":
        extra = {"additionalProperties": to_schema(node.item)} if node.item else {}
        return {"type": "object", **extra}
    if node.kind == "optional":
        return {"anyOf": [to_schema(node.item), {"type": "null"}]}
    if node.kind == "choice":
        return _choice_schema(node.choices)
    if node.kind == "object":
        return object_schema(
            [(f.name, to_schema(f.node), f.description, f.required) for f in node.fields],
            description=node.description,
        )
    return {}


def object_schema(properties, description="", closed=False):
    """An object schema from ``(name, schema, description, required)`` tuples."""
    schema = {"type": "object"}
    if description:
        schema["description"] = description
    schema["properties"] = {
        name: ({"description": text, **sub} if text else sub) for name, sub, text, _ in properties
    }
    schema["required"] = [name for name, _, _, required in properties if required]
    if closed:
        schema["additionalProperties"] = False
    return schema


def _choice_schema(values):
    kinds = {_SCALARS[type(v)] for v in values}
    schema = {"enum": list(values)}
    if len(kinds) == 1:
        schema = {"type": kinds.pop(), **schema}
    return schema
