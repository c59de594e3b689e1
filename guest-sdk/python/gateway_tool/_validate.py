"""Input validation against the tool's type hints, before the function runs.

Values are also converted to what the hints promise: an integer becomes a
float for a ``float`` argument, and an Enum argument gets the Enum member.
"""

import json
import sys

from .errors import InvalidInput

# How much of an offending value goes into a message.
_VALUE_CHARS = 40
# Larger JSON integers do not fit a float argument.
_FLOAT_MAX = sys.float_info.max


class InputMismatch(InvalidInput):
    """Input that does not match the hints.

    Attributes:
        path: Where, e.g. ``"filters[2]"`` or ``"labels.team"`` (empty for the
            whole input).
        problem: ``not-object``, ``unknown``, ``missing``, ``type`` or ``choice``.
    """

    def __init__(self, path, problem, message):
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path
        self.problem = problem


def arguments(params, data):
    """The keyword arguments for the tool function from the decoded input.

    Args:
        params: The tool's parameters (objects with ``name``, ``node`` and ``required``).
        data: The decoded input JSON.

    Raises:
        InputMismatch: The first problem found.
    """
    if not isinstance(data, dict):
        raise InputMismatch("", "not-object", f"the input must be a JSON object, got {_describe(data)}")
    by_name = {p.name: p for p in params}
    for key in data:
        if key not in by_name:
            known = ", ".join(by_name) or "no arguments"
            raise InputMismatch(key, "unknown", f"unknown argument; the tool takes {known}")
    for p in params:
        if p.required and p.name not in data:
            raise InputMismatch(p.name, "missing", "missing required argument")
    return {p.name: value(p.node, data[p.name], p.name) for p in params if p.name in data}


def value(node, got, path):
    """``got`` checked against ``node`` and converted; raises :class:`InputMismatch`."""
    kind = node.kind
    if kind == "optional":
        return None if got is None else value(node.item, got, path)
    if kind == "choice":
        return _choice(node, got, path)
    if kind == "string" and isinstance(got, str):
        return got
    if kind == "boolean" and isinstance(got, bool):
        return got
    if kind == "integer" and _is_integral(got):
        return int(got)
    if kind == "number" and _is_number(got) and abs(got) <= _FLOAT_MAX:
        return float(got)
    if kind == "array" and isinstance(got, list):
        if node.item is None:
            return got
        return [value(node.item, v, f"{path}[{i}]") for i, v in enumerate(got)]
    if kind == "map" and isinstance(got, dict):
        if node.item is None:
            return got
        return {k: value(node.item, v, _key_path(path, k)) for k, v in got.items()}
    if kind == "any":
        return got
    raise InputMismatch(path, "type", f"expected {_EXPECTED.get(kind, kind)}, got {_describe(got)}")


_EXPECTED = {"array": "array", "map": "object", "number": "number", "integer": "integer"}


def _choice(node, got, path):
    for choice in node.choices:
        if _same(choice, got):
            return node.enum_class(choice) if node.enum_class else choice
    options = ", ".join(json.dumps(c) for c in node.choices)
    raise InputMismatch(path, "choice", f"expected one of {options}, got {_describe(got)}")


def _same(choice, got):
    # 1 == True in Python; in JSON a boolean is never a number.
    if isinstance(choice, bool) or isinstance(got, bool):
        return type(choice) is type(got) and choice == got
    if isinstance(choice, str) or isinstance(got, str):
        return isinstance(choice, str) and isinstance(got, str) and choice == got
    return _is_number(got) and choice == got


def _is_integral(got):
    # JSON Schema counts 3.0 as an integer.
    return _is_number(got) and (isinstance(got, int) or got.is_integer())


def _is_number(got):
    return isinstance(got, (int, float)) and not isinstance(got, bool)


def _key_path(path, key):
    return f"{path}.{key}" if key.isidentifier() else f"{path}[{json.dumps(key)}]"


def _describe(got):
    if got is None:
        return "null"
    kind = {bool: "boolean", int: "integer", float: "number", str: "string"}.get(type(got))
    if kind is None:
        return "an array" if isinstance(got, list) else "an object"
    text = json.dumps(got)
    if len(text) > _VALUE_CHARS:
        text = text[: _VALUE_CHARS - 3] + "..."
    return f"{kind} {text}"
