"""Evaluate first-stage retrievers on a BEIR dataset and write ``results.json`` / ``results.md``."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from ragsift._enums import parse_enum
from ragsift.errors import BadInputError, ConfigError
from ragsift.eval.anchors import anchors_for
from ragsift.eval.latency import percentiles
from ragsift.eval.metrics import evaluate
from ragsift.eval.report import write_results
from ragsift.index.collection import Collection, CollectionConfig
from ragsift.ingest import ChunkingConfig, ChunkMode, load_beir
from ragsift.pipeline.search import SearchOptions, Searcher
from ragsift.types import hits_to_run

__all__ = ["RETRIEVERS", "EvalConfig", "run_eval", "retriever_options"]

log = logging.getLogger(__name__)

# name → SearchOptions keyword arguments
RETRIEVERS: dict[str, dict] = {
    "bm25": {"mode": "bm25"},
    "dense": {"mode": "dense"},
    "hybrid": {"mode": "hybrid", "fusion": "rrf"},
    "hybrid-rrf": {"mode": "hybrid", "fusion": "rrf"},
    "hybrid-weighted": {"mode": "hybrid", "fusion": "weighted"},
}

DEFAULT_METRICS = ("ndcg@10", "mrr@10", "recall@5", "recall@10", "recall@100", "precision@5", "precision@10", "precision@100")


@dataclass
class EvalConfig:
    data_dir: Path
    out_dir: Path
    split: str = "test"
    retrievers: Sequence[str] = ("bm25", "dense", "hybrid")
    metrics: Sequence[str] = DEFAULT_METRICS
    collection_dir: Path | None = None
    embed_model: str = "all-MiniLM-L6-v2"
    chunking: ChunkingConfig = field(default_factory=lambda: ChunkingConfig(mode=ChunkMode.NONE))
    analyzer: str = "en"
    depth: int = 100
    max_queries: int | None = None
    show_progress: bool = True

    def __post_init__(self) -> None:
        unknown = [r for r in self.retrievers if r not in RETRIEVERS]
        if unknown or not self.retrievers:
            raise ConfigError(f"retrievers={list(self.retrievers)!r}: choose from {', '.join(RETRIEVERS)}")


def retriever_options(name: str, k: int) -> SearchOptions:
    """The SearchOptions that a named retriever of the evaluation grid runs with."""
    if name not in RETRIEVERS:
        raise ConfigError(f"retriever={name!r} is not valid; choose one of {', '.join(RETRIEVERS)}")
    return SearchOptions(k=k, **RETRIEVERS[name])


def run_eval(cfg: EvalConfig) -> dict:
    """Run every configured retriever on the dataset's split; write and return the results."""
    data = load_beir(cfg.data_dir, split=cfg.split)
    qids = sorted(data.queries)[: cfg.max_queries] if cfg.max_queries else sorted(data.queries)
    needs_dense = any(retriever_options(r, 1).mode.value != "bm25" for r in cfg.retrievers)
    collection = _collection(cfg, data.corpus, needs_dense)
    searcher = Searcher(collection)
    runs = []
    for name in cfg.retrievers:
        runs.append(_evaluate_retriever(name, searcher, data, qids, cfg))
        log.info("%s: %s", name, runs[-1]["metrics"])
    results = {
        "dataset": data.name,
        "split": cfg.split,
        "queries": len(qids),
        "documents": len(data.corpus),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "runs": runs,
        "config": {
            "collection": str(collection.path),
            "analyzer": collection.config.analyzer,
            "bm25": {"k1": collection.config.k1, "b": collection.config.b},
            "embed_model": collection.config.embed_model if collection.config.dense else None,
            "chunking": collection.config.chunking.to_dict(),
            "depth": cfg.depth,
        },
    }
    anchors = anchors_for(data.name)
    if anchors:
        results["anchors"] = anchors
    write_results(cfg.out_dir, results)
    return results


def _collection(cfg: EvalConfig, corpus, needs_dense: bool) -> Collection:
    path = Path(cfg.collection_dir) if cfg.collection_dir else Path(cfg.out_dir) / "collection"
    if Collection.exists(path):
        coll = Collection.open(path)
        if set(coll.documents) != {d.id for d in corpus}:
            raise BadInputError(
                f"collection {path} holds different documents than {cfg.data_dir}; "
                "pass another --collection or delete it to rebuild"
            )
        if needs_dense and not coll.config.dense:
            raise ConfigError(f"collection {path} has no dense vectors; rebuild it or evaluate bm25 only")
        return coll
    config = CollectionConfig(
        analyzer=cfg.analyzer, dense=needs_dense, embed_model=cfg.embed_model, chunking=cfg.chunking
    )
    coll = Collection.create(path, config)
    coll.add(corpus, show_progress=cfg.show_progress)
    return coll


def _evaluate_retriever(name: str, searcher: Searcher, data, qids: list[str], cfg: EvalConfig) -> dict:
    max_k = max(cfg.depth, *(int(m.split("@")[1]) for m in cfg.metrics))
    chunked = len(searcher.collection.chunks) > len(searcher.collection.documents)
    # Chunk hits are aggregated to documents by best chunk: fetch extra units when chunked.
    opts = retriever_options(name, max_k * 3 if chunked else max_k)
    opts.bm25_depth = opts.dense_depth = opts.k
    per_query = {}
    latencies = []
    iterator = qids
    if cfg.show_progress:
        from tqdm.auto import tqdm

        iterator = tqdm(qids, desc=f"eval {name}", unit="q")
    for qid in iterator:
        start = time.perf_counter()
        result = searcher.search(data.queries[qid], opts)
        latencies.append((time.perf_counter() - start) * 1000.0)
        per_query[qid] = result.hits
    run = hits_to_run(per_query, by="doc")
    qrels = {q: data.qrels[q] for q in qids}
    return {
        "retriever": name,
        "reranker": "none",
        "metrics": evaluate(qrels, run, list(cfg.metrics)),
        "latency_ms": percentiles(latencies),
        "params": {k: (v.value if hasattr(v, "value") else v) for k, v in vars(opts).items()},
    }
