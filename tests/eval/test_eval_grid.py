"""The retriever × reranker grid on a tiny real BEIR folder: every cell, caching, shared rerank scores,
honest latency, parity of the in-memory first stage with the Searcher, and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import eval_stub_rerankers
import pytest

from ragsift.cli import main
from ragsift.errors import BadInputError
from ragsift.eval.first_stage import assemble
from ragsift.eval.grid import Grid, SplitQueries
from ragsift.eval.report import load_results
from ragsift.eval.rerank_stage import build_eval_reranker
from ragsift.eval.retrievers import GRID_RETRIEVERS, retriever_options
from ragsift.eval.runner import EvalConfig, run_eval
from ragsift.index.collection import Collection, CollectionConfig
from ragsift.ingest import ChunkingConfig, load_beir
from ragsift.pipeline.search import Searcher

FILL = "Unrelated filler sentence about weather and sports. "
TOPICS = ["volcano lava magma", "garden roses tulips", "finance EBITDA ratio", "ocean whales dolphins", "space rockets orbit", "music guitar piano"]
OVERLAP = "eval_stub_rerankers:OverlapReranker="
SLOW = "eval_stub_rerankers:SlowOverlapReranker="
# Children of 16 tokens; parents of 512 hold a whole (short) document, so parent texts are document texts.
PARENT_CHILD = ChunkingConfig(mode="recursive", unit="tokens", size=16, overlap=4, parent_size=512)


def make_beir(root: Path, *, train: bool = True) -> Path:
    """Six topics × four documents; test queries judge two documents each, train queries one."""
    corpus, queries, test, tune = [], [], [], []
    for i, topic in enumerate(TOPICS):
        for j in range(4):
            text = FILL * (j + 1) + f"{topic} document {j}. " + FILL * 2
            corpus.append({"_id": f"d{i}_{j}", "title": topic.split()[0], "text": text})
        queries += [{"_id": f"q{i}", "text": topic}, {"_id": f"t{i}", "text": f"{topic.split()[0]} {topic.split()[-1]}"}]
        test += [f"q{i}\td{i}_0\t1", f"q{i}\td{i}_1\t2"]
        tune.append(f"t{i}\td{i}_2\t1")
    (root / "qrels").mkdir(parents=True)
    (root / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in corpus))
    (root / "queries.jsonl").write_text("".join(json.dumps(q) + "\n" for q in queries))
    (root / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n" + "\n".join(test) + "\n")
    if train:
        (root / "qrels" / "train.tsv").write_text("query-id\tcorpus-id\tscore\n" + "\n".join(tune) + "\n")
    return root


@pytest.fixture(scope="module")
def grid_results(tmp_path_factory, tiny_st_model):
    root = tmp_path_factory.mktemp("grid")
    data = make_beir(root / "beir")
    cfg = EvalConfig(
        data_dir=data, out_dir=root / "out", retrievers=GRID_RETRIEVERS, rerankers=["none", OVERLAP, SLOW],
        embed_model=str(tiny_st_model), candidates=5, show_progress=False, grid=True, plots=True,
        parent_child_chunking=PARENT_CHILD, permutations=2000,
    )
    return run_eval(cfg), root / "out"


def test_every_retriever_times_every_reranker(grid_results):
    results, out = grid_results
    cells = [(r["retriever"], r["reranker"]) for r in results["runs"]]
    assert cells == [(name, spec) for name in GRID_RETRIEVERS for spec in ("none", OVERLAP, SLOW)]
    for run in results["runs"]:
        stages = {"retrieve", "fuse", "rerank", "total"} if run["reranker"] != "none" else {"retrieve", "fuse", "total"}
        assert set(run["stage_latency_ms"]) == stages
        assert all({"p50", "p95", "p99"} <= set(p) for p in run["stage_latency_ms"].values())
        assert set(run["rag"]) == {"context_precision@5", "context_recall@5"}
        if run["reranker"] != "none":
            base = next(r for r in results["runs"] if r["retriever"] == run["retriever"] and r["reranker"] == "none")
            assert run["baseline"] == base["metrics"]
            assert run["delta"]["ndcg@10"] == pytest.approx(run["metrics"]["ndcg@10"] - base["metrics"]["ndcg@10"])
            assert set(run["significance"]) == {"vs_first_stage", "vs_baseline"}
    saved = load_results(out / "results.json")  # validates the schema
    assert saved["significance"]["baseline"] == "bm25:none"
    per_query = json.loads((out / "per_query.json").read_text())
    assert set(per_query["runs"]) == {f"{r}:{s}" for r, s in cells}
    assert all(len(v) == 6 for v in per_query["runs"].values())


def test_first_stage_components_are_searched_once(grid_results):
    results, _ = grid_results
    test_queries, tune_queries = 6, 6
    # BM25 + dense once per query on the main collection (test and tuning split) and on the parent–child one,
    # for 7 retrievers × 3 rerankers and 19 fusion-tuning grid points.
    assert results["first_stage_searches"] == 2 * test_queries + 2 * tune_queries + 2 * test_queries


def test_rerank_scores_are_shared_across_retrievers(grid_results):
    results, _ = grid_results
    for label in (OVERLAP, SLOW):
        stats = results["rerank_cache"][label]
        requested = stats["hits"] + stats["misses"]  # one lookup per candidate of every query and retriever
        assert 6 * 4 * len(GRID_RETRIEVERS) <= requested <= 6 * 5 * len(GRID_RETRIEVERS)
        assert stats["hits"] > 0 and stats["pairs_scored"] == stats["misses"] < requested / 2


def test_rerank_latency_is_charged_as_if_uncached(grid_results):
    results, _ = grid_results
    floor_ms = 5 * eval_stub_rerankers.DELAY_S * 1000 * 0.8  # 5 pairs × 2 ms, with slack
    for run in results["runs"]:
        if run["reranker"] == SLOW:
            # Later retrievers find most pairs in the cache, yet are charged the model time of each pair.
            assert run["stage_latency_ms"]["rerank"]["p50"] >= floor_ms, run["retriever"]


def test_fusion_tuning_and_reports(grid_results):
    results, out = grid_results
    tuning = results["fusion_tuning"]
    assert set(tuning) == {"rrf", "weighted"}
    assert len(tuning["rrf"]["scores"]) == 8 and len(tuning["weighted"]["scores"]) == 11
    assert tuning["rrf"]["split"] == "train" and tuning["rrf"]["queries"] == 6
    tuned = next(r for r in results["runs"] if r["retriever"] == "hybrid-weighted-tuned" and r["reranker"] == "none")
    w = tuning["weighted"]["best"]
    assert tuned["params"]["weights"] == {"bm25": w, "dense": pytest.approx(1 - w)}
    md = (out / "results.md").read_text()
    for heading in ("## ndcg@10: retriever × reranker", "## Reranking vs first stage", "## Every run vs the baseline",
                    "## Latency per query", "## Fusion tuning", "## Cost–accuracy", "## RAG context metrics", "## Plots"):
        assert heading in md
    for name in results["plots"]:
        data = (out / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 1000
    assert results["cost_accuracy"]["n_base"] == 10 and len(results["cost_accuracy"]["runs"]) == 2 * len(GRID_RETRIEVERS)


def test_assembled_first_stage_matches_the_searcher(tmp_path, tiny_st_model):
    data = load_beir(make_beir(tmp_path / "beir"))
    for chunking in (ChunkingConfig(mode="none"), PARENT_CHILD):
        coll = Collection.create(tmp_path / f"c-{chunking.mode.value}", CollectionConfig(embed_model=str(tiny_st_model), chunking=chunking))
        coll.add(data.corpus)
        queries = SplitQueries(data, sorted(data.queries))
        grid = Grid({"main": coll}, queries, [], {}, depth={"main": 20}, candidates=5)
        comps = grid.components("main", queries)
        for name, extra in [("bm25", {}), ("dense", {}), ("hybrid-rrf", {"rrf_k": 5.0}),
                            ("hybrid-weighted", {"weights": {"bm25": 0.3, "dense": 0.7}})]:
            opts = retriever_options(name, 20, bm25_depth=20, dense_depth=20, **extra)
            ours = assemble(coll, comps, opts).hits
            for qid, text in data.queries.items():
                theirs = Searcher(coll).search(text, opts).hits
                assert [(h.id, h.score, h.text) for h in ours[qid]] == [(h.id, h.score, h.text) for h in theirs]


def test_grid_scores_each_passage_once_per_query(tmp_path, tiny_st_model):
    data = load_beir(make_beir(tmp_path / "beir"))
    colls = {}
    for kind, chunking in (("main", ChunkingConfig(mode="none")), ("parent-child", PARENT_CHILD)):
        colls[kind] = Collection.create(tmp_path / kind, CollectionConfig(embed_model=str(tiny_st_model), chunking=chunking))
        colls[kind].add(data.corpus)
    bundle = build_eval_reranker(OVERLAP)
    grid = Grid(colls, SplitQueries(data, sorted(data.queries)), ["bm25", "dense", "hybrid-rrf", "parent-child"],
                {OVERLAP: bundle}, depth={"main": 20, "parent-child": 60}, candidates=5)
    runs = list(grid)
    heads = {(qid, colls[r.collection].parents[u].text if u in colls[r.collection].parents else colls[r.collection].chunk(u).text)
             for r in runs if r.is_reranked for qid, units in r.ranking.items() for u, _ in units[:5]}
    assert bundle.meter.pairs_scored == len(heads)  # each distinct (query, passage) once, whichever retriever asked
    assert len(runs) == 8


def test_grid_without_tuning_split_skips_tuned_retrievers_with_a_note(tmp_path):
    data = make_beir(tmp_path / "beir", train=False)
    base = dict(data_dir=data, show_progress=False, retrievers=["bm25", "hybrid-rrf-tuned"])
    results = run_eval(EvalConfig(out_dir=tmp_path / "o1", grid=True, **base))
    assert [r["retriever"] for r in results["runs"]] == ["bm25"]
    assert "tuned retrievers skipped" in results["notes"][0]
    with pytest.raises(BadInputError, match="train"):
        run_eval(EvalConfig(out_dir=tmp_path / "o2", **base))


def test_cli_grid_and_compare(tmp_path, capsys, tiny_st_model):
    data = make_beir(tmp_path / "beir")
    common = ["eval", "--data", str(data), "--embed-model", str(tiny_st_model), "--candidates", "5", "-q",
              "--child-size", "16", "--child-overlap", "4", "--permutations", "500"]
    code = main([*common, "--grid", "--rerankers", OVERLAP, "--out", str(tmp_path / "a")])
    out, err = capsys.readouterr()
    assert code == 0, err
    results = load_results(tmp_path / "a" / "results.json")
    assert {r["retriever"] for r in results["runs"]} == set(GRID_RETRIEVERS)
    assert results["command"].startswith("ragsift eval --data ") and "--grid" in results["command"]
    assert "## ndcg@10: retriever × reranker" in out
    code = main([*common, "--retrievers", "bm25,dense", "--out", str(tmp_path / "b"), "--collection", str(tmp_path / "a" / "collection")])
    assert code == 0
    capsys.readouterr()
    assert main(["eval", "--compare", str(tmp_path / "a" / "results.json"), str(tmp_path / "b" / "results.json")]) == 0
    diff = capsys.readouterr().out
    assert "### bm25 × none" in diff and "### dense × none" in diff
    assert "| ndcg@10 | " in diff and "Only in A:" in diff
    assert main(["eval", "--data", str(data)]) == 2
    assert "--out" in capsys.readouterr().err


@pytest.mark.parametrize("heldout", [["t1", "t3"], []])
def test_interpolate_auto_tunes_on_queries_the_trained_reranker_held_out(tmp_path, tiny_cross_encoder, heldout):
    import shutil

    data = make_beir(tmp_path / "beir")
    model = tmp_path / "ce"
    shutil.copytree(tiny_cross_encoder, model)
    manifest = {"data": {"dataset": load_beir(data).name, "split": "train", "heldout_query_ids": heldout}}
    (model / "ragsift_train.json").write_text(json.dumps(manifest))
    results = run_eval(EvalConfig(
        data_dir=data, out_dir=tmp_path / "out", retrievers=["bm25"], rerankers=["none", str(model)],
        candidates=5, interpolate="auto", show_progress=False, plots=False,
    ))
    reranked = next(r for r in results["runs"] if r["reranker"] != "none")
    tuning = reranked["params"]["tuning"]
    if heldout:
        assert tuning["queries"] == 2
        assert any("held out of training (2 left)" in n for n in results["notes"])
    else:
        assert tuning["queries"] == 6  # every train query, with a warning that the model has seen them
        assert any("trained on all of split 'train'" in n for n in results["notes"])
