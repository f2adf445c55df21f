"""The numbers the learned query policy reads: query features and first-stage statistics.

:func:`query_features` describes the text (from :func:`ragsift.query.analysis.analyze_query` and
the collection's BM25 IDF); :func:`run_features` describes what the retrievers found: how sure
BM25 and the dense index are (top score, the gap to the next ones) and whether they agree.
Missing runs give zeros with an indicator (``has_dense = 0``), so one model reads any route.

Features (all floats):

=================  ======================================================================
``n_tokens``       analyzed query terms
``n_domain``       domain terms (quoted, codes, protected, rare, multi-word)
``n_rare``         rare terms (IDF >= ``RARE_IDF``)
``has_code`` / ``has_number`` / ``has_quoted``   1 when present
``oov_frac``       share of the query's terms absent from the collection
``max_idf`` / ``mean_idf``   over the terms the collection holds
``kind_fact`` / ``kind_complex``   the rule kind (concept is neither)
``bm25_top``       BM25 score of the first hit
``bm25_norm``      that score over the sum of the query terms' IDF (how much of the query matched)
``bm25_gap`` / ``bm25_gap10``   ``(s1 - s2) / s1`` and ``(s1 - s10) / s1``
``has_dense``      1 when a dense run was made
``dense_top``      cosine of the first dense hit
``dense_gap`` / ``dense_gap10``   ``s1 - s2`` and ``s1 - s10``
``agree_top1``     1 when BM25 and dense rank the same chunk first
``overlap10``      share of the top 10 the two runs have in common
``cross_rank``     ``1 / (1 + r)`` where r is the dense rank of BM25's first hit (0 when absent)
=================  ======================================================================
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from ragsift.query.analysis import QueryAnalysis, QueryKind

__all__ = ["QUERY_FEATURES", "ROUTER_FEATURES", "ALL_FEATURES", "query_features", "run_features", "features"]

QUERY_FEATURES = (
    "n_tokens", "n_domain", "n_rare", "has_code", "has_number", "has_quoted", "oov_frac", "max_idf", "mean_idf",
    "kind_fact", "kind_complex",
)
BM25_FEATURES = ("bm25_top", "bm25_norm", "bm25_gap", "bm25_gap10")
DENSE_FEATURES = ("has_dense", "dense_top", "dense_gap", "dense_gap10", "agree_top1", "overlap10", "cross_rank")
#: What the router reads: it decides before the dense retriever runs (the dense route costs a query embedding).
ROUTER_FEATURES = QUERY_FEATURES + BM25_FEATURES
#: What the rerank gate and the validator read: everything the first stage produced.
ALL_FEATURES = ROUTER_FEATURES + DENSE_FEATURES

Ranking = Sequence[tuple[str, float]]


def query_features(analysis: QueryAnalysis, idf: Callable[[str], float | None] | None) -> dict[str, float]:
    tokens = analysis.tokens
    idfs = [idf(t) for t in tokens] if idf is not None else []
    known = [v for v in idfs if v is not None]
    return {
        "n_tokens": float(len(tokens)),
        "n_domain": float(len(analysis.domain_terms)),
        "n_rare": float(len(analysis.rare)),
        "has_code": float(bool(analysis.codes)),
        "has_number": float(bool(analysis.numbers)),
        "has_quoted": float(bool(analysis.quoted)),
        "oov_frac": (1.0 - len(known) / len(tokens)) if tokens and idf is not None else 0.0,
        "max_idf": max(known, default=0.0),
        "mean_idf": sum(known) / len(known) if known else 0.0,
        "kind_fact": float(analysis.kind is QueryKind.FACT),
        "kind_complex": float(analysis.kind is QueryKind.COMPLEX),
    }


def _gap(scores: Sequence[float], at: int, relative: bool) -> float:
    if not scores:
        return 0.0
    other = scores[at] if len(scores) > at else 0.0
    diff = scores[0] - other
    if relative:
        return diff / scores[0] if scores[0] > 0 else 0.0
    return diff


def run_features(runs: Mapping[str, Ranking], idf_sum: float = 0.0) -> dict[str, float]:
    """First-stage statistics from the raw ``runs`` (``{"bm25": [(id, score)], "dense": [...]}``)."""
    out = dict.fromkeys(BM25_FEATURES + DENSE_FEATURES, 0.0)
    bm25 = runs.get("bm25") or []
    if bm25:
        s = [float(x) for _, x in bm25[:10]]
        out["bm25_top"] = s[0]
        out["bm25_norm"] = s[0] / idf_sum if idf_sum > 0 else 0.0
        out["bm25_gap"] = _gap(s, 1, True)
        out["bm25_gap10"] = _gap(s, 9, True)
    dense = runs.get("dense")
    if dense is not None:
        out["has_dense"] = 1.0
        s = [float(x) for _, x in dense[:10]]
        if s:
            out["dense_top"] = s[0]
            out["dense_gap"] = _gap(s, 1, False)
            out["dense_gap10"] = _gap(s, 9, False)
        if bm25 and dense:
            out["agree_top1"] = float(bm25[0][0] == dense[0][0])
            top_b = {i for i, _ in bm25[:10]}
            top_d = {i for i, _ in dense[:10]}
            out["overlap10"] = len(top_b & top_d) / 10.0
            ranks = {cid: r for r, (cid, _) in enumerate(dense)}
            r = ranks.get(bm25[0][0])
            out["cross_rank"] = 1.0 / (1.0 + r) if r is not None else 0.0
    return out


def features(
    analysis: QueryAnalysis, idf: Callable[[str], float | None] | None, runs: Mapping[str, Ranking]
) -> dict[str, float]:
    """Query features and run statistics of one query, keyed by the names above."""
    q = query_features(analysis, idf)
    idf_sum = sum(v for v in (idf(t) for t in analysis.tokens) if v is not None) if idf is not None else 0.0
    return {**q, **run_features(runs, idf_sum)}
