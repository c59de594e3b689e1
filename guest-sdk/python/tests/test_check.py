"""The static checker: each diagnostic code at its line, and the command line."""

import json
import os
import subprocess
import sys
import tempfile
import textwrap
import unittest
from pathlib import Path

import support
from gateway_tool.check import check_file

GOOD = '''\
import dataclasses
import enum
import json
import logging
from typing import Literal, Optional, TypedDict

import helpers
from helpers import Shade
from gateway_tool import InvalidInput, config, http, tool


class Color(enum.Enum):
    RED = "red"


class Inner(TypedDict):
    n: int


@dataclasses.dataclass
class Out:
    items: list[Inner]
    note: Optional[str] = None


Tags = list[str]


@tool(name="good")
def good(a: str, b: int = 1, c: float = 1.0, d: bool = False, e: Tags = [], f: dict[str, int] = {},
         g: "Optional[Color]" = None, h: Literal["x", "y"] = "x", i: list[Optional[int]] = [],
         j: int | None = None, k: Shade = None, *, m: helpers.Level = None) -> Out:
    """A good tool.

    Args:
        a: The a.
    """
    import json
    return Out([])
'''


class Checker(unittest.TestCase):
    def setUp(self):
        self.dir = Path(self.enterContext(tempfile.TemporaryDirectory()))
        (self.dir / "helpers.py").write_text("LIMIT = 3\n")

    def check(self, source):
        path = self.dir / "script.py"
        path.write_text(textwrap.dedent(source))
        return [(d.code, d.line) for d in check_file(path)]

    def test_clean_script(self):
        self.assertEqual(self.check(GOOD), [])

    def test_syntax_error_has_the_real_position(self):
        path = self.dir / "script.py"
        path.write_text("from gateway_tool import tool\n\ndef f(:\n    pass\n")
        [d] = check_file(path)
        self.assertEqual((d.code, d.line, d.column), ("syntax", 3, 7))

    def test_no_tool(self):
        self.assertEqual(self.check("from gateway_tool import tool\n\ndef f() -> dict:\n    'F.'\n"), [("no-tool", 1)])

    def test_tool_found_through_aliases(self):
        for source in [
            "import gateway_tool\n@gateway_tool.tool\ndef f() -> dict:\n    'F.'\n",
            "import gateway_tool as gt\n@gt.tool(name='x')\ndef f() -> dict:\n    'F.'\n",
            "from gateway_tool import tool as t\n@t\ndef f() -> dict:\n    'F.'\n",
        ]:
            with self.subTest(source=source):
                self.assertEqual(self.check(source), [])

    def test_multiple_tools(self):
        source = """\
        from gateway_tool import tool

        @tool
        def one() -> dict:
            "One."

        @tool
        def two() -> dict:
            "Two."
        """
        self.assertEqual(self.check(source), [("multiple-tools", 8)])

    def test_missing_docstring_and_annotations(self):
        source = """\
        from gateway_tool import tool

        @tool
        def f(a: int,
              b,
              *, c):
            return {}
        """
        self.assertEqual(self.check(source), [
            ("missing-annotation", 4), ("missing-docstring", 4), ("missing-annotation", 5), ("missing-annotation", 6),
        ])

    def test_unsupported_annotations(self):
        source = """\
        from typing import Any, TypedDict, Union
        from gateway_tool import tool

        class Row(TypedDict):
            when: set[str]

        class Plain:
            pass

        @tool
        def f(a: tuple[int],
              b: Union[int, str],
              c: dict[int, str],
              d: Row,
              e: "Plain",
              f: Any,
              g: "list[",
              ) -> Row:
            "F."
        """
        self.assertEqual(self.check(source), [
            ("unsupported-annotation", 5), ("unsupported-annotation", 11), ("unsupported-annotation", 12),
            ("unsupported-annotation", 13), ("unsupported-annotation", 14), ("unsupported-annotation", 15),
            ("unsupported-annotation", 16), ("unsupported-annotation", 17),
        ])

    def test_return_must_be_an_object(self):
        for hint in ("list[int]", "str", "None", "Optional[dict]", "'list'"):
            source = f"from typing import Optional\nfrom gateway_tool import tool\n@tool\ndef f() -> {hint}:\n    'F.'\n"
            with self.subTest(hint=hint):
                self.assertEqual(self.check(source), [("unsupported-annotation", 4)])

    def test_unsupported_parameters(self):
        source = """\
        from gateway_tool import tool

        @tool
        def f(a: int, /, *rest: int, **more: int) -> dict:
            "F."
        """
        self.assertEqual(self.check(source), [("unsupported-parameter", 4)] * 3)

    def test_forbidden_imports(self):
        source = """\
        import socket
        import urllib.request
        from http import client
        from concurrent.futures import ThreadPoolExecutor
        from requests.adapters import HTTPAdapter
        import pandas as pd
        from httpx import Client
        import lzma
        import distutils
        from . import helpers
        import json, os.path, urllib.parse, http.cookies, helpers, gateway_tool.http
        from gateway_tool import tool
        import requests
        from requests.exceptions import HTTPError

        @tool
        def f() -> dict:
            "F."
        """
        self.assertEqual(self.check(source), [("forbidden-import", n) for n in range(1, 11)])

    def test_import_in_function(self):
        source = """\
        import json
        from gateway_tool import tool

        @tool
        def f() -> dict:
            "F."
            import json
            import datetime
            from gateway_tool import http
            return {}
        """
        # The sandbox's read-only file view makes lazy imports work.
        self.assertEqual(self.check(source), [])

    def test_requirements_packages_count_only_when_installed(self):
        source = "import dateutil\nfrom gateway_tool import tool\n@tool\ndef f() -> dict:\n    'F.'\n"
        self.assertEqual(self.check(source), [("forbidden-import", 1)])
        packages = self.dir / "site-packages"
        (packages / "dateutil").mkdir(parents=True)
        old = os.environ.get("GATEWAY_TOOL_PACKAGES")
        os.environ["GATEWAY_TOOL_PACKAGES"] = str(packages)
        try:
            self.assertEqual(self.check(source), [])
        finally:
            if old is None:
                del os.environ["GATEWAY_TOOL_PACKAGES"]
            else:
                os.environ["GATEWAY_TOOL_PACKAGES"] = old

    def test_local_package_counts_as_local(self):
        (self.dir / "mylib").mkdir()
        (self.dir / "mylib" / "__init__.py").write_text("")
        self.assertEqual(self.check("import mylib\nfrom gateway_tool import tool\n@tool\ndef f() -> dict:\n    'F.'\n"), [])


class CommandLine(unittest.TestCase):
    def run_check(self, source):
        folder = Path(self.enterContext(tempfile.TemporaryDirectory()))
        path = folder / "script.py"
        path.write_text(source)
        env = {**os.environ, "PYTHONPATH": str(support.SDK_ROOT)}
        proc = subprocess.run([sys.executable, "-m", "gateway_tool.check", str(path)],
                              capture_output=True, text=True, env=env, check=False)
        return proc.returncode, json.loads(proc.stdout)

    def test_clean_prints_an_empty_list_and_exits_0(self):
        code, out = self.run_check("from gateway_tool import tool\n@tool\ndef f() -> dict:\n    'F.'\n")
        self.assertEqual((code, out), (0, []))

    def test_problems_print_json_and_exit_1(self):
        code, out = self.run_check("import pandas\n")
        self.assertEqual(code, 1)
        self.assertEqual([(d["code"], d["line"], d["column"]) for d in out], [("forbidden-import", 1, 1), ("no-tool", 1, 1)])
        self.assertEqual(set(out[0]), {"file", "line", "column", "code", "message"})


if __name__ == "__main__":
    unittest.main()
