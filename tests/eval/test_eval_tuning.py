"""Fusion tuning picks the known best RRF k and convex-combination weight on constructed lists."""

from __future__ import annotations

import pytest

from ragsift.errors import ConfigError
from ragsift.eval.first_stage import Components
from ragsift.eval.tuning import fusion_overrides, pick_best, tune_fusion, tune_interpolation
from ragsift.index.collection import Collection, CollectionConfig
from ragsift.ingest import ChunkingConfig
from ragsift.types import Document, Hit


def _collection(tmp_path, ids):
    coll = Collection.create(tmp_path / "c", CollectionConfig(dense=False, chunking=ChunkingConfig(mode="none")))
    coll.add([Document(i, f"text of {i}") for i in ids])
    return coll


def _components(runs: dict) -> Components:
    """``runs``: qid → {"bm25": [(doc, score)], "dense": [...]} with document ids (chunk ids are ``doc#0``)."""
    lists = {q: {name: [(f"{d}#0", s) for d, s in run] for name, run in parts.items()} for q, parts in runs.items()}
    return Components(lists, {q: {"bm25": 0.0, "dense": 0.0} for q in runs}, depth=50)


def test_weighted_fusion_tuning_finds_the_only_weight_that_ranks_both_queries_right(tmp_path):
    # q1: relevant r1 wins iff w > 1/1.8 = 0.556; q2: relevant r2 wins iff w < 1/1.5 = 0.667. Only w = 0.6 does both.
    runs = {
        "q1": {"bm25": [("r1", 1.0), ("x1", 0.2), ("y1", 0.0)], "dense": [("x1", 1.0), ("y1", 0.5), ("r1", 0.0)]},
        "q2": {"bm25": [("x2", 1.0), ("r2", 0.5), ("y2", 0.0)], "dense": [("r2", 1.0), ("y2", 0.5), ("x2", 0.0)]},
    }
    coll = _collection(tmp_path, ["r1", "x1", "y1", "r2", "x2", "y2"])
    qrels = {"q1": {"r1": 1}, "q2": {"r2": 1}}
    tuning = tune_fusion(coll, _components(runs), qrels, "weighted", k=10, split="train")
    assert tuning.best == 0.6
    assert tuning.scores[0.6] == pytest.approx(1.0)
    assert all(score < 1.0 for w, score in tuning.scores.items() if w != 0.6)
    assert tuning.to_dict()["param"] == "bm25_weight" and tuning.queries == 2
    assert fusion_overrides("weighted", 0.6) == {"fusion": "weighted", "weights": {"bm25": 0.6, "dense": 0.4}}


def test_rrf_k_tuning_finds_the_only_k_that_ranks_both_queries_right(tmp_path):
    # qa: relevant ra is 4th in both lists, a1/a4 first in one each: ra wins iff 2/(k+4) > 1/(k+1), i.e. k > 2.
    # qb: relevant rb is 1st in BM25 only (its dense twin bx0 ties it and loses on id), d is 9th in both:
    #     rb wins iff 1/(k+1) > 2/(k+9), i.e. k < 7. Of the grid only k = 5 does both.
    runs = {
        "qa": {"bm25": [("a1", 4), ("a2", 3), ("a3", 2), ("ra", 1)], "dense": [("a4", 4), ("a5", 3), ("a6", 2), ("ra", 1)]},
        "qb": {
            "bm25": [("brel", 9)] + [(f"b{i}", 8 - i) for i in range(7)] + [("d", 0.5)],
            "dense": [(f"bx{i}", 9 - i) for i in range(8)] + [("d", 0.5)],
        },
    }
    ids = {d for parts in runs.values() for run in parts.values() for d, _ in run}
    coll = _collection(tmp_path, sorted(ids))
    tuning = tune_fusion(coll, _components(runs), {"qa": {"ra": 1}, "qb": {"brel": 1}}, "rrf", k=20, split="train")
    assert tuning.best == 5.0
    assert tuning.scores[5.0] == pytest.approx(1.0)
    assert all(score < 1.0 for k, score in tuning.scores.items() if k != 5.0)


def test_pick_best_breaks_ties_towards_the_default():
    assert pick_best({1.0: 0.5, 40.0: 0.7, 100.0: 0.7}, 60.0) == 40.0
    assert pick_best({0.4: 0.9, 0.6: 0.9}, 0.5) == 0.4  # equally close: the smaller value
    with pytest.raises(ConfigError, match="empty"):
        pick_best({}, 1.0)
    with pytest.raises(ConfigError, match="cannot be tuned"):
        fusion_overrides("combsum", 1.0)


def test_interpolation_tuning_picks_the_weight_that_helps():
    # The reranker is right on q1, the first stage on q2; only a blend (w <= 0.5) keeps both right.
    def rerank(w: float):
        return {"q1": [Hit("a", "a", 1.0), Hit("b", "b", 0.0)], "q2": [Hit("c", "c", 1.0), Hit("d", "d", 0.0)] if w <= 0.5 else [Hit("d", "d", 1.0), Hit("c", "c", 0.0)]}

    best, scores = tune_interpolation(rerank, {"q1": {"a": 1}, "q2": {"c": 1}})
    assert best == 0.5 and scores[0.5] == pytest.approx(1.0) and scores[0.6] < 1.0
