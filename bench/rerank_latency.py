"""Rerank latency for one request of 45 candidates: which configurations meet p95 < 500 ms?

Grid: max_length ∈ {128, 256, 512} × backend ∈ {torch, onnx fp32, onnx int8} × layers ∈ {6, 4, 2}
(MiniLM cross-encoders pruned to the first N layers with ``ragsift.rerank.build``; random head,
speed only) × batch_size ∈ {16, 45}. Pairs: the first SciFact test query and 45 random abstracts
(the same pairs as bench/rerank_speed.py). Each request is one ``CrossEncoderReranker.rerank``
call after warm-up; requests of the configurations that share (layers, max_length) are
interleaved so that load from other processes hits them alike.

Compute floor per configuration: FLOPs of the 45 pairs' real tokens (formula in
bench/rerank_speed.py) divided by the fp32 peak measured in this run. A configuration whose floor
is ≥ 500 ms cannot meet the alarm on this CPU whatever the software does.

Grid cuts, to keep the run near 10 minutes on 2 shared cores (all printed in the report):

* cells (layers, max_length) run in order of increasing floor;
* cells whose floor is below the 500 ms alarm get ``--requests`` (20) requests per configuration,
  both batch sizes; cells whose floor is already ≥ 500 ms get ``--requests-over-floor`` (3)
  requests and batch_size 16 only (they cannot pass; the numbers show by how much);
* once ``--budget-s`` seconds of measurement are spent, remaining cells are listed as not run.

    .venv/bin/python bench/rerank_latency.py --data ../shared/data/beir/scifact

Prints a table and writes bench/results/rerank_latency.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from rerank_speed import (
    DEFAULT_CACHE,
    RESULTS,
    build_model,
    floor_seconds,
    load_pairs,
    machine_info,
    measure_peak_gflops,
    token_counts,
)

ALARM_MS = 500.0
BACKENDS = {"torch": {}, "onnx fp32": {"backend": "onnx"}, "onnx int8": {"backend": "onnx", "quantize": "int8"}}


def percentile(values: list[float], q: float) -> float:
    """Linear-interpolated percentile (numpy's default method)."""
    import numpy as np

    return float(np.percentile(values, q))


def run_cell(model_dir: Path, max_length: int, batch_sizes: list[int], requests: int, query: str, docs: list[str]) -> dict:
    """Latencies (seconds) per (backend, batch_size) for one (layers, max_length) cell."""
    from ragsift.rerank.cross_encoder import CrossEncoderReranker

    rerankers = {}
    for backend, kwargs in BACKENDS.items():
        r = CrossEncoderReranker(model_dir, max_length=max_length, **kwargs)
        r.warm_up()
        r.rerank(query, docs)  # first full-size request: allocator and thread pools warm
        rerankers[backend] = r
    times: dict = {(b, bs): [] for b in BACKENDS for bs in batch_sizes}
    for _ in range(requests):
        for backend, bs in times:
            r = rerankers[backend]
            r.batch_size = bs
            start = time.perf_counter()
            r.rerank(query, docs)
            times[(backend, bs)].append(time.perf_counter() - start)
    return times


def plan_cells(args: argparse.Namespace, query: str, docs: list[str], peak: float) -> list[dict]:
    cells = []
    for layers in args.layers:
        model_dir = build_model(layers, Path(args.cache_dir))
        for max_length in args.max_lengths:
            counts = token_counts(model_dir, query, docs, max_length)
            floor = floor_seconds(model_dir, counts, peak)
            cells.append({"layers": layers, "max_length": max_length, "model_dir": model_dir, "floor_s": floor,
                          "mean_tokens": sum(counts) / len(counts)})  # fmt: skip
    return sorted(cells, key=lambda c: c["floor_s"])


def run(args: argparse.Namespace) -> dict:
    query, docs = load_pairs(args.data, args.candidates)
    measured_peak = measure_peak_gflops(repeats=20)
    peak = args.peak_gflops or measured_peak
    cells = plan_cells(args, query, docs, peak)
    rows, not_run, start = [], [], time.perf_counter()
    for cell in cells:
        can_pass = cell["floor_s"] * 1000 < ALARM_MS
        if time.perf_counter() - start > args.budget_s:
            not_run.append({k: v for k, v in cell.items() if k != "model_dir"})
            continue
        batch_sizes = args.batch_sizes if can_pass else args.batch_sizes[:1]
        requests = args.requests if can_pass else args.requests_over_floor
        times = run_cell(cell["model_dir"], cell["max_length"], batch_sizes, requests, query, docs)
        for (backend, bs), ts in times.items():
            p50, p95 = percentile(ts, 50) * 1000, percentile(ts, 95) * 1000
            rows.append({
                "layers": cell["layers"], "max_length": cell["max_length"], "backend": backend,
                "batch_size": bs, "requests": len(ts), "mean_tokens": cell["mean_tokens"],
                "p50_ms": p50, "p95_ms": p95, "under_alarm": p95 < ALARM_MS,
                "floor_ms": cell["floor_s"] * 1000, "pct_of_floor_p50": 100 * cell["floor_s"] * 1000 / p50,
            })  # fmt: skip
            print(_format_row(rows[-1]), flush=True)
    peak_end = measure_peak_gflops()
    return {
        "benchmark": "rerank_latency",
        "candidates": args.candidates,
        "query": query,
        "alarm_ms": ALARM_MS,
        "peak_fp32_gflops": peak,
        "peak_source": "--peak-gflops" if args.peak_gflops else "measured at start",
        "peak_fp32_gflops_measured_at_start": measured_peak,
        "peak_fp32_gflops_at_end": peak_end,
        "requests": args.requests,
        "requests_over_floor": args.requests_over_floor,
        "budget_s": args.budget_s,
        "elapsed_s": time.perf_counter() - start,
        "machine": machine_info(),
        "rows": sorted(rows, key=lambda r: (-r["layers"], r["max_length"], list(BACKENDS).index(r["backend"]), r["batch_size"])),
        "not_run": not_run,
    }


HEADER = "| layers | max_length | backend | batch | n | p50 ms | p95 ms | < 500 ms | floor ms | % of floor (p50) |"


def _format_row(r: dict) -> str:
    mark = "**yes**" if r["under_alarm"] else "no"
    return (
        f"| {r['layers']} | {r['max_length']} | {r['backend']} | {r['batch_size']} | {r['requests']} | "
        f"{r['p50_ms']:.0f} | {r['p95_ms']:.0f} | {mark} | {r['floor_ms']:.0f} | {r['pct_of_floor_p50']:.0f} % |"
    )


def to_markdown(result: dict) -> str:
    lines = [
        f"# Rerank latency, {result['candidates']} candidates per request (alarm: p95 > {result['alarm_ms']:.0f} ms)",
        "",
        f"fp32 peak (torch 2048² matmul): {result['peak_fp32_gflops_measured_at_start']:.0f} GFLOP/s at start, "
        f"{result['peak_fp32_gflops_at_end']:.0f} at end; floors use {result['peak_fp32_gflops']:.0f} "
        f"({result['peak_source']}). "
        f"{result['machine']['cores']} cores, torch threads {result['machine']['torch_threads']}; "
        f"load average at start {result['machine']['load_avg_at_start']} (other processes may share the CPU). "
        f"Cells below the alarm by floor: {result['requests']} requests per configuration, batch 16 and 45; "
        f"cells whose floor is already ≥ 500 ms: {result['requests_over_floor']} requests, batch 16 only. "
        f"Measurement time {result['elapsed_s']:.0f} s (budget {result['budget_s']:.0f} s).",
        "",
        HEADER,
        "|---|---|---|---|---|---|---|---|---|---|",
        *(_format_row(r) for r in result["rows"]),
    ]
    if result["not_run"]:
        lines += ["", "Not run (time budget spent):", ""]
        lines += [
            f"- layers {c['layers']}, max_length {c['max_length']}: floor {c['floor_s'] * 1000:.0f} ms"
            + (" (cannot meet the alarm)" if c["floor_s"] * 1000 >= ALARM_MS else " (could meet it by floor)")
            for c in result["not_run"]
        ]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, help="SciFact BEIR directory")
    ap.add_argument("--candidates", type=int, default=45)
    ap.add_argument("--max-lengths", type=int, nargs="+", default=[128, 256, 512])
    ap.add_argument("--layers", type=int, nargs="+", default=[6, 4, 2])
    ap.add_argument("--batch-sizes", type=int, nargs="+", default=[16, 45])
    ap.add_argument("--requests", type=int, default=20)
    ap.add_argument("--requests-over-floor", type=int, default=3)
    ap.add_argument("--budget-s", type=float, default=480.0, help="stop starting new cells after this")
    ap.add_argument("--peak-gflops", type=float, default=None,
                    help="fp32 peak for the floors (default: measured at start; contention lowers it)")
    ap.add_argument("--cache-dir", default=str(DEFAULT_CACHE), help="where built models are kept")
    args = ap.parse_args()
    print(HEADER)
    result = run(args)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "rerank_latency.json").write_text(json.dumps(result, indent=2) + "\n")
    markdown = to_markdown(result)
    (RESULTS / "rerank_latency.md").write_text(markdown)
    print(markdown)


if __name__ == "__main__":
    main()
