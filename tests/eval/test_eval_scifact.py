"""ragsift eval on the real SciFact test split (skipped when ../shared is absent)."""

from __future__ import annotations

import json

import pytest

from ragsift.cli import main
from ragsift.eval.report import load_results


@pytest.mark.scifact
def test_bm25_reaches_published_ndcg(scifact_dir, tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["eval", "--data", str(scifact_dir), "--retrievers", "bm25", "--out", str(out), "-q"])
    assert code == 0
    results = load_results(out / "results.json")
    (run,) = results["runs"]
    assert run["retriever"] == "bm25" and run["reranker"] == "none"
    assert run["metrics"]["ndcg@10"] >= 0.665  # BEIR paper BM25; bm25s reports 0.687
    for metric in ("mrr@10", "recall@5", "recall@10", "recall@100", "precision@5", "precision@10", "precision@100"):
        assert 0.0 < run["metrics"][metric] <= 1.0
    assert set(run["latency_ms"]) >= {"p50", "p95", "p99"}
    assert results["queries"] == 300 and results["documents"] == 5183
    assert "| bm25 | none |" in (out / "results.md").read_text()


@pytest.mark.scifact
@pytest.mark.slow
def test_dense_and_hybrid_match_published(scifact_dir, tmp_path):
    """all-MiniLM-L6-v2 within ±0.01 of MTEB's 0.645; hybrid RRF above both (embeds 5,183 docs: minutes)."""
    out = tmp_path / "out"
    assert main(["eval", "--data", str(scifact_dir), "--retrievers", "bm25,dense,hybrid", "--out", str(out), "-q"]) == 0
    ndcg = {r["retriever"]: r["metrics"]["ndcg@10"] for r in json.loads((out / "results.json").read_text())["runs"]}
    assert abs(ndcg["dense"] - 0.645) <= 0.01
    assert ndcg["hybrid"] > max(ndcg["bm25"], ndcg["dense"])
