"""Google-style docstrings: description and Args/Attributes entries."""

import unittest

import support  # noqa: F401
from gateway_tool import _docstring


class Split(unittest.TestCase):
    def split(self, doc):
        return _docstring.split(doc, _docstring.ARGS)

    def test_args_section_is_removed_and_parsed(self):
        doc = """Star counts of a repository.

        Longer text.

        Args:
            owner: Account that owns it.
            repo (str): Repository name,
                continued on a second line.
            include_forks: Also report forks.

        Returns:
            The counts.
        """
        self.assertEqual(self.split(doc), (
            "Star counts of a repository.\n\nLonger text.\n\nReturns:\n    The counts.",
            {
                "owner": "Account that owns it.",
                "repo": "Repository name, continued on a second line.",
                "include_forks": "Also report forks.",
            },
        ))

    def test_no_section(self):
        self.assertEqual(self.split("  One line.  "), ("One line.", {}))
        self.assertEqual(self.split(None), ("", {}))

    def test_arguments_header_and_section_at_end(self):
        self.assertEqual(self.split("Do it.\n\nArguments:\n    a: The a.\n"), ("Do it.", {"a": "The a."}))

    def test_only_args(self):
        self.assertEqual(self.split("Args:\n    a: The a."), ("", {"a": "The a."}))

    def test_docstring_starting_with_the_header(self):
        doc = """Args:
            a: The a.
            b: The b.

        Returns:
            Nothing.
        """
        self.assertEqual(self.split(doc), ("Returns:\n    Nothing.", {"a": "The a.", "b": "The b."}))

    def test_entry_with_empty_first_line(self):
        doc = "Do.\n\nArgs:\n    a:\n        Described below.\n    b: B.\n"
        self.assertEqual(self.split(doc)[1], {"a": "Described below.", "b": "B."})

    def test_attributes(self):
        doc = "A point.\n\nAttributes:\n    x: Horizontal.\n"
        self.assertEqual(_docstring.split(doc, _docstring.ATTRIBUTES), ("A point.", {"x": "Horizontal."}))
        self.assertEqual(_docstring.split(doc, _docstring.ARGS)[1], {})


if __name__ == "__main__":
    unittest.main()
