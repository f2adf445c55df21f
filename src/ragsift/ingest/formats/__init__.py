"""Readers for PDF, DOCX and HTML files: each turns a file into one :class:`~ragsift.types.Document`.

A reader produces the structured form of :mod:`ragsift.ingest.formats.blocks` (headings,
paragraphs, whole tables, page starts), rendered as Markdown, so the heading-aware, table-aware
chunker cuts these documents (:mod:`ragsift.ingest.structured`). The libraries are optional and
imported only when a file of their format is read: ``pip install 'ragsift[formats]'``.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from ragsift.errors import BadInputError, RagsiftError
from ragsift.ingest._jsonl_lines import read_bytes
from ragsift.ingest.formats.blocks import parse_page_marker, render_markdown
from ragsift.ingest.limits import DEFAULT_LIMITS, DocumentLimits, check_document
from ragsift.types import Document

__all__ = ["FORMATS", "FORMAT_EXTENSIONS", "STRUCTURED_FORMATS", "read_formatted"]

FORMATS: dict[str, str] = {".pdf": "pdf", ".docx": "docx", ".html": "html", ".htm": "html"}
"""File extension → format name (the reader module, and the document's ``metadata["format"]``)."""

FORMAT_EXTENSIONS: tuple[str, ...] = tuple(FORMATS)
STRUCTURED_FORMATS: frozenset[str] = frozenset(FORMATS.values())

_HINTS = {
    "pdf": "a PDF that is not damaged or password-protected",
    "docx": "a Word .docx file (not an old binary .doc; re-save it as .docx)",
    "html": "an HTML file",
}


def read_formatted(file: Path, rel: str, limits: DocumentLimits = DEFAULT_LIMITS) -> Document:
    """Read a PDF, DOCX or HTML ``file`` as one document with id ``rel``.

    The text is Markdown (see :mod:`ragsift.ingest.formats.blocks`); the title is the file's
    own title, else its first outermost heading, else the file stem; metadata holds
    ``source`` (``rel``), ``format`` and, for a PDF, ``pages``. A file that cannot be parsed, or
    holds no text, raises :class:`~ragsift.errors.BadInputError` naming it. ``limits`` apply to
    the extracted document (a PDF file is mostly fonts and images, so its size on disk says
    little).
    """
    fmt = FORMATS[file.suffix.lower()]
    read_bytes(file, what=f"{fmt.upper()} file", probe=True)
    reader = importlib.import_module(f"ragsift.ingest.formats.{fmt}")
    try:
        parsed = reader.read(file)
    except RagsiftError:
        raise
    except Exception as exc:  # parsers raise many types on damaged files; name the file once
        raise BadInputError(
            f"cannot read this file as {fmt.upper()} ({type(exc).__name__}: {exc}); "
            f"check that it is {_HINTS[fmt]}, or remove it from the input",
            path=str(file),
        ) from exc
    text = render_markdown(parsed.blocks)
    if not any(line.strip() and parse_page_marker(line) is None for line in text.split("\n")):
        hint = " (a scanned PDF has no text layer: run OCR on it first)" if fmt == "pdf" else ""
        raise BadInputError(
            f"no text found in this {fmt.upper()} file{hint}; remove it or give it some text", path=str(file)
        )
    metadata = {"source": rel, "format": fmt, **(parsed.metadata or {})}
    doc = Document(id=rel, text=text, title=parsed.title.strip() or file.stem, metadata=metadata)
    check_document(doc, limits, where=f"{file} (its extracted text)")
    return doc
