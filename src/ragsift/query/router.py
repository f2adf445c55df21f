"""Routing: pick the first-stage mode for a query (``--mode auto``).

A :class:`QueryRouter` analyzes each query against one collection (its analyzer, protected terms
and, for embedded collections, BM25 IDF). Without a learned router it sends the query where
seed 001 says: fact → ``bm25``, concept → ``dense``, complex → ``hybrid``. With the router of a
trained policy (``ragsift train-router``; :class:`ragsift.query.policy.Router`) it decides from the
query's features and its BM25 run (:meth:`decide`). A collection without vectors takes every query
to ``bm25`` and says so in the reasons.
"""

from __future__ import annotations

from typing import Any

from ragsift.query.analysis import QueryAnalysis, analyze_query

__all__ = ["QueryRouter"]


class QueryRouter:
    """Analyzes queries for one collection and routes them (rules: :mod:`ragsift.query.analysis`)."""

    def __init__(self, collection: Any, router: Any = None):
        self.collection = collection
        self.router = router  # a trained ragsift.query.policy.Router, or None for the rules
        self._analyzer = None

    @property
    def learned(self) -> bool:
        return self.router is not None and bool(self.collection.config.dense)

    def _analyzer_fn(self):
        if self._analyzer is None:  # embedded: the BM25 index's analyzer; Milvus: the collection's own
            sparse = getattr(self.collection, "sparse", None)
            self._analyzer = sparse.analyzer if sparse is not None else self.collection.analyzer
        return self._analyzer

    @property
    def idf(self):
        """The collection's BM25 IDF function, or None (Milvus collections keep theirs on the server)."""
        sparse = getattr(self.collection, "sparse", None)
        return sparse.idf if sparse is not None and len(sparse) else None

    def analyze(self, query: str) -> QueryAnalysis:
        """The analysis of ``query``, its ``route`` the rules' choice among the modes this collection can run."""
        result = analyze_query(
            query,
            self._analyzer_fn(),
            protected_terms=self.collection.config.protected_terms,
            idf=self.idf,
        )
        if result.route != "bm25" and not self.collection.config.dense:
            result.reasons.append(f"{result.route} needs dense vectors; this collection has none: bm25")
            result.route = "bm25"
        return result


    def decide(self, analysis: QueryAnalysis, runs) -> QueryAnalysis:
        """Replace the rules' route by the learned router's, from the query and its BM25 run (``runs["bm25"]``)."""
        from ragsift.query.features import features

        values = features(analysis, self.idf, {"bm25": runs.get("bm25") or []})
        route, probs = self.router.route(values, bool(self.collection.config.dense))
        shown = ", ".join(f"P({k} >= hybrid) = {v:.2f} (threshold {self.router.thresholds.get(k, 2.0):.2f})" for k, v in probs.items())
        analysis.reasons.append(f"learned router: {shown}: {route}")
        analysis.route = route
        return analysis
