"""``ragsift train-router`` end to end on a small real BEIR folder and collection (tiny real models)."""

from __future__ import annotations

import pytest
from _beir import write_beir

from ragsift.cli import main
from ragsift.index.collection import Collection, CollectionConfig
from ragsift.ingest import ChunkingConfig, load_beir_corpus
from ragsift.pipeline.search import Searcher
from ragsift.query.policy import POLICY_FILE, load_policy
from ragsift.query.training import fit_logistic

WORDS = ["volcano", "glacier", "insulin", "quasar", "mitochondria", "tsunami", "enzyme", "pulsar", "neuron", "coral",
         "comet", "lichen", "protein", "magma", "plankton", "aurora", "ribosome", "geyser", "nebula", "tundra",
         "antibody", "monsoon", "fossil", "isotope", "crystal", "meteor", "spore", "delta", "reef", "canyon"]


@pytest.fixture(scope="module")
def beir(tmp_path_factory):
    root = tmp_path_factory.mktemp("beir")
    rows, queries, train = [], [], []
    for i, w in enumerate(WORDS):
        other = WORDS[(i + 7) % len(WORDS)]
        rows.append({"id": f"d{i}", "title": f"The {w}", "text": f"A study of the {w} and its {other} neighbour."})
        rows.append({"id": f"n{i}", "title": "Notes", "text": f"Methods mention the {other} once."})
        # half the queries name the topic (BM25 finds them), half only describe it
        text = f"{w} study" if i % 2 == 0 else f"what do we know about natural things like this {i}"
        queries.append({"id": f"q{i}", "text": text})
        train.append((f"q{i}", f"d{i}", 1))
    return write_beir(root, rows, queries, {"train": train})


@pytest.fixture(scope="module")
def coll(tmp_path_factory, beir, tiny_st_model):
    path = tmp_path_factory.mktemp("coll") / "c"
    Collection.create(path, CollectionConfig(embed_model=str(tiny_st_model), chunking=ChunkingConfig(mode="none"))).add(
        load_beir_corpus(beir))
    return path


def test_train_router_writes_a_policy_the_searcher_uses(beir, coll, tiny_cross_encoder, capsys):
    code = main(["train-router", "--data", str(beir), "--split", "train", "--collection", str(coll),
                 "--reranker-model", str(tiny_cross_encoder), "--gate-queries", "all", "-q"])
    assert code == 0
    out = capsys.readouterr().out
    assert "router:" in out and "validator:" in out and "rerank gate:" in out and POLICY_FILE in out
    policy = load_policy(coll)
    assert policy.trained_on["split"] == "train" and policy.trained_on["queries"] == len(WORDS)
    r = policy.router.report
    assert r["queries"] == len(WORDS) and set(r["shares (out-of-fold)"]) == {"bm25", "dense", "hybrid"}
    assert abs(sum(r["shares (out-of-fold)"].values()) - 1.0) < 1e-6
    # the thresholds were chosen so the out-of-fold loss against hybrid stays within the budget
    assert r["train_ndcg@10"]["hybrid"] - r["train_ndcg@10"]["routed (out-of-fold)"] <= r["max_loss"] + 1e-9
    gate = policy.gate
    assert gate.report["queries"] == len(WORDS)
    # the tiny reranker may or may not help these queries; without a gain the gate keeps the first stage
    assert (gate.threshold > 1.0) if gate.report["total_gain"] <= 0 else (0.0 <= gate.threshold <= 1.0)
    assert policy.validator.target_precision == 0.6
    result = Searcher(Collection.open(coll)).search("volcano study", mode="auto")
    assert result.route["route"] in ("bm25", "dense", "hybrid")
    if policy.router.thresholds["bm25"] <= 1.0:
        assert "learned router" in result.route["reasons"][-1]


def test_train_router_refuses_bad_options_and_small_splits(beir, coll, tmp_path, capsys):
    assert main(["train-router", "--data", str(beir), "--collection", str(coll), "--max-loss", "2", "-q"]) == 2
    assert "--max-loss 2.0 must be between 0 and 1" in capsys.readouterr().err
    small = tmp_path / "small"
    small.mkdir()
    for name in ("corpus.jsonl", "queries.jsonl"):
        (small / name).write_text((beir / name).read_text())
    (small / "qrels").mkdir()
    (small / "qrels" / "train.tsv").write_text("query-id\tcorpus-id\tscore\nq0\td0\t1\n")
    assert main(["train-router", "--data", str(small), "--collection", str(coll), "--out", str(tmp_path / "p.json"), "-q"]) == 2
    assert "at least 10 judged queries" in capsys.readouterr().err and not (tmp_path / "p.json").exists()


def test_fit_logistic_with_one_class_is_a_constant():
    import numpy as np

    model = fit_logistic(np.array([[1.0], [2.0], [3.0]]), np.array([1, 1, 1]), ["x"])
    assert model.coef == [0.0] and model.probability({"x": 5.0}) > 0.99


def test_a_gate_for_a_reranker_that_never_helps_keeps_the_first_stage():
    from ragsift.query.features import ALL_FEATURES
    from ragsift.query.training import train_gate

    qids = [f"q{i}" for i in range(20)]
    data = {"qids": qids, "features": {q: {n: float(i % 3) for n in ALL_FEATURES} for i, q in enumerate(qids)}}
    worse = {"before": {q: 0.8 for q in qids}, "after": {q: 0.8 - 0.1 * (i % 2) for i, q in enumerate(qids)},
             "ms": {q: 10.0 for q in qids}}
    gate = train_gate(data, worse)
    assert gate.threshold > 1.0 and gate.report["total_gain"] < 0 and gate.report["reranked (out-of-fold)"] == 0.0
    better = {**worse, "after": {q: 0.8 + 0.1 * (i % 2) for i, q in enumerate(qids)}}
    gate = train_gate(data, better)
    assert 0.0 <= gate.threshold <= 1.0 and gate.report["gain_kept (out-of-fold)"] >= 0.9
