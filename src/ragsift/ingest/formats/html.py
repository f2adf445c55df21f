"""HTML reader (beautifulsoup4): headings ``h1``–``h6``, paragraphs and list items, whole tables.

Scripts, styles, navigation (``<nav>``) and form controls are not content and are left out. A
table that holds headings or other tables lays out a page rather than data: its cells are read
as ordinary content.
"""

from __future__ import annotations

import re
from pathlib import Path

from ragsift._lazy import require
from ragsift.ingest.formats.blocks import Block, Heading, Paragraph, StructuredText, Table, first_heading

__all__ = ["read", "parse_html"]

_SKIPPED = {
    "script", "style", "noscript", "template", "svg", "head", "title", "iframe", "object", "button", "select", "nav",
}
_HEADINGS = {f"h{n}": n for n in range(1, 7)}
_BLOCKS = {
    "address", "article", "aside", "blockquote", "body", "dd", "details", "dialog", "div", "dl", "dt",
    "fieldset", "figcaption", "figure", "footer", "form", "header", "hr", "li", "main", "ol", "p",
    "pre", "section", "summary", "ul", "caption", "html", "table", "thead", "tbody", "tfoot", "tr", "td", "th",
}
_SPACES = re.compile(r"[ \t\r\f\v\u00a0]+")


def read(path: Path) -> StructuredText:
    """Read an HTML file; the encoding comes from its bytes (BOM, ``<meta charset>``, else a guess)."""
    return parse_html(path.read_bytes())


def parse_html(markup: bytes | str) -> StructuredText:
    """The blocks of an HTML document; the title is ``<title>``, else the first outermost heading."""
    bs4 = require("bs4", extra="formats", package="beautifulsoup4")
    soup = bs4.BeautifulSoup(markup, "html.parser")
    title = soup.title.get_text(" ", strip=True) if soup.title else ""
    walker = _Walker(bs4)
    walker.walk(soup.body or soup)
    walker.flush()
    return StructuredText(walker.blocks, title or first_heading(walker.blocks))


class _Walker:
    """Walk the tree in document order, collecting inline text into paragraphs between blocks."""

    def __init__(self, bs4) -> None:
        self.bs4 = bs4
        self.blocks: list[Block] = []
        self.inline: list[str] = []
        self.pre = 0

    def walk(self, node) -> None:
        for child in node.children:
            if isinstance(child, self.bs4.element.PreformattedString):  # comments, doctype, CDATA
                continue
            if isinstance(child, self.bs4.element.NavigableString):
                self.inline.append(str(child) if self.pre else _SPACES.sub(" ", str(child).replace("\n", " ")))
            elif child.name in _SKIPPED:
                continue
            elif child.name in _HEADINGS:
                self.flush()
                self.blocks.append(Heading(_HEADINGS[child.name], child.get_text(" ", strip=True)))
            elif child.name == "table" and not _is_layout(child):
                self.flush()
                caption = child.find("caption", recursive=False)
                if caption is not None and caption.get_text(strip=True):
                    self.blocks.append(Paragraph(caption.get_text(" ", strip=True)))
                self.blocks.append(Table(_rows(child)))
            elif child.name == "br":
                self.inline.append("\n")
            elif child.name in _BLOCKS:
                self._block(child)
            else:
                self.walk(child)

    def _block(self, node) -> None:
        self.flush()
        if node.name == "li":
            self.inline.append("- ")
        self.pre += node.name == "pre"
        self.walk(node)
        self.flush()
        self.pre -= node.name == "pre"

    def flush(self) -> None:
        text = "".join(self.inline)
        self.inline = []
        lines = [line if self.pre else line.strip() for line in text.split("\n")]
        text = "\n".join(line for line in lines if line.strip())
        if text.strip() and text.strip() != "-":
            self.blocks.append(Paragraph(text))


def _is_layout(table) -> bool:
    """A table used for page layout (it holds headings or other tables) is walked like a container."""
    return table.find(["table", *_HEADINGS]) is not None


def _rows(table) -> tuple[tuple[str, ...], ...]:
    """The rows of this table (not of tables nested in its cells); a cell's text is all its text."""
    rows = []
    for tr in table.find_all("tr"):
        if tr.find_parent("table") is not table:
            continue
        cells = tr.find_all(["td", "th"], recursive=False)
        rows.append(tuple(cell.get_text(" ", strip=True) for cell in cells))
    return tuple(row for row in rows if row)
