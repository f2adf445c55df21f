"""The learned query policy applied by the Searcher: routing, the rerank gate, validation; saved and loaded."""

from __future__ import annotations

import json
import math

import pytest

from ragsift.errors import ConfigError
from ragsift.index.collection import Collection, CollectionConfig
from ragsift.ingest import ChunkingConfig
from ragsift.pipeline.rerank import RerankOptions
from ragsift.pipeline.search import Searcher
from ragsift.query.features import ALL_FEATURES, ROUTER_FEATURES, features, run_features
from ragsift.query.policy import POLICY_FILE, Gate, LinearModel, QueryPolicy, Router, Validator, load_policy
from ragsift.query.router import QueryRouter
from ragsift.rerank.identity import FirstStageReranker
from ragsift.types import Document

DOCS = [
    Document("a", "Vitamin D deficiency is associated with fractures in older adults.", "Vitamin D"),
    Document("b", "Low vitamin D levels and hip fracture risk: a cohort study.", "Fracture risk"),
    Document("c", "Iron deficiency anaemia in pregnancy.", "Iron"),
    Document("d", "Vitamins and minerals: dietary intake of deficient populations.", "Diet"),
    Document("e", "Calcium supplements and bone density in postmenopausal women.", "Calcium"),
]


def constant(p: float, names=ROUTER_FEATURES) -> LinearModel:
    """A model that answers ``p`` whatever the features (weights zero)."""
    p = min(max(p, 1e-6), 1 - 1e-6)
    return LinearModel(list(names), [0.0] * len(names), [1.0] * len(names), [0.0] * len(names), math.log(p / (1 - p)))


@pytest.fixture(scope="module")
def coll(tmp_path_factory, tiny_st_model):
    path = tmp_path_factory.mktemp("policy") / "c"
    Collection.create(path, CollectionConfig(embed_model=str(tiny_st_model), chunking=ChunkingConfig(mode="none"))).add(DOCS)
    return Collection.open(path)


def test_a_linear_model_is_a_standardized_logistic():
    m = LinearModel(["x", "y"], [1.0, 0.0], [2.0, 1.0], [2.0, -1.0], 0.5)
    z = 0.5 + 2.0 * (3.0 - 1.0) / 2.0 - 1.0 * 1.0
    assert m.probability({"x": 3.0, "y": 1.0}) == pytest.approx(1 / (1 + math.exp(-z)))
    assert m.probability({}) == pytest.approx(1 / (1 + math.exp(-(0.5 - 1.0))))  # a missing feature reads 0


def test_run_features_measure_confidence_and_agreement():
    bm25 = [("a", 10.0), ("b", 5.0)] + [(f"x{i}", 1.0) for i in range(10)]
    dense = [("b", 0.9), ("a", 0.7)] + [(f"y{i}", 0.1) for i in range(10)]
    f = run_features({"bm25": bm25, "dense": dense}, idf_sum=20.0)
    assert f["bm25_top"] == 10.0 and f["bm25_norm"] == 0.5 and f["bm25_gap"] == 0.5 and f["bm25_gap10"] == 0.9
    assert f["has_dense"] == 1.0 and f["dense_gap"] == pytest.approx(0.2)
    assert f["agree_top1"] == 0.0 and f["overlap10"] == 0.2 and f["cross_rank"] == 0.5
    assert run_features({"bm25": bm25})["has_dense"] == 0.0


def test_query_features_see_oov_terms(coll):
    router = QueryRouter(coll)
    values = features(router.analyze("zzqx vvbnm"), router.idf, {"bm25": []})
    assert values["oov_frac"] == 1.0 and values["n_tokens"] == 2.0 and set(values) == set(ALL_FEATURES)
    assert features(router.analyze("vitamin deficiency"), router.idf, {})["oov_frac"] == 0.0


def test_policy_round_trips_through_its_file(tmp_path):
    policy = QueryPolicy(
        Router({"bm25": constant(0.7), "dense": constant(0.1)}, {"bm25": 0.5, "dense": 2.0}, {"note": 1}),
        Gate(constant(0.3, ALL_FEATURES), 0.4), Validator(constant(0.2, ALL_FEATURES), 0.6, 0.7), {"dataset": "x"},
    )
    path = policy.save(tmp_path)
    assert path.name == POLICY_FILE
    back = load_policy(tmp_path)
    assert back.to_dict() == policy.to_dict()
    assert load_policy(tmp_path / "nothing") is None
    (tmp_path / "bad.json").write_text(json.dumps({"format": "other"}))
    with pytest.raises(ConfigError, match="train-router"):
        load_policy(tmp_path / "bad.json")
    (tmp_path / "broken.json").write_text(json.dumps({"format": "ragsift-query-policy", "router": {"models": {}}}))
    with pytest.raises(ConfigError, match="damaged"):
        load_policy(tmp_path / "broken.json")


def test_the_learned_router_sends_a_query_to_bm25_without_embedding_it(coll):
    to_bm25 = QueryPolicy(Router({"bm25": constant(0.9), "dense": constant(0.9)}, {"bm25": 0.5, "dense": 0.5}))
    result = Searcher(coll, policy=to_bm25).search("vitamin D deficiency", mode="auto", k=3)
    assert result.route["route"] == "bm25" and "learned router" in result.route["reasons"][-1]
    assert "dense" not in result.timings_ms and "bm25" in result.timings_ms
    assert all(set(h.source_scores) == {"bm25"} for h in result.hits)
    to_hybrid = QueryPolicy(Router({"bm25": constant(0.1), "dense": constant(0.1)}, {"bm25": 0.5, "dense": 0.5}))
    result = Searcher(coll, policy=to_hybrid).search("vitamin D deficiency", mode="auto", k=3)
    assert result.route["route"] == "hybrid" and {"bm25", "dense"} <= set(result.timings_ms)
    assert result.hits == Searcher(coll, policy=None).search("vitamin D deficiency", mode="hybrid", k=3).hits


def test_the_collection_policy_is_found_beside_the_manifest(coll, tmp_path):
    QueryPolicy(Router({"bm25": constant(0.9)}, {"bm25": 0.5, "dense": 2.0})).save(coll.path)
    try:
        assert Searcher(coll).search("vitamin", mode="auto").route["route"] == "bm25"
    finally:
        (coll.path / POLICY_FILE).unlink()
    assert Searcher(coll).policy is None


def test_the_rerank_gate_skips_queries_it_expects_no_gain_from(coll):
    rerank = RerankOptions(candidates=4, top_n=2, auto=True)
    skip = QueryPolicy(gate=Gate(constant(0.2, ALL_FEATURES), 0.5))
    result = Searcher(coll, FirstStageReranker(), policy=skip).search("vitamin deficiency", rerank=rerank)
    first = Searcher(coll, policy=None).search("vitamin deficiency", k=2)
    assert result.rerank_gate == {"rerank": False, "probability": 0.2, "threshold": 0.5}
    assert "rerank" not in result.timings_ms and [h.id for h in result.hits] == [h.id for h in first.hits]
    take = QueryPolicy(gate=Gate(constant(0.8, ALL_FEATURES), 0.5))
    result = Searcher(coll, FirstStageReranker(), policy=take).search("vitamin deficiency", rerank=rerank)
    assert result.rerank_gate["rerank"] is True and "rerank" in result.timings_ms
    untrained = Searcher(coll, FirstStageReranker(), policy=None).search("vitamin deficiency", rerank=rerank)
    assert untrained.rerank_gate["rerank"] is True and "no trained gate" in untrained.rerank_gate["reason"]


def test_a_misspelled_query_fails_with_the_right_corrections_suggested(coll):
    result = Searcher(coll, policy=None).search("vitamn D defficiency fractres", validate=True)
    v = result.validation
    # no analyzed term of the query ("d" is too short to be one) occurs in the collection
    assert v["verdict"] == "fail" and "none of the query's terms" in v["reasons"][0]
    assert [(s["term"], s["suggestion"]) for s in v["suggestions"]["spelling"]] == [
        ("vitamn", "vitamin"), ("defficiency", "deficiency"), ("fractres", "fractures")]
    assert v["suggestions"]["did_you_mean"] == "vitamin D deficiency fractures"
    assert "validate" in result.timings_ms


def test_a_trained_validator_fails_queries_it_finds_unanswered(coll):
    searcher = Searcher(coll, policy=None)
    assert searcher.search("iron deficiency", validate=True).validation["verdict"] == "pass"
    sure = QueryPolicy(validator=Validator(constant(0.9, ALL_FEATURES), 0.6, 0.7))
    v = Searcher(coll, policy=sure).search("iron deficiency", validate=True).validation
    assert v["verdict"] == "fail" and v["probability"] == pytest.approx(0.9) and v["threshold"] == 0.6
    assert v["suggestions"]["spelling"] == [] and v["suggestions"]["did_you_mean"] is None
    related = v["suggestions"]["related"]
    assert related and all(" " not in t for t in related) and "iron" not in related and "anaemia" in related
    unsure = QueryPolicy(validator=Validator(constant(0.1, ALL_FEATURES), 0.6, 0.7))
    v = Searcher(coll, policy=unsure).search("iron deficiency", validate=True).validation
    assert v["verdict"] == "pass" and "suggestions" not in v
