"""Google-style docstrings: the description and one section's entries.

``Args:`` gives per-argument descriptions of a tool; ``Attributes:`` gives
per-field descriptions of a TypedDict or dataclass in the output schema.
"""

import inspect
import re

ARGS = ("Args", "Arguments")
ATTRIBUTES = ("Attributes",)

# "name: text", "name (type): text", "*args: text"
_ENTRY = re.compile(r"^\*{0,2}(\w+)\s*(?:\([^)]*\))?\s*:\s*(.*)$")
# "Returns:", "Raises:", "See Also:"
_HEADER = re.compile(r"^\s*[A-Z][A-Za-z ]*:\s*$")


def split(doc, headers):
    """Split a docstring into its description and one section's entries.

    Args:
        doc: The raw docstring (or None).
        headers: Accepted section headers, e.g. :data:`ARGS`.

    Returns:
        ``(description, entries)``: the docstring cleaned with
        :func:`inspect.cleandoc` minus that section, and the section's
        entries as ``{name: text}`` with continuation lines joined by spaces.
    """
    lines = inspect.cleandoc(doc or "").splitlines()
    wanted = {f"{header}:" for header in headers}
    start = next((i for i, line in enumerate(lines) if line.strip() in wanted), None)
    if start is None:
        return _trim(lines), {}
    end = start + 1
    header_indent = _indent(lines[start])
    # Entries are indented under the header, unless cleandoc flattened them
    # (a docstring that starts with the header): then the next header ends it.
    flat = end < len(lines) and _indent(lines[end]) == header_indent and _ENTRY.match(lines[end].strip())
    while end < len(lines) and (
        not lines[end].strip()
        or _indent(lines[end]) > header_indent
        or (flat and not _HEADER.match(lines[end]))
    ):
        end += 1
    return _trim(lines[:start] + lines[end:]), _entries(lines[start + 1 : end])


def _trim(lines):
    # Only the blank lines at either end go: the text is already clean.
    lines = [line.rstrip() for line in lines]
    while lines and not lines[0]:
        lines.pop(0)
    while lines and not lines[-1]:
        lines.pop()
    return "\n".join(lines)


def _entries(body):
    entries = {}
    current = None
    entry_indent = None
    for line in body:
        if not line.strip():
            continue
        indent = _indent(line)
        match = _ENTRY.match(line.strip())
        if match and (entry_indent is None or indent <= entry_indent):
            entry_indent = indent
            current = match.group(1)
            entries[current] = match.group(2).strip()
        elif current is not None:
            entries[current] = f"{entries[current]} {line.strip()}".strip()
    return entries


def _indent(line):
    return len(line) - len(line.lstrip())
