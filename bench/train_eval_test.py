"""Evaluate a trained reranker on a BEIR test split through ``ragsift.eval.runner.run_eval``, three ways, scoring once.

Runs the exact ``ragsift eval`` code path (``--retrievers hybrid --rerankers none,MODEL --candidates N``)
three times in one process — pure reranking, ``--interpolate auto`` (weight tuned on *train*
queries: those the model held out of training when its ``ragsift_train.json`` lists them, else
the first ``--tune-queries``) and ``--interpolate W`` (a weight chosen beforehand on a dev hold-out) —
sharing one in-memory score cache, so every (query, passage) pair is scored once. Writes each
run's ``results.json`` / ``results.md`` under ``--out/{pure,auto,fixed}``.

    RERANKER_MAX_LENGTH=256 HF_HUB_OFFLINE=1 python bench/train_eval_test.py --data ../shared/data/beir/scifact \
        --collection /tmp/scifact_coll --model MODEL_DIR --weight 0.5 --out /tmp/eval_test
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from ragsift.eval import runner
from ragsift.eval.report import render_markdown


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--collection", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--candidates", type=int, default=45)
    ap.add_argument("--weight", type=float, help="fixed interpolation weight chosen on dev (omit to skip)")
    ap.add_argument("--embed-model", default="all-MiniLM-L6-v2")
    ap.add_argument("--tune-queries", type=int, default=200, help="train queries --interpolate auto tunes on (eval default 200)")
    args = ap.parse_args()

    built: dict = {}
    original = runner.build_reranker
    runner.build_reranker = lambda spec, backend=None: built.setdefault(spec, original(spec, backend))  # one cache for all three runs

    modes = {"pure": None, "auto": "auto"}
    if args.weight is not None:
        modes["fixed"] = args.weight
    summary = {}
    for name, interpolate in modes.items():
        start = time.perf_counter()
        cfg = runner.EvalConfig(
            data_dir=Path(args.data), out_dir=Path(args.out) / name, split="test", retrievers=["hybrid"],
            collection_dir=Path(args.collection), embed_model=args.embed_model,
            rerankers=["none", args.model], candidates=args.candidates, interpolate=interpolate, show_progress=False,
            tune_queries=args.tune_queries,
        )
        results = runner.run_eval(cfg)
        print(render_markdown(results), flush=True)
        reranked = [r for r in results["runs"] if r["reranker"] != "none"][0]
        summary[name] = {
            "ndcg@10": reranked["metrics"]["ndcg@10"],
            "baseline_ndcg@10": reranked["baseline"]["ndcg@10"],
            "interpolate": reranked["params"]["interpolate"],
            "tuning": reranked["params"].get("tuning"),
            "seconds": round(time.perf_counter() - start, 1),
            "rerank_p50_ms": reranked["stage_latency_ms"]["rerank"].get("p50"),
        }
        print(name, json.dumps(summary[name]), flush=True)
    (Path(args.out) / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")


if __name__ == "__main__":
    main()
