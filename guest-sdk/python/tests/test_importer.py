"""gateway tool import's analysis: hosts, secrets, the chosen function, hints, notes."""

import ast
import json
import textwrap
import tomllib
import unittest

import support  # noqa: F401  (puts the SDK first on sys.path)
from gateway_tool.check import check_source
from gateway_tool.importer import ImportProblem, import_script, main


def run(source, function=None):
    name, files, notes = import_script(textwrap.dedent(source), "s.py", function)
    return name, files, notes, tomllib.loads(files["tool.toml"])


class Hosts(unittest.TestCase):
    def test_constants_f_strings_and_concatenation_give_one_entry_per_origin(self):
        _, _, _, manifest = run("""\
            import requests
            BASE = "https://api.example.com/v2"

            def a(x: str) -> dict:
                requests.get(f"{BASE}/items/{x}")
                requests.get(BASE + "/users")
                return requests.get("https://files.other.org/raw/x.json").json()
            """)
        self.assertEqual(manifest["config"], {"example_base": "https://api.example.com",
                                              "other_base": "https://files.other.org"})
        self.assertEqual([h["url"] for h in manifest["http"]],
                         ["${config.example_base}/v2", "${config.other_base}/raw"])
        self.assertEqual(manifest["http"][0]["methods"], ["GET", "HEAD"])

    def test_no_url_is_a_note(self):
        _, _, notes, manifest = run("def a(x: str) -> dict:\n    return {}\n")
        self.assertNotIn("http", manifest)
        self.assertTrue(any("no literal http" in n for n in notes))


class Secrets(unittest.TestCase):
    def test_the_header_the_script_builds_is_the_secret_header(self):
        for expr in ('f"Bearer {KEY}"', '"Bearer " + KEY', 'f"Bearer {os.environ[\'API_KEY\']}"'):
            with self.subTest(expr=expr):
                _, _, _, manifest = run(f"""\
                    import os, requests
                    KEY = os.environ["API_KEY"]

                    def a(x: str) -> dict:
                        return requests.get("https://api.example.com/x", headers={{"Authorization": {expr}}}).json()
                    """)
                self.assertEqual(manifest["http"][0]["secret_headers"], {"Authorization": "Bearer ${API_KEY}"})

    def test_session_headers_getenv_and_plain_keys(self):
        _, _, _, manifest = run("""\
            import os, requests
            def a(x: str) -> dict:
                s = requests.Session()
                s.headers["X-Api-Key"] = os.getenv("SVC_KEY")
                return s.get("https://svc.example.com/x").json()
            """)
        self.assertEqual(manifest["http"][0]["secret_headers"], {"X-Api-Key": "${SVC_KEY}"})

    def test_unmapped_variables_and_basic_auth_are_notes(self):
        _, files, notes, manifest = run("""\
            import os, requests
            REGION = os.environ["REGION"]
            def a(x: str) -> dict:
                return requests.get("https://h.example.com/x", auth=(os.environ["USER_TOKEN"], "")).json()
            """)
        self.assertNotIn("secret_headers", manifest["http"][0])
        self.assertEqual(len([n for n in notes if "REGION" in n or "USER_TOKEN" in n]), 3)
        self.assertIn("USER_TOKEN", tomllib.loads(files["fixtures/tests.toml"])["secrets"])

    def test_writes_are_left_for_an_admin(self):
        _, files, notes, manifest = run("""\
            import requests
            def a(x: str) -> dict:
                return requests.post("https://h.example.com/x", json={}).json()
            """)
        self.assertEqual(manifest["http"][0]["methods"], ["GET", "HEAD"])
        self.assertNotIn("approved_by", manifest["http"][0])
        self.assertTrue(any("POST" in n for n in notes))


class Function(unittest.TestCase):
    SOURCE = """\
        \"\"\"Module doc.\"\"\"
        from __future__ import annotations
        import requests

        def helper(a, b, c, d, e, f):
            return a

        def fetch(item_id, limit=10, verbose=False, ratio=0.5, label=None):
            return {"id": item_id}

        def main():
            print(fetch("x"))
        """

    def test_the_widest_function_is_the_tool_with_hints_and_a_docstring(self):
        name, files, notes, _ = run(self.SOURCE)
        self.assertEqual(name, "helper")
        name, files, notes, _ = run(self.SOURCE.replace("a, b, c, d, e, f", "a"))
        self.assertEqual(name, "fetch")
        script = files["scripts/fetch.py"]
        tree = ast.parse(script)
        func = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "fetch")
        hints = {a.arg: ast.unparse(a.annotation) for a in func.args.args}
        self.assertEqual(hints, {"item_id": "str", "limit": "int", "verbose": "bool",
                                 "ratio": "float", "label": "Optional[str]"})
        self.assertEqual(ast.unparse(func.returns), "dict")
        self.assertEqual([ast.unparse(d) for d in func.decorator_list], ["tool"])
        self.assertIn("Args:", ast.get_docstring(func))
        # The result passes the checker (the __future__ import stays first).
        self.assertEqual(check_source(script), [])

    def test_function_picks_by_name_and_a_missing_one_is_a_problem(self):
        self.assertEqual(run(self.SOURCE, function="main")[0], "main")
        with self.assertRaises(ImportProblem):
            run(self.SOURCE, function="nope")
        with self.assertRaises(ImportProblem):
            run("x = (")

    def test_hints_the_script_has_are_kept(self):
        name, files, _, _ = run("""\
            def pick(a: list[int], b: str = "x") -> dict:
                '''Doc.'''
                return {}
            """)
        self.assertIn("def pick(a: list[int], b: str = \"x\") -> dict:", files["scripts/pick.py"])


class CommandLine(unittest.TestCase):
    def test_prints_json_files_and_notes(self):
        import contextlib
        import io
        import tempfile
        from pathlib import Path

        with tempfile.TemporaryDirectory() as d:
            path = Path(d) / "s.py"
            path.write_text("def a(x):\n    return {}\n")
            out = io.StringIO()
            with contextlib.redirect_stdout(out):
                self.assertEqual(main([str(path)]), 0)
            data = json.loads(out.getvalue())
            self.assertEqual(data["name"], "a")
            self.assertIn("IMPORT-NOTES.md", dict(data["files"]))


if __name__ == "__main__":
    unittest.main()
