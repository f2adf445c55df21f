"""PNG plots of an evaluation (matplotlib, Agg, imported lazily: ``pip install 'ragsift[plots]'``).

* ``ndcg_by_run.png`` — the primary metric of every run: one group of bars per retriever, its
  first stage next to each reranking, values and deltas written on the bars;
* ``quality_vs_latency.png`` — primary metric against p95 total latency per query (log scale),
  one colour per retriever, one marker per reranker, each first stage joined to its rerankings;
* ``recall_at_k.png`` — Recall@k for k = 1..100 (log k), solid = reranked, dashed = first stage;
* ``cost_accuracy.png`` — context recall@N for N = 1..max_n passages handed to the LLM, with and
  without reranking, for the retriever of the best reranked run; N_base and N_reranked marked;
* ``rerank_gate_curve.png`` — ``--rerank auto``: the primary metric against the share of queries
  reranked as the gate's threshold moves, one panel per retriever, one line per reranker, the
  trained threshold marked (results with a ``rerank_gate`` section).

Plots use matplotlib's object API (no pyplot state) and are written atomically.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

from ragsift._lazy import require
from ragsift.files import atomic_write

__all__ = ["write_plots", "PLOT_FILES"]

PLOT_FILES = ("ndcg_by_run.png", "quality_vs_latency.png", "recall_at_k.png", "cost_accuracy.png", "rerank_gate_curve.png")
_MARKERS = ("o", "s", "^", "D", "v", "P", "X")
_DPI = 130


def _figure(width: float, height: float):
    require("matplotlib", extra="plots")
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def _save(fig, path: Path) -> Path:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=_DPI, format="png"))
    return path


def _colors(retrievers: Sequence[str]) -> dict[str, tuple]:
    from matplotlib import colormaps

    cmap = colormaps["tab10"]
    return {name: cmap(i % 10) for i, name in enumerate(retrievers)}


def _label(run: Mapping) -> str:
    return run.get("reranker_label", run["reranker"])


def _primary(results: Mapping) -> str:
    metrics = list(results["runs"][0]["metrics"])
    return "ndcg@10" if "ndcg@10" in metrics else metrics[0]


def _subtitle(results: Mapping) -> str:
    return f"{results['dataset']} ({results['split']}, {results.get('queries', '?')} queries)"


def _retrievers(results: Mapping) -> list[str]:
    return list(dict.fromkeys(r["retriever"] for r in results["runs"]))


def _rerankers(results: Mapping) -> list[str]:
    return list(dict.fromkeys(_label(r) for r in results["runs"]))


def _mark(run: Mapping, metric: str) -> str:
    sig = run.get("significance", {}).get("vs_first_stage", {}).get(metric, {})
    return "†" if sig.get("significant") else ""


# ----------------------------------------------------------------------------------------- plots


def plot_metric_by_run(results: Mapping, path: Path) -> Path:
    metric = _primary(results)
    retrievers, rerankers = _retrievers(results), _rerankers(results)
    by = {(r["retriever"], _label(r)): r for r in results["runs"]}
    fig = _figure(9.5, 1.2 + 0.55 * len(retrievers) * max(len(rerankers), 1))
    ax = fig.add_subplot()
    bar = 0.8 / len(rerankers)
    cmap = _colors(rerankers)
    for j, reranker in enumerate(rerankers):
        ys, values, texts = [], [], []
        for i, retriever in enumerate(retrievers):
            run = by.get((retriever, reranker))
            if run is None:
                continue
            value = run["metrics"][metric]
            ys.append(len(retrievers) - 1 - i + (len(rerankers) - 1 - j - (len(rerankers) - 1) / 2) * bar)
            values.append(value)
            delta = run.get("delta", {}).get(metric)
            texts.append(f"{value:.4f}" + ("" if delta is None else f"  ({delta:+.4f}{_mark(run, metric)})"))
        name = "first stage (no reranker)" if reranker == "none" else f"reranked: {reranker}"
        bars = ax.barh(ys, values, height=bar * 0.9, color=cmap[reranker], label=name)
        ax.bar_label(bars, labels=texts, padding=3, fontsize=8)
    ax.set_yticks(range(len(retrievers)), list(reversed(retrievers)))
    top = max(r["metrics"][metric] for r in results["runs"])
    ax.set_xlim(0, top * 1.4 if top > 0 else 1.0)
    ax.set_xticks([t for t in ax.get_xticks() if t <= 1.0 + 1e-9])
    ax.set_xlabel(f"{metric} (higher is better)")
    ax.set_title(f"{metric} per run — {_subtitle(results)}\n(delta vs first stage in brackets; † p < 0.05, Holm-corrected)")
    fig.legend(loc="outside lower center", ncol=min(len(rerankers), 4), fontsize=8)
    ax.grid(axis="x", alpha=0.3)
    return _save(fig, path)


def plot_quality_vs_latency(results: Mapping, path: Path) -> Path:
    metric = _primary(results)
    retrievers, rerankers = _retrievers(results), _rerankers(results)
    colors = _colors(retrievers)
    markers = {name: _MARKERS[i % len(_MARKERS)] for i, name in enumerate(rerankers)}
    fig = _figure(9.5, 5.8)
    ax = fig.add_subplot()
    runs = [r for r in results["runs"] if "p95" in r.get("latency_ms", {})]
    for retriever in retrievers:
        own = [r for r in runs if r["retriever"] == retriever]
        base = next((r for r in own if r["reranker"] == "none"), None)
        for run in own:
            x, y = run["latency_ms"]["p95"], run["metrics"][metric]
            ax.scatter(x, y, s=70, color=colors[retriever], marker=markers[_label(run)], edgecolor="black", linewidth=0.5, zorder=3)
            if base is not None and run is not base:
                ax.plot([base["latency_ms"]["p95"], x], [base["metrics"][metric], y], color=colors[retriever], alpha=0.35, zorder=2)
    ax.set_xscale("log")
    ax.set_xlabel("p95 total latency per query (ms, log scale; rerank latency charged without cache)")
    ax.set_ylabel(f"{metric} (higher is better)")
    ax.set_title(f"Quality vs latency — {_subtitle(results)}")
    ax.grid(alpha=0.3, which="both")
    from matplotlib.lines import Line2D

    color_handles = [Line2D([], [], color=colors[r], marker="o", linestyle="", label=r) for r in retrievers]
    marker_handles = [Line2D([], [], color="gray", marker=markers[m], linestyle="", label=m) for m in rerankers]
    fig.legend(handles=color_handles, title="retriever", loc="outside right upper", fontsize=8)
    fig.legend(handles=marker_handles, title="reranker", loc="outside right lower", fontsize=8)
    return _save(fig, path)


def plot_recall_at_k(results: Mapping, curves: Mapping[str, Sequence[float]], path: Path) -> Path:
    retrievers = _retrievers(results)
    colors = _colors(retrievers)
    fig = _figure(9.5, 5.8)
    ax = fig.add_subplot()
    for run in results["runs"]:
        curve = curves.get(f"{run['retriever']}:{run['reranker']}")
        if not curve:
            continue
        reranked = run["reranker"] != "none"
        ax.plot(
            range(1, len(curve) + 1), curve, color=colors[run["retriever"]], linestyle="-" if reranked else "--",
            linewidth=1.8 if reranked else 1.2, label=f"{run['retriever']} × {_label(run)}",
        )
    ax.set_xscale("log")
    ticks = [k for k in (1, 2, 5, 10, 20, 50, 100, 200, 500) if k <= max((len(c) for c in curves.values()), default=1)]
    ax.set_xticks(ticks, [str(k) for k in ticks])
    ax.set_xlabel("k (documents retrieved, log scale)")
    ax.set_ylabel("Recall@k")
    lowest = min((min(c) for c in curves.values() if c), default=0.0)
    ax.set_ylim(max(0.0, lowest - 0.05), 1.01)
    ax.set_title(f"Recall@k — {_subtitle(results)}\n(dashed: first stage, solid: reranked)")
    ax.grid(alpha=0.3, which="both")
    fig.legend(loc="outside right upper", fontsize=8)
    return _save(fig, path)


def plot_cost_accuracy(results: Mapping, path: Path) -> Path:
    cost = results["cost_accuracy"]
    focus = cost.get("focus")
    fig = _figure(9.5, 5.8)
    ax = fig.add_subplot()
    ns = list(range(1, cost["max_n"] + 1))
    if focus is None:  # nothing reranked: compare the first stages
        colors = _colors(list(cost["first_stage"]))
        for name, curve in cost["first_stage"].items():
            ax.plot(ns, curve, marker="o", markersize=3, color=colors[name], label=f"{name} (first stage)")
        title = "Context recall@N of each first stage"
    else:
        entries = [e for e in cost["runs"] if e["retriever"] == focus]
        colors = _colors(["first stage", *(e["reranker_label"] for e in entries)])
        ax.plot(ns, cost["first_stage"][focus], linestyle="--", marker="o", markersize=3, color="gray", label=f"{focus}, first stage")
        for e in entries:
            _cost_curve(ax, ns, e, colors[e["reranker_label"]])
        n_base = cost["n_base"]
        target = cost["first_stage"][focus][n_base - 1]
        ax.axvline(n_base, color="gray", linestyle=":", linewidth=1)
        ax.axhline(target, color="gray", linestyle=":", linewidth=1)
        ax.scatter([n_base], [target], s=90, facecolor="none", edgecolor="gray", linewidth=2, zorder=4)
        ax.annotate(f"N_base = {n_base}", (n_base, 0.02), xycoords=("data", "axes fraction"), ha="left", fontsize=8, xytext=(3, 0), textcoords="offset points")
        title = f"Cost–accuracy: {focus} with and without reranking"
    ax.set_xticks(ns)
    ax.set_xlabel("N = passages handed to the LLM (its token cost grows with N)")
    ax.set_ylabel("context recall@N (share of relevant documents in the top N)")
    ax.set_title(f"{title} — {_subtitle(results)}")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    return _save(fig, path)


def _cost_curve(ax, ns: list[int], entry: Mapping, color) -> None:
    ax.plot(ns, entry["context_recall_reranked"], marker="o", markersize=3, color=color, label=f"reranked: {entry['reranker_label']}")
    n = entry.get("n_reranked")
    if n is None:
        return
    y = entry["context_recall_reranked"][n - 1]
    ax.scatter([n], [y], s=90, facecolor="none", edgecolor=color, linewidth=2, zorder=4)
    passages, tokens = entry.get("passages_saved"), entry.get("tokens_saved_per_query")
    note = f"N_reranked = {n}"
    if passages is not None and passages > 0:
        note += f"\n{passages} fewer passages ({entry['passages_saved_pct']:.0f} %), ≈{tokens:,.0f} fewer tokens/query"
    elif passages is not None and passages < 0:
        note += f"\n{-passages} more passages than N_base"
    ax.annotate(note, (n, y), xytext=(12, -28), textcoords="offset points", fontsize=8, color=color,
                arrowprops={"arrowstyle": "-", "color": color, "lw": 0.8})


def plot_rerank_gate(results: Mapping, path: Path) -> Path:
    gate = results["rerank_gate"]
    curves = gate["curves"]
    retrievers = list(dict.fromkeys(c["retriever"] for c in curves))
    labels = list(dict.fromkeys(c.get("reranker_label", c["reranker"]) for c in curves))
    colors = _colors(labels)
    cols = min(len(retrievers), 3)
    rows = -(-len(retrievers) // cols)
    fig = _figure(max(4.4 * cols, 7.0), 3.6 * rows + 1.4)
    axes = fig.subplots(rows, cols, squeeze=False, sharey=True)
    for ax, retriever in zip(axes.flat, retrievers):
        for c in (c for c in curves if c["retriever"] == retriever):
            label = c.get("reranker_label", c["reranker"])
            xs, ys = [p["share"] for p in c["points"]], [p["value"] for p in c["points"]]
            ax.plot(xs, ys, marker="o", markersize=2.5, linewidth=1.4, color=colors[label], label=label)
            trained = c.get("trained")
            if trained:
                ax.scatter([trained["share"]], [trained["value"]], s=140, marker="*", color=colors[label], edgecolor="black",
                           linewidth=0.6, zorder=4)
                ax.annotate(f"t = {trained['threshold']:.3g}", (trained["share"], trained["value"]), xytext=(6, -12),
                            textcoords="offset points", fontsize=8, color=colors[label])
        ax.set_title(retriever, fontsize=10)
        ax.set_xlim(-0.02, 1.02)
        ax.set_xlabel("share of queries reranked")
        ax.grid(alpha=0.3)
    for ax in axes.flat[len(retrievers):]:
        ax.set_visible(False)
    for ax in axes[:, 0]:
        ax.set_ylabel(f"{gate['metric']} (higher is better)")
    fig.suptitle(f"Rerank gate: {gate['metric']} vs share of queries reranked — {_subtitle(results)}\n"
                 "(share 0 = first stage, 1 = every query reranked; ★ = the trained threshold)", fontsize=10)
    handles: dict = {}
    for ax in axes.flat:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(label, handle)
    fig.legend(list(handles.values()), list(handles), title="reranker", loc="outside lower center",
               ncol=min(len(handles), 3), fontsize=8)
    return _save(fig, path)


def write_plots(out_dir: Path, results: Mapping, curves: Mapping[str, Sequence[float]]) -> list[Path]:
    """Write every plot the results support into ``out_dir``; return the paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [plot_metric_by_run(results, out_dir / PLOT_FILES[0])]
    if any("p95" in r.get("latency_ms", {}) for r in results["runs"]):
        paths.append(plot_quality_vs_latency(results, out_dir / PLOT_FILES[1]))
    if curves:
        paths.append(plot_recall_at_k(results, curves, out_dir / PLOT_FILES[2]))
    if results.get("cost_accuracy"):
        paths.append(plot_cost_accuracy(results, out_dir / PLOT_FILES[3]))
    if (results.get("rerank_gate") or {}).get("curves"):
        paths.append(plot_rerank_gate(results, out_dir / PLOT_FILES[4]))
    return paths
