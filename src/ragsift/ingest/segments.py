"""Cut one text into segments with the splitter that the chunk mode asks for."""

from __future__ import annotations

from dataclasses import replace

from ragsift.ingest.chunk_config import ChunkMode
from ragsift.ingest.markdown import MarkdownChunk, markdown_chunks, split_section
from ragsift.ingest.recursive import RecursiveSplitter
from ragsift.ingest.structured import chunk_mode, is_structured, structured_segments
from ragsift.types import Document

__all__ = ["segment_text", "segment_document", "segment_section"]


def segment_text(
    text: str, splitter: RecursiveSplitter, mode: ChunkMode, heading_prefix: bool
) -> list[MarkdownChunk]:
    """Segments of a whole document; a blank text gives one empty segment so the doc stays indexed."""
    if mode is ChunkMode.MARKDOWN:
        found = markdown_chunks(text, splitter, heading_prefix)
    else:
        found = [MarkdownChunk((), "", piece) for piece in splitter.split(text)]
    return found or [MarkdownChunk((), "", "")]


def segment_document(
    doc: Document, splitter: RecursiveSplitter, mode: ChunkMode, heading_prefix: bool
) -> list[MarkdownChunk]:
    """Segments of ``doc``: by structure and page for a PDF/DOCX/HTML document, else :func:`segment_text`."""
    if is_structured(doc) and chunk_mode(doc, mode) is ChunkMode.MARKDOWN:
        return structured_segments(doc.text, splitter, heading_prefix) or [MarkdownChunk((), "", "")]
    return segment_text(doc.text, splitter, mode, heading_prefix)


def segment_section(
    parent: MarkdownChunk, splitter: RecursiveSplitter, mode: ChunkMode, heading_prefix: bool
) -> list[MarkdownChunk]:
    """Segments of one parent segment's body, keeping its heading path (Markdown mode) and page."""
    if mode is ChunkMode.MARKDOWN:
        found = split_section(parent.headings, parent.body, splitter, heading_prefix)
    else:
        found = [MarkdownChunk((), "", piece) for piece in splitter.split(parent.body)]
    found = found or [MarkdownChunk(parent.headings, parent.prefix, "")]
    return [replace(seg, page=parent.page) for seg in found] if parent.page is not None else found
