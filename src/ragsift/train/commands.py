"""The ``train-reranker`` and ``train-embedder`` subcommands: ``register(subparsers)`` adds them to a CLI.

Run standalone with ``python -m ragsift.train.commands train-reranker ...``.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path
from typing import Sequence

from ragsift.errors import RagsiftError

__all__ = ["register", "cmd_train_reranker", "cmd_train_embedder", "main"]


def register(sub) -> None:
    """Add ``train-reranker`` and ``train-embedder`` to an argparse subparsers object."""
    _add_train_reranker(sub)
    _add_train_embedder(sub)


def _common(p, what: str, holdout: float = 0.0) -> None:
    p.add_argument("--data", required=True, metavar="BEIR_DIR", help="BEIR directory (corpus.jsonl, queries.jsonl, qrels/)")
    p.add_argument("--split", default="train", help="qrels split to train on (default: train)")
    p.add_argument("--out", required=True, metavar="MODEL_DIR", help=f"where the trained {what} is written (new or empty folder)")
    p.add_argument(
        "--collection",
        metavar="DIR",
        help="hybrid collection of the same corpus used to mine hard negatives (reused; default: one built once "
        "under $RAGSIFT_HOME/mining/)",
    )
    p.add_argument("--holdout", type=float, default=holdout, metavar="F",
                   help="hold out this fraction of the split's queries (seeded) for a dev set; their ids go in the manifest"
                   + (" and the reranker's settings (interpolation weight, candidate depth) are tuned on them; 0 = train "
                      "on all, tune nothing" if what == "cross-encoder" else "") + f" (default: {holdout:g})")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bars")


def _add_train_reranker(sub) -> None:
    from ragsift.train.distill import DistillLoss
    from ragsift.train.reranker import RerankerTrainConfig as C

    p = sub.add_parser(
        "train-reranker",
        help="train a cross-encoder reranker on a BEIR split's judgements",
        description="Build a cross-encoder from a base encoder (default: the bundled all-MiniLM-L6-v2 with a new "
        "head) or continue training a cross-encoder, on groups of 1 judged positive + hard negatives mined with "
        "ragsift's hybrid retriever, plus unsupervised (title -> body) groups from the corpus; listwise loss. "
        "Then tunes the interpolation weight and the candidate depth on the held-out dev queries (--holdout) and "
        "records them, with max_length and the text fields read (title + body), in MODEL_DIR/ragsift_reranker.json: "
        "search, serve and eval use them as defaults. Saves a model that --reranker-model / ragsift eval --rerankers "
        "load, and records it as the default reranker for the corpus it was trained on. The whole run stays within "
        "--max-minutes (default 30) on 2 CPU cores, including the mining collection that the first run on a corpus "
        "builds (SciFact: 5 min of embedding on a quiet machine): training gets what is left.",
    )
    _common(p, "cross-encoder", holdout=C.holdout)
    p.add_argument("--base", metavar="NAME_OR_PATH", help="encoder or cross-encoder to start from (default: bundled all-MiniLM-L6-v2)")
    p.add_argument("--num-layers", type=int, metavar="N", help="keep only the first N encoder layers (faster model; default: all)")
    p.add_argument("--freeze-layers", type=int, metavar="N",
                   help="freeze embeddings and the first N layers (default: 3; 0 with --num-layers: a pruned student trains every layer)")
    p.add_argument("--negatives", type=int, default=C.negatives, help=f"hard negatives per group (default: {C.negatives})")
    p.add_argument("--negative-pool", type=int, default=C.negative_pool, metavar="N", help=f"draw negatives from the first-stage top N (default: {C.negative_pool})")
    p.add_argument("--title-ratio", type=float, default=C.title_ratio, metavar="R", help=f"unsupervised title->body groups per judged group; 0 turns them off (default: {C.title_ratio})")
    p.add_argument("--epochs", type=float, default=C.epochs, help=f"passes over the judged (query, positive) pairs (default: {C.epochs})")
    p.add_argument("--batch-groups", type=int, default=C.batch_groups, metavar="G", help=f"groups per optimizer step (default: {C.batch_groups})")
    p.add_argument("--max-length", type=int, default=C.max_length, help=f"tokens per (query, passage) pair while training (default: {C.max_length})")
    p.add_argument("--lr", type=float, default=C.lr, help=f"encoder learning rate (default: {C.lr})")
    p.add_argument("--head-lr", type=float, default=C.head_lr, help=f"scoring head + pooler learning rate (default: {C.head_lr})")
    p.add_argument("--warmup", type=float, default=C.warmup, help=f"warm-up fraction of the steps (default: {C.warmup})")
    p.add_argument("--loss", choices=["listwise", "bce"], default="listwise", help="listwise softmax CE over each group, or pointwise BCE (default: listwise)")
    p.add_argument("--head", choices=["cosine", "cls"], default=C.head.value,
                   help="scoring head of a new model: cosine of the mean-pooled query and passage tokens, "
                        f"or a linear layer on the [CLS] pooler (default: {C.head.value})")
    p.add_argument("--pooler", choices=["auto", "identity", "keep", "random"], default="auto",
                   help="--head cls only: [CLS] pooler of a new head: identity, keep the base's, random (default: auto = identity for a new head)")
    p.add_argument("--max-minutes", type=float, default=C.max_minutes, metavar="M",
                   help="bound the whole run (building the mining collection when it is not reused, mining, training, dev tuning) to about M "
                   "minutes: training stops early enough "
                   f"to leave time for the dev tuning, and saves what was learned (default: {C.max_minutes:g}; 0 = no limit)")
    p.add_argument("--inference-max-length", type=int, default=C.inference_max_length, metavar="N",
                   help=f"tokens per pair when the model is used (tuned and recorded as its max_length; default: {C.inference_max_length})")
    p.add_argument("--no-calibrate", action="store_true", help="do not fold a logistic calibration into the head")
    d = p.add_argument_group("distillation (learn a trained reranker's scores; see docs/training.md)")
    d.add_argument("--distill-from", metavar="TEACHER",
                   help="teacher cross-encoder folder (e.g. a train-reranker output): the model learns its scores over the "
                        "training groups; --base defaults to the teacher, so --num-layers N keeps its first N layers and its head")
    d.add_argument("--distill-loss", choices=[x.value for x in DistillLoss], default=C.distill_loss.value,
                   help="kl: KL from the teacher's softmax over each group; margin-mse: squared error of the score margins "
                        f"(default: {C.distill_loss.value})")
    d.add_argument("--distill-temperature", type=float, default=C.distill_temperature, metavar="T",
                   help=f"softmax temperature of the kl loss (default: {C.distill_temperature:g})")
    d.add_argument("--distill-label-weight", type=float, default=C.distill_label_weight, metavar="W",
                   help=f"add W x the labelled listwise loss to the distillation loss (default: {C.distill_label_weight:g})")
    p.add_argument("--no-record", action="store_true", help="do not make this the default reranker (ragsift.config.record_trained)")
    p.set_defaults(func=cmd_train_reranker)


def _add_train_embedder(sub) -> None:
    from ragsift.train.embedder import EmbedderTrainConfig as C

    p = sub.add_parser(
        "train-embedder",
        help="fine-tune the dense embedding model on a BEIR split's judgements",
        description="Contrastive fine-tuning (in-batch negatives + hard negatives mined with ragsift's hybrid "
        "retriever) of a sentence-transformers model. Build collections with it via --embed-model MODEL_DIR. "
        "The default recipe takes ~20 min for SciFact's train split on 2 CPU cores.",
    )
    _common(p, "embedding model")
    p.add_argument("--base", metavar="NAME_OR_PATH", help="sentence-transformers model to start from (default: bundled all-MiniLM-L6-v2)")
    p.add_argument("--hard-negatives", type=int, default=C.hard_negatives, metavar="N", help=f"mined hard negatives per query; 0 = in-batch only (default: {C.hard_negatives})")
    p.add_argument("--negative-pool", type=int, default=C.negative_pool, metavar="N", help=f"draw negatives from the first-stage top N (default: {C.negative_pool})")
    p.add_argument("--title-ratio", type=float, default=C.title_ratio, metavar="R", help=f"unsupervised title->document pairs per judged pair (default: {C.title_ratio})")
    p.add_argument("--epochs", type=float, default=C.epochs, help=f"passes over the judged pairs (default: {C.epochs})")
    p.add_argument("--batch-size", type=int, default=C.batch_size, help=f"queries per step (in-batch negatives) (default: {C.batch_size})")
    p.add_argument("--lr", type=float, default=C.lr, help=f"learning rate (default: {C.lr})")
    p.add_argument("--warmup", type=float, default=C.warmup, help=f"warm-up fraction of the steps (default: {C.warmup})")
    p.add_argument("--max-seq-length", type=int, default=C.max_seq_length, help=f"tokens per text (default: {C.max_seq_length})")
    p.add_argument("--max-minutes", type=float, metavar="M", help="stop training after M minutes and save (default: no limit)")
    p.set_defaults(func=cmd_train_embedder)


def cmd_train_reranker(args) -> int:
    from ragsift.train.reranker import RerankerTrainConfig, train_reranker

    cfg = RerankerTrainConfig(
        data_dir=Path(args.data), out_dir=Path(args.out), split=args.split, base=args.base,
        collection_dir=Path(args.collection) if args.collection else None, num_layers=args.num_layers,
        freeze_layers=args.freeze_layers, negatives=args.negatives, negative_pool=args.negative_pool,
        title_ratio=args.title_ratio, epochs=args.epochs, batch_groups=args.batch_groups,
        max_length=args.max_length, lr=args.lr, head_lr=args.head_lr, warmup=args.warmup, loss=args.loss,
        pooler=args.pooler, head=args.head, calibrate=not args.no_calibrate, holdout=args.holdout,
        max_minutes=args.max_minutes or None, seed=args.seed, show_progress=not args.quiet, record=not args.no_record,
        inference_max_length=args.inference_max_length, distill_from=args.distill_from, distill_loss=args.distill_loss,
        distill_temperature=args.distill_temperature, distill_label_weight=args.distill_label_weight,
    )
    manifest = train_reranker(cfg)
    _summary("reranker", args.out, manifest)
    s = manifest["settings"]["settings"]
    tuning = manifest["settings"]["tuning"]
    print(f"recorded settings ({Path(args.out) / 'ragsift_reranker.json'}): interpolate={s['interpolate']}, "
          f"candidates={s['candidates']}, max_length={s['max_length']}, text_fields={'+'.join(s['text_fields'])}")
    if "best_ndcg@10" in tuning:
        print(f"dev NDCG@10 ({tuning['queries']} held-out queries): first stage {tuning['first_stage_ndcg@10']:.4f} -> "
              f"reranked {tuning['best_ndcg@10']:.4f}")
    if not args.no_record:
        print("recorded as the default reranker for this corpus (ragsift search --rerank, quickstart)")
    return 0


def cmd_train_embedder(args) -> int:
    from ragsift.train.embedder import EmbedderTrainConfig, train_embedder

    cfg = EmbedderTrainConfig(
        data_dir=Path(args.data), out_dir=Path(args.out), split=args.split, base=args.base,
        collection_dir=Path(args.collection) if args.collection else None, hard_negatives=args.hard_negatives,
        negative_pool=args.negative_pool, title_ratio=args.title_ratio, epochs=args.epochs,
        batch_size=args.batch_size, lr=args.lr, warmup=args.warmup, max_seq_length=args.max_seq_length,
        holdout=args.holdout, max_minutes=args.max_minutes or None, seed=args.seed, show_progress=not args.quiet,
    )
    manifest = train_embedder(cfg)
    _summary("embedding model", args.out, manifest)
    print(f"use it: ragsift index SOURCE --collection DIR --embed-model {args.out}")
    return 0


def _summary(what: str, out: str, manifest: dict) -> None:
    dev = manifest["data"].get("heldout_query_ids")
    size = sum(f.stat().st_size for f in Path(out).rglob("*") if f.is_file())
    curve = manifest["training"]["loss_curve"]
    loss = f"loss {curve[0]:.3f} -> {curve[-1]:.3f}" if curve else "no steps"
    print(
        f"trained {what} -> {out}: {manifest['training']['steps']} steps, {loss}, "
        f"{manifest['total_seconds'] / 60:.1f} min, {size / 1e6:.1f} MB on disk"
    )
    if manifest["training"].get("stopped_early"):
        print(f"note: {manifest['training']['stopped_early']}")
    if dev:
        print(f"held out {len(dev)} dev queries (ids in {Path(out) / 'ragsift_train.json'}, data.heldout_query_ids)")


def main(argv: Sequence[str] | None = None) -> int:
    """Standalone entry point with the same error handling as ``ragsift``."""
    parser = argparse.ArgumentParser(prog="ragsift")
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    register(sub)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    start = time.perf_counter()
    try:
        return args.func(args)
    except RagsiftError as exc:
        print(f"ragsift {args.command}: error: {exc}", file=sys.stderr)
        return 2
    finally:
        logging.getLogger(__name__).info("%s took %.1f s", args.command, time.perf_counter() - start)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
