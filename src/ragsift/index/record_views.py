"""Read-only views of a collection's record logs: documents and parents by id, chunks by row.

They parse a record only when it is asked for (see :mod:`ragsift.index.records`), so opening a
collection of a million chunks reads ids, not texts. The collection changes its logs; a view
reflects the log it was made from and is replaced after each change.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from ragsift.index.records import RecordLog
from ragsift.types import Chunk, Document

__all__ = ["ChunkRows", "DocumentView", "ParentView"]


def _document(row: dict[str, Any]) -> Document:
    return Document(row["id"], row["text"], row.get("title", ""), row.get("metadata", {}))


class _RecordMapping(Mapping):
    """``id → record`` over a log; :meth:`_make` turns a stored row into the record type."""

    def __init__(self, log: RecordLog):
        self._log = log

    @staticmethod
    def _make(row: dict[str, Any]):
        raise NotImplementedError

    def __getitem__(self, rid: str):
        return self._make(self._log.get(rid))

    def __contains__(self, rid: object) -> bool:
        return rid in self._log

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._log.ordinal))

    def __len__(self) -> int:
        return len(self._log)

    def values(self):  # one pass over the log, in stored order
        return [self._make(row) for row in self._log.rows()]


class DocumentView(_RecordMapping):
    """``id → Document`` over the documents log."""

    _make = staticmethod(_document)


class ParentView(_RecordMapping):
    """``id → Chunk`` over the parents log (parent chunks of a parent–child collection)."""

    _make = staticmethod(Chunk.from_dict)

    def ids_of_documents(self, doc_ids: set[str]) -> list[str]:
        """The ids of the parents of these documents (from the columns, nothing parsed)."""
        return [pid for pid, did in zip(self._log.column("id"), self._log.column("doc_id")) if did in doc_ids]


class ChunkRows(Sequence):
    """The indexed chunks, one per row of the BM25 and vector indexes, in row order.

    ``ids``, ``doc_ids`` and ``metadata`` are columns held in memory; indexing parses one chunk.
    """

    def __init__(self, log: RecordLog):
        self._log = log
        self._ids: list[str] | None = None
        self._doc_ids: list[str] | None = None
        self._metadata: list[dict] | None = None

    def __len__(self) -> int:
        return len(self._log)

    def __getitem__(self, position):
        if isinstance(position, slice):
            return [self[i] for i in range(*position.indices(len(self)))]
        if position < 0:
            position += len(self)
        if not 0 <= position < len(self):
            raise IndexError(f"chunk row {position} out of range ({len(self)} rows)")
        return Chunk.from_dict(self._log.row(position))

    def __iter__(self) -> Iterator[Chunk]:
        for row in self._log.rows():
            yield Chunk.from_dict(row)

    @property
    def ids(self) -> list[str]:
        if self._ids is None:
            self._ids = self._log.column("id")
        return self._ids

    @property
    def doc_ids(self) -> list[str]:
        if self._doc_ids is None:
            self._doc_ids = self._log.column("doc_id")
        return self._doc_ids

    @property
    def metadata(self) -> list[dict]:
        """Each chunk's metadata (``{}`` when it has none)."""
        if self._metadata is None:
            self._metadata = [m or {} for m in self._log.column("metadata")]
        return self._metadata

    def position(self, chunk_id: str) -> int:
        """The row of the chunk with this id (KeyError when there is none)."""
        return self._log.position(chunk_id)
