"""``ragsift late-index``: build a collection's late-interaction token store (and tune it on a BEIR split).

The store holds the token vectors of every passage the ``Searcher`` can hand to a reranker: each
chunk and, in parent–child collections, each parent, read as :func:`ragsift.types.passage_text`
of the chosen text fields (title + text by default) — the exact strings
:func:`ragsift.pipeline.rerank.hit_texts` sends, so lookups hit. Rerank with it by
``--reranker-type late-interaction --reranker-model STORE`` (``RERANKER_TYPE`` / ``RERANKER_MODEL``).

``--tune-on BEIR_DIR`` then tunes the interpolation weight and the candidate depth on that
dataset's ``--split`` (default ``train``, never the split you report) with
:func:`ragsift.train.tune.tune_settings` over the collection's hybrid first stage, and records
them in ``STORE/ragsift_reranker.json`` (:func:`tune_late_interaction`).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ragsift.errors import ConfigError
from ragsift.types import TEXT_FIELDS, passage_text

__all__ = ["register", "cmd_late_index", "late_index", "collection_passages", "tune_late_interaction", "DEFAULT_STORE"]

#: The store's folder inside the collection when ``--out`` is not given.
DEFAULT_STORE = "late_interaction"


def register(sub) -> None:
    """Add ``late-index`` to an argparse subparsers object."""
    from ragsift.rerank.late_interaction import DEFAULT_MAX_LENGTH

    p = sub.add_parser(
        "late-index",
        help="store int8 token vectors of a collection's passages for the late-interaction reranker",
        description="Encode every chunk (and parent) of COLLECTION once and store its token vectors (int8, one "
        "float16 scale per token) for --reranker-type late-interaction, which then encodes only the query and "
        "scores passages by MaxSim. Prints the store's size per passage and projected to 1M passages.",
    )
    p.add_argument("collection", metavar="COLLECTION", help="a collection directory")
    p.add_argument("--encoder", metavar="MODEL", help="encoder folder or hub name, or a train-reranker output (its domain-tuned encoder is used) "
                   "(default: the bundled all-MiniLM-L6-v2)")
    p.add_argument("--max-length", type=int, default=DEFAULT_MAX_LENGTH,
                   help=f"tokens read per passage, special tokens included (default: {DEFAULT_MAX_LENGTH})")
    p.add_argument("--dim", type=int, help="reduce token vectors to N dimensions with a projection fitted on a "
                   "sample (default: keep the encoder's, 384 for MiniLM)")
    p.add_argument("--text-fields", default=",".join(TEXT_FIELDS),
                   help="what the reranker reads of each hit: 'title,text' (default) or 'text'")
    p.add_argument("--batch-size", type=int, default=32, help="passages per forward pass (default: 32)")
    p.add_argument("--out", metavar="DIR", help=f"the store folder (default: COLLECTION/{DEFAULT_STORE})")
    p.add_argument("--tune-on", metavar="BEIR_DIR", help="tune interpolation and candidate depth on this BEIR "
                   "dataset (the collection's corpus) and record them in the store")
    p.add_argument("--split", default="train", help="qrels split --tune-on tunes on (default: train)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_late_index)


def cmd_late_index(args) -> int:
    fields = tuple(f.strip() for f in args.text_fields.split(",") if f.strip())
    passage_text("", "", fields)  # validates
    if args.tune_on:  # refuse a dataset of another corpus before the long build
        from ragsift.index.collection import Collection

        _load_matching(Collection.open(args.collection), args.tune_on, args.split)
    store = late_index(
        args.collection, args.out, encoder=args.encoder, max_length=args.max_length, dim=args.dim,
        text_fields=fields, batch_size=args.batch_size, show_progress=not args.quiet,
    )
    m = store.manifest
    # per passage: its tokens (dim int8 + a float16 scale each), key (16) and offset (8); the rest
    # (.npy headers, the projection) is paid once
    variable = (m["tokens"] * (m["dim"] + 2) + 24 * m["passages"]) / m["passages"]
    million = (variable * 1e6 + m["bytes"] - variable * m["passages"]) / 1e9
    print(f"{m['passages']} passages, {m['tokens']} tokens ({m['tokens'] / m['passages']:.1f} per passage), "
          f"dim {m['dim']} int8 + float16 scale per token")
    print(f"{m['bytes_per_passage']:,.0f} bytes per passage, {m['bytes'] / 1e6:.1f} MB in all; "
          f"at 1M passages like these: {million:.1f} GB")
    print(f"store: {store.path} (built in {m['build_seconds']:.1f} s)")
    if args.tune_on:
        settings = tune_late_interaction(store.path, args.tune_on, args.split, collection=args.collection,
                                         show_progress=not args.quiet)
        t = settings.tuning
        print(f"tuned on {settings.trained_on['dataset']}/{args.split} ({t['queries']} queries): interpolate "
              f"{settings.interpolate}, candidates {settings.candidates}, {t['metric']} {t['best_' + t['metric']]:.4f} "
              f"(first stage {t['first_stage_' + t['metric']]:.4f}) -> {settings.path}")
    return 0


def collection_passages(collection, text_fields: Sequence[str] = TEXT_FIELDS) -> list[str]:
    """Every text the ``Searcher`` can hand a reranker: each chunk's and each parent's :func:`passage_text`."""
    fields = tuple(text_fields)
    units = list(collection.chunks) + list(collection.parents.values())
    return [passage_text(u.title, u.text, fields) for u in units]


def late_index(
    collection: str | os.PathLike[str],
    out: str | os.PathLike[str] | None = None,
    *,
    text_fields: Sequence[str] = TEXT_FIELDS,
    show_progress: bool = True,
    **options: Any,
):
    """Build the token store of ``collection`` (default: ``COLLECTION/late_interaction``) and return it.

    ``options`` go to :func:`~ragsift.rerank.late_interaction.build_token_store` (``encoder``,
    ``max_length``, ``dim``, ``batch_size``, ``device``).
    """
    from ragsift.index.collection import Collection
    from ragsift.rerank.late_interaction import build_token_store

    coll = Collection.open(collection)
    texts = collection_passages(coll, text_fields)
    if not texts:
        raise ConfigError(f"collection {collection} has no chunks to store; index documents first (`ragsift index`)")
    source = {"collection": str(Path(collection).resolve()), "chunks": len(coll.chunks), "parents": len(coll.parents)}
    out = Path(collection) / DEFAULT_STORE if out is None else Path(out)
    return build_token_store(texts, out, text_fields=text_fields, source=source, show_progress=show_progress, **options)


def tune_late_interaction(
    store_dir: str | os.PathLike[str],
    data_dir: str | os.PathLike[str],
    split: str = "train",
    *,
    collection: str | os.PathLike[str] | None = None,
    depths: Sequence[int] | None = None,
    show_progress: bool = True,
):
    """Tune interpolation and candidate depth for the store on ``split``; write and return its settings.

    ``collection`` (default: the one the store was built from) must hold the BEIR corpus of
    ``data_dir``: its hybrid first stage retrieves the candidates, as at search time.
    """
    from ragsift.index.collection import Collection
    from ragsift.pipeline.search import Searcher
    from ragsift.rerank.late_interaction import LateInteractionReranker
    from ragsift.rerank.settings import ModelSettings, write_model_settings
    from ragsift.train.tune import DEPTHS, FIRST_STAGE, tune_settings

    reranker = LateInteractionReranker(store_dir)
    manifest = reranker.store.manifest
    collection = collection or manifest.get("source", {}).get("collection")
    if collection is None:
        raise ConfigError(f"the store {store_dir} records no collection; pass collection= (the corpus' collection)")
    coll = Collection.open(collection)
    data, fingerprint = _load_matching(coll, data_dir, split)
    fields = tuple(manifest.get("text_fields") or TEXT_FIELDS)
    reranker.warm_up()
    bar = None
    if show_progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(data.queries), desc="tuning", unit="q", file=sys.stderr)
    tuning = tune_settings(reranker, Searcher(coll), data.queries, data.qrels, depths=depths or DEPTHS,
                           text_fields=fields, progress=bar.update if bar else None)
    if bar is not None:
        bar.close()
    tuning["split"] = split
    tuning["misses"] = reranker.misses
    settings = ModelSettings(
        interpolate=tuning["interpolate"], candidates=tuning["candidates"], text_fields=fields, first_stage=FIRST_STAGE,
        trained_on={"dataset": data.name, "split": split, "corpus_fingerprint": fingerprint,
                    "documents": len(data.corpus), "collection": str(coll.path)},
        tuning=tuning,
    )
    path = write_model_settings(store_dir, settings)
    return ModelSettings.from_dict(settings.to_dict(), path)


def _load_matching(coll, data_dir: str | os.PathLike[str], split: str):
    """``(BEIR dataset, corpus fingerprint)`` of ``data_dir``; ConfigError when ``coll`` holds another corpus."""
    from ragsift.ingest.beir import load_beir
    from ragsift.train.data import corpus_fingerprint

    data = load_beir(data_dir, split)
    fingerprint = corpus_fingerprint(data.corpus)
    if corpus_fingerprint(list(coll.documents.values())) != fingerprint:
        raise ConfigError(
            f"collection {coll.path} does not hold the corpus of {data_dir}; tune on the dataset the collection indexes "
            "(or index that dataset's corpus.jsonl first)"
        )
    return data, fingerprint
