"""The @tool decorator: registration, descriptions and definition errors."""

import dataclasses
import enum
import unittest
from typing import Optional, TypedDict

import support
from gateway_tool import _tool, tool
from gateway_tool._schema import SCHEMA_DIALECT, DefinitionError


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Out(TypedDict):
    n: int


def stars(owner: str, repo: str, include_forks: bool = False) -> dict:
    """Star and fork counts of a GitHub repository.

    Args:
        owner: Account or organisation that owns the repository.
        repo: Repository name.
        include_forks: Also report the fork count.
    """
    return {}


class Registration(unittest.TestCase):
    def setUp(self):
        support.fresh_registry(self)

    def test_bare_decorator_registers_and_returns_the_function(self):
        self.assertIs(tool(stars), stars)
        spec = _tool.registered()
        self.assertEqual((spec.name, spec.func), ("stars", stars))
        self.assertEqual(spec.description, "Star and fork counts of a GitHub repository.")

    def test_named_decorator(self):
        tool(name="github_stars")(stars)
        self.assertEqual(_tool.registered().name, "github_stars")

    def test_empty_call_and_positional_name(self):
        tool()(stars)
        self.assertEqual(_tool.registered().name, "stars")
        _tool._reset()
        tool("other")(stars)
        self.assertEqual(_tool.registered().name, "other")

    def test_second_registration_raises(self):
        tool(stars)
        with self.assertRaises(DefinitionError):
            tool(name="again")(stars)
        self.assertEqual(_tool.registered().name, "stars")

    def test_input_schema_of_the_documented_example(self):
        tool(stars)
        self.assertEqual(_tool.registered().input_schema(), {
            "$schema": SCHEMA_DIALECT,
            "type": "object",
            "properties": {
                "owner": {"description": "Account or organisation that owns the repository.", "type": "string"},
                "repo": {"description": "Repository name.", "type": "string"},
                "include_forks": {"description": "Also report the fork count.", "type": "boolean", "default": False},
            },
            "required": ["owner", "repo"],
            "additionalProperties": False,
        })
        self.assertEqual(_tool.registered().output_schema(), {"$schema": SCHEMA_DIALECT, "type": "object"})

    def test_defaults_enum_optional_and_keyword_only(self):
        def f(color: Color = Color.BLUE, *, note: Optional[str] = None, tags: list[str] = ["a"]) -> Out:
            """F."""

        props = _tool.build_spec(f).input_schema()["properties"]
        self.assertEqual(props["color"], {"type": "string", "enum": ["red", "blue"], "default": "blue"})
        self.assertEqual(props["note"], {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None})
        self.assertEqual(props["tags"]["default"], ["a"])

    def test_string_annotations_resolve(self):
        def f(n: "int") -> "Out":
            """F."""

        spec = _tool.build_spec(f)
        self.assertEqual(spec.input_schema()["properties"]["n"], {"type": "integer"})
        self.assertEqual(spec.output_schema()["required"], ["n"])

    def test_dataclass_return(self):
        @dataclasses.dataclass
        class Result:
            total: float

        def f() -> Result:
            """F."""

        self.assertEqual(_tool.build_spec(f).output_schema()["properties"], {"total": {"type": "number"}})


class DefinitionErrors(unittest.TestCase):
    def assert_rejected(self, func, name=None):
        with self.assertRaises(DefinitionError):
            _tool.build_spec(func, name)

    def test_bad_names(self):
        for name in ("Bad", "1x", "with-dash", "x" * 65, ""):
            with self.subTest(name=name):
                self.assert_rejected(stars, name)

    def test_missing_docstring_or_only_args(self):
        def f(a: int) -> dict:
            pass

        def g(a: int) -> dict:
            """Args:
            a: The a.
            """

        self.assert_rejected(f)
        self.assert_rejected(g)

    def test_missing_annotations(self):
        def f(a) -> dict:
            """F."""

        def g(a: int):
            """G."""

        self.assert_rejected(f)
        self.assert_rejected(g)

    def test_return_must_be_an_object(self):
        for hint in (list, list[int], str, Optional[Out], None):
            def f() -> dict:
                """F."""

            f.__annotations__["return"] = hint
            with self.subTest(hint=hint):
                self.assert_rejected(f)

    def test_unsupported_parameters_and_functions(self):
        def star(*args: int) -> dict:
            """F."""

        def kw(**kwargs: int) -> dict:
            """F."""

        def pos(a: int, /) -> dict:
            """F."""

        async def coro(a: int) -> dict:
            """F."""

        for func in (star, kw, pos, coro):
            with self.subTest(func=func.__name__):
                self.assert_rejected(func)

    def test_unresolvable_hint_and_non_json_default(self):
        def f(a: "Missing") -> dict:  # noqa: F821
            """F."""

        def g(a: str = object()) -> dict:
            """G."""

        self.assert_rejected(f)
        self.assert_rejected(g)

    def test_output_hint_as_argument(self):
        def f(p: Out) -> dict:
            """F."""

        self.assert_rejected(f)


if __name__ == "__main__":
    unittest.main()
