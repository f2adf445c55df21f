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
