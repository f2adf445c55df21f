"""Ranking metrics over TREC dicts, with trec_eval semantics.

Metrics are named ``"<name>@<k>"``: ``ndcg@k``, ``mrr@k``, ``recall@k``, ``precision@k``,
``map@k`` and ``hit@k``. Values match trec_eval / pytrec_eval (``ndcg_cut_k``, ``recip_rank``
on the top k, ``recall_k``, ``P_k``, ``map_cut_k``, ``success_k``) to floating-point precision:

* A query's ranking sorts its run by score descending; ties are broken by doc id in
  *descending* string order (trec_eval's tie-break).
* A qrel grade ``<= 0`` is not relevant. NDCG uses the grade as a linear gain with a
  ``log2(rank + 1)`` discount; the ideal DCG ranks every judged relevant doc of the query.
* ``precision@k`` divides by ``k`` even when fewer than ``k`` docs were retrieved; ``map@k``
  divides by the number of relevant docs of the query, not by ``min(k, relevant)``.

Which queries count: every query in the qrels with at least one relevant document. A query
with relevant documents that is missing from the run, or has an empty run, scores 0 on every
metric. This is stricter than pytrec_eval, which silently skips queries absent from the run
and so inflates the mean. Queries in the run but not in the qrels, and queries whose
judgements are all ``<= 0``, are ignored.
"""

from __future__ import annotations

import heapq
from enum import Enum
from typing import Callable, Iterable, Mapping, NamedTuple

import numpy as np

from ragsift.errors import ConfigError

__all__ = [
    "MetricName",
    "Metric",
    "parse_metric",
    "parse_metrics",
    "metric_sort_key",
    "evaluate_per_query",
    "evaluate",
]


class MetricName(str, Enum):
    """The supported metric families, in report order."""

    NDCG = "ndcg"
    MRR = "mrr"
    RECALL = "recall"
    PRECISION = "precision"
    MAP = "map"
    HIT = "hit"


_ORDER = {m.value: i for i, m in enumerate(MetricName)}


class Metric(NamedTuple):
    """A parsed metric: family and cutoff. ``str(metric)`` is the canonical ``"ndcg@10"``."""

    name: MetricName
    k: int

    def __str__(self) -> str:
        return f"{self.name.value}@{self.k}"


def _valid_names() -> str:
    return ", ".join(f"{m.value}@k" for m in MetricName)


def parse_metric(spec: str) -> Metric:
    """Parse ``"ndcg@10"`` (case-insensitive) into a :class:`Metric`; raise ConfigError if invalid."""
    if not isinstance(spec, str):
        raise ConfigError(f"metric={spec!r} must be a string like 'ndcg@10'; valid: {_valid_names()}")
    name, sep, k_text = spec.strip().lower().partition("@")
    family = next((m for m in MetricName if m.value == name), None)
    if family is None or not sep:
        raise ConfigError(
            f"metric={spec!r} is not valid; use '<name>@<k>' with a positive int k, "
            f"one of {_valid_names()} (e.g. 'ndcg@10')"
        )
    if not (k_text.isascii() and k_text.isdigit()) or int(k_text) < 1:
        raise ConfigError(
            f"metric={spec!r} has cutoff k={k_text!r}; k must be a positive integer (e.g. '{name}@10')"
        )
    return Metric(family, int(k_text))


def parse_metrics(metrics: str | Iterable[str]) -> list[Metric]:
    """Parse one metric name or many, dropping duplicates and keeping the given order."""
    specs = [metrics] if isinstance(metrics, str) else list(metrics)
    if not specs:
        raise ConfigError(f"metrics is empty; pass at least one of {_valid_names()} (e.g. ['ndcg@10'])")
    return list(dict.fromkeys(parse_metric(s) for s in specs))


def metric_sort_key(spec: str) -> tuple[int, int, str]:
    """Sort key for metric names: ndcg, mrr, recall, precision, map, hit, then by k.

    Names that do not parse sort after all known ones, alphabetically.
    """
    try:
        m = parse_metric(spec)
    except ConfigError:
        return (len(_ORDER), 0, str(spec))
    return (_ORDER[m.name.value], m.k, "")


def _rank(scores: Mapping[str, float], depth: int) -> list[str]:
    """Top ``depth`` doc ids by score descending, ties by doc id descending (trec_eval)."""
    return [d for d, _ in heapq.nlargest(depth, scores.items(), key=lambda kv: (float(kv[1]), kv[0]))]


def _dcg(gains: np.ndarray, k: int) -> float:
    g = gains[:k]
    return float(np.sum(g / np.log2(np.arange(2, g.size + 2))))


def _ndcg(rels: np.ndarray, ideal: np.ndarray, k: int, n_rel: int) -> float:
    return _dcg(np.where(rels > 0, rels, 0.0), k) / _dcg(ideal, k)


def _mrr(rels: np.ndarray, ideal: np.ndarray, k: int, n_rel: int) -> float:
    hits = np.flatnonzero(rels[:k] > 0)
    return 1.0 / (hits[0] + 1) if hits.size else 0.0


def _recall(rels: np.ndarray, ideal: np.ndarray, k: int, n_rel: int) -> float:
    return int(np.count_nonzero(rels[:k] > 0)) / n_rel


def _precision(rels: np.ndarray, ideal: np.ndarray, k: int, n_rel: int) -> float:
    return int(np.count_nonzero(rels[:k] > 0)) / k


def _map(rels: np.ndarray, ideal: np.ndarray, k: int, n_rel: int) -> float:
    hits = np.flatnonzero(rels[:k] > 0)
    return float(np.sum(np.arange(1, hits.size + 1) / (hits + 1))) / n_rel


def _hit(rels: np.ndarray, ideal: np.ndarray, k: int, n_rel: int) -> float:
    return 1.0 if np.any(rels[:k] > 0) else 0.0


_FUNCS: dict[MetricName, Callable[[np.ndarray, np.ndarray, int, int], float]] = {
    MetricName.NDCG: _ndcg,
    MetricName.MRR: _mrr,
    MetricName.RECALL: _recall,
    MetricName.PRECISION: _precision,
    MetricName.MAP: _map,
    MetricName.HIT: _hit,
}


def _query_scores(
    judged: Mapping[str, int], scores: Mapping[str, float], parsed: list[Metric], depth: int
) -> dict[str, float] | None:
    """Metric values of one query, or None when the query has no relevant document."""
    ideal = np.array(sorted((float(r) for r in judged.values() if r > 0), reverse=True))
    if ideal.size == 0:
        return None
    ranked = _rank(scores, depth)
    rels = np.array([float(judged.get(d, 0)) for d in ranked], dtype=float)
    return {str(m): float(_FUNCS[m.name](rels, ideal, m.k, ideal.size)) for m in parsed}


def evaluate_per_query(
    qrels: Mapping[str, Mapping[str, int]],
    run: Mapping[str, Mapping[str, float]],
    metrics: str | Iterable[str],
) -> dict[str, dict[str, float]]:
    """Per-query metric values: ``{query_id: {"ndcg@10": value, ...}}``.

    Keys are the canonical lower-case metric names. Only queries in ``qrels`` with at least one
    relevant document appear; those missing from ``run`` score 0 (see the module docstring).
    """
    parsed = parse_metrics(metrics)
    depth = max(m.k for m in parsed)
    out: dict[str, dict[str, float]] = {}
    for qid, judged in qrels.items():
        values = _query_scores(judged, run.get(qid) or {}, parsed, depth)
        if values is not None:
            out[qid] = values
    return out


def evaluate(
    qrels: Mapping[str, Mapping[str, int]],
    run: Mapping[str, Mapping[str, float]],
    metrics: str | Iterable[str],
) -> dict[str, float]:
    """Mean of each metric over the queries that :func:`evaluate_per_query` returns.

    Raises ConfigError when no query in ``qrels`` has a relevant document (nothing to average).
    """
    parsed = parse_metrics(metrics)
    per_query = evaluate_per_query(qrels, run, [str(m) for m in parsed])
    if not per_query:
        raise ConfigError(
            f"qrels has {len(qrels)} queries but none with a relevance grade > 0; "
            "pass qrels with at least one relevant document per evaluated query"
        )
    return {str(m): float(np.mean([v[str(m)] for v in per_query.values()])) for m in parsed}
