"""The component export: the entry-module contract, describe, call, serialisation."""

import contextlib
import dataclasses
import datetime
import decimal
import enum
import importlib
import io
import json
import sys
import tempfile
import unittest
from pathlib import Path
from typing import TypedDict

import support
from gateway_tool import Denied, InvalidInput, ToolError, UpstreamError, _export, http, tool
from gateway_tool._schema import DefinitionError
from gateway_tool._serialise import to_json

# What the host writes as the component's entry module (host/src/build/python.rs).
ENTRY = (
    "import {name}  # noqa: F401  (registers the @tool function)\n"
    "from gateway_tool._export import export_registered\n"
    "Tool = export_registered()\n"
)

SCRIPT = '''
from typing import Optional, TypedDict
from gateway_tool import tool, http, config, InvalidInput


class Stars(TypedDict):
    """Counts.

    Attributes:
        stars: Stargazers.
    """

    stars: int
    forks: Optional[int]


@tool
def github_stars(owner: str, repo: str, include_forks: bool = False) -> Stars:
    """Star and fork counts of a GitHub repository.

    Args:
        owner: Account or organisation that owns the repository.
        repo: Repository name.
        include_forks: Also report the fork count.
    """
    base = config.require("api_base")
    resp = http.get(f"{base}/repos/{owner}/{repo}", headers={"Accept": "application/json"})
    if resp.status == 404:
        raise InvalidInput(f"{owner}/{repo} does not exist")
    resp.raise_for_status()
    data = resp.json()
    return {"stars": data["stargazers_count"], "forks": data["forks_count"] if include_forks else None}
'''


class EntryModule(unittest.TestCase):
    """Builds the entry module exactly as the host does and drives it like componentize-py."""

    def setUp(self):
        support.fresh_registry(self)
        self.gw = support.use_fake_gateway(self, config={"api_base": "https://api.github.test"})
        folder = Path(self.enterContext(tempfile.TemporaryDirectory()))
        (folder / "github_stars.py").write_text(SCRIPT)
        (folder / "gateway_entry.py").write_text(ENTRY.format(name="github_stars"))
        sys.path.insert(0, str(folder))
        self.addCleanup(sys.path.remove, str(folder))
        for name in ("github_stars", "gateway_entry"):
            self.addCleanup(sys.modules.pop, name, None)
        self.tool = importlib.import_module("gateway_entry").Tool()

    def test_tool_subclasses_the_generated_protocol(self):
        self.assertTrue(issubclass(type(self.tool), sys.modules["wit_world.exports"].Tool))

    def test_describe(self):
        d = self.tool.describe()
        self.assertEqual((d.name, d.description), ("github_stars", "Star and fork counts of a GitHub repository."))
        schema = json.loads(d.input_schema)
        self.assertEqual((schema["type"], schema["required"], schema["additionalProperties"]),
                         ("object", ["owner", "repo"], False))
        self.assertEqual(schema["properties"]["repo"], {"description": "Repository name.", "type": "string"})
        output = json.loads(d.output_schema)
        self.assertEqual(output["properties"]["stars"], {"description": "Stargazers.", "type": "integer"})
        self.assertEqual(output["required"], ["stars", "forks"])

    def test_call_round_trip(self):
        self.gw.responses.append((200, [("content-type", "application/json")],
                                  b'{"stargazers_count": 5, "forks_count": 2}'))
        out = self.tool.call('{"owner": "acme", "repo": "widget", "include_forks": true}')
        self.assertIsInstance(out, self.gw.types.ToolOutput)
        self.assertEqual((json.loads(out.json), out.content), ({"stars": 5, "forks": 2}, []))
        sent = self.gw.sent[0]
        self.assertEqual((sent.method, sent.url), ("GET", "https://api.github.test/repos/acme/widget"))

    def call_error(self, text):
        with self.assertRaises(support.Err) as caught:
            self.tool.call(text)
        return caught.exception.value

    def test_typed_errors(self):
        types = self.gw.types
        self.gw.responses.append((404, [], b"{}"))
        self.assertIsInstance(self.call_error('{"owner": "a", "repo": "b"}'), types.ToolError_InvalidInput)
        self.gw.responses.append((500, [], b"oops"))
        self.assertIsInstance(self.call_error('{"owner": "a", "repo": "b"}'), types.ToolError_Upstream)
        self.gw.responses.append(self.gw.http.HttpError_Denied(self.gw.http.DeniedReason.HOST))
        self.assertIsInstance(self.call_error('{"owner": "a", "repo": "b"}'), types.ToolError_Denied)
        self.gw.responses.append(self.gw.http.HttpError_Timeout())
        self.assertIsInstance(self.call_error('{"owner": "a", "repo": "b"}'), types.ToolError_Upstream)
        for text in ('{"owner": "a"}', '{"owner": "a", "repo": 1}', "[]", "not json", '{"owner": NaN}'):
            with self.subTest(text=text):
                self.assertIsInstance(self.call_error(text), types.ToolError_InvalidInput)

    def test_missing_config_is_internal(self):
        del self.gw.config["api_base"]
        self.assertIsInstance(self.call_error('{"owner": "a", "repo": "b"}'), self.gw.types.ToolError_Internal)


class ErrorMapping(unittest.TestCase):
    """Each exception a tool raises -> the WIT tool-error case and message."""

    def setUp(self):
        support.fresh_registry(self)
        self.gw = support.use_fake_gateway(self)
        self.raise_ = None

        @tool
        def boom(n: int = 0) -> dict:
            """Raises what the test asks for."""
            raise self.raise_

        self.tool = _export.export_registered()()

    def outcome(self, exc):
        self.raise_ = exc
        stderr = io.StringIO()
        with contextlib.redirect_stderr(stderr), self.assertRaises(support.Err) as caught:
            self.tool.call("{}")
        value = caught.exception.value
        return type(value).__name__, value.value, stderr.getvalue()

    def test_tool_errors(self):
        for exc, case in [(ToolError("x"), "ToolError_Internal"), (InvalidInput("x"), "ToolError_InvalidInput"),
                          (UpstreamError("x"), "ToolError_Upstream"), (Denied("x"), "ToolError_Denied")]:
            with self.subTest(exc=exc):
                self.assertEqual(self.outcome(exc), (case, "x", ""))

    def test_http_errors(self):
        denied = http.HttpError("denied", "GET", "https://h/", reason="host")
        status = http.HttpError("status", "GET", "https://h/", status=503)
        self.assertEqual(self.outcome(denied)[:2], ("ToolError_Denied", str(denied)))
        self.assertEqual(self.outcome(status)[:2], ("ToolError_Upstream", "GET https://h/ answered HTTP 503"))

    def test_uncaught_exception_is_internal_with_a_traceback_on_stderr(self):
        case, message, stderr = self.outcome(KeyError("boom"))
        self.assertEqual((case, message), ("ToolError_Internal", "KeyError: 'boom'"))
        lines = stderr.splitlines()
        self.assertEqual((lines[0], lines[-1]), ("Traceback (most recent call last):", "KeyError: 'boom'"))
        # Only the tool's own frame: the SDK's call/invoke frames are skipped.
        self.assertEqual(sum(line.startswith("  File ") for line in lines), 1)
        self.assertEqual(self.outcome(RuntimeError())[:2], ("ToolError_Internal", "RuntimeError"))
        self.assertEqual(self.outcome(SystemExit(3))[:2], ("ToolError_Internal", "SystemExit: 3"))

    def test_result_that_is_not_an_object_is_internal(self):
        support.fresh_registry(self)

        @tool
        def listy() -> dict:
            """Returns a list despite the hint."""
            return [1]

        result = _export.export_registered()()
        with self.assertRaises(support.Err) as caught:
            result.call("{}")
        self.assertIsInstance(caught.exception.value, self.gw.types.ToolError_Internal)

    def test_export_without_a_tool_fails_the_build(self):
        support.fresh_registry(self)
        with self.assertRaises(DefinitionError):
            _export.export_registered()


class Color(enum.Enum):
    RED = "red"


@dataclasses.dataclass
class Point:
    x: int
    color: Color


class Row(TypedDict):
    n: int


class Serialisation(unittest.TestCase):
    def test_supported_values(self):
        value = {
            "point": Point(1, Color.RED),
            "points": [Point(2, Color.RED)],
            "when": datetime.datetime(2026, 11, 28, 1, 2, 3, tzinfo=datetime.timezone.utc),
            "day": datetime.date(2026, 11, 28),
            "at": datetime.time(12, 30),
            "price": decimal.Decimal("9.99"),
            "row": Row(n=1),
            "text": "café",
            "none": None,
            "tuple": (1, 2),
        }
        self.assertEqual(json.loads(to_json(value)), {
            "point": {"x": 1, "color": "red"},
            "points": [{"x": 2, "color": "red"}],
            "when": "2026-11-28T01:02:03+00:00",
            "day": "2026-11-28",
            "at": "12:30:00",
            "price": 9.99,
            "row": {"n": 1},
            "text": "café",
            "none": None,
            "tuple": [1, 2],
        })
        self.assertIn("café", to_json({"text": "café"}))

    def test_top_level_dataclass(self):
        self.assertEqual(json.loads(to_json(Point(1, Color.RED))), {"x": 1, "color": "red"})

    def test_rejected(self):
        for value in ([1], "x", 3, None, Point, {"s": {1}}, {"f": float("nan")}, {"o": object()},
                      {(1, 2): "tuple key"}, {"d": decimal.Decimal("NaN")}):
            with self.subTest(value=value), self.assertRaises(ToolError) as caught:
                to_json(value)
            self.assertEqual(caught.exception.kind, "internal")


if __name__ == "__main__":
    unittest.main()
