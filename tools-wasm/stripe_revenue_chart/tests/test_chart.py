"""The chart drawing and the week buckets, outside the sandbox (stdlib only):

    python3 -m unittest discover -s tools-wasm/stripe_revenue_chart/tests
"""

import struct
import sys
import unittest
import xml.etree.ElementTree as ET
import zlib
from datetime import date, datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))

import chart  # noqa: E402
import weeks  # noqa: E402

LABELS = ["10-01", "10-05", "10-12", "10-19", "10-26"]
VALUES = [5472.38, 13252.23, 10817.1, 14329.37, 9944.02]


def chunks(png: bytes):
    """(type, data) of each chunk, checking every CRC."""
    pos, out = 8, []
    while pos < len(png):
        (length,) = struct.unpack(">I", png[pos : pos + 4])
        kind = png[pos + 4 : pos + 8]
        data = png[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", png[pos + 8 + length : pos + 12 + length])
        assert crc == zlib.crc32(kind + data) & 0xFFFFFFFF, kind
        out.append((kind, data))
        pos += 12 + length
    return out


class Png(unittest.TestCase):
    def test_a_valid_rgb_png_with_the_bars_painted(self):
        png = chart.bar_chart_png("NET REVENUE", LABELS, VALUES)
        self.assertEqual(png[:8], b"\x89PNG\r\n\x1a\n")
        parts = chunks(png)
        self.assertEqual([k for k, _ in parts], [b"IHDR", b"IDAT", b"IEND"])
        width, height, depth, colour = struct.unpack(">IIBB", parts[0][1][:10])
        self.assertEqual((width, height, depth, colour), (chart.WIDTH, chart.HEIGHT, 8, 2))
        raw = zlib.decompress(parts[1][1])
        stride = 1 + 3 * width
        self.assertEqual(len(raw), height * stride)
        self.assertTrue(all(raw[row * stride] == 0 for row in range(height)))
        # The tallest bar (week 4) is painted in the bar colour half-way up.
        lay = chart.Layout(LABELS, VALUES)
        x, y, w, h, _ = lay.bars()[3]
        mid = (y + h // 2) * stride + 1 + 3 * (x + w // 2)
        self.assertEqual(tuple(raw[mid : mid + 3]), chart.BAR)

    def test_negative_values_hang_below_zero(self):
        lay = chart.Layout(["a", "b"], [100.0, -50.0])
        (_, y_pos, _, h_pos, _), (_, y_neg, _, h_neg, _) = lay.bars()
        zero = lay.y(0.0)
        self.assertEqual(y_pos + h_pos, zero)
        self.assertEqual(y_neg, zero)
        self.assertGreater(h_neg, 0)


class Svg(unittest.TestCase):
    def test_well_formed_svg_without_scripts_or_external_references(self):
        svg = chart.bar_chart_svg("Net <revenue> & more", LABELS, VALUES)
        root = ET.fromstring(svg)
        self.assertEqual(root.tag, "{http://www.w3.org/2000/svg}svg")
        names = {el.tag.split("}")[1] for el in root.iter()}
        self.assertNotIn("script", names)
        self.assertNotIn("foreignObject", names)
        for el in root.iter():
            for attr, value in el.attrib.items():
                self.assertFalse(attr.lower().startswith("on"), attr)
                self.assertNotIn("href", attr)
        bars = [el for el in root.iter("{http://www.w3.org/2000/svg}rect") if el.find("{http://www.w3.org/2000/svg}title") is not None]
        self.assertEqual(len(bars), len(VALUES))


class Axis(unittest.TestCase):
    def test_round_steps_and_short_amounts(self):
        self.assertEqual(chart.nice_step(15000), 5000)
        self.assertEqual(chart.nice_step(9), 2.5)
        self.assertEqual(chart.short_amount(12500), "12.5K")
        self.assertEqual(chart.short_amount(-1_200_000), "-1.2M")
        self.assertEqual(chart.short_amount(950), "950")


class Weeks(unittest.TestCase):
    def test_october_2026_has_a_short_first_and_last_week(self):
        first, stop = date(2026, 10, 1), date(2026, 11, 1)
        starts = weeks.week_starts(first, stop)
        self.assertEqual(starts, [date(2026, 10, d) for d in (1, 5, 12, 19, 26)])
        self.assertEqual(weeks.bucket_end(4, starts, stop), stop)

    def test_a_period_starting_on_monday_has_no_short_first_week(self):
        starts = weeks.week_starts(date(2026, 10, 5), date(2026, 10, 19))
        self.assertEqual(starts, [date(2026, 10, 5), date(2026, 10, 12)])

    def test_charges_fall_in_their_utc_day_s_week(self):
        first, stop = date(2026, 10, 1), date(2026, 11, 1)
        starts = weeks.week_starts(first, stop)
        at = lambda *a: int(datetime(*a, tzinfo=timezone.utc).timestamp())  # noqa: E731
        self.assertEqual(weeks.bucket_of(at(2026, 10, 4, 23, 59), starts, stop), 0)
        self.assertEqual(weeks.bucket_of(at(2026, 10, 5, 0, 0), starts, stop), 1)
        self.assertEqual(weeks.bucket_of(at(2026, 11, 1, 0, 0), starts, stop), -1)
        self.assertEqual(weeks.bucket_of(at(2026, 9, 30, 23, 59), starts, stop), -1)


if __name__ == "__main__":
    unittest.main()
