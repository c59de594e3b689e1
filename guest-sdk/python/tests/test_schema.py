"""Type hints -> JSON Schema: every supported hint, and the rejected ones."""

import dataclasses
import datetime
import decimal
import enum
import typing
import unittest
from typing import Any, Dict, List, Literal, Optional, TypedDict

import support  # noqa: F401  (puts the SDK on sys.path)
from gateway_tool import _schema
from gateway_tool._schema import DefinitionError


class Color(enum.Enum):
    RED = "red"
    GREEN = "green"


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


class Mixed(enum.Enum):
    A = "a"
    B = 2


def schema(hint, output=False):
    return _schema.to_schema(_schema.parse(hint, output=output, where="x"))


NULL = {"type": "null"}

INPUT_TABLE = [
    (str, {"type": "string"}),
    (int, {"type": "integer"}),
    (float, {"type": "number"}),
    (bool, {"type": "boolean"}),
    (list, {"type": "array"}),
    (List, {"type": "array"}),
    (list[str], {"type": "array", "items": {"type": "string"}}),
    (List[int], {"type": "array", "items": {"type": "integer"}}),
    (dict, {"type": "object"}),
    (Dict, {"type": "object"}),
    (dict[str, int], {"type": "object", "additionalProperties": {"type": "integer"}}),
    (Dict[str, bool], {"type": "object", "additionalProperties": {"type": "boolean"}}),
    (Optional[str], {"anyOf": [{"type": "string"}, NULL]}),
    (typing.Union[None, int], {"anyOf": [{"type": "integer"}, NULL]}),
    (int | None, {"anyOf": [{"type": "integer"}, NULL]}),
    (Literal["asc", "desc"], {"type": "string", "enum": ["asc", "desc"]}),
    (Literal[1, 2], {"type": "integer", "enum": [1, 2]}),
    (Literal["a", 1], {"enum": ["a", 1]}),
    (Color, {"type": "string", "enum": ["red", "green"]}),
    (Level, {"type": "integer", "enum": [1, 2]}),
    (Mixed, {"enum": ["a", 2]}),
    (list[Optional[int]], {"type": "array", "items": {"anyOf": [{"type": "integer"}, NULL]}}),
    (Optional[list[Color]],
     {"anyOf": [{"type": "array", "items": {"type": "string", "enum": ["red", "green"]}}, NULL]}),
    (dict[str, list[float]],
     {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "number"}}}),
    (list[dict[str, Literal[True]]],
     {"type": "array", "items": {"type": "object", "additionalProperties": {"type": "boolean", "enum": [True]}}}),
]


class Point(TypedDict):
    """A point.

    Attributes:
        x: Horizontal.
        y: Vertical.
    """

    x: int
    y: int


class Partial(TypedDict, total=False):
    label: str


class WithNotRequired(TypedDict):
    a: int
    b: typing.NotRequired[str]


@dataclasses.dataclass
class Shape:
    """A shape.

    Attributes:
        name: What it is called.
        points: Its corners.
        color: Fill.
    """

    name: str
    points: list[Point]
    color: Optional[Color] = None
    tags: list[str] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class NoDoc:
    when: datetime.datetime
    day: datetime.date
    at: datetime.time
    price: decimal.Decimal
    extra: Any


class Node(TypedDict):
    children: list["Node"]


POINT = {
    "type": "object",
    "description": "A point.",
    "properties": {
        "x": {"description": "Horizontal.", "type": "integer"},
        "y": {"description": "Vertical.", "type": "integer"},
    },
    "required": ["x", "y"],
}


class InputHints(unittest.TestCase):
    def test_table(self):
        for hint, expected in INPUT_TABLE:
            with self.subTest(hint=hint):
                self.assertEqual(schema(hint), expected)

    def test_output_only_hints_are_rejected_for_arguments(self):
        for hint in (Point, Shape, Any, datetime.date, decimal.Decimal):
            with self.subTest(hint=hint), self.assertRaises(DefinitionError):
                _schema.parse(hint, where="x")

    def test_unsupported(self):
        for hint in (tuple[int], set[str], dict[int, str], typing.Union[int, str],
                     Optional[typing.Union[int, str]], bytes, object, None, type(None),
                     Literal[Color.RED], list[tuple]):
            with self.subTest(hint=hint), self.assertRaises(DefinitionError):
                _schema.parse(hint, where="x")

    def test_enum_node_keeps_the_class_for_conversion(self):
        node = _schema.parse(Color, where="x")
        self.assertEqual((node.kind, node.enum_class, node.choices), ("choice", Color, ("red", "green")))


class OutputHints(unittest.TestCase):
    def test_typeddict_with_attribute_docs(self):
        self.assertEqual(schema(Point, output=True), POINT)

    def test_total_false_and_not_required(self):
        self.assertEqual(schema(Partial, output=True)["required"], [])
        self.assertEqual(schema(WithNotRequired, output=True)["required"], ["a"])

    def test_dataclass_nested_and_defaults(self):
        self.assertEqual(schema(Shape, output=True), {
            "type": "object",
            "description": "A shape.",
            "properties": {
                "name": {"description": "What it is called.", "type": "string"},
                "points": {"description": "Its corners.", "type": "array", "items": POINT},
                "color": {"description": "Fill.", "anyOf": [{"type": "string", "enum": ["red", "green"]}, NULL]},
                "tags": {"type": "array", "items": {"type": "string"}},
            },
            "required": ["name", "points"],
        })

    def test_serialised_types_and_generated_dataclass_doc_is_not_a_description(self):
        self.assertEqual(schema(NoDoc, output=True), {
            "type": "object",
            "properties": {
                "when": {"type": "string", "format": "date-time"},
                "day": {"type": "string", "format": "date"},
                "at": {"type": "string", "format": "time"},
                "price": {"type": "number"},
                "extra": {},
            },
            "required": ["when", "day", "at", "price", "extra"],
        })

    def test_recursive_type_is_rejected(self):
        with self.assertRaises(DefinitionError):
            _schema.parse(Node, output=True, where="x")


if __name__ == "__main__":
    unittest.main()
