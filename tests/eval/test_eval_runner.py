"""The eval runner on a tiny real BEIR directory: schema, chunk→document aggregation, reuse."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ragsift.errors import BadInputError, ConfigError
from ragsift.eval.runner import EvalConfig, ranked_run, run_eval
from ragsift.ingest import ChunkingConfig
from ragsift.types import Hit

FILLER = "Unrelated filler sentence about weather and sports. " * 12


def make_beir(root: Path) -> Path:
    corpus = [
        {"_id": "d1", "title": "Volcanoes", "text": FILLER + "Magma erupts from volcanoes as lava."},
        {"_id": "d2", "title": "Gardens", "text": "Roses and tulips grow in gardens. " + FILLER},
        {"_id": "d3", "title": "Finance", "text": "EBITDA and the P/E ratio measure companies. " + FILLER},
        {"_id": "d4", "title": "Oceans", "text": "Whales and dolphins swim in the ocean. " + FILLER},
    ]
    queries = [{"_id": "q1", "text": "lava magma eruption"}, {"_id": "q2", "text": "tulips roses"},
               {"_id": "q3", "text": "whales dolphins"}]
    (root / "qrels").mkdir(parents=True)
    (root / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in corpus))
    (root / "queries.jsonl").write_text("".join(json.dumps(q) + "\n" for q in queries))
    (root / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t2\nq2\td2\t1\nq3\td4\t1\nq3\td3\t0\n")
    return root


def test_ranked_run_keeps_each_document_at_its_best_chunk():
    hits = [Hit("a#1", "a", 0.9), Hit("b#0", "b", 0.8), Hit("a#0", "a", 0.5), Hit("c#0", "c", 0.1)]
    run = ranked_run({"q": hits})["q"]
    assert list(run) == ["a", "b", "c"]
    assert run["a"] > run["b"] > run["c"]


def test_chunked_bm25_eval_aggregates_to_documents(tmp_path):
    data = make_beir(tmp_path / "beir")
    cfg = EvalConfig(
        data_dir=data, out_dir=tmp_path / "out", retrievers=["bm25"], show_progress=False,
        chunking=ChunkingConfig(mode="recursive", unit="chars", size=120, overlap=0),
    )
    results = run_eval(cfg)
    (run,) = results["runs"]
    # Every query's relevant document is ranked first (its matching chunk wins) → perfect scores.
    assert run["metrics"]["ndcg@10"] == pytest.approx(1.0)
    assert run["metrics"]["mrr@10"] == pytest.approx(1.0)
    assert run["metrics"]["precision@5"] == pytest.approx(0.2)  # one relevant doc among top 5, never duplicated
    saved = json.loads((tmp_path / "out" / "results.json").read_text())
    assert saved["dataset"] == "beir" and saved["runs"][0]["retriever"] == "bm25"
    assert (tmp_path / "out" / "results.md").is_file()


def test_existing_collection_is_reused_and_checked(tmp_path, tiny_st_model):
    data = make_beir(tmp_path / "beir")
    base = dict(data_dir=data, show_progress=False, embed_model=str(tiny_st_model), chunking=ChunkingConfig(mode="none"))
    first = run_eval(EvalConfig(out_dir=tmp_path / "o1", retrievers=["bm25", "dense", "hybrid"], **base))
    assert [r["retriever"] for r in first["runs"]] == ["bm25", "dense", "hybrid"]
    coll = tmp_path / "o1" / "collection"
    again = run_eval(EvalConfig(out_dir=tmp_path / "o2", collection_dir=coll, retrievers=["bm25"], **base))
    assert again["runs"][0]["metrics"] == first["runs"][0]["metrics"]
    assert not (tmp_path / "o2" / "collection").exists()
    # A collection of other documents is refused rather than silently evaluated.
    other = make_beir(tmp_path / "other")
    (other / "corpus.jsonl").write_text(json.dumps({"_id": "zz", "text": "something else"}) + "\n")
    (other / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\tzz\t1\n")
    with pytest.raises(BadInputError, match="different documents"):
        run_eval(EvalConfig(out_dir=tmp_path / "o3", collection_dir=coll, retrievers=["bm25"], **{**base, "data_dir": other}))


def test_unknown_retriever_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="bm25"):
        EvalConfig(data_dir=tmp_path, out_dir=tmp_path, retrievers=["bm42"])


def test_beir_corpus_with_empty_documents_evaluates(tmp_path, caplog, tiny_st_model):
    """Two empty documents, one judged relevant: one warning, counted in the report; the qrels stay valid."""
    data = make_beir(tmp_path / "beir")
    with (data / "corpus.jsonl").open("a") as f:
        f.write(json.dumps({"_id": "e1", "title": "", "text": ""}) + "\n")
        f.write(json.dumps({"_id": "e2", "title": " ", "text": "\n"}) + "\n")
    (data / "qrels" / "test.tsv").write_text(
        "query-id\tcorpus-id\tscore\nq1\td1\t2\nq2\td2\t1\nq2\te1\t1\nq3\td4\t1\n"
    )
    cfg = EvalConfig(
        data_dir=data, out_dir=tmp_path / "out", retrievers=["bm25", "hybrid"], show_progress=False,
        embed_model=str(tiny_st_model), chunking=ChunkingConfig(mode="none"),
    )
    with caplog.at_level("WARNING"):
        results = run_eval(cfg)
    warnings = [r.getMessage() for r in caplog.records if "empty document" in r.getMessage()]
    assert len(warnings) == 1 and "skipped 2 empty document(s)" in warnings[0] and "'e1'" in warnings[0]
    assert results["skipped_empty_documents"] == {"count": 2, "ids": ["e1", "e2"]}
    assert results["documents"] == 6
    bm25 = next(r for r in results["runs"] if r["retriever"] == "bm25")
    # q2's second relevant document can never be retrieved: recall@100 of q2 is 1/2
    assert bm25["metrics"]["recall@100"] == pytest.approx((1 + 0.5 + 1) / 3)
    assert "Empty documents skipped" in (tmp_path / "out" / "results.md").read_text()
    # the collection counts them too (ragsift info prints the manifest)
    from ragsift.index.collection import Collection

    manifest = json.loads((Path(results["config"]["collection"]) / "manifest.json").read_text())
    assert manifest["skipped_empty"] == {"count": 2, "ids": ["e1", "e2"]}
    assert len(Collection.open(results["config"]["collection"]).documents) == 4


def test_malformed_corpus_line_is_still_an_error_naming_file_and_line(tmp_path):
    data = make_beir(tmp_path / "beir")
    with (data / "corpus.jsonl").open("a") as f:
        f.write('{"_id": "bad", "text": \n')
    cfg = EvalConfig(data_dir=data, out_dir=tmp_path / "out", retrievers=["bm25"], show_progress=False)
    with pytest.raises(BadInputError, match="corpus.jsonl") as info:
        run_eval(cfg)
    assert "line 5" in str(info.value) or getattr(info.value, "line", None) == 5


def test_eval_applies_a_models_recorded_settings_and_survives_long_queries(tmp_path, tiny_cross_encoder, caplog):
    """max_length, candidates and the interpolation weight come from the model; a query longer than the
    window (truncate END) is cut with a counted warning instead of stopping the evaluation."""
    import shutil

    from ragsift.rerank.settings import ModelSettings, write_model_settings

    data = make_beir(tmp_path / "beir")
    long_q = "lava magma eruption " + " ".join(["volcano"] * 200)
    (data / "queries.jsonl").write_text("".join(json.dumps(q) + "\n" for q in [
        {"_id": "q1", "text": long_q}, {"_id": "q2", "text": "tulips roses"}, {"_id": "q3", "text": "whales dolphins"}]))
    model = tmp_path / "m"
    shutil.copytree(tiny_cross_encoder, model)
    write_model_settings(model, ModelSettings(interpolate=0.4, candidates=3, max_length=96))
    cfg = EvalConfig(data_dir=data, out_dir=tmp_path / "out", retrievers=["bm25"], rerankers=["none", str(model)],
                     show_progress=False)
    results = run_eval(cfg)
    reranked = next(r for r in results["runs"] if r["reranker"] != "none")
    applied = reranked["params"]["rerank_settings"]
    assert applied["max_length"] == {"value": 96, "source": "model"}
    assert applied["candidates"] == {"value": 3, "source": "model"}
    assert applied["interpolate"] == {"value": 0.4, "source": "model"}
    assert reranked["params"]["interpolate"] == 0.4 and reranked["params"]["candidates"] == 3
    assert reranked["params"]["warnings"] == {"query_truncated": 1}
    assert "Rerank settings applied" in (tmp_path / "out" / "results.md").read_text()

    cfg = EvalConfig(data_dir=data, out_dir=tmp_path / "out2", retrievers=["bm25"], rerankers=["none", str(model)],
                     show_progress=False, candidates=4, interpolate="none")
    applied = next(r for r in run_eval(cfg)["runs"] if r["reranker"] != "none")["params"]["rerank_settings"]
    assert applied["candidates"] == {"value": 4, "source": "option"}
    assert applied["interpolate"] == {"value": None, "source": "option"}


def test_auto_retriever_routes_each_query_and_writes_the_routes(tmp_path, tiny_st_model):
    data = make_beir(tmp_path / "beir")
    cfg = EvalConfig(
        data_dir=data, out_dir=tmp_path / "out", retrievers=["hybrid", "bm25", "dense", "auto"], show_progress=False,
        embed_model=str(tiny_st_model), chunking=ChunkingConfig(mode="none"),
    )
    results = run_eval(cfg)
    runs = {r["retriever"]: r for r in results["runs"]}
    routes = json.loads((tmp_path / "out" / "per_query.json").read_text())["routes"]["auto:none"]
    # "lava magma eruption" etc.: short natural-language queries without anchors → concept → dense
    assert set(routes) == {"q1", "q2", "q3"} and {r["route"] for r in routes.values()} == {"dense"}
    assert runs["auto"]["params"]["mode"] == "auto" and runs["auto"]["params"]["routes"]["dense"] == 1.0
    assert runs["auto"]["metrics"] == runs["dense"]["metrics"]  # every query took the dense route
    assert runs["auto"]["latency_ms"]["p50"] > 0
