"""Evaluate retrievers × rerankers on a BEIR dataset and write ``results.json`` / ``results.md``.

Each retriever's first stage runs once; every reranker then reorders its top ``candidates``
hits ("rerank the head": ranks beyond the candidates keep their first-stage order behind the
reranked head, so metrics at larger k stay comparable). Each reranked run carries its
first-stage ``baseline`` metrics and the ``delta``. Rerank scores are cached in memory, so
retrievers whose candidates overlap share them.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field, replace
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
from ragsift.pipeline.rerank import RerankOptions, rerank_hits
from ragsift.pipeline.search import SearchOptions, Searcher
from ragsift.types import Hit, Run

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
    rerankers: Sequence[str] = ("none",)
    candidates: int = 45
    interpolate: float | str | None = None  # a weight in [0, 1], or "auto": tuned on tune_split
    tune_split: str = "train"
    tune_queries: int | None = 200
    show_progress: bool = True

    def __post_init__(self) -> None:
        unknown = [r for r in self.retrievers if r not in RETRIEVERS]
        if unknown or not self.retrievers:
            raise ConfigError(f"retrievers={list(self.retrievers)!r}: choose from {', '.join(RETRIEVERS)}")
        if not self.rerankers:
            raise ConfigError("rerankers must name at least one entry ('none' = first stage only)")
        if self.interpolate not in (None, "auto"):
            RerankOptions(candidates=self.candidates, interpolate=float(self.interpolate))  # validates
        RerankOptions(candidates=self.candidates)


def parse_reranker_spec(spec: str) -> tuple[str, str | None]:
    """``"none"`` → ('none', None); ``"TYPE=MODEL"`` → (TYPE, MODEL); ``"MODEL"`` → ('cross-encoder', MODEL)."""
    spec = spec.strip()
    if spec == "none":
        return "none", None
    kind, sep, model = spec.partition("=")
    if sep:
        return kind.strip(), model.strip() or None
    return "cross-encoder", spec


def build_reranker(spec: str):
    """Build and warm up the reranker an eval spec names, with an in-memory score cache."""
    from ragsift.rerank.cache import CachedReranker, MemoryCache
    from ragsift.rerank.registry import get_reranker

    kind, model = parse_reranker_spec(spec)
    reranker = get_reranker(kind, model, cache="off", fallback="off")
    reranker.warm_up()
    return CachedReranker(reranker, MemoryCache()) if getattr(reranker, "cacheable", True) else reranker


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
    qrels = {q: data.qrels[q] for q in qids}
    rerankers = {spec: build_reranker(spec) for spec in cfg.rerankers if spec.strip() != "none"}
    runs = []
    for name in cfg.retrievers:
        hits, latencies, params = _first_stage(name, searcher, data, qids, cfg)
        base = _record(name, "none", hits, latencies, qrels, cfg, params)
        runs.append(base)
        log.info("%s: %s", name, base["metrics"])
        for spec, reranker in rerankers.items():
            weight, tuning = _interpolation(reranker, spec, name, searcher, cfg)
            reranked, rerank_ms = _rerank(reranker, spec, name, hits, data.queries, cfg, weight)
            total = [a + b for a, b in zip(latencies, rerank_ms)]
            extra = {"candidates": cfg.candidates, "interpolate": weight, **({"tuning": tuning} if tuning else {})}
            record = _record(name, spec, reranked, total, qrels, cfg, {**params, **extra})
            record["stage_latency_ms"] = {"first_stage": percentiles(latencies), "rerank": percentiles(rerank_ms)}
            record["baseline"] = base["metrics"]
            record["delta"] = {m: record["metrics"][m] - base["metrics"][m] for m in record["metrics"]}
            runs.append(record)
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
            "candidates": cfg.candidates,
            "rerankers": list(cfg.rerankers),
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


def _first_stage(name: str, searcher: Searcher, data, qids: list[str], cfg: EvalConfig):
    """Run one retriever over every query, timing each query end to end."""
    max_k = max(cfg.depth, *(int(m.split("@")[1]) for m in cfg.metrics))
    chunked = len(searcher.collection.chunks) > len(searcher.collection.documents)
    # Chunk hits are aggregated to documents by best chunk: fetch extra units when chunked.
    opts = retriever_options(name, max_k * 3 if chunked else max_k)
    opts.bm25_depth = opts.dense_depth = opts.k
    hits: dict[str, list[Hit]] = {}
    latencies = []
    for qid in _progress(qids, f"eval {name}", cfg.show_progress):
        start = time.perf_counter()
        hits[qid] = searcher.search(data.queries[qid], opts).hits
        latencies.append((time.perf_counter() - start) * 1000.0)
    params = {k: (v.value if hasattr(v, "value") else v) for k, v in vars(opts).items()}
    return hits, latencies, params


def _rerank(reranker, spec: str, name: str, hits: dict[str, list[Hit]], queries, cfg: EvalConfig, weight=None):
    """Rerank each query's head of ``cfg.candidates`` hits; the tail keeps its first-stage order."""
    opts = RerankOptions(candidates=cfg.candidates, top_n=cfg.candidates, interpolate=weight)
    reranked: dict[str, list[Hit]] = {}
    ms = []
    for qid in _progress(list(hits), f"rerank {name} × {spec}", cfg.show_progress):
        head, tail = hits[qid][: cfg.candidates], hits[qid][cfg.candidates :]
        new_head, spent = rerank_hits(reranker, queries[qid], head, opts)
        reranked[qid] = new_head + tail
        ms.append(spent)
    return reranked, ms


INTERPOLATION_GRID = tuple(round(0.1 * i, 1) for i in range(11))


def _interpolation(reranker, spec: str, name: str, searcher: Searcher, cfg: EvalConfig):
    """The interpolation weight for this retriever × reranker: fixed, none, or tuned on ``cfg.tune_split``.

    Tuning runs the first stage on (up to ``cfg.tune_queries``) queries of the tuning split, reranks
    their heads once (scores are cached), and picks the weight with the best NDCG@10 there.
    """
    if cfg.interpolate is None:
        return None, None
    if cfg.interpolate != "auto":
        return float(cfg.interpolate), None
    if cfg.tune_split == cfg.split:
        raise ConfigError(f"tune_split={cfg.tune_split!r} is the evaluated split; tune on another (e.g. train)")
    tune = load_beir(cfg.data_dir, split=cfg.tune_split)
    qids = sorted(tune.queries)[: cfg.tune_queries] if cfg.tune_queries else sorted(tune.queries)
    tune_cfg = replace(cfg, show_progress=False)
    hits, _, _ = _first_stage(name, searcher, tune, qids, tune_cfg)
    qrels = {q: tune.qrels[q] for q in qids}
    scores = {}
    for w in INTERPOLATION_GRID:
        reranked, _ = _rerank(reranker, spec, name, hits, tune.queries, tune_cfg, w)
        scores[w] = evaluate(qrels, ranked_run(reranked), ["ndcg@10"])["ndcg@10"]
    best = max(INTERPOLATION_GRID, key=lambda w: (scores[w], w))
    log.info("%s × %s: interpolation weight %.1f (NDCG@10 %.4f on %s)", name, spec, best, scores[best], cfg.tune_split)
    return best, {"split": cfg.tune_split, "queries": len(qids), "ndcg@10_by_weight": scores}


def ranked_run(results: dict[str, list[Hit]]) -> Run:
    """TREC run from ranked hits: each document at its best (first) position, scores by rank."""
    run: Run = {}
    for qid, hits in results.items():
        scores: dict[str, float] = {}
        for hit in hits:
            if hit.doc_id not in scores:
                scores[hit.doc_id] = float(len(hits) - len(scores))
        run[qid] = scores
    return run


def _record(name, reranker, hits, latencies, qrels, cfg: EvalConfig, params) -> dict:
    return {
        "retriever": name,
        "reranker": reranker,
        "metrics": evaluate(qrels, ranked_run(hits), list(cfg.metrics)),
        "latency_ms": percentiles(latencies),
        "params": params,
    }


def _progress(items, desc: str, show: bool):
    if not show:
        return items
    from tqdm.auto import tqdm

    return tqdm(items, desc=desc, unit="q")
