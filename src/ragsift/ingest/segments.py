"""Cut one text into segments with the splitter that the chunk mode asks for."""

from __future__ import annotations

from ragsift.ingest.chunk_config import ChunkMode
from ragsift.ingest.markdown import MarkdownChunk, markdown_chunks, split_section
from ragsift.ingest.recursive import RecursiveSplitter

__all__ = ["segment_text", "segment_section"]


def segment_text(
    text: str, splitter: RecursiveSplitter, mode: ChunkMode, heading_prefix: bool
) -> list[MarkdownChunk]:
    """Segments of a whole document; a blank text gives one empty segment so the doc stays indexed."""
    if mode is ChunkMode.MARKDOWN:
        found = markdown_chunks(text, splitter, heading_prefix)
    else:
        found = [MarkdownChunk((), "", piece) for piece in splitter.split(text)]
    return found or [MarkdownChunk((), "", "")]


def segment_section(
    parent: MarkdownChunk, splitter: RecursiveSplitter, mode: ChunkMode, heading_prefix: bool
) -> list[MarkdownChunk]:
    """Segments of one parent segment's body, keeping its heading path (Markdown mode)."""
    if mode is ChunkMode.MARKDOWN:
        found = split_section(parent.headings, parent.body, splitter, heading_prefix)
    else:
        found = [MarkdownChunk((), "", piece) for piece in splitter.split(parent.body)]
    return found or [MarkdownChunk(parent.headings, parent.prefix, "")]
