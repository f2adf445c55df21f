"""The learned query policy in the evaluation grid: the ``auto`` retriever's learned router and the
gated (``--rerank auto``) runs, their threshold curve, report and plot; a hand-built policy file
written into a tiny real collection."""

from __future__ import annotations

import json
import math
import shutil

import pytest
from test_eval_grid import make_beir

from ragsift.cli import main
from ragsift.errors import ConfigError
from ragsift.eval.first_stage import Components, assemble_routed
from ragsift.eval.gate import gate_curve
from ragsift.eval.grid import Grid, SplitQueries
from ragsift.eval.rerank_stage import build_eval_reranker
from ragsift.eval.retrievers import retriever_options
from ragsift.eval.runner import EvalConfig, run_eval
from ragsift.index.collection import Collection, CollectionConfig
from ragsift.ingest import ChunkingConfig, load_beir
from ragsift.pipeline.rerank import RerankOptions
from ragsift.pipeline.search import SearchOptions, Searcher
from ragsift.query.features import ALL_FEATURES, ROUTER_FEATURES
from ragsift.query.policy import POLICY_FILE, Gate, LinearModel, QueryPolicy, Router
from ragsift.rerank.identity import FirstStageReranker

DEPTH = 20
# Ranks the passages sharing the fewest query words first: every reranked list differs from its first stage.
ANTI = "eval_stub_rerankers:AntiOverlapReranker="


def constant(p: float, names=ROUTER_FEATURES) -> LinearModel:
    """A model that answers ``p`` whatever the features (weights zero)."""
    return LinearModel(list(names), [0.0] * len(names), [1.0] * len(names), [0.0] * len(names), math.log(p / (1 - p)))


def on(feature: str, coef: float, intercept: float) -> LinearModel:
    """``sigmoid(intercept + coef * feature)``."""
    return LinearModel([feature], [0.0], [1.0], [coef], intercept)


# The rules send the one fact query ("finance EBITDA ratio": a code) to BM25 and the concept ones to dense;
# this router does the opposite: P(bm25 >= hybrid) is high except for facts, and dense takes the rest.
FLIP = QueryPolicy(Router({"bm25": on("kind_fact", -10.0, 5.0), "dense": constant(0.9)}, {"bm25": 0.5, "dense": 0.5}))
ALWAYS = QueryPolicy(gate=Gate(constant(0.9, ALL_FEATURES), 0.5))
NEVER = QueryPolicy(gate=Gate(constant(0.1, ALL_FEATURES), 0.5))
# Reranks the fact query only (P ≈ 0.99 against ≈ 0.007).
FACTS = QueryPolicy(gate=Gate(on("kind_fact", 10.0, -5.0), 0.5), trained_on={"reranker": "some/model"})


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return load_beir(make_beir(tmp_path_factory.mktemp("beir") / "beir"))


@pytest.fixture(scope="module")
def coll(tmp_path_factory, data, tiny_st_model):
    path = tmp_path_factory.mktemp("policy-coll") / "c"
    Collection.create(path, CollectionConfig(embed_model=str(tiny_st_model), chunking=ChunkingConfig(mode="none"))).add(data.corpus)
    return Collection.open(path)


def grid_with(coll, data, policy, retrievers, rerankers=None, rerank_auto=False) -> Grid:
    """A grid over ``coll`` whose collection holds ``policy`` (loaded when the grid opens it, then removed)."""
    if policy is not None:
        policy.save(coll.path)
    try:
        return Grid({"main": coll}, SplitQueries(data, sorted(data.queries)), retrievers, rerankers or {},
                    depth={"main": DEPTH}, candidates=5, rerank_auto=rerank_auto)
    finally:
        (coll.path / POLICY_FILE).unlink(missing_ok=True)


# ------------------------------------------------------------------------------------ the router


def test_the_learned_router_replaces_the_rules_routes(coll, data):
    rules = grid_with(coll, data, None, ["auto"])
    stage = rules.first_stage("auto")
    by_rules = {q: r["route"] for q, r in rules.routes[("auto", "test")].items()}
    assert by_rules["q2"] == "bm25" and {r for q, r in by_rules.items() if q != "q2"} == {"dense"}
    assert stage.params["router"] == {"kind": "rules"}

    learned = grid_with(coll, data, FLIP, ["auto"])
    stage = learned.first_stage("auto")
    routes = learned.routes[("auto", "test")]
    assert {q: r["route"] for q, r in routes.items()} == {q: "dense" if q == "q2" else "bm25" for q in routes}
    assert {q: r["rules_route"] for q, r in routes.items()} == by_rules
    router = stage.params["router"]
    assert router["kind"] == "learned" and router["policy"] == str(coll.path / POLICY_FILE)
    assert router["thresholds"] == {"bm25": 0.5, "dense": 0.5}
    assert stage.params["routes"] == {"bm25": round(5 / 6, 4), "dense": round(1 / 6, 4), "hybrid": 0.0}
    # The same decisions and hits as `ragsift search --mode auto` on this collection.
    searcher = Searcher(coll, policy=FLIP)
    opts = SearchOptions(mode="auto", k=DEPTH, bm25_depth=DEPTH, dense_depth=DEPTH)
    for qid, text in data.queries.items():
        result = searcher.search(text, opts)
        assert result.route["route"] == routes[qid]["route"]
        assert [(h.id, h.score) for h in result.hits] == [(h.id, h.score) for h in stage.hits[qid]]


def test_a_learned_router_charges_bm25_for_every_query_and_dense_where_the_route_needs_it(coll, data):
    grid = grid_with(coll, data, None, [])
    comps = grid.components("main", grid.queries)
    timed = Components(comps.runs, {q: {"bm25": 1000.0, "dense": 2000.0} for q in comps.runs}, comps.depth)
    opts = retriever_options("auto", DEPTH)
    for policy, expected in ((FLIP, {"bm25": 1000.0, "dense": 3000.0}), (None, {"bm25": 1000.0, "dense": 2000.0})):
        stage, routes = assemble_routed(coll, timed, opts, data.queries, policy)
        for qid, ms in zip(stage.hits, stage.stage_ms["retrieve"]):
            want = expected[routes[qid]["route"]]
            assert want <= ms < want + 500, (policy, qid, routes[qid])  # + routing, fusion and expansion: well under 500 ms
        searched = {qid: set(stage.used[qid]) for qid in stage.hits}
        if policy is not None:
            assert all("bm25" in s for s in searched.values()) and searched["q2"] == {"bm25", "dense"}
        else:
            assert searched["q2"] == {"bm25"} and searched["q0"] == {"dense"}


# ------------------------------------------------------------------------------------ the gate


def _cells(grid):
    first, reranked, gated = list(grid)
    return first, reranked, gated


def test_a_gate_that_always_reranks_reproduces_the_reranked_run(coll, data):
    bundle = build_eval_reranker(ANTI)
    grid = grid_with(coll, data, ALWAYS, ["hybrid-rrf"], {ANTI: bundle}, rerank_auto=True)
    cells = iter(grid)
    first, reranked = next(cells), next(cells)
    pairs = bundle.meter.pairs_scored
    gated = next(cells)
    assert bundle.meter.pairs_scored == pairs  # the gated run reranks nothing again
    assert (gated.reranker, gated.label) == (ANTI + "@auto", reranked.label + "@auto") and gated.is_reranked
    assert gated.ranking == reranked.ranking != first.ranking and gated.stage_ms == reranked.stage_ms
    gate = gated.params["gate"]
    assert gate["trained"] is True and gate["threshold"] == 0.5 and gate["reranked"] == 1.0
    assert gate["policy"] == str(coll.path / POLICY_FILE) and gate["decision_ms"] >= 0
    assert gated.params["candidates"] == reranked.params["candidates"] == 5
    assert list(grid.gates[("hybrid-rrf", "test")].values()) == [pytest.approx(0.9)] * 6


def test_a_gate_that_never_reranks_reproduces_the_first_stage(coll, data):
    grid = grid_with(coll, data, NEVER, ["hybrid-rrf"], {ANTI: build_eval_reranker(ANTI)}, rerank_auto=True)
    first, reranked, gated = _cells(grid)
    assert gated.ranking == first.ranking != reranked.ranking
    assert gated.stage_ms["rerank"] == [0.0] * 6 and gated.stage_ms["total"] == first.stage_ms["total"]
    assert gated.params["gate"]["reranked"] == 0.0


def test_without_a_gate_every_query_is_reranked(coll, data):
    grid = grid_with(coll, data, FLIP, ["bm25"], {ANTI: build_eval_reranker(ANTI)}, rerank_auto=True)  # a router, no gate
    _, reranked, gated = _cells(grid)
    assert gated.ranking == reranked.ranking
    gate = gated.params["gate"]
    assert gate["trained"] is False and gate["threshold"] is None and gate["reranked"] == 1.0
    assert "no trained gate" in gate["reason"] and not grid.gates


@pytest.mark.parametrize("retriever", ["hybrid-rrf", "auto", "bm25"])
def test_the_gate_decides_from_the_same_features_as_the_searcher(coll, data, retriever):
    gate = Gate(LinearModel(["bm25_top", "dense_top", "cross_rank", "overlap10", "kind_fact"], [0.0] * 5, [1.0] * 5,
                            [0.4, 3.0, 1.5, 2.0, -1.0], -2.0), 0.5)
    policy = QueryPolicy(FLIP.router, gate)
    grid = grid_with(coll, data, policy, [retriever])
    probs = grid.gate_probabilities(retriever)
    searcher = Searcher(coll, FirstStageReranker(), policy=policy)
    mode = "hybrid" if retriever == "hybrid-rrf" else retriever
    for qid, text in data.queries.items():
        result = searcher.search(text, SearchOptions(mode=mode, bm25_depth=DEPTH, dense_depth=DEPTH),
                                 rerank=RerankOptions(candidates=5, auto=True))
        assert result.rerank_gate["probability"] == pytest.approx(probs[qid], abs=1e-4), qid
        assert result.rerank_gate["rerank"] == (probs[qid] >= gate.threshold)
    assert len({round(p, 6) for p in probs.values()}) > 1  # the features differ between queries


# ------------------------------------------------------------------------------------ the curve


def test_the_gate_curve_by_hand():
    always = {"a": 1.0, "b": 0.0, "c": 0.5}
    never = {"a": 0.0, "b": 1.0, "c": 0.5}
    prob = {"a": 0.9, "b": 0.2, "c": 0.9}
    curve = gate_curve(always, never, prob, threshold=0.5)
    assert curve["points"] == [
        {"threshold": None, "share": 0.0, "value": pytest.approx(0.5)},
        {"threshold": 0.9, "share": pytest.approx(2 / 3), "value": pytest.approx(2.5 / 3)},
        {"threshold": 0.2, "share": 1.0, "value": pytest.approx(0.5)},
    ]
    assert curve["never"] == pytest.approx(0.5) and curve["always"] == pytest.approx(0.5) and curve["queries"] == 3
    assert curve["trained"] == {"threshold": 0.5, "share": pytest.approx(2 / 3), "value": pytest.approx(2.5 / 3)}
    assert curve["best"]["threshold"] == 0.9
    assert [p["share"] for p in curve["at"]] == [pytest.approx(2 / 3)] * 3
    assert "trained" not in gate_curve(always, never, prob)
    tie = gate_curve({"a": 1.0, "b": 1.0}, {"a": 1.0, "b": 1.0}, {"a": 0.3, "b": 0.6})
    assert tie["best"]["share"] == 0.0  # equal values: the fewest reranked queries
    with pytest.raises(ConfigError, match="gate curve"):
        gate_curve({"a": 1.0}, {"b": 1.0}, {"a": 0.5})


# ------------------------------------------------------------------------------------ end to end


@pytest.fixture(scope="module")
def gated_eval(tmp_path_factory, coll, data, tiny_st_model):
    root = tmp_path_factory.mktemp("gated-eval")
    path = root / "collection"
    shutil.copytree(coll.path, path)
    QueryPolicy(FLIP.router, FACTS.gate, trained_on=FACTS.trained_on).save(path)
    cfg = EvalConfig(
        data_dir=make_beir(root / "beir"), out_dir=root / "out", retrievers=["bm25", "auto"], rerankers=["none", ANTI],
        collection_dir=path, embed_model=str(tiny_st_model), candidates=5, rerank_auto=True, show_progress=False,
        plots=True, permutations=500,
    )
    return run_eval(cfg), root / "out"


def test_gated_runs_sit_beside_the_fixed_ones(gated_eval):
    results, out = gated_eval
    cells = [(r["retriever"], r["reranker"]) for r in results["runs"]]
    assert cells == [(name, spec) for name in ("bm25", "auto") for spec in ("none", ANTI, ANTI + "@auto")]
    runs = {(r["retriever"], r["reranker"]): r for r in results["runs"]}
    per_query = json.loads((out / "per_query.json").read_text())
    for name in ("bm25", "auto"):
        first, always, gated = (runs[(name, s)] for s in ("none", ANTI, ANTI + "@auto"))
        probs = per_query["rerank_gate"][name]
        assert set(probs) == {f"q{i}" for i in range(6)} and probs["q2"] > 0.5 > max(p for q, p in probs.items() if q != "q2")
        gate = gated["params"]["gate"]
        assert gate["reranked"] == round(1 / 6, 4) and gate["threshold"] == 0.5 and gate["trained_for"] == "some/model"
        assert gated.get("reranker_label", gated["reranker"]) == ANTI + "@auto" and gated["delta"] and gated["significance"]["vs_first_stage"]
        assert set(gated["stage_latency_ms"]) == {"retrieve", "fuse", "rerank", "total"}
        assert gated["stage_latency_ms"]["rerank"]["p50"] == 0.0 < always["stage_latency_ms"]["rerank"]["p50"]
        for q, values in per_query["runs"][f"{name}:{ANTI}@auto"].items():
            source = always if q == "q2" else first
            assert values == per_query["runs"][f"{name}:{source['reranker']}"][q]
    assert runs[("auto", "none")]["params"]["router"]["kind"] == "learned"
    assert per_query["routes"]["auto:none"]["q2"] == {"kind": "fact", "route": "dense", "rules_route": "bm25"}


def test_the_gate_curve_ends_at_the_first_stage_and_the_always_rerank_run(gated_eval):
    results, _ = gated_eval
    section = results["rerank_gate"]
    assert section["metric"] == "ndcg@10" and [c["retriever"] for c in section["curves"]] == ["bm25", "auto"]
    runs = {(r["retriever"], r["reranker"]): r["metrics"]["ndcg@10"] for r in results["runs"]}
    for curve in section["curves"]:
        name = curve["retriever"]
        assert curve["reranker"] == ANTI and curve["queries"] == 6
        assert curve["points"][0]["share"] == 0.0 and curve["points"][-1]["share"] == 1.0
        assert curve["never"] == pytest.approx(runs[(name, "none")])
        assert curve["always"] == pytest.approx(runs[(name, ANTI)])
        assert curve["trained"]["value"] == pytest.approx(runs[(name, ANTI + "@auto")])
        assert curve["trained"]["share"] == pytest.approx(1 / 6) and len(curve["points"]) == 3


def test_the_report_and_the_plots_show_the_gated_runs(gated_eval):
    results, out = gated_eval
    md = (out / "results.md").read_text()
    assert "| Reranked |" in md and f"| auto | {ANTI}@auto |" in md
    gated_row = next(line for line in md.splitlines() if line.startswith(f"| bm25 | {ANTI}@auto |"))
    assert "| 17 % |" in gated_row
    assert "## Rerank gate: ndcg@10 vs share of queries reranked" in md
    assert "gate: threshold 0.5, 17 % of queries reranked" in md
    assert "rerank_gate_curve.png" in results["plots"] and "![Rerank gate" in md
    png = (out / "rerank_gate_curve.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000


def test_cli_rerank_auto_without_a_gate_reranks_every_query(tmp_path, capsys):
    data = make_beir(tmp_path / "beir")
    code = main(["eval", "--data", str(data), "--retrievers", "bm25", "--rerankers", f"none,{ANTI}", "--rerank-auto",
                 "--candidates", "5", "--permutations", "200", "--no-plots", "-q", "--out", str(tmp_path / "out")])
    assert code == 0, capsys.readouterr().err
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    _, always, gated = results["runs"]
    assert gated["reranker"] == ANTI + "@auto" and gated["params"]["gate"]["reranked"] == 1.0
    assert gated["metrics"] == always["metrics"] and "rerank_gate" not in results
    assert any("no trained gate" in note for note in results["notes"]) and "--rerank-auto" in results["command"]
    with pytest.raises(ConfigError, match="rerank_auto"):
        EvalConfig(data_dir=data, out_dir=tmp_path / "x", rerankers=["none"], rerank_auto=True)
    with pytest.raises(SystemExit):
        main(["eval", "--help"])
    assert "--rerank-auto" in capsys.readouterr().out
