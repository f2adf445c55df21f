"""The quality–latency frontier of the second stage on this CPU (issue 16).

Every point reranks the hybrid first stage of every SciFact test query (RRF over BM25 and dense
top 100, exactly as ``ragsift eval --retrievers hybrid``) with its model's **recorded**
interpolation weight (``ragsift_reranker.json``: the weight tuned on the held-out train queries at
the nearest depth), one ``rerank_hits`` call per query as a search serves it. The same calls give
both numbers: NDCG@10 over the test queries, and the latency of each call (p50/p95 over the
test queries after a warm-up). Points:

* the teacher (the trained 6-layer model) with torch at its recorded depth and max_length — the
  reference — and with ONNX int8 (this CPU's default backend) at its recorded depth;
* fewer candidates: the teacher int8 at 20 (and 30 when that is not the recorded depth);
* shorter inputs: the teacher int8 at 128 tokens;
* each ``--student LABEL=DIR`` (``train-reranker --num-layers N --distill-from TEACHER``) with
  ONNX int8 at its recorded max_length, at 45 candidates and at its recorded depth; ``--short N``
  adds an int8 point at N tokens and 45 candidates for each student;
* shorter inputs and fewer candidates together: the teacher int8 at 128 tokens and 20 candidates;
* each ``--late LABEL=DIR``: the late-interaction reranker (``ragsift late-index``) at 45 candidates.

"reranker alone" is the NDCG@10 of the candidates in the reranker's own order (weight 1), read
from the same calls.

    .venv/bin/python bench/rerank_frontier.py --data ../shared/data/beir/scifact \\
        --collection MINING_COLLECTION --teacher M --student 2L=S2 --student 3L=S3 --late minilm=STORE

Prints a table; writes bench/results/rerank_frontier.{json,md} and docs/img/rerank_frontier.png.
Points run one after another (never two models at once); the load average is recorded before and
after each. Per-query NDCG@10 of every point is compared with the reference by a paired
randomization test (ragsift.eval.significance).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from service_write import cpu_model  # bench/ is on sys.path when a script of it runs

from ragsift.eval.first_stage import ranked_run
from ragsift.eval.metrics import evaluate_per_query
from ragsift.eval.significance import randomization_test
from ragsift.ingest.beir import load_beir
from ragsift.pipeline.rerank import RerankOptions, rerank_hits
from ragsift.pipeline.search import Searcher
from ragsift.train.data import open_or_build_collection
from ragsift.train.tune import first_stage_options
from ragsift.types import TEXT_FIELDS

RESULTS = Path(__file__).parent / "results"
IMG = Path(__file__).parent.parent / "docs" / "img"
ALARM_MS = 500.0
DEPTH = 45
WARMUP = 3


@dataclass
class Point:
    label: str
    model: str
    kind: str  # "cross-encoder" | "late-interaction"
    backend: str | None
    quantize: str | None
    max_length: int | None
    candidates: int
    note: str = ""


def load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def build(point: Point):
    if point.kind == "late-interaction":
        from ragsift.rerank.registry import get_reranker

        return get_reranker("late-interaction", model=point.model)
    from ragsift.rerank.cross_encoder import CrossEncoderReranker

    return CrossEncoderReranker(point.model, max_length=point.max_length, backend=point.backend, quantize=point.quantize)


def backend_label(reranker) -> str | None:
    backend = getattr(reranker, "backend", None)
    if backend is None:
        return None
    quantize = getattr(reranker, "quantize", None)
    return backend.value + (f" {quantize.value}" if quantize is not None else "")


def layers(model: str) -> int | None:
    cfg = Path(model) / "config.json"
    return json.loads(cfg.read_text()).get("num_hidden_layers") if cfg.is_file() else None


def run_point(point: Point, hits: dict, queries: dict, qrels: dict) -> dict:
    reranker = build(point)
    if hasattr(reranker, "warm_up"):
        reranker.warm_up()
    settings = getattr(reranker, "model_settings", None)
    weight, tuned_at = settings.interpolate_at(point.candidates) if settings else (None, None)
    opts = RerankOptions(candidates=point.candidates, top_n=point.candidates, interpolate=weight, text_fields=TEXT_FIELDS)
    qids = sorted(hits)
    for q in qids[:WARMUP]:
        rerank_hits(reranker, queries[q], hits[q][: point.candidates], opts)
    before = load()
    run, alone, latencies = {}, {}, []
    for q in qids:
        begin = time.perf_counter()
        reranked, _ = rerank_hits(reranker, queries[q], hits[q][: point.candidates], opts)
        latencies.append((time.perf_counter() - begin) * 1000.0)
        run[q] = reranked + hits[q][point.candidates :]
        by_model = sorted(reranked, key=lambda h: -h.source_scores["rerank"])  # the reranker's own order, same call
        alone[q] = by_model + hits[q][point.candidates :]
    per_query = evaluate_per_query(qrels, ranked_run(run), ["ndcg@10"])
    per_query_alone = evaluate_per_query(qrels, ranked_run(alone), ["ndcg@10"])
    lat = np.asarray(latencies)
    return {
        **asdict(point),
        "layers": layers(point.model) if point.kind == "cross-encoder" else None,
        "max_length_used": getattr(reranker, "max_length", point.max_length),
        "backend_used": backend_label(reranker),
        "interpolate": weight,
        "interpolate_tuned_at": tuned_at,
        "ndcg@10": float(np.mean([v["ndcg@10"] for v in per_query.values()])),
        "per_query": {q: v["ndcg@10"] for q, v in per_query.items()},
        "ndcg@10_reranker_alone": float(np.mean([v["ndcg@10"] for v in per_query_alone.values()])),
        "p50_ms": float(np.percentile(lat, 50)),
        "p95_ms": float(np.percentile(lat, 95)),
        "mean_ms": float(lat.mean()),
        "requests": len(qids),
        "load_before": before,
        "load_after": load(),
    }


def points(args) -> list[Point]:
    from ragsift.rerank.settings import read_model_settings

    recorded = read_model_settings(Path(args.teacher))
    depth = (recorded.candidates if recorded else None) or 30
    length = (recorded.max_length if recorded else None) or 256
    out = [
        Point("6L torch (reference)", args.teacher, "cross-encoder", "torch", None, length, depth, "recorded settings"),
        Point("6L onnx int8", args.teacher, "cross-encoder", "onnx", "int8", length, depth, "recorded settings"),
        Point("6L onnx int8, 20 candidates", args.teacher, "cross-encoder", "onnx", "int8", length, 20, "fewer candidates"),
    ]
    if depth != 30:
        out.append(Point("6L onnx int8, 30 candidates", args.teacher, "cross-encoder", "onnx", "int8", length, 30, "fewer candidates"))
    out.append(Point("6L onnx int8, 128 tokens", args.teacher, "cross-encoder", "onnx", "int8", 128, depth, "shorter inputs"))
    out.append(Point("6L onnx int8, 128 tokens, 20 candidates", args.teacher, "cross-encoder", "onnx", "int8", 128, 20,
                     "shorter inputs and fewer candidates"))
    for spec in args.student:
        label, _, path = spec.partition("=")
        s = read_model_settings(Path(path))
        s_len = (s.max_length if s else None) or 128
        s_depth = (s.candidates if s else None) or DEPTH
        out.append(Point(f"{label} student onnx int8", path, "cross-encoder", "onnx", "int8", s_len, DEPTH, "distilled"))
        if s_depth != DEPTH:
            out.append(Point(f"{label} student onnx int8, {s_depth} candidates", path, "cross-encoder", "onnx", "int8", s_len, s_depth,
                             "distilled, its recorded depth"))
        if args.short:
            out.append(Point(f"{label} student onnx int8, {args.short} tokens", path, "cross-encoder", "onnx", "int8", args.short, DEPTH,
                             "distilled, shorter inputs"))
    for spec in args.late:
        label, _, path = spec.partition("=")
        out.append(Point(f"late interaction, {label}", path, "late-interaction", None, None, None, DEPTH, "index-time int8 token vectors"))
    if args.only:
        out = [p for p in out if any(s in p.label for s in args.only)]
    return out


def pareto(rows: list[dict]) -> list[dict]:
    """Points no other point beats on both p95 latency and NDCG@10."""
    best, out = -1.0, []
    for r in sorted(rows, key=lambda r: (r["p95_ms"], -r["ndcg@10"])):
        if r["ndcg@10"] > best:
            out.append(r)
            best = r["ndcg@10"]
    return out


def markdown(report: dict) -> str:
    rows, ref = report["points"], report["reference"]
    lines = [
        f"# Second-stage frontier on SciFact test ({report['queries']} queries, hybrid first stage)",
        "",
        f"{report['cpu']}, {report['cores']} cores; load average {report['load_start']} at start, {report['load_end']} at end; "
        f"{report['seconds']:.0f} s in all. NDCG@10 with each model's recorded interpolation; latency of each query's "
        f"rerank call (its candidates), p50/p95 over the test queries after {WARMUP} warm-up calls.",
        "",
        f"First stage alone: NDCG@10 {report['first_stage_ndcg@10']:.4f}. Reference ({ref['label']}, the first point): {ref['ndcg@10']:.4f}.",
        "",
        "| point | layers | backend | tokens | candidates | weight (tuned at) | NDCG@10 | vs reference (p) | reranker alone | p50 ms | p95 ms | p95 ≤ 500 ms | NDCG ≥ reference |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        w = "—" if r["interpolate"] is None else f"{r['interpolate']:g} ({r['interpolate_tuned_at']})"
        lines.append(
            f"| {r['label']} | {r['layers'] or '—'} | {r['backend_used'] or r['kind']} | {r['max_length_used'] or '—'} | {r['candidates']} | {w} | "
            f"{r['ndcg@10']:.4f} | {r['ndcg@10'] - ref['ndcg@10']:+.4f} ({r['p_vs_reference']:.3f}) | {r['ndcg@10_reranker_alone']:.4f} | "
            f"{r['p50_ms']:.0f} | {r['p95_ms']:.0f} | "
            f"{'yes' if r['p95_ms'] <= ALARM_MS else 'no'} | {'yes' if r['ndcg@10'] >= ref['ndcg@10'] else 'no'} |"
        )
    lines += ["", "Pareto frontier (p95 → NDCG@10): " + ", ".join(f"{r['label']} ({r['p95_ms']:.0f} ms, {r['ndcg@10']:.4f})" for r in pareto(rows))]
    best = report.get("cpu_default")
    lines += ["", f"Best point with p95 ≤ {ALARM_MS:.0f} ms: " + (f"**{best}**" if best else "none")]
    return "\n".join(lines) + "\n"


def plot(report: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows, ref = report["points"], report["reference"]
    fig, ax = plt.subplots(figsize=(8, 5))
    for r in rows:
        ax.scatter(r["p95_ms"], r["ndcg@10"], s=36, color="tab:blue" if r["p95_ms"] <= ALARM_MS else "tab:gray", zorder=3)
        ax.annotate(r["label"], (r["p95_ms"], r["ndcg@10"]), textcoords="offset points", xytext=(5, 3), fontsize=7)
    front = pareto(rows)
    ax.plot([r["p95_ms"] for r in front], [r["ndcg@10"] for r in front], color="tab:blue", lw=1, alpha=0.6)
    ax.axvline(ALARM_MS, color="tab:red", ls="--", lw=1, label="p95 alarm 500 ms")
    ax.axhline(ref["ndcg@10"], color="tab:green", ls=":", lw=1, label=f"reference: {ref['label']}")
    ax.axhline(report["first_stage_ndcg@10"], color="black", ls=":", lw=1, label="hybrid first stage")
    ax.set_xscale("log")
    ax.set_xlabel("p95 rerank latency per query, ms (log; 2 CPU cores)")
    ax.set_ylabel("NDCG@10, SciFact test")
    ax.set_title("Second stage: quality vs latency on this CPU")
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=130)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, help="BEIR SciFact directory")
    ap.add_argument("--collection", help="hybrid collection of the corpus (default: the train-reranker mining collection)")
    ap.add_argument("--teacher", required=True, help="the trained 6-layer reranker folder")
    ap.add_argument("--student", action="append", default=[], metavar="LABEL=DIR", help="a distilled student (repeatable)")
    ap.add_argument("--short", type=int, metavar="N", help="also run the first student at N tokens")
    ap.add_argument("--late", action="append", default=[], metavar="LABEL=STORE",
                    help="a late-interaction token store built by `ragsift late-index` (repeatable)")
    ap.add_argument("--queries", type=int, help="only the first N test queries (a smoke run)")
    ap.add_argument("--only", nargs="*", help="only points whose label contains one of these")
    ap.add_argument("--name", default="rerank_frontier")
    args = ap.parse_args()

    start = time.perf_counter()
    load_start = load()
    data = load_beir(args.data, split="test")
    coll = open_or_build_collection(args.collection, data.corpus, data.name)
    qids = sorted(q for q in data.queries if q in data.qrels)[: args.queries]
    queries = {q: data.queries[q] for q in qids}
    results = Searcher(coll).search_many([queries[q] for q in qids], first_stage_options(DEPTH))
    hits = {q: r.hits for q, r in zip(qids, results)}
    qrels = {q: data.qrels[q] for q in qids}
    first = evaluate_per_query(qrels, ranked_run(hits), ["ndcg@10"])
    first_ndcg = float(np.mean([v["ndcg@10"] for v in first.values()]))
    print(f"{len(qids)} test queries, first stage NDCG@10 {first_ndcg:.4f}; load {load_start}", flush=True)

    rows = []
    RESULTS.mkdir(parents=True, exist_ok=True)
    for point in points(args):
        row = run_point(point, hits, queries, qrels)
        rows.append(row)
        (RESULTS / f"{args.name}.partial.json").write_text(json.dumps(rows, indent=1) + "\n")  # survives a crash later
        print(f"{row['label']:<45} NDCG@10 {row['ndcg@10']:.4f}  p50 {row['p50_ms']:7.0f} ms  p95 {row['p95_ms']:7.0f} ms  "
              f"load {row['load_before']} -> {row['load_after']}", flush=True)
    ref = rows[0]
    for r in rows:
        a = [r["per_query"][q] for q in sorted(ref["per_query"])]
        b = [ref["per_query"][q] for q in sorted(ref["per_query"])]
        r["p_vs_reference"] = 1.0 if r is ref else randomization_test(a, b)
    eligible = [r for r in rows if r["p95_ms"] <= ALARM_MS]
    best = max(eligible, key=lambda r: r["ndcg@10"]) if eligible else None
    report = {
        "cpu": cpu_model(), "cores": len(os.sched_getaffinity(0)), "load_start": load_start, "load_end": load(),
        "seconds": time.perf_counter() - start, "queries": len(qids), "first_stage_ndcg@10": first_ndcg,
        "reference": {k: ref[k] for k in ("label", "ndcg@10", "p95_ms")},
        "cpu_default": best and best["label"], "argv": sys.argv[1:], "points": rows,
    }
    (RESULTS / f"{args.name}.json").write_text(json.dumps(report, indent=2) + "\n")
    (RESULTS / f"{args.name}.partial.json").unlink(missing_ok=True)
    md = markdown(report)
    (RESULTS / f"{args.name}.md").write_text(md)
    plot(report, IMG / f"{args.name}.png")
    print(md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
