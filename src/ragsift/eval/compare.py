"""Diff two ``results.json`` files: ``ragsift eval --compare A.json B.json``.

For every (retriever, reranker) run present in both files, one Markdown table lists each metric,
the RAG context metrics and the latency percentiles in A and in B with the difference B − A.
When both files have a ``per_query.json`` next to them, each metric difference also gets a paired
randomization test p-value over the queries both evaluated (``*`` marks p < 0.05).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

from ragsift.eval.metrics import metric_sort_key
from ragsift.eval.report import load_results
from ragsift.eval.significance import paired_p_value, run_key

__all__ = ["compare_files", "render_comparison"]

_LATENCY = ("p50", "p95", "p99")


def _per_query(results_path: Path) -> dict | None:
    path = results_path.parent / "per_query.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))["runs"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _fmt(value: Any, digits: int) -> str:
    return f"{value:.{digits}f}" if isinstance(value, (int, float)) and not isinstance(value, bool) else "-"


def _delta(a: Any, b: Any, digits: int) -> str:
    if not all(isinstance(v, (int, float)) for v in (a, b)):
        return "-"
    return f"{b - a:+.{digits}f}"


def _p_value(pq_a: Mapping | None, pq_b: Mapping | None, key: str, metric: str) -> float | None:
    if pq_a is None or pq_b is None or key not in pq_a or key not in pq_b:
        return None
    a, b = pq_a[key], pq_b[key]
    qids = sorted(set(a) & set(b))
    if not qids or any(metric not in a[q] or metric not in b[q] for q in qids):
        return None
    return paired_p_value([a[q][metric] for q in qids], [b[q][metric] for q in qids])


def _run_table(key: str, ra: Mapping, rb: Mapping, pq_a, pq_b) -> list[str]:
    lines = [f"### {ra['retriever']} × {ra.get('reranker_label', ra['reranker'])}", ""]
    lines += ["| | A | B | B − A | p |", "|---|---:|---:|---:|---:|"]
    metrics = sorted(set(ra["metrics"]) | set(rb["metrics"]), key=metric_sort_key)
    for m in metrics:
        a, b = ra["metrics"].get(m), rb["metrics"].get(m)
        p = _p_value(pq_a, pq_b, key, m)
        p_text = "-" if p is None else f"{p:.4f}" + ("*" if p < 0.05 else "")
        lines.append(f"| {m} | {_fmt(a, 4)} | {_fmt(b, 4)} | {_delta(a, b, 4)} | {p_text} |")
    for name in sorted(set(ra.get("rag", {})) | set(rb.get("rag", {}))):
        a, b = ra.get("rag", {}).get(name), rb.get("rag", {}).get(name)
        lines.append(f"| {name} | {_fmt(a, 4)} | {_fmt(b, 4)} | {_delta(a, b, 4)} | - |")
    for p in _LATENCY:
        a, b = ra.get("latency_ms", {}).get(p), rb.get("latency_ms", {}).get(p)
        if a is not None or b is not None:
            lines.append(f"| latency {p} (ms) | {_fmt(a, 1)} | {_fmt(b, 1)} | {_delta(a, b, 1)} | - |")
    return lines + [""]


def render_comparison(a: Mapping, b: Mapping, *, a_name: str = "A", b_name: str = "B", pq_a=None, pq_b=None) -> str:
    """Markdown diff of two results documents (see the module docstring)."""
    runs_a = {run_key(r["retriever"], r["reranker"]): r for r in a["runs"]}
    runs_b = {run_key(r["retriever"], r["reranker"]): r for r in b["runs"]}
    lines = [
        f"# Comparison: {a['dataset']} ({a['split']}) vs {b['dataset']} ({b['split']})",
        "",
        f"- A: `{a_name}` ({a.get('created', '?')}, {a.get('queries', '?')} queries)",
        f"- B: `{b_name}` ({b.get('created', '?')}, {b.get('queries', '?')} queries)",
    ]
    if pq_a is not None and pq_b is not None:
        lines.append("- p: paired randomization test (10,000 sign flips) on per-query values; * p < 0.05")
    else:
        lines.append("- p: not available (needs per_query.json next to both files)")
    lines.append("")
    for key in [k for k in runs_a if k in runs_b]:
        lines += _run_table(key, runs_a[key], runs_b[key], pq_a, pq_b)
    only_a = [k for k in runs_a if k not in runs_b]
    only_b = [k for k in runs_b if k not in runs_a]
    if only_a:
        lines += [f"Only in A: {', '.join(only_a)}", ""]
    if only_b:
        lines += [f"Only in B: {', '.join(only_b)}", ""]
    return "\n".join(lines)


def compare_files(path_a: str | Path, path_b: str | Path) -> str:
    """Load two results files (validated) and render their comparison."""
    path_a, path_b = Path(path_a), Path(path_b)
    a, b = load_results(path_a), load_results(path_b)
    return render_comparison(a, b, a_name=str(path_a), b_name=str(path_b), pq_a=_per_query(path_a), pq_b=_per_query(path_b))
