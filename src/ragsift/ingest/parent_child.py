"""Parent–child chunking: index small children, return their larger parent."""

from __future__ import annotations

from ragsift.ingest.chunk_config import ChunkMode
from ragsift.ingest.markdown import MarkdownChunk
from ragsift.ingest.recursive import RecursiveSplitter
from ragsift.ingest.segments import segment_document, segment_section
from ragsift.ingest.structured import chunk_metadata, chunk_mode
from ragsift.types import Chunk, Document

__all__ = ["split_parent_child", "parent_id", "child_id"]


def parent_id(doc_id: str, parent_n: int) -> str:
    """``"<doc_id>#p<parent_n>"``."""
    return f"{doc_id}#p{parent_n}"


def child_id(doc_id: str, parent_n: int, child_n: int) -> str:
    """``"<doc_id>#p<parent_n>c<child_n>"`` (``child_n`` counts from 0 within the parent)."""
    return f"{doc_id}#p{parent_n}c{child_n}"


def split_parent_child(
    doc: Document,
    parent_splitter: RecursiveSplitter,
    child_splitter: RecursiveSplitter,
    mode: ChunkMode,
    heading_prefix: bool = True,
) -> tuple[list[Chunk], list[Chunk]]:
    """Cut ``doc`` into parents, and each parent into children; return ``(children, parents)``.

    Parents are numbered by their order in the document; children carry ``parent_id`` and a
    ``position`` that counts children across the whole document. A PDF/DOCX/HTML document is
    cut by its structure, and its chunks carry ``section``/``page`` (:mod:`ragsift.ingest.structured`).
    """
    mode = chunk_mode(doc, mode)
    parents: list[Chunk] = []
    children: list[Chunk] = []
    for pn, parent in enumerate(segment_document(doc, parent_splitter, mode, heading_prefix)):
        parents.append(_chunk(doc, parent_id(doc.id, pn), parent, pn, None))
        for cn, child in enumerate(segment_section(parent, child_splitter, mode, heading_prefix)):
            children.append(_chunk(doc, child_id(doc.id, pn, cn), child, len(children), parents[-1].id))
    return children, parents


def _chunk(doc: Document, ident: str, seg: MarkdownChunk, position: int, parent: str | None) -> Chunk:
    return Chunk(
        id=ident,
        doc_id=doc.id,
        text=seg.text,
        title=doc.title,
        position=position,
        parent_id=parent,
        headings=seg.headings,
        metadata=chunk_metadata(doc, seg),
    )
