"""The first-stage retriever interface: one ``search`` for BM25, dense and any remote engine.

Every first-stage retriever answers ``search(query, k, filters) → Ranking``: chunk ids ranked
best first with their scores, at most ``k``, only chunks whose metadata passes ``filters``
(:mod:`ragsift.index.filters`). Filters act *before* the top-k cut — the embedded indexes mask
their rows, a remote engine pushes them into its query — so a filtered search returns ``k`` hits
whenever ``k`` matching chunks score at all. ``search_many`` is the batch form (the dense side
embeds its queries in one batch); the :class:`~ragsift.pipeline.search.Searcher` fuses and
expands what the retrievers return, through one function for the library, the service and the
evaluation grid (:func:`ragsift.pipeline.search.assemble`).

A backend is one module with a ``retrievers(collection) -> dict[str, Retriever]`` function
(keys ``"bm25"`` and, when the collection has vectors, ``"dense"``) plus one line in
:data:`BACKENDS`; :func:`open_retrievers` finds it by the collection's ``backend`` attribute.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from typing import Any, Sequence

from ragsift.errors import ConfigError
from ragsift.index.filters import Filter

__all__ = ["BACKENDS", "Ranking", "Retriever", "check_k", "open_retrievers"]

Ranking = list[tuple[str, float]]
"""One query's result: ``(chunk_id, score)`` pairs, best first (what fusion consumes)."""

BACKENDS: dict[str, str] = {
    "embedded": "ragsift.index.embedded:retrievers",  # bm25s + FAISS over an on-disk Collection
    "milvus": "ragsift.index.milvus:retrievers",  # Milvus BM25 + vector search (ragsift[milvus])
}
"""Backend name → ``"module:function"`` building that backend's retrievers for a collection."""


class Retriever(ABC):
    """A first-stage retriever. Subclasses set ``name`` and implement :meth:`search_many`."""

    name: str = ""

    def warm_up(self) -> None:
        """Load models / build indexes / connect before the first query (default: nothing)."""

    def search(self, query: str, k: int, filters: Filter | None = None) -> Ranking:
        """The top ``k`` chunks for ``query`` among those passing ``filters``, best first."""
        return self.search_many([query], k, filters)[0]

    @abstractmethod
    def search_many(self, queries: Sequence[str], k: int, filters: Filter | None = None) -> list[Ranking]:
        """:meth:`search` for several queries at once; one ranking per query, in order."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


def open_retrievers(collection: Any) -> dict[str, Retriever]:
    """The retrievers of ``collection``'s backend (``collection.backend``, a key of :data:`BACKENDS`)."""
    backend = collection.backend
    target = BACKENDS.get(backend)
    if target is None:
        raise ConfigError(f"backend={backend!r} is not a known retriever backend; choose one of {sorted(BACKENDS)}")
    module, _, function = target.partition(":")
    return getattr(importlib.import_module(module), function)(collection)


def check_k(k: Any) -> int:
    """``k`` as a positive int, or a ConfigError naming it."""
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ConfigError(f"k={k!r} must be an integer >= 1")
    return k
