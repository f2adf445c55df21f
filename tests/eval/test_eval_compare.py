"""``ragsift eval --compare A.json B.json``: a Markdown diff per run, with paired p-values when possible."""

from __future__ import annotations

import json

from ragsift.eval.compare import compare_files
from ragsift.eval.report import write_results


def _write(directory, ndcg: float, per_query: dict | None, *, extra_run: bool = False):
    runs = [{"retriever": "bm25", "reranker": "none", "metrics": {"ndcg@10": ndcg, "recall@100": 0.9},
             "latency_ms": {"p50": 2.0, "p95": 3.0, "p99": 4.0}, "rag": {"context_recall@5": ndcg}}]
    if extra_run:
        runs.append({"retriever": "dense", "reranker": "none", "metrics": {"ndcg@10": 0.5}})
    write_results(directory, {"dataset": "scifact", "split": "test", "queries": 40, "runs": runs})
    if per_query is not None:
        (directory / "per_query.json").write_text(json.dumps({"metrics": ["ndcg@10"], "runs": {"bm25:none": per_query}}))
    return directory / "results.json"


def test_compare_with_per_query_values_reports_p(tmp_path):
    low = {f"q{i}": {"ndcg@10": 0.2, "recall@100": 0.9} for i in range(40)}
    high = {f"q{i}": {"ndcg@10": 0.6, "recall@100": 0.9} for i in range(40)}
    a = _write(tmp_path / "a", 0.2, low, extra_run=True)
    b = _write(tmp_path / "b", 0.6, high)
    md = compare_files(a, b)
    lines = md.splitlines()
    assert "### bm25 × none" in lines
    row = next(line for line in lines if line.startswith("| ndcg@10 |"))
    assert "| 0.2000 | 0.6000 | +0.4000 |" in row and row.endswith("* |")
    assert "| recall@100 | 0.9000 | 0.9000 | +0.0000 | 1.0000 |" in lines
    assert "| context_recall@5 | 0.2000 | 0.6000 | +0.4000 | - |" in lines
    assert "| latency p95 (ms) | 3.0 | 3.0 | +0.0 | - |" in lines
    assert "Only in A: dense:none" in md


def test_compare_without_per_query_values_says_so(tmp_path):
    a = _write(tmp_path / "a", 0.2, None)
    b = _write(tmp_path / "b", 0.3, None)
    md = compare_files(a, b)
    assert "p: not available" in md
    assert next(line for line in md.splitlines() if line.startswith("| ndcg@10 |")).endswith("| - |")
