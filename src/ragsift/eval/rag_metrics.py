"""RAG context metrics from qrels, no LLM needed: context precision@N and context recall@N.

They judge the N passages (units: documents, chunks or parents) a RAG pipeline passes to the LLM,
in rank order. A passage is relevant when its document has a qrel grade > 0.

* **context recall@N** — the fraction of the query's relevant documents that at least one of the
  top N passages comes from. With whole-document passages it equals Recall@N.
* **context precision@N** — RAGAS' context precision with qrels as the judge: the mean of
  precision@k over the ranks k ≤ N that hold a relevant passage,
  ``sum_k (precision@k · rel_k) / (relevant passages in the top N)``; 0 when none is relevant.
  It rewards relevant passages placed early (it is AP cut at N, normalized by what was found).

Queries count as in :mod:`ragsift.eval.metrics`: those with at least one relevant document; one
missing from the rankings scores 0.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from ragsift.errors import ConfigError
from ragsift.types import Qrels

__all__ = ["context_precision", "context_recall", "context_metrics", "context_recall_curve", "relevant_docs"]


def relevant_docs(qrels: Qrels) -> dict[str, set[str]]:
    """Each query's documents with grade > 0; queries without one are left out."""
    out = {qid: {d for d, g in judged.items() if g > 0} for qid, judged in qrels.items()}
    return {qid: docs for qid, docs in out.items() if docs}


def _check_n(n: int) -> int:
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ConfigError(f"n={n!r} must be a positive integer (passages handed to the LLM)")
    return n


def context_precision(relevant: set[str], doc_ids: Sequence[str], n: int) -> float:
    """Context precision@n of one query's ranked passage documents (see the module docstring)."""
    found, total = 0, 0.0
    for k, doc_id in enumerate(doc_ids[: _check_n(n)], start=1):
        if doc_id in relevant:
            found += 1
            total += found / k
    return total / found if found else 0.0


def context_recall(relevant: set[str], doc_ids: Sequence[str], n: int) -> float:
    """Context recall@n: share of ``relevant`` documents found among the top ``n`` passages."""
    if not relevant:
        raise ConfigError("context recall needs at least one relevant document for the query")
    return len(relevant & set(doc_ids[: _check_n(n)])) / len(relevant)


def context_metrics(qrels: Qrels, rankings: Mapping[str, Sequence[str]], n: int) -> dict[str, float]:
    """Mean ``context_precision@n`` and ``context_recall@n`` over the judged queries."""
    rel = relevant_docs(qrels)
    if not rel:
        raise ConfigError("qrels hold no relevant document (grade > 0); nothing to measure")
    precision = [context_precision(docs, rankings.get(q, ()), n) for q, docs in rel.items()]
    recall = [context_recall(docs, rankings.get(q, ()), n) for q, docs in rel.items()]
    return {f"context_precision@{n}": float(np.mean(precision)), f"context_recall@{n}": float(np.mean(recall))}


def context_recall_curve(qrels: Qrels, rankings: Mapping[str, Sequence[str]], max_n: int) -> list[float]:
    """Mean context recall@N for N = 1..max_n (one pass per query)."""
    rel = relevant_docs(qrels)
    if not rel:
        raise ConfigError("qrels hold no relevant document (grade > 0); nothing to measure")
    curve = np.zeros(_check_n(max_n))
    for qid, docs in rel.items():
        seen: set[str] = set()
        covered = np.zeros(max_n)
        for k, doc_id in enumerate(list(rankings.get(qid, ()))[:max_n]):
            if doc_id in docs and doc_id not in seen:
                seen.add(doc_id)
                covered[k] += 1
        curve += np.cumsum(covered) / len(docs)
    return (curve / len(rel)).tolist()
