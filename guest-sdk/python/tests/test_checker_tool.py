"""The checker as the sandbox runs it: script text and local module names in, diagnostics out."""

import unittest

import support
from gateway_tool import _checker_tool


class CheckerTool(unittest.TestCase):
    def setUp(self):
        support.fresh_registry(self)

    def test_local_modules_are_names_not_a_folder(self):
        source = "import helpers\nfrom gateway_tool import tool\n\n@tool\ndef t(x: str) -> dict:\n    \"\"\"T.\"\"\"\n"
        found = _checker_tool.check_script(source, "t.py", ["helpers"])
        self.assertEqual(found["diagnostics"], [])
        found = _checker_tool.check_script(source, "t.py", [])
        self.assertEqual([(d["code"], d["line"]) for d in found["diagnostics"]], [("forbidden-import", 1)])

    def test_a_syntax_error_names_its_line(self):
        found = _checker_tool.check_script("x = 1\ndef f(:\n", "t.py", [])
        self.assertEqual([(d["code"], d["line"], d["file"]) for d in found["diagnostics"]],
                         [("syntax", 2, "t.py")])


if __name__ == "__main__":
    unittest.main()
