"""Plots are valid PNG files; a missing matplotlib is a clear error naming the extra."""

from __future__ import annotations

import sys

import pytest

from ragsift.errors import MissingDependencyError
from ragsift.eval.plots import PLOT_FILES, write_plots

PNG = b"\x89PNG\r\n\x1a\n"


def _results() -> dict:
    runs = []
    for i, retriever in enumerate(["bm25", "dense", "hybrid-rrf"]):
        base = 0.6 + 0.03 * i
        runs.append({"retriever": retriever, "reranker": "none", "metrics": {"ndcg@10": base},
                     "latency_ms": {"p50": 2.0 + i, "p95": 4.0 + i, "p99": 5.0 + i}})
        runs.append({"retriever": retriever, "reranker": "/models/ce-scifact", "reranker_label": "ce-scifact",
                     "metrics": {"ndcg@10": base + 0.05}, "delta": {"ndcg@10": 0.05},
                     "significance": {"vs_first_stage": {"ndcg@10": {"p": 0.001, "p_holm": 0.003, "significant": True}}},
                     "latency_ms": {"p50": 900.0, "p95": 1200.0, "p99": 1500.0}})
    curve = [min(1.0, 0.3 + 0.05 * n) for n in range(20)]
    cost = {"n_base": 10, "max_n": 20, "token_counter": "test", "focus": "hybrid-rrf",
            "first_stage": {r: curve for r in ("bm25", "dense", "hybrid-rrf")},
            "runs": [{"retriever": "hybrid-rrf", "reranker": "/models/ce-scifact", "reranker_label": "ce-scifact",
                      "context_recall_reranked": [min(1.0, 0.5 + 0.05 * n) for n in range(20)], "n_reranked": 6,
                      "passages_saved": 4, "passages_saved_pct": 40.0, "tokens_saved_per_query": 1234.0}]}
    points = [{"threshold": None, "share": 0.0, "value": 0.66}, {"threshold": 0.8, "share": 0.3, "value": 0.7},
              {"threshold": 0.4, "share": 0.6, "value": 0.72}, {"threshold": 0.1, "share": 1.0, "value": 0.71}]
    gate = {"metric": "ndcg@10", "curves": [
        {"retriever": r, "reranker": "/models/ce-scifact", "reranker_label": "ce-scifact", "queries": 300,
         "never": 0.66, "always": 0.71, "best": points[2], "at": points[1:4], "trained": points[2], "points": points}
        for r in ("bm25", "hybrid-rrf")]}
    return {"dataset": "scifact", "split": "test", "queries": 300, "runs": runs, "cost_accuracy": cost, "rerank_gate": gate}


def test_all_plots_are_written_as_png(tmp_path):
    curves = {f"{r['retriever']}:{r['reranker']}": [min(1.0, 0.01 * k) for k in range(1, 101)] for r in _results()["runs"]}
    paths = write_plots(tmp_path, _results(), curves)
    assert [p.name for p in paths] == list(PLOT_FILES)
    for path in paths:
        data = path.read_bytes()
        assert data[:8] == PNG and len(data) > 10_000
    assert not list(tmp_path.glob(".*.png"))  # no temporary files left


def test_cost_plot_without_reranking_compares_first_stages(tmp_path):
    results = _results()
    results["cost_accuracy"]["focus"] = None
    results["runs"] = [r for r in results["runs"] if r["reranker"] == "none"]
    del results["rerank_gate"]
    paths = write_plots(tmp_path, results, {})
    assert [p.name for p in paths] == ["ndcg_by_run.png", "quality_vs_latency.png", "cost_accuracy.png"]


def test_missing_matplotlib_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    monkeypatch.delitem(sys.modules, "matplotlib.figure", raising=False)
    with pytest.raises(MissingDependencyError, match=r"pip install 'ragsift\[plots\]'"):
        write_plots(tmp_path, _results(), {})


def test_run_eval_checks_matplotlib_before_running_the_grid(tmp_path, monkeypatch):
    from test_eval_grid import make_beir

    from ragsift.eval.runner import EvalConfig, run_eval

    monkeypatch.setitem(sys.modules, "matplotlib", None)
    cfg = EvalConfig(data_dir=make_beir(tmp_path / "beir"), out_dir=tmp_path / "out", retrievers=["bm25"], plots=True, show_progress=False)
    with pytest.raises(MissingDependencyError, match="ragsift\\[plots\\]"):
        run_eval(cfg)
    assert not (tmp_path / "out").exists()
