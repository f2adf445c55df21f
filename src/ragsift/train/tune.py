"""After training: choose the settings a reranker is used with, on the dev queries it held out.

``train-reranker`` keeps a seeded slice of the split's queries out of training (``--holdout``,
default 0.2). :func:`tune_settings` retrieves their first stage once at the largest candidate
depth (hybrid RRF, exactly as ``ragsift eval --retrievers hybrid`` retrieves), scores those
candidates once with the saved model as it will be loaded at search time (its inference
``max_length``, title + body), and then, for each depth in :data:`DEPTHS`, tunes the
interpolation weight with :func:`ragsift.eval.tuning.tune_interpolation` — the code of
``ragsift eval --interpolate auto`` — reading the smaller depths from the same cached scores.
The depth with the best dev NDCG@10 wins (ties: the cheaper depth). The result becomes the
model's :class:`~ragsift.rerank.settings.ModelSettings` (``ragsift_reranker.json``).
"""

from __future__ import annotations

import time
from typing import Any, Mapping, Sequence

from ragsift.eval.first_stage import ranked_run
from ragsift.eval.metrics import evaluate
from ragsift.eval.tuning import tune_interpolation
from ragsift.pipeline.rerank import RerankOptions, rerank_hits
from ragsift.types import TEXT_FIELDS, Hit, Qrels

__all__ = ["DEPTHS", "INFERENCE_MAX_LENGTH", "DEV_PAIRS_PER_SECOND", "FIRST_STAGE", "first_stage_options", "tune_settings", "reserve_minutes"]

#: Candidate depths tried on the dev queries (scored once at the largest).
DEPTHS: tuple[int, ...] = (20, 30, 45)
#: Tokens per (query, passage) pair at inference, recorded as the model's ``max_length``. The
#: model trains at 128 tokens; reading 256 at inference measured better on SciFact dev
#: (docs/training.md), at half the speed.
INFERENCE_MAX_LENGTH = 256
#: Planning figures for the time dev tuning needs, pairs/s by backend (6-layer MiniLM, 256
#: tokens, 2 CPU cores, with margin; measured 13–14 torch and 18 ONNX int8, docs/benchmarks.md):
#: training stops early enough to leave it.
DEV_PAIRS_PER_SECOND: dict[str, float] = {"torch": 12.0, "onnx-int8": 15.0}
#: The first stage the settings are tuned on (and mining uses): hybrid, RRF over each retriever's top 100.
FIRST_STAGE: dict[str, Any] = {"mode": "hybrid", "fusion": "rrf", "rrf_k": 60.0, "bm25_depth": 100, "dense_depth": 100}
METRIC = "ndcg@10"


def first_stage_options(k: int):
    """:class:`~ragsift.pipeline.search.SearchOptions` of :data:`FIRST_STAGE` returning ``k`` hits."""
    from ragsift.pipeline.search import SearchOptions

    return SearchOptions(k=k, **FIRST_STAGE)


def reserve_minutes(dev_queries: int, depths: Sequence[int] = DEPTHS, backend: str | None = None) -> float:
    """Minutes to keep for dev tuning on ``backend`` (default: the CPU default the tuning uses).

    Its pairs at :data:`DEV_PAIRS_PER_SECOND`, plus a minute to load and save, plus a minute for
    the ONNX export and quantization of the trained model.
    """
    if dev_queries == 0:
        return 0.0
    if backend is None:
        from ragsift.rerank.cross_encoder import cpu_default_backend

        backend = cpu_default_backend()
    rate = DEV_PAIRS_PER_SECOND.get(backend, min(DEV_PAIRS_PER_SECOND.values()))
    return dev_queries * max(depths) / rate / 60.0 + 1.0 + (1.0 if backend != "torch" else 0.0)


def tune_settings(
    reranker,
    searcher,
    queries: Mapping[str, str],
    qrels: Qrels,
    *,
    depths: Sequence[int] = DEPTHS,
    text_fields: Sequence[str] = TEXT_FIELDS,
    progress=None,
) -> dict[str, Any]:
    """Tune the interpolation weight per candidate depth on ``queries``; return the choice and every score.

    ``reranker`` is the trained model loaded as at search time (warmed up, cacheable); its
    scores are cached here so each (query, passage) pair is scored once. Returns
    ``{"interpolate", "candidates", "first_stage_ndcg@10", "best_ndcg@10", "by_depth", "queries", "seconds"}``.
    """
    from ragsift.rerank.cache import CachedReranker, MemoryCache

    start = time.perf_counter()
    depths = sorted({int(d) for d in depths}, reverse=True)
    qids = sorted(q for q in queries if q in qrels)
    dev_qrels = {q: qrels[q] for q in qids}
    results = searcher.search_many([queries[q] for q in qids], first_stage_options(depths[0]))
    hits: dict[str, list[Hit]] = {q: r.hits for q, r in zip(qids, results)}
    cached = CachedReranker(reranker, MemoryCache(maxsize=max(1, len(qids) * depths[0] * 2), ttl=None))
    for n, q in enumerate(qids):  # score every pair once, at the largest depth
        if hits[q]:
            rerank_hits(cached, queries[q], hits[q], RerankOptions(candidates=depths[0], top_n=depths[0], text_fields=tuple(text_fields)))
        if progress is not None:
            progress(1)

    def at_depth(depth: int):
        def rerank(weight: float) -> dict[str, list[Hit]]:
            opts = RerankOptions(candidates=depth, top_n=depth, interpolate=weight, text_fields=tuple(text_fields))
            return {q: rerank_hits(cached, queries[q], hits[q][:depth], opts)[0] + hits[q][depth:] for q in qids}

        return rerank

    baseline = evaluate(dev_qrels, ranked_run(hits), [METRIC])[METRIC]
    by_depth = {}
    for depth in depths:
        weight, scores = tune_interpolation(at_depth(depth), dev_qrels, metric=METRIC)
        by_depth[depth] = {"interpolate": weight, METRIC: scores[weight], "scores": {f"{w:g}": s for w, s in scores.items()}}
    best_depth = max(by_depth, key=lambda d: (by_depth[d][METRIC], -d))
    return {
        "interpolate": by_depth[best_depth]["interpolate"],
        "candidates": best_depth,
        "metric": METRIC,
        f"first_stage_{METRIC}": baseline,
        f"best_{METRIC}": by_depth[best_depth][METRIC],
        "by_depth": {str(d): v for d, v in sorted(by_depth.items())},
        "queries": len(qids),
        "seconds": round(time.perf_counter() - start, 1),
    }

