"""results.json / results.md: round trip, Markdown layout, validation, atomic writes."""

from __future__ import annotations

import json
import os

import pytest

from ragsift.errors import BadInputError, ConfigError
from ragsift.eval import report
from ragsift.eval.report import load_results, render_markdown, write_results


def make_results(**extra):
    results = {
        "dataset": "scifact",
        "split": "test",
        "runs": [
            {
                "retriever": "bm25",
                "reranker": "none",
                "metrics": {"recall@100": 0.9, "ndcg@10": 0.665, "hit@10": 0.8, "mrr@10": 0.63},
                "latency_ms": {"p99": 9.04, "p50": 3.14, "p95": 5.0},
                "params": {"k1": 1.2},
            },
            {
                "retriever": "hybrid",
                "reranker": "cross_encoder",
                "metrics": {"ndcg@10": 0.71234, "mrr@10": 0.68, "recall@100": 0.9, "hit@10": 0.75},
                "latency_ms": {"p50": 40.0, "p95": 55.55, "p99": 61.0},
            },
        ],
        "config": {"top_k": 100},
    }
    results.update(extra)
    return results


def test_round_trip_and_stable_metric_order(tmp_path):
    json_path, md_path = write_results(tmp_path / "out" / "nested", make_results())
    assert json_path == tmp_path / "out" / "nested" / "results.json"
    assert md_path.read_text(encoding="utf-8") == render_markdown(load_results(json_path))
    loaded = load_results(json_path)
    assert loaded["dataset"] == "scifact" and loaded["config"] == {"top_k": 100}
    assert "T" in loaded["created"]  # ISO time filled in
    assert list(loaded["runs"][0]["metrics"]) == ["ndcg@10", "mrr@10", "recall@100", "hit@10"]
    assert list(loaded["runs"][0]["latency_ms"]) == ["p50", "p95", "p99"]
    assert loaded["runs"][0]["params"] == {"k1": 1.2}
    assert json_path.read_text(encoding="utf-8").startswith('{\n  "dataset": "scifact"')


def test_created_is_kept_when_given(tmp_path):
    json_path, _ = write_results(tmp_path, make_results(created="2025-01-02T03:04:05+00:00"))
    assert load_results(json_path)["created"] == "2025-01-02T03:04:05+00:00"


def test_markdown_header_rows_and_bold_best():
    md = render_markdown(make_results())
    lines = md.splitlines()
    assert lines[0] == "# Results: scifact (test)"
    assert "| Retriever | Reranker | ndcg@10 | mrr@10 | recall@100 | hit@10 | p50 (ms) | p95 (ms) | p99 (ms) |" in lines
    assert "| bm25 | none | 0.6650 | 0.6300 | **0.9000** | **0.8000** | 3.1 | 5.0 | 9.0 |" in lines
    assert "| hybrid | cross_encoder | **0.7123** | **0.6800** | **0.9000** | 0.7500 | 40.0 | 55.5 | 61.0 |" in lines
    assert "Published reference numbers" not in md


def test_markdown_single_run_has_no_bold_and_missing_values_dash():
    results = make_results()
    results["runs"] = [{"retriever": "bm25", "reranker": "none", "metrics": {"ndcg@10": 0.5}}]
    md = render_markdown(results)
    assert "**" not in md
    assert "| bm25 | none | 0.5000 |" in md.splitlines()
    results["runs"].append({"retriever": "dense", "reranker": "none", "metrics": {"mrr@10": 0.25}})
    # Each column has a single value, so nothing is compared and nothing is bold.
    md = render_markdown(results)
    assert "| dense | none | - | 0.2500 |" in md.splitlines() and "**" not in md


def test_markdown_anchor_table():
    anchors = {"bm25": {"ndcg@10": 0.665, "source": "BEIR paper"}}
    md = render_markdown(make_results(anchors=anchors))
    assert "## Published reference numbers" in md
    assert "| Retriever | ndcg@10 | Source |" in md.splitlines()
    assert "| bm25 | 0.6650 | BEIR paper |" in md.splitlines()


def test_markdown_escapes_pipes():
    results = make_results()
    results["runs"][0]["retriever"] = "bm25|stem"
    assert "| bm25\\|stem | none |" in render_markdown(results)


def test_atomic_write_leaves_no_temp_files(tmp_path):
    write_results(tmp_path, make_results())
    write_results(tmp_path, make_results())  # overwrite
    assert sorted(os.listdir(tmp_path)) == ["results.json", "results.md"]


def test_failed_replace_keeps_old_file_and_removes_temp(tmp_path, monkeypatch):
    json_path, _ = write_results(tmp_path, make_results(created="old"))

    def failing_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(report.os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk full"):
        write_results(tmp_path, make_results(created="new"))
    assert sorted(os.listdir(tmp_path)) == ["results.json", "results.md"]
    assert json.loads(json_path.read_text(encoding="utf-8"))["created"] == "old"


def test_out_dir_that_is_a_file_raises(tmp_path):
    target = tmp_path / "file"
    target.write_text("x")
    with pytest.raises(ConfigError, match="out_dir"):
        write_results(target, make_results())


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda r: r.pop("dataset"), "missing key 'dataset'"),
        (lambda r: r.pop("created"), "missing key 'created'"),
        (lambda r: r["runs"][1].pop("metrics"), r"results\['runs'\]\[1\]: missing key 'metrics'"),
        (lambda r: r["runs"][0].pop("reranker"), "missing key 'reranker'"),
        (lambda r: r.update(runs=[]), "non-empty list"),
        (lambda r: r["runs"][0]["metrics"].update({"ndcg@10": "high"}), "must be a finite number"),
        (lambda r: r["runs"][0].update(latency_ms=[1, 2]), "latency_ms'\\] must be an object"),
        (lambda r: r.update(anchors={"bm25": {"ndcg@10": None}}), "anchors"),
    ],
)
def test_load_validation_names_file_and_key(tmp_path, mutate, message):
    results = make_results(created="2025-01-01T00:00:00+00:00")
    mutate(results)
    path = tmp_path / "results.json"
    path.write_text(json.dumps(results), encoding="utf-8")
    with pytest.raises(BadInputError, match=message) as err:
        load_results(path)
    assert str(path) in str(err.value)


def test_load_bad_json_and_missing_file(tmp_path):
    path = tmp_path / "results.json"
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(BadInputError, match="not valid JSON") as err:
        load_results(path)
    assert err.value.path == str(path) and err.value.line == 1
    with pytest.raises(BadInputError, match="not found"):
        load_results(tmp_path / "missing.json")


def test_write_validates_before_touching_disk(tmp_path):
    results = make_results()
    del results["runs"][0]["metrics"]
    with pytest.raises(BadInputError, match="missing key 'metrics'"):
        write_results(tmp_path / "out", results)
    assert not (tmp_path / "out").exists()
