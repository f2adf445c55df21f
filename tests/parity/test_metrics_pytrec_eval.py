"""Parity of ragsift.eval.metrics with pytrec_eval (trec_eval) on synthetic graded data with ties."""

from __future__ import annotations

import numpy as np
import pytest

from ragsift.eval.metrics import evaluate_per_query

pytrec_eval = pytest.importorskip("pytrec_eval")

KS = (1, 3, 5, 10, 20, 100)
OURS_TO_TREC = {
    "ndcg": "ndcg_cut_{k}",
    "recall": "recall_{k}",
    "precision": "P_{k}",
    "map": "map_cut_{k}",
    "hit": "success_{k}",
}
N_QUERIES = 50


def _synthetic(seed: int = 13):
    """Graded qrels and tie-heavy runs; some edge cases are placed on purpose by query index."""
    rng = np.random.default_rng(seed)
    # Ids of varying length so string order differs from numeric order ("d7" > "d10").
    pool = [f"d{i}" for i in range(120)]
    qrels: dict[str, dict[str, int]] = {}
    run: dict[str, dict[str, float]] = {}
    for q in range(N_QUERIES):
        qid = f"q{q}"
        judged = rng.choice(pool, size=int(rng.integers(3, 20)), replace=False)
        grades = rng.choice([-1, 0, 1, 2], size=judged.size, p=[0.05, 0.45, 0.3, 0.2])
        if q % 9 == 0:
            grades[:] = 0  # judgements but no relevant document
        qrels[qid] = {str(d): int(g) for d, g in zip(judged, grades)}
        if q % 11 == 5:
            continue  # query missing from the run
        if q % 13 == 6:
            run[qid] = {}  # empty run
            continue
        # Retrieve from the pool (relevant docs left out at random) with coarse scores -> many ties.
        retrieved = rng.choice(pool, size=int(rng.integers(1, 60)), replace=False)
        run[qid] = {str(d): float(rng.integers(0, 6)) / 4 for d in retrieved}
    run["not-judged"] = {"d1": 1.0}
    return qrels, run


def _trec_top_k(scores: dict[str, float], k: int) -> dict[str, float]:
    """Top k with trec_eval's order, written independently: doc id descending, then score descending."""
    by_id = sorted(scores.items(), key=lambda kv: kv[0], reverse=True)
    return dict(sorted(by_id, key=lambda kv: kv[1], reverse=True)[:k])


@pytest.fixture(scope="module")
def data():
    qrels, run = _synthetic()
    ours = evaluate_per_query(qrels, run, [f"{m}@{k}" for m in (*OURS_TO_TREC, "mrr") for k in KS])
    measures = {"ndcg_cut", "recall", "P", "map_cut", "success"}
    measures = {f"{m}.{','.join(map(str, KS))}" for m in measures}
    theirs = pytrec_eval.RelevanceEvaluator(qrels, measures).evaluate(run)
    return qrels, run, ours, theirs


def test_synthetic_data_covers_the_edge_cases(data):
    qrels, run, ours, theirs = data
    ties = any(len(set(s.values())) < len(s) for s in run.values() if s)
    unretrieved = any(d not in run.get(q, {}) for q, j in qrels.items() for d, g in j.items() if g > 0)
    assert ties and unretrieved
    assert any(all(g <= 0 for g in j.values()) for j in qrels.values())
    assert any(q not in run for q in qrels) and any(q in run and not run[q] for q in qrels)
    assert len(set(ours) & set(theirs)) >= 30


@pytest.mark.parametrize("name", list(OURS_TO_TREC))
def test_cutoff_metrics_match_pytrec_eval(data, name):
    _, _, ours, theirs = data
    compared = 0
    for qid in set(ours) & set(theirs):
        for k in KS:
            trec_name = OURS_TO_TREC[name].format(k=k)
            assert ours[qid][f"{name}@{k}"] == pytest.approx(theirs[qid][trec_name], abs=1e-6), (qid, trec_name)
            compared += 1
    assert compared > 0


@pytest.mark.parametrize("k", KS)
def test_mrr_matches_recip_rank_on_truncated_run(data, k):
    qrels, run, ours, _ = data
    truncated = {qid: _trec_top_k(scores, k) for qid, scores in run.items()}
    theirs = pytrec_eval.RelevanceEvaluator(qrels, {"recip_rank"}).evaluate(truncated)
    for qid in set(ours) & set(theirs):
        assert ours[qid][f"mrr@{k}"] == pytest.approx(theirs[qid]["recip_rank"], abs=1e-6), qid


def test_queries_pytrec_eval_skips_count_zero_for_us(data):
    # pytrec_eval drops judged queries that are absent from the run; we keep them with 0.
    qrels, run, ours, theirs = data
    skipped = [q for q in ours if q not in theirs]
    assert skipped and all(q not in run for q in skipped)
    assert all(v == 0.0 for q in skipped for v in ours[q].values())
    # Queries without a relevant judgement are ours to skip; pytrec_eval reports them as 0.
    no_relevant = [q for q, j in qrels.items() if all(g <= 0 for g in j.values())]
    assert no_relevant and not set(no_relevant) & set(ours)


def test_hit_equals_recall_positive(data):
    _, _, ours, _ = data
    for values in ours.values():
        for k in KS:
            assert values[f"hit@{k}"] == float(values[f"recall@{k}"] > 0)
