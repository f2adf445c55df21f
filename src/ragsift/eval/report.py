"""Experiment results: the ``results.json`` schema, its Markdown rendering, atomic writes.

Schema::

    {"dataset": "scifact", "split": "test", "created": "2025-01-01T00:00:00+00:00",
     "runs": [{"retriever": "bm25", "reranker": "none",
               "metrics": {"ndcg@10": 0.665, "recall@100": 0.9},
               "latency_ms": {"p50": 3.1, "p95": 5.0, "p99": 7.2},     # optional
               "params": {...}}],                                     # optional
     "config": {...},                                                 # optional
     "anchors": {"bm25": {"ndcg@10": 0.665, "source": "BEIR paper"}}} # optional

Required: ``dataset``, ``split``, ``created`` (filled with the current UTC time by
:func:`write_results` when absent), ``runs``; per run ``retriever``, ``reranker``, ``metrics``.

Optional keys written by the evaluation grid (:mod:`ragsift.eval.runner`):

* per run: ``reranker_label`` (short name), ``stage_latency_ms`` (``{"retrieve"|"fuse"|"rerank"|
  "total": {"p50", "p95", "p99", "mean", "n"}}``), ``baseline`` and ``delta`` (reranked runs: the
  first stage's metrics and reranked − first stage), ``significance`` (``{"vs_first_stage"|
  "vs_baseline": {metric: {"p", "p_holm", "significant"}}}``), ``rag`` (``context_precision@N``,
  ``context_recall@N``, and ``faithfulness`` / ``answer_relevancy`` when judged), ``judge`` (counts);
* top level: ``queries``, ``documents``, ``command``, ``significance`` (test settings and the
  baseline run key), ``fusion_tuning``, ``cost_accuracy``, ``judge``, ``plots`` (PNG names),
  ``rerank_cache`` (hits/misses per reranker), ``first_stage_searches``, ``wall_time_s``, ``notes``,
  ``rerank_gate`` (``{"metric", "curves": [{"retriever", "reranker", "reranker_label", "queries",
  "never", "always", "best", "at", "trained", "points": [{"threshold", "share", "value"}]}]}``: the
  gate's threshold curves, :mod:`ragsift.eval.gate`).

Gated runs (``--rerank-auto``) are runs whose reranker ends in ``@auto``; their ``params.gate``
holds ``trained``, ``threshold``, ``reranked`` (the share of queries reranked) and, with a trained
gate, ``policy``, ``decision_ms`` and ``trained_for``; the main table then shows a "Reranked" column.

Per-query values live next to it in ``per_query.json`` (``{"metrics": [...], "runs":
{"RETRIEVER:RERANKER": {qid: {metric: value}}}}``, with ``routes`` of the ``auto`` retriever and
``rerank_gate`` probabilities per retriever when they ran) and Recall@k curves in ``curves.json``.
"""

from __future__ import annotations

import json
import math
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping

from ragsift.errors import BadInputError, ConfigError
from ragsift.files import atomic_write_text
from ragsift.eval.metrics import metric_sort_key

__all__ = ["write_results", "load_results", "render_markdown", "validate_results"]

_TOP_KEYS = ("dataset", "split", "created", "runs")
_RUN_KEYS = ("retriever", "reranker", "metrics")
_LATENCY_ORDER = ("p50", "p95", "p99", "mean", "n")
_LATENCY_COLUMNS = ("p50", "p95", "p99")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _check_numbers(mapping: Any, where: str, path: str | None) -> None:
    if not isinstance(mapping, Mapping):
        raise BadInputError(f"{where} must be an object, got {type(mapping).__name__}", path=path)
    for key, value in mapping.items():
        if not _is_number(value):
            raise BadInputError(f"{where}[{key!r}]={value!r} must be a finite number", path=path)


def _require(mapping: Mapping[str, Any], keys: tuple[str, ...], where: str, path: str | None) -> None:
    for key in keys:
        if key not in mapping:
            raise BadInputError(
                f"{where}: missing key {key!r}; required keys are {', '.join(keys)}", path=path
            )


def _check_run(run: Any, where: str, path: str | None) -> None:
    if not isinstance(run, Mapping):
        raise BadInputError(f"{where} must be an object, got {type(run).__name__}", path=path)
    _require(run, _RUN_KEYS, where, path)
    _check_numbers(run["metrics"], f"{where}['metrics']", path)
    if "latency_ms" in run:
        _check_numbers(run["latency_ms"], f"{where}['latency_ms']", path)


def validate_results(results: Any, *, path: str | None = None, require_created: bool = True) -> None:
    """Raise BadInputError naming ``path`` and the key when ``results`` breaks the schema."""
    if not isinstance(results, Mapping):
        raise BadInputError(f"results must be a JSON object, got {type(results).__name__}", path=path)
    keys = _TOP_KEYS if require_created else tuple(k for k in _TOP_KEYS if k != "created")
    _require(results, keys, "results", path)
    runs = results["runs"]
    if not isinstance(runs, list) or not runs:
        raise BadInputError("results['runs'] must be a non-empty list of run objects", path=path)
    for i, run in enumerate(runs):
        _check_run(run, f"results['runs'][{i}]", path)
    if "anchors" in results:
        _check_anchors(results["anchors"], path)


def _check_anchors(anchors: Any, path: str | None) -> None:
    if not isinstance(anchors, Mapping):
        raise BadInputError(f"results['anchors'] must be an object, got {type(anchors).__name__}", path=path)
    for name, numbers in anchors.items():
        where = f"results['anchors'][{name!r}]"
        if not isinstance(numbers, Mapping):
            raise BadInputError(f"{where} must be an object, got {type(numbers).__name__}", path=path)
        _check_numbers({k: v for k, v in numbers.items() if k != "source"}, where, path)


def _ordered(mapping: Mapping[str, Any], first: tuple[str, ...]) -> dict[str, Any]:
    head = {k: mapping[k] for k in first if k in mapping}
    return head | {k: v for k, v in mapping.items() if k not in head}


def _normalise_run(run: Mapping[str, Any]) -> dict[str, Any]:
    out = _ordered(run, ("retriever", "reranker", "reranker_label", "metrics", "latency_ms", "params"))
    out["metrics"] = {k: run["metrics"][k] for k in sorted(run["metrics"], key=metric_sort_key)}
    if "latency_ms" in run:
        out["latency_ms"] = _ordered(run["latency_ms"], _LATENCY_ORDER)
    return out


def _normalise(results: Mapping[str, Any]) -> dict[str, Any]:
    out = _ordered(results, ("dataset", "split", "created", "runs", "config", "anchors"))
    out.setdefault("created", datetime.now(timezone.utc).isoformat(timespec="seconds"))
    out = _ordered(out, ("dataset", "split", "created"))
    out["runs"] = [_normalise_run(run) for run in results["runs"]]
    return out


def _cell(value: Any) -> str:
    return str(value).replace("|", "\\|")


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _metric_columns(rows: list[Mapping[str, Any]]) -> list[str]:
    names = {k for row in rows for k in row if k != "source"}
    return sorted(names, key=metric_sort_key)


def _best_cells(values: list[Any], suffixes: list[str] | None = None) -> list[str]:
    """Format values to 4 decimals; bold the best when at least two runs have a value.

    ``suffixes`` (significance marks) are appended after the formatted value.
    """
    text = [f"{v:.4f}" if _is_number(v) else "-" for v in values]
    numbers = [float(t) for t in text if t != "-"]
    suffixes = suffixes or [""] * len(text)
    if len(numbers) < 2:
        return [t + s for t, s in zip(text, suffixes)]
    best = f"{max(numbers):.4f}"
    return [(f"**{t}**" if t == best else t) + s for t, s in zip(text, suffixes)]


def _reranked_share(run: Mapping[str, Any]) -> str:
    """The share of queries a run reranked: 0 % for a first stage, the gate's share for a gated run, else 100 %."""
    gate = (run.get("params") or {}).get("gate")
    share = gate["reranked"] if gate else (0.0 if run["reranker"] == "none" else 1.0)
    return f"{100 * share:.0f} %"


def _runs_table(runs: list[Mapping[str, Any]]) -> list[str]:
    from ragsift.eval.report_sections import marks

    metrics = _metric_columns([run["metrics"] for run in runs])
    latency = [c for c in _LATENCY_COLUMNS if any(c in run.get("latency_ms", {}) for run in runs)]
    gated = any((run.get("params") or {}).get("gate") for run in runs)
    header = ["Retriever", "Reranker", *metrics, *(["Reranked"] if gated else []), *(f"{c} (ms)" for c in latency)]
    columns = [_best_cells([run["metrics"].get(m) for run in runs], [marks(run, m) for run in runs]) for m in metrics]
    lines = [_row(header), _row(["---", "---"] + ["---:"] * (len(metrics) + gated + len(latency)))]
    for i, run in enumerate(runs):
        lat = run.get("latency_ms", {})
        times = [f"{lat[c]:.1f}" if c in lat else "-" for c in latency]
        reranker = run.get("reranker_label", run["reranker"])
        share = [_reranked_share(run)] if gated else []
        lines.append(_row([_cell(run["retriever"]), _cell(reranker), *(c[i] for c in columns), *share, *times]))
    return lines


def _anchors_table(anchors: Mapping[str, Mapping[str, Any]]) -> list[str]:
    metrics = _metric_columns(list(anchors.values()))
    lines = [_row(["Retriever", *metrics, "Source"]), _row(["---"] + ["---:"] * len(metrics) + ["---"])]
    for name, numbers in anchors.items():
        cells = [f"{numbers[m]:.4f}" if m in numbers else "-" for m in metrics]
        lines.append(_row([_cell(name), *cells, _cell(numbers.get("source", ""))]))
    return lines


def render_markdown(results: Mapping[str, Any]) -> str:
    """Render results as Markdown: title, one table row per run, grid sections, reference numbers.

    Metric columns show 4 decimals, the best value of each column in bold (only when at least
    two runs report it) and significance marks when the results carry them; latency columns show
    p50/p95/p99 in ms with 1 decimal. Sections for the grid (retriever × reranker matrix, deltas vs
    first stage, significance vs the baseline, stage latency, fusion tuning, cost–accuracy, RAG
    metrics, plots) appear when the results hold their data (:mod:`ragsift.eval.report_sections`).
    """
    validate_results(results, require_created=False)
    lines = [f"# Results: {results['dataset']} ({results['split']})", ""]
    if "created" in results:
        lines += [f"Created: {results['created']}", ""]
    empty = results.get("skipped_empty_documents") or {}
    if empty.get("count"):
        shown = ", ".join(empty.get("ids", [])[:5])
        lines += [f"Empty documents skipped (never retrievable; qrels judging them count as misses): "
                  f"{empty['count']} ({shown}{', ...' if empty['count'] > 5 else ''})", ""]
    lines += _runs_table(results["runs"])
    lines += _rerank_settings_lines(results["runs"])
    from ragsift.eval.report_sections import grid_sections, legend

    lines += legend(results)
    lines += grid_sections(results)
    if results.get("anchors"):
        lines += ["", "## Published reference numbers", "", *_anchors_table(results["anchors"])]
    return "\n".join(lines) + "\n"


def _rerank_settings_lines(runs) -> list[str]:
    """One line per reranked run: the settings applied and where each came from, and per-query warnings."""
    lines = []
    for run in runs:
        applied = (run.get("params") or {}).get("rerank_settings")
        if not applied:
            continue
        shown = ", ".join(
            f"{k}={'+'.join(map(str, v['value'])) if isinstance(v['value'], list) else v['value']} ({v['source']})"
            for k, v in applied.items()
        )
        warnings = (run.get("params") or {}).get("warnings") or {}
        extra = f"; warnings: {', '.join(f'{k} ×{n}' for k, n in warnings.items())}" if warnings else ""
        gate = (run.get("params") or {}).get("gate")
        if gate:
            extra += (f"; gate: threshold {gate['threshold']:.4g}, {100 * gate['reranked']:.0f} % of queries reranked"
                      if gate.get("trained") else "; no trained gate: every query reranked")
        lines.append(f"- {run['retriever']} × {run.get('reranker_label', run['reranker'])}: {shown}{extra}")
    return ["", "Rerank settings applied (value (source)):", "", *lines] if lines else []


def write_results(out_dir: str | os.PathLike[str], results: Mapping[str, Any]) -> tuple[Path, Path]:
    """Validate ``results`` and write ``out_dir/results.json`` and ``out_dir/results.md`` atomically.

    Creates ``out_dir`` if needed and fills ``created`` when absent. Metric keys are written in
    report order (ndcg, mrr, recall, precision, map, hit, then by k). Returns both paths.
    """
    validate_results(results, require_created=False)
    directory = Path(out_dir)
    if directory.exists() and not directory.is_dir():
        raise ConfigError(f"out_dir={str(directory)!r} exists and is not a directory; pass a directory path")
    doc = _normalise(results)
    json_text = json.dumps(doc, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
    md_text = render_markdown(doc)
    directory.mkdir(parents=True, exist_ok=True)
    json_path, md_path = directory / "results.json", directory / "results.md"
    atomic_write_text(json_path, json_text)
    atomic_write_text(md_path, md_text)
    return json_path, md_path


def load_results(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read and validate a ``results.json``; errors are BadInputError naming the file and key."""
    where = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError as e:
        raise BadInputError("results file not found; run the evaluation first or fix the path", path=where) from e
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise BadInputError(f"not valid JSON ({e.msg})", path=where, line=e.lineno) from e
    validate_results(doc, path=where)
    return doc
