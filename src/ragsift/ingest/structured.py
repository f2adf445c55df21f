"""Chunking of documents read from PDF, DOCX or HTML: by structure, with page and section metadata.

Their text is the Markdown of :mod:`ragsift.ingest.formats.blocks`, so the Markdown chunker
cuts them at headings and keeps tables whole, whatever the collection's chunk mode (``none``
aside: one chunk, page markers removed). Sections are also cut where a page starts, so each
chunk lies on one page; its metadata gets ``page`` (PDF) and ``section`` (the innermost heading)
on top of the document's metadata. A document is *structured* when ``metadata["format"]`` names
one of these formats, as the readers set it.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from ragsift.ingest.chunk_config import ChunkMode
from ragsift.ingest.formats import STRUCTURED_FORMATS
from ragsift.ingest.formats.blocks import parse_page_marker
from ragsift.ingest.markdown import MarkdownChunk, markdown_sections, split_section
from ragsift.ingest.markdown_syntax import parse_atx_heading
from ragsift.ingest.recursive import RecursiveSplitter
from ragsift.types import Document

__all__ = ["is_structured", "chunk_mode", "structured_segments", "plain_text", "chunk_metadata"]


def is_structured(doc: Document) -> bool:
    """True for a document read from a structured format (``metadata["format"]`` is pdf, docx or html)."""
    fmt = doc.metadata.get("format")
    return isinstance(fmt, str) and fmt in STRUCTURED_FORMATS


def chunk_mode(doc: Document, mode: ChunkMode) -> ChunkMode:
    """The mode ``doc`` is cut with: structured documents use the Markdown chunker unless mode is none."""
    return ChunkMode.MARKDOWN if mode is ChunkMode.RECURSIVE and is_structured(doc) else mode


def plain_text(doc: Document) -> str:
    """The document's text without page markers (for chunk mode none)."""
    if not is_structured(doc):
        return doc.text
    return "\n".join(line for line in doc.text.split("\n") if parse_page_marker(line) is None).strip()


def chunk_metadata(doc: Document, segment: MarkdownChunk) -> dict[str, Any]:
    """A chunk's metadata: its document's, plus ``section`` and ``page`` for a structured document."""
    metadata = dict(doc.metadata)
    if is_structured(doc):
        if segment.headings:
            metadata["section"] = segment.headings[-1]
        if segment.page is not None:
            metadata["page"] = segment.page
    return metadata


def structured_segments(text: str, splitter: RecursiveSplitter, heading_prefix: bool = True) -> list[MarkdownChunk]:
    """Markdown chunks of ``text``, cut at headings and at page markers, each with its ``page``."""
    found: list[MarkdownChunk] = []
    page: int | None = None
    headings: tuple[str, ...] = ()
    carried = ""  # heading lines (heading_prefix off) whose section content starts on the next page
    for headings, body in markdown_sections(text, keep_heading_lines=not heading_prefix):
        runs, page, carried = _page_runs(body, page, carried)
        for run_page, run in runs:
            found.extend(replace(c, page=run_page) for c in split_section(headings, run, splitter, heading_prefix))
    if carried:
        found.extend(replace(c, page=page) for c in split_section(headings, carried, splitter, heading_prefix))
    return found


def _page_runs(body: str, page: int | None, carried: str) -> tuple[list[tuple[int | None, str]], int | None, str]:
    """Cut a section body at page markers: ``([(page, text)], the page at its end, heading lines carried on)``."""
    runs: list[tuple[int | None, str]] = []
    lines = [carried] if carried else []
    for line in body.split("\n"):
        number = parse_page_marker(line)
        if number is None:
            lines.append(line)
            continue
        lines = _close_run(lines, page, runs)
        page = number
    lines = _close_run(lines, page, runs)
    return runs, page, "\n".join(lines)


def _close_run(lines: list[str], page: int | None, runs: list[tuple[int | None, str]]) -> list[str]:
    """Add ``lines`` to ``runs`` when they hold content; return what carries on (bare heading lines, else nothing)."""
    text = "\n".join(lines).strip("\n")
    if any(line.strip() and parse_atx_heading(line) is None for line in lines):
        runs.append((page, text))
        return []
    return [text] if text.strip() else []
