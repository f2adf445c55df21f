"""DOCX reader (python-docx): heading styles and outline levels, paragraphs, whole tables."""

from __future__ import annotations

import re
from pathlib import Path

from ragsift._lazy import require
from ragsift.ingest.formats.blocks import Block, Heading, Paragraph, StructuredText, Table, first_heading

__all__ = ["read", "heading_level"]

_HEADING_STYLE = re.compile(r"^heading\s*(\d)$", re.IGNORECASE)


def read(path: Path) -> StructuredText:
    """Read a .docx file in document order; the title is the core property, else the first outermost heading."""
    docx = require("docx", extra="formats", package="python-docx")
    document = docx.Document(str(path))
    blocks: list[Block] = []
    for item in document.iter_inner_content():
        if hasattr(item, "rows"):
            blocks.append(Table(tuple(tuple(cell.text for cell in row.cells) for row in item.rows)))
            continue
        level = heading_level(item)
        if level is not None:
            blocks.append(Heading(level, item.text))
        elif item.text.strip():
            prefix = "- " if _style_name(item.style).lower().startswith("list") else ""
            blocks.append(Paragraph(prefix + item.text))
    title = (document.core_properties.title or "").strip()
    return StructuredText(blocks, title or first_heading(blocks))


def heading_level(paragraph) -> int | None:
    """1–9 for a heading paragraph (style ``Title``/``Heading N``, inherited, or an outline level), else None."""
    outline = _outline_level(paragraph._p.pPr)
    style = paragraph.style
    while style is not None and outline is None:
        name = _style_name(style)
        if name.lower() == "title":
            return 1
        match = _HEADING_STYLE.match(name)
        if match:
            return max(int(match.group(1)), 1)
        outline = _outline_level(style.element.pPr)
        style = style.base_style
    return outline


def _outline_level(ppr) -> int | None:
    """The ``w:outlineLvl`` of paragraph properties as a 1-based level; 9 (body text) is None."""
    if ppr is None:
        return None
    found = ppr.xpath("./w:outlineLvl/@w:val")
    if not found:
        return None
    level = int(found[0]) + 1
    return level if 1 <= level <= 9 else None


def _style_name(style) -> str:
    return (style.name or "") if style is not None else ""
