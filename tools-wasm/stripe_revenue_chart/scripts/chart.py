"""Bar charts as PNG or SVG bytes, in pure Python (zlib and struct only).

Runs inside the gateway's sandbox, where numpy and matplotlib are not
available: the PNG path paints an RGB canvas with rectangles and a 5x7
bitmap font and encodes it with zlib; the SVG path writes the same chart as
text. Both draw one bar per label, a zero line, four grid lines with their
values, a title and the labels under the bars.
"""

import math
import struct
import zlib

WIDTH = 720
HEIGHT = 360
MARGIN_LEFT = 64
MARGIN_RIGHT = 16
MARGIN_TOP = 36
MARGIN_BOTTOM = 40
GRID_LINES = 4

BACKGROUND = (255, 255, 255)
INK = (40, 40, 40)
GRID = (225, 225, 225)
BAR = (51, 102, 204)
NEGATIVE = (204, 68, 51)

# 5x7 glyphs, one integer per row, bit 4 the leftmost column. Upper case:
# labels are drawn in capitals.
_FONT = {
    "0": (0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E),
    "1": (0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E),
    "2": (0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F),
    "3": (0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E),
    "4": (0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02),
    "5": (0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E),
    "6": (0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E),
    "7": (0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08),
    "8": (0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E),
    "9": (0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C),
    "A": (0x0E, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11),
    "B": (0x1E, 0x11, 0x11, 0x1E, 0x11, 0x11, 0x1E),
    "C": (0x0E, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0E),
    "D": (0x1C, 0x12, 0x11, 0x11, 0x11, 0x12, 0x1C),
    "E": (0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F),
    "F": (0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x10),
    "G": (0x0E, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0F),
    "H": (0x11, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11),
    "I": (0x0E, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E),
    "J": (0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0C),
    "K": (0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11),
    "L": (0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1F),
    "M": (0x11, 0x1B, 0x15, 0x15, 0x11, 0x11, 0x11),
    "N": (0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11),
    "O": (0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E),
    "P": (0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10),
    "Q": (0x0E, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0D),
    "R": (0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11),
    "S": (0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E),
    "T": (0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04),
    "U": (0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E),
    "V": (0x11, 0x11, 0x11, 0x11, 0x11, 0x0A, 0x04),
    "W": (0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0A),
    "X": (0x11, 0x11, 0x0A, 0x04, 0x0A, 0x11, 0x11),
    "Y": (0x11, 0x11, 0x11, 0x0A, 0x04, 0x04, 0x04),
    "Z": (0x1F, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1F),
    " ": (0, 0, 0, 0, 0, 0, 0),
    "-": (0, 0, 0, 0x1F, 0, 0, 0),
    ".": (0, 0, 0, 0, 0, 0x0C, 0x0C),
    ",": (0, 0, 0, 0, 0x0C, 0x04, 0x08),
    ":": (0, 0x0C, 0x0C, 0, 0x0C, 0x0C, 0),
    "/": (0, 0x01, 0x02, 0x04, 0x08, 0x10, 0),
    "(": (0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02),
    ")": (0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08),
    "$": (0x04, 0x0F, 0x14, 0x0E, 0x05, 0x1E, 0x04),
    "%": (0x18, 0x19, 0x02, 0x04, 0x08, 0x13, 0x03),
    "+": (0, 0x04, 0x04, 0x1F, 0x04, 0x04, 0),
    "?": (0x0E, 0x11, 0x01, 0x02, 0x04, 0, 0x04),
}
GLYPH_W = 5
GLYPH_H = 7


def short_amount(value: float) -> str:
    """A grid or bar value in a few characters: 950, 12.5K, 1.2M."""
    sign = "-" if value < 0 else ""
    v = abs(value)
    for limit, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
        if v >= limit:
            text = f"{v / limit:.1f}".rstrip("0").rstrip(".")
            return f"{sign}{text}{suffix}"
    return f"{sign}{v:.0f}"


def nice_step(span: float, lines: int = GRID_LINES) -> float:
    """A round grid step (1, 2, 2.5 or 5 times a power of ten) covering `span` in `lines` steps."""
    if span <= 0:
        return 1.0
    raw = span / lines
    power = 10.0 ** math.floor(math.log10(raw))
    for factor in (1, 2, 2.5, 5, 10):
        if factor * power >= raw:
            return factor * power
    return 10 * power


class Layout:
    """Where everything goes: shared by the PNG and the SVG path."""

    def __init__(self, labels: list[str], values: list[float]):
        if len(labels) != len(values):
            raise ValueError("one label per value")
        self.labels = labels
        self.values = values
        self.width = max(WIDTH, MARGIN_LEFT + MARGIN_RIGHT + 16 * len(values))
        self.height = HEIGHT
        low = min([0.0, *values])
        high = max([0.0, *values])
        self.step = nice_step(high - low)
        self.low = self.step * math.floor(low / self.step)
        self.high = self.step * math.ceil(high / self.step)
        if self.high == self.low:
            self.high = self.low + self.step
        self.plot_x = MARGIN_LEFT
        self.plot_y = MARGIN_TOP
        self.plot_w = self.width - MARGIN_LEFT - MARGIN_RIGHT
        self.plot_h = self.height - MARGIN_TOP - MARGIN_BOTTOM

    def y(self, value: float) -> int:
        """Pixel row of a value."""
        frac = (value - self.low) / (self.high - self.low)
        return round(self.plot_y + self.plot_h * (1 - frac))

    def grid(self) -> list[float]:
        """Values of the grid lines, bottom to top."""
        count = round((self.high - self.low) / self.step)
        return [self.low + i * self.step for i in range(count + 1)]

    def bars(self) -> list[tuple[int, int, int, int, float]]:
        """(x, y, width, height, value) of each bar."""
        n = max(1, len(self.values))
        slot = self.plot_w / n
        bar_w = max(2, int(slot * 0.7))
        zero = self.y(0.0)
        out = []
        for i, value in enumerate(self.values):
            x = round(self.plot_x + i * slot + (slot - bar_w) / 2)
            top = self.y(value)
            y, h = (top, zero - top) if value >= 0 else (zero, top - zero)
            out.append((x, y, bar_w, max(h, 1 if value else 0), value))
        return out

    def label_every(self) -> int:
        """Draw every n-th label so they do not overlap."""
        slot = self.plot_w / max(1, len(self.values))
        widest = max((len(label) for label in self.labels), default=1) * (GLYPH_W + 1) + 6
        return max(1, -(-widest // max(1, int(slot))))


class Canvas:
    """An RGB canvas that rows of bytes are written into."""

    def __init__(self, width: int, height: int, colour: tuple[int, int, int]):
        self.width = width
        self.height = height
        self.pixels = bytearray(bytes(colour) * (width * height))

    def rect(self, x: int, y: int, w: int, h: int, colour: tuple[int, int, int]) -> None:
        """Fills a rectangle, clipped to the canvas."""
        x0, y0 = max(0, x), max(0, y)
        x1, y1 = min(self.width, x + w), min(self.height, y + h)
        if x0 >= x1 or y0 >= y1:
            return
        run = bytes(colour) * (x1 - x0)
        for row in range(y0, y1):
            start = (row * self.width + x0) * 3
            self.pixels[start : start + len(run)] = run

    def text(self, x: int, y: int, text: str, colour: tuple[int, int, int], scale: int = 1) -> None:
        """Draws text with its top-left corner at (x, y)."""
        for ch in text.upper():
            rows = _FONT.get(ch, _FONT["?"])
            for r, bits in enumerate(rows):
                for c in range(GLYPH_W):
                    if bits & (0x10 >> c):
                        self.rect(x + c * scale, y + r * scale, scale, scale, colour)
            x += (GLYPH_W + 1) * scale

    def png(self) -> bytes:
        """The canvas as a PNG file (8-bit RGB, no filter, zlib level 9)."""
        stride = self.width * 3
        raw = b"".join(
            b"\x00" + bytes(self.pixels[row * stride : (row + 1) * stride])
            for row in range(self.height)
        )
        header = struct.pack(">IIBBBBB", self.width, self.height, 8, 2, 0, 0, 0)
        return (
            b"\x89PNG\r\n\x1a\n"
            + _chunk(b"IHDR", header)
            + _chunk(b"IDAT", zlib.compress(raw, 9))
            + _chunk(b"IEND", b"")
        )


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def text_width(text: str, scale: int = 1) -> int:
    """Width in pixels of text drawn with the bitmap font."""
    return max(0, len(text) * (GLYPH_W + 1) * scale - scale)


def bar_chart_png(title: str, labels: list[str], values: list[float]) -> bytes:
    """A bar chart as PNG bytes."""
    lay = Layout(labels, values)
    canvas = Canvas(lay.width, lay.height, BACKGROUND)
    canvas.text(MARGIN_LEFT, 10, title, INK, scale=2)
    for value in lay.grid():
        y = lay.y(value)
        canvas.rect(lay.plot_x, y, lay.plot_w, 1, GRID)
        label = short_amount(value)
        canvas.text(lay.plot_x - 6 - text_width(label), y - GLYPH_H // 2, label, INK)
    for x, y, w, h, value in lay.bars():
        canvas.rect(x, y, w, h, BAR if value >= 0 else NEGATIVE)
    canvas.rect(lay.plot_x, lay.y(0.0), lay.plot_w, 1, INK)
    every = lay.label_every()
    for i, (x, _, w, _, _) in enumerate(lay.bars()):
        if i % every == 0:
            label = labels[i]
            canvas.text(x + w // 2 - text_width(label) // 2, lay.plot_y + lay.plot_h + 8, label, INK)
    return canvas.png()


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def _hex(colour: tuple[int, int, int]) -> str:
    return "#%02x%02x%02x" % colour


def bar_chart_svg(title: str, labels: list[str], values: list[float]) -> str:
    """The same bar chart as SVG text: no script, no external reference."""
    lay = Layout(labels, values)
    out = [
        '<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" '
        'font-family="sans-serif" font-size="11">' % (lay.width, lay.height, lay.width, lay.height),
        "<title>%s</title>" % _escape(title),
        '<rect width="100%%" height="100%%" fill="%s"/>' % _hex(BACKGROUND),
        '<text x="%d" y="24" font-size="16" fill="%s">%s</text>' % (MARGIN_LEFT, _hex(INK), _escape(title)),
    ]
    for value in lay.grid():
        y = lay.y(value)
        out.append(
            '<line x1="%d" x2="%d" y1="%d" y2="%d" stroke="%s"/>'
            % (lay.plot_x, lay.plot_x + lay.plot_w, y, y, _hex(GRID))
        )
        out.append(
            '<text x="%d" y="%d" text-anchor="end" fill="%s">%s</text>'
            % (lay.plot_x - 6, y + 4, _hex(INK), _escape(short_amount(value)))
        )
    every = lay.label_every()
    for i, (x, y, w, h, value) in enumerate(lay.bars()):
        out.append(
            '<rect x="%d" y="%d" width="%d" height="%d" fill="%s"><title>%s: %s</title></rect>'
            % (x, y, w, h, _hex(BAR if value >= 0 else NEGATIVE), _escape(labels[i]), _escape(f"{value:,.2f}"))
        )
        if i % every == 0:
            out.append(
                '<text x="%d" y="%d" text-anchor="middle" fill="%s">%s</text>'
                % (x + w // 2, lay.plot_y + lay.plot_h + 18, _hex(INK), _escape(labels[i]))
            )
    zero = lay.y(0.0)
    out.append(
        '<line x1="%d" x2="%d" y1="%d" y2="%d" stroke="%s"/>'
        % (lay.plot_x, lay.plot_x + lay.plot_w, zero, zero, _hex(INK))
    )
    out.append("</svg>")
    return "\n".join(out)
