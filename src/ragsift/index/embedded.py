"""The embedded backend: BM25 (bm25s) and dense (FAISS) retrievers over an on-disk Collection.

Both retrievers turn a :class:`~ragsift.index.filters.Filter` into a boolean mask over the
collection's chunk rows (:class:`~ragsift.index.masks.RowMasks`, shared by the two and rebuilt
when the collection changes) and hand it to their index, which applies it before the top-k cut:
BM25 zeroes the other rows' scores, FAISS searches with an ID selector or scans the allowed rows
exactly (see :mod:`ragsift.index.vectors`). Row positions become chunk ids here.
"""

from __future__ import annotations

import threading
from typing import Sequence

import numpy as np

from ragsift.index.collection import Collection
from ragsift.index.filters import Filter
from ragsift.index.masks import RowMasks
from ragsift.index.retriever import Ranking, Retriever, check_k

__all__ = ["BM25Retriever", "DenseRetriever", "retrievers"]


def retrievers(collection: Collection) -> dict[str, Retriever]:
    """``{"bm25": ..., "dense": ...}`` for ``collection`` (no ``"dense"`` when built without vectors)."""
    rows = _CollectionRows(collection)
    out: dict[str, Retriever] = {"bm25": BM25Retriever(collection, rows)}
    if collection.config.dense:
        out["dense"] = DenseRetriever(collection, rows)
    return out


class _CollectionRows:
    """The row masks of a collection's current chunks; a new generation gets new masks."""

    def __init__(self, collection: Collection):
        self.collection = collection
        self._stamp: tuple | None = None
        self._masks: RowMasks | None = None
        self._lock = threading.Lock()

    def mask(self, filters: Filter | None) -> np.ndarray | None:
        if filters is None:
            return None
        chunks = self.collection.chunks
        stamp = (self.collection.generation, id(chunks), len(chunks))
        with self._lock:
            if self._stamp != stamp:
                self._masks, self._stamp = RowMasks(chunks.metadata), stamp
            masks = self._masks
        return masks.mask(filters)


def _ranking(chunks, positions: np.ndarray, scores: np.ndarray) -> Ranking:
    ids = chunks.ids
    return [(ids[p], float(s)) for p, s in zip(positions, scores)]


class BM25Retriever(Retriever):
    """BM25 over the collection's :class:`~ragsift.index.sparse.SparseIndex`."""

    name = "bm25"

    def __init__(self, collection: Collection, rows: _CollectionRows | None = None):
        self.collection = collection
        self._rows = rows or _CollectionRows(collection)

    def warm_up(self) -> None:
        """Compute the BM25 weights when no score cache was loaded."""
        self.collection.sparse.warm_up()

    def search_many(self, queries: Sequence[str], k: int, filters: Filter | None = None) -> list[Ranking]:
        k = check_k(k)
        allowed = self._rows.mask(filters)
        chunks = self.collection.chunks
        sparse = self.collection.sparse
        # One query at a time, like the service sees them (bm25s scores a batch row by row anyway).
        return [_ranking(chunks, *sparse.search(q, k, allowed=allowed)) for q in queries]


    def search_expanded(self, queries: Sequence[str], k: int, filters: Filter | None, expansion) -> list[Ranking]:
        """BM25 with each query expanded (:class:`ragsift.query.expansion.QueryExpansion`): synonyms
        first, then RM3 feedback from a first pass of the (synonym-expanded) query."""
        from ragsift.query.expansion import rm3_weights

        k = check_k(k)
        allowed = self._rows.mask(filters)
        chunks = self.collection.chunks
        sparse = self.collection.sparse
        analyzer = sparse.analyzer
        out = []
        for query in queries:
            tokens = analyzer(query)
            if expansion.synonyms is not None:
                weights = expansion.synonyms.weights(tokens, analyzer)
            else:
                weights = {}
                for t in tokens:
                    weights[t] = weights.get(t, 0.0) + 1.0
            if expansion.rm3 is not None:
                positions, scores = sparse.search_weighted(weights, expansion.rm3.fb_docs, allowed=allowed)
                feedback = [(analyzer(self.collection.index_text(chunks[int(p)])), float(s)) for p, s in zip(positions, scores)]
                weights = rm3_weights(weights, feedback, expansion.rm3)
            out.append(_ranking(chunks, *sparse.search_weighted(weights, k, allowed=allowed)))
        return out


class DenseRetriever(Retriever):
    """Dense vectors: the collection's embedder, then its FAISS :class:`~ragsift.index.vectors.VectorIndex`."""

    name = "dense"

    def __init__(self, collection: Collection, rows: _CollectionRows | None = None):
        self.collection = collection
        self._rows = rows or _CollectionRows(collection)

    def warm_up(self) -> None:
        """Load the embedding model and build the vector index."""
        if self.collection.chunks:
            self.collection.embedder.encode_queries(["warm-up"])
            self.collection.vectors.search(np.zeros(self.collection.dense_dim, np.float32), 1)

    def search_many(self, queries: Sequence[str], k: int, filters: Filter | None = None) -> list[Ranking]:
        k = check_k(k)
        chunks = self.collection.chunks
        if not chunks:
            return [[] for _ in queries]
        allowed = self._rows.mask(filters)
        if allowed is not None and not allowed.any():
            return [[] for _ in queries]
        vectors = self.collection.vectors
        embedded = self.collection.embedder.encode_queries(list(queries))
        # Row by row: FAISS switches to BLAS for large batches, whose last-bit score differences
        # could reorder ties; one query at a time keeps every result identical to a single search.
        return [_ranking(chunks, *vectors.search(embedded[i], k, allowed=allowed)) for i in range(len(queries))]
