"""Input validation: error paths, problems and conversions."""

import enum
import unittest
from typing import Literal, Optional

import support  # noqa: F401
from gateway_tool import InvalidInput, _tool
from gateway_tool._validate import InputMismatch, arguments


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


def search(
    query: str,
    limit: int = 10,
    ratio: float = 1.0,
    exact: bool = False,
    filters: list[str] = [],
    labels: dict[str, int] = {},
    color: Optional[Color] = None,
    level: Level = Level.LOW,
    order: Literal["asc", "desc"] = "asc",
    flag: Literal[1, True] = 1,
    nested: list[Optional[dict[str, list[int]]]] = [],
    anything: list = [],
) -> dict:
    """Search."""


PARAMS = _tool.build_spec(search).params


def args(data):
    return arguments(PARAMS, data)


class Mismatches(unittest.TestCase):
    CASES = [
        # input, path, problem
        ([], "", "not-object"),
        ("query", "", "not-object"),
        (None, "", "not-object"),
        ({}, "query", "missing"),
        ({"query": "q", "colour": "red"}, "colour", "unknown"),
        ({"query": 1}, "query", "type"),
        ({"query": None}, "query", "type"),
        ({"query": "q", "limit": True}, "limit", "type"),
        ({"query": "q", "limit": 2.5}, "limit", "type"),
        ({"query": "q", "limit": "2"}, "limit", "type"),
        ({"query": "q", "ratio": False}, "ratio", "type"),
        ({"query": "q", "ratio": 10**400}, "ratio", "type"),
        ({"query": "q", "exact": 1}, "exact", "type"),
        ({"query": "q", "filters": "a"}, "filters", "type"),
        ({"query": "q", "filters": ["a", "b", 3]}, "filters[2]", "type"),
        ({"query": "q", "labels": []}, "labels", "type"),
        ({"query": "q", "labels": {"team": "x"}}, "labels.team", "type"),
        ({"query": "q", "labels": {"a b": None}}, 'labels["a b"]', "type"),
        ({"query": "q", "color": "green"}, "color", "choice"),
        ({"query": "q", "color": 1}, "color", "choice"),
        ({"query": "q", "level": True}, "level", "choice"),
        ({"query": "q", "level": "1"}, "level", "choice"),
        ({"query": "q", "order": "up"}, "order", "choice"),
        ({"query": "q", "flag": 1.5}, "flag", "choice"),
        ({"query": "q", "nested": [None, {"k": [1, "x"]}]}, "nested[1].k[1]", "type"),
        ({"query": "q", "nested": [[]]}, "nested[0]", "type"),
    ]

    def test_cases(self):
        for data, path, problem in self.CASES:
            with self.subTest(data=data):
                with self.assertRaises(InputMismatch) as caught:
                    args(data)
                self.assertEqual((caught.exception.path, caught.exception.problem), (path, problem))
                self.assertIsInstance(caught.exception, InvalidInput)


class Conversions(unittest.TestCase):
    def test_only_given_arguments_are_passed(self):
        self.assertEqual(args({"query": "q"}), {"query": "q"})

    def test_values_are_converted_to_the_hints(self):
        got = args({
            "query": "q", "limit": 3.0, "ratio": 2, "color": "blue", "level": 2,
            "order": "desc", "flag": True, "nested": [None, {"k": [1]}], "anything": [1, "x"],
        })
        self.assertEqual(got, {
            "query": "q", "limit": 3, "ratio": 2.0, "color": Color.BLUE, "level": Level.HIGH,
            "order": "desc", "flag": True, "nested": [None, {"k": [1]}], "anything": [1, "x"],
        })
        self.assertIs(type(got["limit"]), int)
        self.assertIs(type(got["ratio"]), float)
        self.assertIs(got["color"], Color.BLUE)
        self.assertIs(got["flag"], True)

    def test_optional_accepts_null(self):
        self.assertIsNone(args({"query": "q", "color": None})["color"])


if __name__ == "__main__":
    unittest.main()
