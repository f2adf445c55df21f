"""``ragsift train-router``: learn a collection's query policy (router, rerank gate, validator)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

__all__ = ["register", "cmd_train_router"]


def register(sub) -> None:
    from ragsift.query import training as T

    p = sub.add_parser(
        "train-router",
        help="learn --mode auto's router, --rerank auto's gate and the result validator on a BEIR training split",
        description="Runs BM25 and dense retrieval once per training query, learns which queries BM25 or dense "
        "alone serve as well as hybrid (the router), which queries lack a relevant passage in the top 5 (the "
        "validator) and, with --reranker-model, which queries reranking improves (the gate). Thresholds are chosen "
        "on the split by 5-fold cross-validation. The policy is saved as COLLECTION/query_policy.json, where every "
        "search of the collection finds it (or --out).",
    )
    p.add_argument("--data", required=True, metavar="BEIR_DIR", help="BEIR directory (corpus.jsonl, queries.jsonl, qrels/)")
    p.add_argument("--split", default="train", help="qrels split to learn from (default: train; never the split you report)")
    p.add_argument("--collection", metavar="DIR",
                   help="the collection of the same corpus, with dense vectors, whose searches the policy serves "
                   "(default: one built once under $RAGSIFT_HOME/mining/)")
    p.add_argument("--out", metavar="FILE", help="where to write the policy (default: COLLECTION/query_policy.json)")
    p.add_argument("--reranker-model", metavar="PATH", help="also learn the rerank gate for this cross-encoder "
                   "(reranks each gate query's candidates once, with the model's recorded settings)")
    p.add_argument("--reranker-backend", choices=["torch", "onnx", "onnx-int8"], help="cross-encoder engine for the gate")
    p.add_argument("--gate-queries", choices=["heldout", "all"], default="heldout",
                   help="queries the gate learns from: the reranker's held-out training queries when it recorded them "
                   "(it never trained on those; default), or all of the split")
    p.add_argument("--max-loss", type=float, default=T.MAX_LOSS,
                   help=f"training NDCG@10 the router may lose against always-hybrid (default: {T.MAX_LOSS})")
    p.add_argument("--keep-gain", type=float, default=T.KEEP_GAIN,
                   help=f"share of the reranking gain the gate keeps on the split (default: {T.KEEP_GAIN})")
    p.add_argument("--target-precision", type=float, default=T.TARGET_PRECISION,
                   help=f"precision of 'fail' the validator's threshold is chosen for (default: {T.TARGET_PRECISION})")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_train_router)


def cmd_train_router(args) -> int:
    from ragsift.errors import ConfigError
    from ragsift.index.collection import Collection
    from ragsift.ingest.beir import load_beir
    from ragsift.pipeline.search import Searcher
    from ragsift.query.policy import POLICY_FILE
    from ragsift.query.training import train_policy
    from ragsift.train.data import open_or_build_collection

    for name, value in (("--max-loss", args.max_loss), ("--keep-gain", args.keep_gain), ("--target-precision", args.target_precision)):
        if not 0.0 <= value <= 1.0:
            raise ConfigError(f"{name} {value!r} must be between 0 and 1")
    data = load_beir(args.data, args.split)
    if args.collection and Collection.exists(args.collection):
        collection = Collection.open(args.collection)
    else:
        collection = open_or_build_collection(args.collection, data.corpus, data.name, show_progress=not args.quiet)
    reranker = rerank = gate_qids = None
    trained_on = {"dataset": data.name, "split": args.split, "queries": len(data.queries), "collection": str(collection.path)}
    if args.reranker_model:
        from ragsift.config import reranker_spec
        from ragsift.pipeline.rerank import RerankOptions
        from ragsift.rerank.registry import build

        options = {"backend": args.reranker_backend} if args.reranker_backend else {}
        reranker = build(reranker_spec("cross-encoder", args.reranker_model, model_source="--reranker-model", options=options))
        reranker.warm_up()
        rerank = RerankOptions()
        trained_on["reranker"] = str(args.reranker_model)
        manifest = Path(args.reranker_model) / "ragsift_train.json"
        if args.gate_queries == "heldout":
            held = json.loads(manifest.read_text(encoding="utf-8")).get("data", {}).get("heldout_query_ids") if manifest.is_file() else None
            if held:
                gate_qids = [q for q in held if q in data.queries]
                trained_on["gate_queries"] = f"{len(gate_qids)} held-out queries the reranker never trained on"
            else:
                print("note: the reranker recorded no held-out queries; the gate learns from all of the split "
                      "(its gains there may be optimistic)", file=sys.stderr)
    progress = _progress(not args.quiet)
    policy = train_policy(
        Searcher(collection, reranker, policy=None), data.queries, data.qrels, rerank=rerank, gate_qids=gate_qids,
        max_loss=args.max_loss, keep_gain=args.keep_gain, target_precision=args.target_precision,
        trained_on=trained_on, progress=progress,
    )
    out = policy.save(args.out or Path(collection.path) / POLICY_FILE)
    _print_summary(policy, out)
    return 0


def _progress(show: bool):
    if not show:
        return lambda items, desc: items
    from tqdm import tqdm

    return lambda items, desc: tqdm(items, desc=desc, file=sys.stderr)


def _print_summary(policy, out: Path) -> None:
    r = policy.router.report
    print(f"router: thresholds bm25 {policy.router.thresholds['bm25']:.3g}, dense {policy.router.thresholds['dense']:.3g}; "
          f"out-of-fold routes {r['shares (out-of-fold)']}; train NDCG@10 {r['train_ndcg@10']}")
    v = policy.validator.report
    print(f"validator: fail at P >= {policy.validator.threshold:.3g} (target precision {policy.validator.target_precision}); "
          f"out-of-fold {v['out-of-fold at the threshold']}")
    if policy.gate is not None:
        g = policy.gate.report
        print(f"rerank gate: rerank at P >= {policy.gate.threshold:.3g}; out-of-fold reranked {g['reranked (out-of-fold)']}, "
              f"gain kept {g['gain_kept (out-of-fold)']}; train NDCG@10 {g['train_ndcg@10']}")
    print(f"saved: {out}")
