"""Core data types shared by every stage: documents, chunks, hits, and TREC-dict converters."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

__all__ = ["Document", "Chunk", "Hit", "Run", "Qrels", "TEXT_FIELDS", "passage_text"]

# TREC dicts at the evaluation boundary: {query_id: {doc_id: score}}.
Run = dict[str, dict[str, float]]
Qrels = dict[str, dict[str, int]]


#: The fields of a document or chunk that the first stage indexes and a reranker reads, in order.
TEXT_FIELDS: tuple[str, ...] = ("title", "text")


def passage_text(title: str, text: str, fields: tuple[str, ...] | list[str] = TEXT_FIELDS) -> str:
    """The text indexed for a document or chunk, and read by a reranker for a hit: the ``fields`` joined by a newline.

    With the default ``("title", "text")`` it is the title, a newline, then the text (the title is
    left out when empty); a chunk's text already starts with its heading path. BM25, the dense
    index, reranker training and reranking all call this one function, so they read the same
    text. ``fields=("text",)`` is the body alone (models trained before the title was read).
    """
    parts = {"title": title, "text": text}
    unknown = [f for f in fields if f not in parts]
    if unknown or not fields:
        from ragsift.errors import ConfigError

        raise ConfigError(f"text_fields={list(fields)!r} is not valid; use a non-empty list of 'title' and 'text'")
    return "\n".join(parts[f] for f in fields if parts[f] or f != "title")


@dataclass(frozen=True)
class Document:
    """A source document as loaded from disk."""

    id: str
    text: str
    title: str = ""
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "title": self.title, "text": self.text, "metadata": dict(self.metadata)}

    @property
    def is_empty(self) -> bool:
        """True when title and text are both blank: nothing to index (collections skip it, counted)."""
        return not (self.title.strip() or self.text.strip())


@dataclass(frozen=True)
class Chunk:
    """A piece of a document: the unit that is indexed and searched.

    ``id`` is unique in a collection (``"<doc_id>#<n>"``); ``doc_id`` names the source document.
    ``parent_id`` is set for parent–child chunking: the id of the larger parent chunk returned
    in place of this child. ``headings`` is the Markdown section path (outermost first).
    """

    id: str
    doc_id: str
    text: str
    title: str = ""
    position: int = 0
    parent_id: str | None = None
    headings: tuple[str, ...] = ()
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "doc_id": self.doc_id,
            "text": self.text,
            "title": self.title,
            "position": self.position,
            "parent_id": self.parent_id,
            "headings": list(self.headings),
            "metadata": dict(self.metadata),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Chunk":
        return cls(
            id=d["id"],
            doc_id=d["doc_id"],
            text=d["text"],
            title=d.get("title", ""),
            position=int(d.get("position", 0)),
            parent_id=d.get("parent_id"),
            headings=tuple(d.get("headings", ())),
            metadata=dict(d.get("metadata", {})),
        )


@dataclass
class Hit:
    """One search result.

    ``id`` is the unit returned (chunk id, or parent id in parent–child mode); ``doc_id`` the
    source document. ``score`` is the final score of the stage that produced the list;
    ``source_scores`` keeps each retriever's raw score (e.g. ``{"bm25": 7.1, "dense": 0.62}``).
    """

    id: str
    doc_id: str
    score: float
    text: str = ""
    title: str = ""
    source_scores: dict[str, float] = field(default_factory=dict)
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "doc_id": self.doc_id,
            "score": self.score,
            "title": self.title,
            "text": self.text,
            "source_scores": dict(self.source_scores),
            "metadata": dict(self.metadata),
        }

