"""Reranker backends side by side on a BEIR test split: NDCG@10 and pairs/s of torch vs ONNX int8 (and fp32).

Runs the exact ``ragsift eval --retrievers hybrid --rerankers none,MODEL`` code path
(:func:`ragsift.eval.runner.run_eval`) once per backend in one process, over one existing
collection (``--collection``; the first stage is the same for every backend). Each backend
scores every (query, candidate) pair itself (its own cache), so pairs/s is the model time of
that backend: ``pairs_scored / model_s`` from the run's ``rerank_cache`` stats. The model's
recorded settings apply (interpolation weight, max_length, title + body; ``--candidates``
overrides the recorded depth). Also records the CPU model, its flags of interest and the load
average before and after each backend.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/backend_compare.py --data ../shared/data/beir/scifact \
        --collection /tmp/i12/eval/collection --model /tmp/i12/M --out /tmp/i12/backends
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

from ragsift.eval import runner


def cpu_info() -> dict:
    info = {"machine": platform.machine(), "cores": os.cpu_count()}
    try:
        text = Path("/proc/cpuinfo").read_text()
        for line in text.splitlines():
            if line.startswith("model name"):
                info["model"] = line.split(":", 1)[1].strip()
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                info["flags"] = sorted(flags & {"avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni", "amx_bf16", "amx_int8"})
                break
    except OSError:
        pass
    return info


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--collection", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--candidates", type=int, help="default: the model's recorded depth")
    ap.add_argument("--backends", default="torch,onnx-int8", help="comma list of torch, onnx, onnx-int8")
    ap.add_argument("--max-queries", type=int)
    args = ap.parse_args()

    rows = {}
    for backend in [b.strip() for b in args.backends.split(",") if b.strip()]:
        load_before = os.getloadavg()
        start = time.perf_counter()
        cfg = runner.EvalConfig(
            data_dir=Path(args.data), out_dir=Path(args.out) / backend, split="test", retrievers=["hybrid"],
            collection_dir=Path(args.collection), rerankers=["none", args.model], candidates=args.candidates,
            reranker_backend=backend, show_progress=False, plots=False, max_queries=args.max_queries,
        )
        results = runner.run_eval(cfg)
        reranked = next(r for r in results["runs"] if r["reranker"] != "none")
        stats = next(iter(results["rerank_cache"].values()))
        rows[backend] = {
            "ndcg@10": reranked["metrics"]["ndcg@10"],
            "first_stage_ndcg@10": reranked["baseline"]["ndcg@10"],
            "pairs_scored": stats.get("pairs_scored"),
            "model_s": stats.get("model_s"),
            "pairs_per_s": round(stats["pairs_scored"] / stats["model_s"], 2) if stats.get("model_s") else None,
            "rerank_ms": reranked["stage_latency_ms"].get("rerank"),
            "rerank_settings": reranked["params"].get("rerank_settings"),
            "wall_s": round(time.perf_counter() - start, 1),
            "loadavg_before": [round(x, 2) for x in load_before],
            "loadavg_after": [round(x, 2) for x in os.getloadavg()],
        }
        print(backend, json.dumps(rows[backend]), flush=True)
    torch_row = rows.get("torch")
    summary = {"cpu": cpu_info(), "model": args.model, "queries": results["queries"], "backends": rows}
    if torch_row:
        for name, row in rows.items():
            row["ndcg_delta_vs_torch"] = round(row["ndcg@10"] - torch_row["ndcg@10"], 4)
            if row["pairs_per_s"] and torch_row["pairs_per_s"]:
                row["speedup_vs_torch"] = round(row["pairs_per_s"] / torch_row["pairs_per_s"], 2)
        eligible = {n: r for n, r in rows.items() if abs(r["ndcg_delta_vs_torch"]) <= 0.003}
        summary["fastest_at_equal_quality"] = max(eligible, key=lambda n: eligible[n]["pairs_per_s"] or 0)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / "backend_compare.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
