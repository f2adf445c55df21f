"""The query side: analysis of the query text (features, kind, route) before retrieval."""

from ragsift.query.analysis import ROUTES, QueryAnalysis, QueryKind, analyze_query

__all__ = ["ROUTES", "QueryAnalysis", "QueryKind", "analyze_query"]
