"""Markdown sections of a grid evaluation, rendered after the runs table when the results hold them.

Significance marks (from ``run["significance"]``, Holm-corrected p < alpha): ``†`` the run differs
from its own first stage, ``‡`` it differs from the baseline run.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

__all__ = ["marks", "legend", "grid_sections"]

STAGES = ("retrieve", "fuse", "rerank", "total")


def _row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"


def _label(run: Mapping) -> str:
    return run.get("reranker_label", run["reranker"])


def _num(value: Any, digits: int = 4, signed: bool = False) -> str:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return "-"
    return f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"


def _p(value: Any) -> str:
    if not isinstance(value, (int, float)):
        return "-"
    return "<0.0001" if value < 1e-4 else f"{value:.4f}"


def marks(run: Mapping, metric: str) -> str:
    """``†``/``‡`` for a run's significant differences on ``metric`` (see the module docstring)."""
    sig = run.get("significance", {})
    out = ""
    if sig.get("vs_first_stage", {}).get(metric, {}).get("significant"):
        out += "†"
    if sig.get("vs_baseline", {}).get(metric, {}).get("significant"):
        out += "‡"
    return out


def legend(results: Mapping) -> list[str]:
    sig = results.get("significance")
    if not sig:
        return []
    baseline = sig["baseline"].replace(":", " × ")
    test = "paired randomization test" if sig["test"] == "randomization" else "paired t-test"
    return [
        "",
        f"† differs from its own first stage, ‡ differs from the baseline run `{baseline}`: {test}, "
        f"Holm-corrected p < {sig['alpha']} over the runs of each comparison.",
    ]


def _primary(results: Mapping) -> str:
    metrics = list(results["runs"][0]["metrics"])
    return "ndcg@10" if "ndcg@10" in metrics else metrics[0]


def _grid_matrix(results: Mapping) -> list[str]:
    """Primary metric as a retriever × reranker matrix, reranked cells with their first-stage delta."""
    metric = _primary(results)
    runs = results["runs"]
    rerankers = list(dict.fromkeys(_label(r) for r in runs))
    if len(rerankers) < 2:
        return []
    by = {(r["retriever"], _label(r)): r for r in runs}
    lines = [f"## {metric}: retriever × reranker", "", "Reranked cells: value (delta vs the retriever's first stage).", ""]
    lines += [_row(["Retriever", *rerankers]), _row(["---"] + ["---:"] * len(rerankers))]
    for retriever in dict.fromkeys(r["retriever"] for r in runs):
        cells = []
        for name in rerankers:
            run = by.get((retriever, name))
            if run is None:
                cells.append("-")
                continue
            value = _num(run["metrics"].get(metric))
            delta = run.get("delta", {}).get(metric)
            cells.append(value if delta is None else f"{value} ({_num(delta, signed=True)}{marks(run, metric)})")
        lines.append(_row([retriever, *cells]))
    return lines


def _rerank_deltas(results: Mapping) -> list[str]:
    runs = [r for r in results["runs"] if r.get("delta")]
    if not runs:
        return []
    metrics = list(runs[0]["delta"])
    primary = _primary(results)
    lines = ["## Reranking vs first stage", "", "Delta = reranked − first stage of the same retriever (same queries).", ""]
    lines += [_row(["Retriever", "Reranker", *(f"Δ {m}" for m in metrics), f"p ({primary})"])]
    lines.append(_row(["---", "---"] + ["---:"] * (len(metrics) + 1)))
    for run in runs:
        deltas = [f"{_num(run['delta'][m], signed=True)}{'†' if marks(run, m).startswith('†') else ''}" for m in metrics]
        p = run.get("significance", {}).get("vs_first_stage", {}).get(primary, {}).get("p_holm")
        lines.append(_row([run["retriever"], _label(run), *deltas, _p(p)]))
    return lines


def _vs_baseline(results: Mapping) -> list[str]:
    sig = results.get("significance")
    runs = [r for r in results["runs"] if r.get("significance", {}).get("vs_baseline")]
    if not sig or not runs:
        return []
    primary = _primary(results)
    base = next((r for r in results["runs"] if f"{r['retriever']}:{r['reranker']}" == sig["baseline"]), None)
    if base is None:
        return []
    lines = [f"## Every run vs the baseline `{sig['baseline'].replace(':', ' × ')}`", ""]
    lines += [_row(["Retriever", "Reranker", primary, "Δ", "p", "p (Holm)", "significant"])]
    lines.append(_row(["---", "---", "---:", "---:", "---:", "---:", "---"]))
    for run in runs:
        s = run["significance"]["vs_baseline"].get(primary, {})
        value = run["metrics"][primary]
        lines.append(_row([
            run["retriever"], _label(run), _num(value), _num(value - base["metrics"][primary], signed=True),
            _p(s.get("p")), _p(s.get("p_holm")), "yes" if s.get("significant") else "no",
        ]))
    return lines


def _latency(results: Mapping) -> list[str]:
    runs = [r for r in results["runs"] if r.get("stage_latency_ms")]
    if not runs:
        return []
    lines = [
        "## Latency per query (ms): p50 / p95 / p99",
        "",
        "retrieve = BM25 + dense search (+ parent expansion), fuse = fusion, rerank = reranking the "
        "candidates as if uncached (pairs scored once and shared through the cache are charged their "
        "original model time; a gated run is charged it for the queries it reranks and 0 for the others), "
        "total = their sum.",
        "",
        _row(["Retriever", "Reranker", *STAGES]),
        _row(["---", "---"] + ["---:"] * len(STAGES)),
    ]
    for run in runs:
        cells = []
        for stage in STAGES:
            p = run["stage_latency_ms"].get(stage)
            cells.append("-" if p is None else f"{p['p50']:.1f} / {p['p95']:.1f} / {p['p99']:.1f}")
        lines.append(_row([run["retriever"], _label(run), *cells]))
    return lines


def _gate_cell(point: Mapping | None, threshold: bool = False) -> str:
    if not point:
        return "-"
    t = point.get("threshold")
    extra = f", t = {t:.3g}" if threshold and t is not None else ""
    return f"{_num(point['value'])} ({100 * point['share']:.0f} %{extra})"


def _rerank_gate(results: Mapping) -> list[str]:
    gate = results.get("rerank_gate")
    if not gate or not gate.get("curves"):
        return []
    metric = gate["metric"]
    marks_at = [p["threshold"] for p in gate["curves"][0]["at"]]
    lines = [
        f"## Rerank gate: {metric} vs share of queries reranked",
        "",
        "A gated run (`RERANKER@auto`, `--rerank auto`) reranks a query only when the gate's P(gain) reaches the "
        "threshold. Moving the threshold over the probabilities the queries received gives the curve, from each "
        "query's reranked and first-stage values (no further reranking). Cells: value (share of queries reranked); "
        "never = the first stage, always = every query reranked, trained = the policy's threshold, best = the highest "
        "value on the curve.",
        "",
        _row(["Retriever", "Reranker", "never", *(f"t = {t:g}" for t in marks_at), "trained", "best", "always"]),
        _row(["---", "---"] + ["---:"] * (len(marks_at) + 4)),
    ]
    for c in gate["curves"]:
        lines.append(_row([
            c["retriever"], c.get("reranker_label", c["reranker"]), _gate_cell({"value": c["never"], "share": 0.0}),
            *(_gate_cell(p) for p in c["at"]), _gate_cell(c.get("trained"), True), _gate_cell(c["best"], True),
            _gate_cell({"value": c["always"], "share": 1.0}),
        ]))
    return lines


def _fusion_tuning(results: Mapping) -> list[str]:
    tuning = results.get("fusion_tuning")
    if not tuning:
        return []
    lines = ["## Fusion tuning", ""]
    lines += [_row(["Fusion", "Parameter", "Grid (tuning split score)", "Chosen", "Default on test", "Tuned on test"])]
    lines.append(_row(["---", "---", "---", "---:", "---:", "---:"]))
    for method, t in tuning.items():
        grid = ", ".join(f"{k}: {v:.4f}" for k, v in t["scores"].items())
        test = t.get("test", {})
        lines.append(_row([method, t["param"], grid, f"{t['best']:g}", _num(test.get("default")), _num(test.get("tuned"))]))
    first = next(iter(tuning.values()))
    lines += ["", f"Tuned on {first['queries']} queries of the `{first['split']}` split ({first['metric']}); "
              "reported on the evaluated split. Weighted fusion: BM25 weight w, dense 1 − w, min–max normalized."]
    return lines


def _cost(results: Mapping) -> list[str]:
    cost = results.get("cost_accuracy")
    if not cost or not cost.get("runs"):
        return []
    n_base = cost["n_base"]
    lines = [
        f"## Cost–accuracy: passages handed to the LLM (N_base = {n_base})",
        "",
        f"Target: the first stage's context recall@{n_base}. N_first = the smallest N at which the first stage "
        "itself reaches it, N_reranked = the smallest N at which the reranked list does; passages saved = "
        "N_first − N_reranked (negative: reranking needs more passages; '-': it never reaches the target). "
        f"Tokens per passage: mean over the first stage's top {n_base} ({cost['token_counter']}).",
        "",
        _row(["Retriever", "Reranker", f"recall@{n_base} first stage", f"recall@{n_base} reranked", "N_first",
              "N_reranked", "passages saved", "tokens saved / query"]),
        _row(["---", "---", "---:", "---:", "---:", "---:", "---:", "---:"]),
    ]
    for e in cost["runs"]:
        saved = e.get("passages_saved")
        lines.append(_row([
            e["retriever"], e.get("reranker_label", e["reranker"]), _num(e["recall_base_at_n_base"]),
            _num(e["recall_reranked_at_n_base"]), e.get("n_first_stage", n_base),
            e["n_reranked"] if e["n_reranked"] is not None else f"> {cost['max_n']}",
            "-" if saved is None else f"{saved} ({e['passages_saved_pct']:.0f} %)",
            "-" if saved is None else f"{e['tokens_saved_per_query']:,.0f}",
        ]))
    return lines + _cost_curve_table(cost)


def _cost_curve_table(cost: Mapping) -> list[str]:
    focus = cost.get("focus")
    entries = [e for e in cost["runs"] if e["retriever"] == focus]
    if not entries:
        return []
    ns = [n for n in (1, 2, 3, 5, 7, 10, 15, 20) if n <= cost["max_n"]]
    lines = ["", f"Context recall@N of `{focus}`:", ""]
    lines += [_row(["", *(f"N={n}" for n in ns)]), _row(["---"] + ["---:"] * len(ns))]
    lines.append(_row(["first stage", *(_num(cost["first_stage"][focus][n - 1], 3) for n in ns)]))
    for e in entries:
        lines.append(_row([f"reranked: {e.get('reranker_label', e['reranker'])}", *(_num(e["context_recall_reranked"][n - 1], 3) for n in ns)]))
    return lines


def _rag(results: Mapping) -> list[str]:
    runs = [r for r in results["runs"] if r.get("rag")]
    if not runs:
        return []
    names = list(dict.fromkeys(k for r in runs for k in r["rag"]))
    lines = [
        "## RAG context metrics",
        "",
        "From qrels (no LLM): context recall@N = share of the relevant documents among the top N passages; "
        "context precision@N = mean precision@k over the ranks k ≤ N holding a relevant passage (RAGAS-style)."
        + (" Faithfulness and answer relevancy: LLM judge (see `judge.jsonl`)." if results.get("judge") else ""),
        "",
        _row(["Retriever", "Reranker", *names]),
        _row(["---", "---"] + ["---:"] * len(names)),
    ]
    for run in runs:
        lines.append(_row([run["retriever"], _label(run), *(_num(run["rag"].get(n)) for n in names)]))
    return lines


def _plots(results: Mapping) -> list[str]:
    plots = results.get("plots")
    if not plots:
        return []
    titles = {
        "ndcg_by_run.png": "Primary metric per run",
        "quality_vs_latency.png": "Quality vs latency",
        "recall_at_k.png": "Recall@k",
        "cost_accuracy.png": "Cost–accuracy",
        "rerank_gate_curve.png": "Rerank gate: quality vs share of queries reranked",
    }
    lines = ["## Plots", ""]
    for name in plots:
        lines += [f"![{titles.get(name, name)}]({name})", ""]
    return lines[:-1]


def _run_info(results: Mapping) -> list[str]:
    lines = []
    if results.get("command"):
        lines += ["", "```", results["command"], "```"]
    info = []
    if "wall_time_s" in results:
        info.append(f"wall time {results['wall_time_s'] / 60:.1f} min")
    if "first_stage_searches" in results:
        info.append(f"{results['first_stage_searches']} first-stage searches (each component once per query and split)")
    for label, stats in results.get("rerank_cache", {}).items():
        if stats.get("cached"):
            info.append(
                f"rerank cache `{label}`: {stats.get('hits', 0)} hits / {stats.get('misses', 0)} misses, "
                f"{stats.get('pairs_scored', 0)} pairs scored by the model in {stats.get('model_s', 0):.0f} s"
            )
    if info:
        lines += ["", "Run: " + "; ".join(info) + "."]
    for note in results.get("notes", []):
        lines += ["", f"Note: {note}"]
    return lines


def grid_sections(results: Mapping) -> list[str]:
    """Every section the results support, each preceded by a blank line."""
    out: list[str] = []
    for section in (_grid_matrix, _rerank_deltas, _vs_baseline, _latency, _rerank_gate, _fusion_tuning, _cost, _rag, _plots):
        lines = section(results)
        if lines:
            out += ["", *lines]
    return out + _run_info(results)
