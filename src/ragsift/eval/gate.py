"""``--rerank auto`` in the evaluation grid: the rerank gate's decisions, gated runs and the threshold curve.

The gate of a collection's query policy (``COLL/query_policy.json``, ``ragsift train-router``)
gives each query ``P(reranking improves it)`` from its features (:mod:`ragsift.query.features`),
which the grid computes from the query's component runs exactly as the
:class:`~ragsift.pipeline.search.Searcher` does (:func:`gate_signals`). A gated run takes, per
query, the reranked list when the probability reaches the gate's threshold and the first-stage
list otherwise (:func:`gated_ranking`), reusing the always-rerank run's scores: nothing is
reranked twice.

:func:`gate_curve` moves the threshold over every probability the queries received: the mean
per-query metric against the share of queries reranked, from the always-rerank and the
first-stage values of each query. Its ends are the first stage (share 0) and the always-rerank
run (share 1); the trained threshold is one point on it.
"""

from __future__ import annotations

import time
from typing import Any, Mapping, Sequence

from ragsift.errors import ConfigError

__all__ = ["GATED", "NO_GATE", "gate_signals", "gate_probabilities", "gated_ranking", "gate_curve", "curve_point"]

#: Suffix of a gated run's reranker spec and label (``"MODEL@auto"``).
GATED = "@auto"
NO_GATE = "no trained gate in the collection's query policy (ragsift train-router --reranker-model): every query reranked"


def gate_signals(collection: Any, runs: Mapping[str, Mapping[str, Sequence]], used: Mapping[str, Sequence[str]],
                 texts: Mapping[str, str]) -> dict[str, dict[str, float]]:
    """Each query's features from the component runs its first stage searched (``used[qid]``).

    ``runs``: ``{qid: {"bm25": [(chunk_id, score)], "dense": [...]}}`` (the grid's components).
    """
    from ragsift.query.features import features
    from ragsift.query.router import QueryRouter

    router = QueryRouter(collection)
    return {
        qid: features(router.analyze(texts[qid]), router.idf, {name: runs[qid][name] for name in used[qid]})
        for qid in used
    }


def gate_probabilities(gate: Any, collection: Any, runs, used, texts) -> tuple[dict[str, float], float]:
    """``P(gain)`` of each query under ``gate`` (a :class:`ragsift.query.policy.Gate`), and the mean
    decision time per query in ms (features + the model)."""
    start = time.perf_counter()
    signals = gate_signals(collection, runs, used, texts)
    probs = {qid: gate.model.probability(values) for qid, values in signals.items()}
    return probs, (time.perf_counter() - start) * 1000.0 / max(len(probs), 1)


def gated_ranking(first: Mapping[str, list], reranked: Mapping[str, list], take: Mapping[str, bool]) -> dict[str, list]:
    """Per query, the reranked list where ``take[qid]``, else the first-stage list."""
    return {qid: (reranked[qid] if take[qid] else first[qid]) for qid in first}


def curve_point(always: Mapping[str, float], never: Mapping[str, float], probability: Mapping[str, float],
                threshold: float) -> dict:
    """The mean metric and the share reranked when queries with ``probability >= threshold`` are reranked."""
    qids = _common(always, never, probability)
    take = [q for q in qids if probability[q] >= threshold]
    value = sum(always[q] if probability[q] >= threshold else never[q] for q in qids) / len(qids)
    return {"threshold": threshold, "share": len(take) / len(qids), "value": value}


def gate_curve(always: Mapping[str, float], never: Mapping[str, float], probability: Mapping[str, float],
               threshold: float | None = None, marks: Sequence[float] = (0.25, 0.5, 0.75)) -> dict:
    """The metric against the share of queries reranked as the gate's threshold moves.

    ``always`` / ``never``: each query's metric reranked / not reranked; ``probability``: its
    ``P(gain)``. ``points`` run from threshold None (above every probability: nothing reranked,
    share 0) down through each distinct probability to the lowest (share 1). ``trained`` is the
    point of ``threshold``, ``at`` the points of the thresholds in ``marks``, and ``best`` the
    highest value (at the smallest share among ties).
    """
    qids = _common(always, never, probability)
    n = len(qids)
    order = sorted(qids, key=lambda q: -probability[q])
    base = sum(never[q] for q in qids)
    points = [{"threshold": None, "share": 0.0, "value": base / n}]
    gain, i = 0.0, 0
    while i < n:
        t = probability[order[i]]
        while i < n and probability[order[i]] == t:
            gain += always[order[i]] - never[order[i]]
            i += 1
        points.append({"threshold": t, "share": i / n, "value": (base + gain) / n})
    out = {
        "queries": n,
        "never": points[0]["value"],
        "always": points[-1]["value"],
        "best": max(points, key=lambda p: p["value"]),
        "at": [curve_point(always, never, probability, t) for t in marks],
        "points": points,
    }
    if threshold is not None:
        out["trained"] = curve_point(always, never, probability, threshold)
    return out


def _common(always, never, probability) -> list[str]:
    qids = sorted(set(always) & set(never) & set(probability))
    if not qids:
        raise ConfigError("the gate curve needs queries with a metric value reranked, not reranked and a gate probability; none has all three")
    return qids
