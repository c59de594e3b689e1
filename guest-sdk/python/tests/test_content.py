"""Content blocks besides the JSON: Result, Image, Audio, Resource."""

import json
import tempfile
import textwrap
import unittest
from pathlib import Path
from typing import TypedDict

import support
from gateway_tool import Audio, Image, Resource, Result, _export, tool
from gateway_tool._schema import DefinitionError
from gateway_tool.check import check_file

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"


class Summary(TypedDict):
    """What was drawn.

    Attributes:
        bars: Number of bars.
    """

    bars: int


class Results(unittest.TestCase):
    def setUp(self):
        support.fresh_registry(self)
        self.gw = support.use_fake_gateway(self)

    def export(self):
        return _export.export_registered()()

    def test_blocks_follow_the_json_in_order_as_wit_content_blocks(self):
        @tool
        def chart(n: int) -> Result[Summary]:
            """Draws a chart."""
            return Result(
                {"bars": n},
                Image.png(PNG),
                "a caption",
                Audio.wav(b"RIFF\0\0\0\0WAVE"),
                Resource.from_text("report://q3", "a,b\n1,2\n", "text/csv"),
                Resource.from_bytes("report://q3.pdf", b"%PDF-1.7", "application/pdf"),
            )

        out = self.export().call('{"n": 3}')
        types = self.gw.types
        self.assertEqual(json.loads(out.json), {"bars": 3})
        self.assertEqual([type(b).__name__ for b in out.content], [
            "ContentBlock_Image", "ContentBlock_Text", "ContentBlock_Audio",
            "ContentBlock_Resource", "ContentBlock_Resource",
        ])
        self.assertEqual(out.content[0].value, types.Media(mime_type="image/png", data=PNG))
        self.assertEqual(out.content[1].value, "a caption")
        self.assertEqual(out.content[3].value,
                         types.Embedded(uri="report://q3", mime_type="text/csv", text="a,b\n1,2\n", blob=None))
        self.assertEqual(out.content[4].value.blob, b"%PDF-1.7")

    def test_the_output_schema_is_the_json_type_of_result(self):
        @tool
        def chart(n: int) -> Result[Summary]:
            """Draws a chart."""
            return Result({"bars": n}, images=[Image.svg("<svg xmlns='http://www.w3.org/2000/svg'/>")])

        schema = json.loads(self.export().describe().output_schema)
        self.assertEqual(schema["properties"]["bars"]["type"], "integer")
        out = self.export().call('{"n": 1}')
        self.assertEqual(out.content[0].value.mime_type, "image/svg+xml")

    def test_a_plain_result_has_no_blocks(self):
        @tool
        def plain(n: int) -> Summary:
            """Counts."""
            return {"bars": n}

        self.assertEqual(self.export().call('{"n": 2}').content, [])

    def test_bare_result_without_the_json_type_is_refused(self):
        with self.assertRaises(DefinitionError):
            @tool
            def chart(n: int) -> Result:
                """Draws a chart."""
                return Result({"bars": n})

    def test_wrong_block_types_are_refused_early(self):
        with self.assertRaises(TypeError):
            Result({"bars": 1}, b"raw bytes")
        with self.assertRaises(TypeError):
            Image.png("not bytes")
        with self.assertRaises(ValueError):
            Resource("x://y", "text/plain", text="a", blob=b"b")


class Checker(unittest.TestCase):
    def test_result_of_a_typeddict_passes_the_static_check(self):
        folder = Path(self.enterContext(tempfile.TemporaryDirectory()))
        path = folder / "chart.py"
        path.write_text(textwrap.dedent('''
            from typing import TypedDict
            from gateway_tool import Image, Result, tool


            class Summary(TypedDict):
                """What was drawn.

                Attributes:
                    bars: Number of bars.
                """

                bars: int


            @tool
            def chart(n: int) -> Result[Summary]:
                """Draws a chart.

                Args:
                    n: Bars.
                """
                return Result({"bars": n}, Image.png(b""))
        '''))
        self.assertEqual([(d.code, d.line) for d in check_file(path)], [])


if __name__ == "__main__":
    unittest.main()
