"""Turn documents into the chunks that get indexed, as the chunking config says."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterable

from ragsift._enums import parse_enum
from ragsift.errors import ConfigError
from ragsift.ingest.chunk_config import ChunkingConfig, ChunkMode, LengthUnit
from ragsift.ingest.markdown import MarkdownChunk
from ragsift.ingest.parent_child import split_parent_child
from ragsift.ingest.recursive import DEFAULT_SEPARATORS, RecursiveSplitter
from ragsift.ingest.segments import segment_document
from ragsift.ingest.structured import chunk_metadata, plain_text
from ragsift.ingest.tokens import token_length_function
from ragsift.types import Chunk, Document

__all__ = [
    "DEFAULT_SEPARATORS",
    "ChunkMode",
    "LengthUnit",
    "ChunkingConfig",
    "ChunkedCorpus",
    "RecursiveSplitter",
    "chunk_documents",
    "length_function_for",
    "token_length_function",
]

LengthFunction = Callable[[str], int]


@dataclass
class ChunkedCorpus:
    """The result of chunking: ``chunks`` are indexed (children in parent–child mode);
    ``parents`` are what a child hit expands to (empty unless parent–child)."""

    chunks: list[Chunk]
    parents: list[Chunk] = field(default_factory=list)


def length_function_for(unit: LengthUnit | str, model_name_or_path: str | None = None) -> LengthFunction:
    """``len`` for characters; the tokenizer of ``model_name_or_path`` (default: bundled model) for tokens."""
    if parse_enum(LengthUnit, unit, param="unit") is LengthUnit.CHARS:
        return len
    return token_length_function(model_name_or_path)


def chunk_documents(
    docs: Iterable[Document],
    config: ChunkingConfig | None = None,
    length_function: LengthFunction | None = None,
    *,
    show_progress: bool = False,
) -> ChunkedCorpus:
    """Chunk ``docs`` with ``config`` (default :class:`ChunkingConfig`).

    ``length_function`` measures sizes; when None it follows ``config.unit`` (``len`` for chars,
    the bundled embedding model's tokenizer for tokens). Pass
    ``token_length_function(model)`` when indexing with another embedding model. Chunk ids are
    ``"<doc_id>#<n>"``, or ``"<doc_id>#p<n>"`` / ``"<doc_id>#p<n>c<m>"`` for parents/children.
    Documents read from PDF, DOCX or HTML are cut by their structure in any mode but ``none``,
    and their chunks carry ``section`` and ``page`` metadata (:mod:`ragsift.ingest.structured`).
    """
    config = ChunkingConfig() if config is None else config
    if not isinstance(config, ChunkingConfig):
        raise ConfigError(f"config must be a ChunkingConfig, got {type(config).__name__}; use ChunkingConfig(...)")
    measure = length_function if length_function is not None else length_function_for(config.unit)
    splitter = RecursiveSplitter(config.size, config.overlap, config.separators, measure)
    parent_splitter = (
        RecursiveSplitter(config.parent_size, config.parent_overlap, config.separators, measure)
        if config.parent_size is not None
        else None
    )
    corpus = ChunkedCorpus(chunks=[])
    for doc in _progress(docs, show_progress):
        if not isinstance(doc, Document):
            raise ConfigError(f"docs must contain Document objects, got {type(doc).__name__}")
        if parent_splitter is not None:
            children, parents = split_parent_child(doc, parent_splitter, splitter, config.mode, config.heading_prefix)
            corpus.chunks.extend(children)
            corpus.parents.extend(parents)
        else:
            corpus.chunks.extend(_chunk_document(doc, splitter, config))
    return corpus


def _chunk_document(doc: Document, splitter: RecursiveSplitter, config: ChunkingConfig) -> list[Chunk]:
    if config.mode is ChunkMode.NONE:
        return [_make(doc, 0, MarkdownChunk((), "", plain_text(doc)))]
    segments = segment_document(doc, splitter, config.mode, config.heading_prefix)
    return [_make(doc, n, seg) for n, seg in enumerate(segments)]


def _make(doc: Document, n: int, seg: MarkdownChunk) -> Chunk:
    return Chunk(
        id=f"{doc.id}#{n}",
        doc_id=doc.id,
        text=seg.text,
        title=doc.title,
        position=n,
        headings=seg.headings,
        metadata=chunk_metadata(doc, seg),
    )


def _progress(docs: Iterable[Document], show: bool) -> Iterable[Document]:
    if not show:
        return docs
    from tqdm import tqdm

    return tqdm(docs, desc="chunking", unit="doc")
