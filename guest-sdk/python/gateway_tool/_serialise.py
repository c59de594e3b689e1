"""The tool's return value -> JSON text."""

import dataclasses
import enum
import json
import sys

from .errors import ToolError


def to_json(result):
    """JSON text of the tool's result, which must be an object.

    Dataclasses, Enum members, ``datetime``/``date``/``time`` (ISO 8601) and
    ``Decimal`` (as a float) are converted; anything else that is not JSON
    raises :class:`ToolError` (an internal error: the tool has a bug).
    """
    if not (isinstance(result, dict) or _is_dataclass_instance(result)):
        raise ToolError(
            f"the tool returned {type(result).__name__}; a tool returns a JSON object "
            "(a dict, TypedDict or dataclass)"
        )
    try:
        return json.dumps(result, default=_convert, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as err:
        raise ToolError(f"the tool's result is not JSON: {err}") from None


def plain(value):
    """``value`` as plain JSON data (dicts, lists, scalars), converted as :func:`to_json` does.

    Raises:
        TypeError, ValueError: ``value`` has no JSON form.
    """
    return json.loads(json.dumps(value, default=_convert, allow_nan=False))


def _convert(value):
    if _is_dataclass_instance(value):
        return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return value.value
    # Look the classes up instead of importing them: a value of these types
    # exists only if the script imported the module, and the sandbox has only
    # the modules loaded when the component was built.
    dt = sys.modules.get("datetime")
    if dt is not None and isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    decimal = sys.modules.get("decimal")
    if decimal is not None and isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, (set, frozenset)):
        raise TypeError("sets have no order in JSON; return a sorted list")
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _is_dataclass_instance(value):
    return dataclasses.is_dataclass(value) and not isinstance(value, type)
