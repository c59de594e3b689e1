"""Pictures, sounds and documents a tool returns besides its JSON.

::

    from gateway_tool import Image, Result, tool

    @tool
    def revenue_chart(start: str, end: str) -> Result[Summary]:
        \"\"\"...\"\"\"
        summary = {...}
        return Result(summary, Image.png(png_bytes))

The JSON (``summary``) is checked against the schema of ``Summary`` as any
result; the blocks follow it in the agent's result, in order. The gateway
checks each block's media type against its bytes, caps the JSON and the
blocks together at the manifest's ``limits.content_bytes``, and refuses the
whole result if one block is wrong (docs/content.md).
"""

from typing import Generic, Optional, TypeVar, Union

T = TypeVar("T")


class Image:
    """A picture: PNG, JPEG, GIF, WebP or SVG.

    Build one with :meth:`png`, :meth:`jpeg`, :meth:`gif`, :meth:`webp` or
    :meth:`svg`; ``Image(data, mime_type)`` takes any type the gateway allows.
    """

    kind = "image"

    def __init__(self, data: bytes, mime_type: str):
        self.data = _bytes(data, "Image data")
        self.mime_type = str(mime_type)

    @classmethod
    def png(cls, data: bytes) -> "Image":
        """PNG bytes (``image/png``)."""
        return cls(data, "image/png")

    @classmethod
    def jpeg(cls, data: bytes) -> "Image":
        """JPEG bytes (``image/jpeg``)."""
        return cls(data, "image/jpeg")

    @classmethod
    def gif(cls, data: bytes) -> "Image":
        """GIF bytes (``image/gif``)."""
        return cls(data, "image/gif")

    @classmethod
    def webp(cls, data: bytes) -> "Image":
        """WebP bytes (``image/webp``)."""
        return cls(data, "image/webp")

    @classmethod
    def svg(cls, text: Union[str, bytes]) -> "Image":
        """SVG text or UTF-8 bytes (``image/svg+xml``). No scripts, event
        handlers, ``<foreignObject>`` or external references: the gateway
        refuses those."""
        return cls(text.encode("utf-8") if isinstance(text, str) else text, "image/svg+xml")

    def __repr__(self):
        return f"Image({self.mime_type}, {len(self.data)} bytes)"


class Audio:
    """A sound: WAV, MP3 or Ogg."""

    kind = "audio"

    def __init__(self, data: bytes, mime_type: str):
        self.data = _bytes(data, "Audio data")
        self.mime_type = str(mime_type)

    @classmethod
    def wav(cls, data: bytes) -> "Audio":
        """WAV bytes (``audio/wav``)."""
        return cls(data, "audio/wav")

    @classmethod
    def mpeg(cls, data: bytes) -> "Audio":
        """MP3 bytes (``audio/mpeg``)."""
        return cls(data, "audio/mpeg")

    @classmethod
    def ogg(cls, data: bytes) -> "Audio":
        """Ogg bytes (``audio/ogg``)."""
        return cls(data, "audio/ogg")

    def __repr__(self):
        return f"Audio({self.mime_type}, {len(self.data)} bytes)"


class Resource:
    """A document handed to the agent inline (an MCP embedded resource),
    named by an absolute URI such as ``"stripe://invoices/in_1"``.

    Use :meth:`text` for text documents (``text/*``, JSON, XML, YAML, CSV)
    and :meth:`blob` for anything else.
    """

    kind = "resource"

    def __init__(self, uri: str, mime_type: str, text: Optional[str] = None,
                 blob: Optional[bytes] = None):
        if (text is None) == (blob is None):
            raise ValueError("a Resource has exactly one of text and blob")
        self.uri = str(uri)
        self.mime_type = str(mime_type)
        self.text = None if text is None else str(text)
        self.blob = None if blob is None else _bytes(blob, "Resource blob")

    @classmethod
    def from_text(cls, uri: str, text: str, mime_type: str = "text/plain") -> "Resource":
        """A text document (``text/plain`` unless ``mime_type`` says otherwise)."""
        return cls(uri, mime_type, text=text)

    @classmethod
    def from_bytes(cls, uri: str, data: bytes, mime_type: str) -> "Resource":
        """A binary document, e.g. a PDF (``application/pdf``)."""
        return cls(uri, mime_type, blob=data)

    def __repr__(self):
        size = len(self.text) if self.text is not None else len(self.blob or b"")
        return f"Resource({self.uri}, {self.mime_type}, {size})"


Block = Union[str, Image, Audio, Resource]


class Result(Generic[T]):
    """A tool's JSON result with content blocks after it.

    Annotate the tool's return as ``Result[YourTypedDict]``: the output
    schema is ``YourTypedDict``'s. ``content`` holds :class:`Image`,
    :class:`Audio`, :class:`Resource` or plain ``str`` (an extra text block),
    in the order the agent will see them; ``images=[...]`` is the same,
    for readability.
    """

    def __init__(self, data: T, *content: Block, images: Optional[list] = None):
        self.data = data
        self.content = list(content) + list(images or [])
        for block in self.content:
            if not isinstance(block, (str, Image, Audio, Resource)):
                raise TypeError(
                    f"content blocks are Image, Audio, Resource or str, not {type(block).__name__}"
                )

    def __repr__(self):
        return f"Result({self.data!r}, {', '.join(map(repr, self.content))})"


def _bytes(data, what):
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data)
    raise TypeError(f"{what} must be bytes, not {type(data).__name__}")
