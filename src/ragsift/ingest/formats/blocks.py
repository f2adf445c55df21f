"""The structured form every document-format reader produces, and its Markdown rendering.

A reader (PDF, DOCX, HTML) turns a file into a list of blocks: headings with their level,
paragraphs, tables (kept whole) and, for paged formats, the start of each page. The blocks are
rendered as Markdown, the form the heading-aware, table-aware chunker reads: headings as ATX
headings, tables as pipe tables, and each page start as a line ``<!-- page N -->`` (an HTML
comment, invisible when the text is shown as Markdown) that the chunker turns into the chunk's
``page`` metadata (:mod:`ragsift.ingest.structured`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, Sequence, Union

__all__ = [
    "Heading",
    "Paragraph",
    "Table",
    "PageStart",
    "Block",
    "render_markdown",
    "page_marker",
    "parse_page_marker",
    "first_heading",
    "StructuredText",
]

MAX_LEVEL = 6
"""Deepest heading level Markdown has; deeper levels are rendered at this one."""

_PAGE_MARKER = re.compile(r"^<!-- page (\d+) -->$")
_MARKDOWN_LINE_START = re.compile(r"^(\s*)(#|\||`{3}|~{3}|<!-- page \d)")  # what the chunker reads as structure
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True)
class Heading:
    """A section heading; ``level`` 1 is the outermost."""

    level: int
    text: str


@dataclass(frozen=True)
class Paragraph:
    """A run of body text (line breaks inside are kept)."""

    text: str


@dataclass(frozen=True)
class Table:
    """A table as rows of cell texts; the first row is shown as the header."""

    rows: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class PageStart:
    """The blocks that follow are on page ``number`` (1-based)."""

    number: int


Block = Union[Heading, Paragraph, Table, PageStart]


def page_marker(number: int) -> str:
    """The Markdown line that marks the start of page ``number``."""
    return f"<!-- page {number} -->"


def parse_page_marker(line: str) -> int | None:
    """The page number of a :func:`page_marker` line, else None."""
    match = _PAGE_MARKER.match(line.strip())
    return int(match.group(1)) if match else None


def render_markdown(blocks: Iterable[Block]) -> str:
    """Markdown for ``blocks``, one blank line between blocks; empty blocks are left out.

    Paragraph lines that Markdown would read as a heading, a table row or a code fence are
    escaped with a backslash, so only the reader's headings and tables have structure.
    """
    parts = [_render(block) for block in blocks]
    return "\n\n".join(part for part in parts if part)


def first_heading(blocks: Sequence[Block]) -> str:
    """The text of the first heading of the outermost level present, else ''."""
    headings = [b for b in blocks if isinstance(b, Heading) and _one_line(b.text)]
    if not headings:
        return ""
    top = min(h.level for h in headings)
    return next(_one_line(h.text) for h in headings if h.level == top)


def _render(block: Block) -> str:
    if isinstance(block, Heading):
        text = _one_line(block.text)
        return f"{'#' * min(max(block.level, 1), MAX_LEVEL)} {text}" if text else ""
    if isinstance(block, Paragraph):
        lines = [line.rstrip() for line in block.text.strip("\n").split("\n")]
        return "\n".join(_MARKDOWN_LINE_START.sub(r"\1\\\2", line) for line in lines if line.strip())
    if isinstance(block, Table):
        return _render_table(block.rows)
    if isinstance(block, PageStart):
        return page_marker(block.number)
    raise TypeError(f"not a block: {block!r}")


def _render_table(rows: Sequence[Sequence[str]]) -> str:
    rows = [[_cell(c) for c in row] for row in rows]
    rows = [row for row in rows if any(row)]
    if not rows:
        return ""
    width = max(len(row) for row in rows)
    rows = [row + [""] * (width - len(row)) for row in rows]
    lines = [_row(rows[0]), _row(["---"] * width)] + [_row(row) for row in rows[1:]]
    return "\n".join(lines)


def _row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _cell(text: str) -> str:
    return _one_line(text).replace("|", "\\|")


def _one_line(text: str) -> str:
    return _SPACES.sub(" ", text).strip()


@dataclass(frozen=True)
class StructuredText:
    """What a reader returns: the blocks, the title found in the file ('' if none) and extra metadata."""

    blocks: list[Block]
    title: str = ""
    metadata: dict[str, object] | None = None
