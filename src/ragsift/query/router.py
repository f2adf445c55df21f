"""Routing: pick the first-stage mode for a query from its analysis (``--mode auto``).

A :class:`QueryRouter` analyzes each query against one collection (its analyzer, protected terms
and, for embedded collections, BM25 IDF) and sends it where seed 001 says: fact → ``bm25``,
concept → ``dense``, complex → ``hybrid``. A collection without vectors takes every query to
``bm25`` and says so in the reasons.
"""

from __future__ import annotations

from typing import Any

from ragsift.query.analysis import QueryAnalysis, analyze_query

__all__ = ["QueryRouter"]


class QueryRouter:
    """Analyzes queries for one collection and routes them (rules: :mod:`ragsift.query.analysis`)."""

    def __init__(self, collection: Any):
        self.collection = collection
        self._analyzer = None

    def _analyzer_fn(self):
        if self._analyzer is None:  # embedded: the BM25 index's analyzer; Milvus: the collection's own
            sparse = getattr(self.collection, "sparse", None)
            self._analyzer = sparse.analyzer if sparse is not None else self.collection.analyzer
        return self._analyzer

    def route(self, query: str) -> QueryAnalysis:
        """The analysis of ``query``, its ``route`` a mode this collection can run."""
        sparse = getattr(self.collection, "sparse", None)
        result = analyze_query(
            query,
            self._analyzer_fn(),
            protected_terms=self.collection.config.protected_terms,
            idf=sparse.idf if sparse is not None and len(sparse) else None,
        )
        if result.route != "bm25" and not self.collection.config.dense:
            result.reasons.append(f"{result.route} needs dense vectors; this collection has none: bm25")
            result.route = "bm25"
        return result
