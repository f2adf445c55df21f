"""Search over a collection: BM25, dense, or both fused; parents expanded; optionally reranked.

``retrieve (per retriever, own depth) → fuse → expand parents → top k [→ rerank → top n]``,
with per-stage timings in milliseconds on every result.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Mapping, Sequence

import numpy as np

from ragsift._enums import parse_enum
from ragsift.errors import ConfigError
from ragsift.fusion import FusionMethod, fuse
from ragsift.index.collection import Collection
from ragsift.pipeline.rerank import RerankOptions, rerank_hits
from ragsift.types import Hit

__all__ = ["Mode", "SearchOptions", "SearchResult", "Searcher", "expand_hits"]

DEFAULT_DEPTH = 100


class Mode(str, Enum):
    BM25 = "bm25"
    DENSE = "dense"
    HYBRID = "hybrid"


@dataclass
class SearchOptions:
    """What to retrieve and how to fuse it.

    ``bm25_depth`` / ``dense_depth``: candidates each retriever contributes before fusion
    (default ``max(k, 100)``; seed 002 uses BM25 500 and dense 50). ``weights`` apply to the
    fusion (``{"bm25": 0.4, "dense": 0.6}``). ``parents``: in parent–child collections return
    each parent once with its best child's score (True) or the children themselves (False).
    """

    mode: Mode | str = Mode.HYBRID
    k: int = 10
    fusion: FusionMethod | str = FusionMethod.RRF
    rrf_k: float = 60.0
    weights: Mapping[str, float] | None = None
    normalization: str = "minmax"
    bm25_depth: int | None = None
    dense_depth: int | None = None
    parents: bool = True

    def __post_init__(self) -> None:
        self.mode = parse_enum(Mode, self.mode, param="mode")
        self.fusion = parse_enum(FusionMethod, self.fusion, param="fusion")
        if not isinstance(self.k, int) or self.k < 1:
            raise ConfigError(f"k={self.k!r} must be an integer >= 1")
        for name in ("bm25_depth", "dense_depth"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ConfigError(f"{name}={value!r} must be an integer >= 1")

    def depth(self, retriever: str) -> int:
        value = self.bm25_depth if retriever == "bm25" else self.dense_depth
        return value if value is not None else max(self.k, DEFAULT_DEPTH)

    def retrievers(self) -> tuple[str, ...]:
        return ("bm25", "dense") if self.mode is Mode.HYBRID else (self.mode.value,)


@dataclass
class SearchResult:
    hits: list[Hit]
    timings_ms: dict[str, float] = field(default_factory=dict)


class Searcher:
    """Runs searches against one :class:`Collection`, with an optional reranker for the second stage."""

    def __init__(self, collection: Collection, reranker=None):
        self.collection = collection
        self.reranker = reranker

    def warm_up(self) -> None:
        """Load the embedding model, build the vector index and the reranker before the first query."""
        if self.collection.config.dense and self.collection.chunks:
            self.collection.embedder.encode_queries(["warm-up"])
            self.collection.vectors.search(np.zeros((1, self.collection.embeddings.shape[1]), np.float32), 1)
        if self.reranker is not None:
            self.reranker.warm_up()

    def search(
        self, query: str, options: SearchOptions | None = None, *, rerank: RerankOptions | None = None, **kwargs
    ) -> SearchResult:
        """Search one query. ``kwargs`` build :class:`SearchOptions` when ``options`` is None.

        With ``rerank``, the first stage returns ``rerank.candidates`` hits (overriding ``k``)
        and the reranker keeps ``rerank.top_n`` of them.
        """
        return self.search_many([query], options, rerank=rerank, **kwargs)[0]

    def search_many(
        self,
        queries: Sequence[str],
        options: SearchOptions | None = None,
        *,
        rerank: RerankOptions | None = None,
        **kwargs,
    ) -> list[SearchResult]:
        """Search several queries; dense query embeddings are computed in one batch."""
        opts = options or SearchOptions(**kwargs)
        if rerank is not None:
            if self.reranker is None:
                raise ConfigError("rerank options were given but this Searcher has no reranker")
            opts = replace(opts, k=rerank.candidates)
        for q in queries:
            if not isinstance(q, str) or not q.strip():
                raise ConfigError(f"query={q!r} must be a non-empty string")
        if opts.mode is not Mode.BM25 and not self.collection.config.dense:
            raise ConfigError(
                f"mode={opts.mode.value!r} needs dense vectors, but {self.collection.path} was built with --no-dense; "
                "use mode='bm25' or rebuild the collection with dense vectors"
            )
        per_query_runs: list[dict[str, list[tuple[str, float]]]] = [{} for _ in queries]
        timings: list[dict[str, float]] = [{} for _ in queries]
        if "bm25" in opts.retrievers():
            self._bm25(queries, opts, per_query_runs, timings)
        if "dense" in opts.retrievers():
            self._dense(queries, opts, per_query_runs, timings)
        results = [self._finish(runs, opts, t) for runs, t in zip(per_query_runs, timings)]
        if rerank is not None:
            for query, result in zip(queries, results):
                result.hits, ms = rerank_hits(self.reranker, query, result.hits, rerank)
                result.timings_ms["rerank"] = ms
                result.timings_ms["total"] += ms
        return results

    # ------------------------------------------------------------------ retrievers
    def _bm25(self, queries, opts, runs, timings) -> None:
        chunks = self.collection.chunks
        depth = opts.depth("bm25")
        for q, run, t in zip(queries, runs, timings):
            start = time.perf_counter()
            positions, scores = self.collection.sparse.search(q, depth)
            run["bm25"] = [(chunks[p].id, float(s)) for p, s in zip(positions, scores)]
            t["bm25"] = _ms(start)

    def _dense(self, queries, opts, runs, timings) -> None:
        if not self.collection.chunks:
            for run, t in zip(runs, timings):
                run["dense"], t["dense"] = [], 0.0
            return
        chunks = self.collection.chunks
        embedder = self.collection.embedder
        vectors = self.collection.vectors
        depth = opts.depth("dense")
        start = time.perf_counter()
        qv = embedder.encode_queries(list(queries))
        embed_ms = _ms(start) / len(queries)
        for i, (run, t) in enumerate(zip(runs, timings)):
            start = time.perf_counter()
            scores, positions = vectors.search(qv[i : i + 1], depth)
            run["dense"] = [(chunks[p].id, float(s)) for p, s in zip(positions[0], scores[0]) if p >= 0]
            t["dense"] = embed_ms + _ms(start)

    # ------------------------------------------------------------------ fuse & expand
    def _finish(self, runs: dict[str, list[tuple[str, float]]], opts: SearchOptions, t: dict[str, float]) -> SearchResult:
        start = time.perf_counter()
        if len(runs) == 1:
            fused = next(iter(runs.values()))
        else:
            fused = fuse(
                runs, opts.fusion, k=opts.rrf_k, weights=opts.weights, normalization=opts.normalization
            )
        t["fuse"] = _ms(start)
        start = time.perf_counter()
        hits = self._hits(fused, runs, opts)
        t["expand"] = _ms(start)
        t["total"] = sum(t.values())
        return SearchResult(hits=hits, timings_ms=t)

    def _hits(self, fused, runs, opts: SearchOptions) -> list[Hit]:
        return expand_hits(self.collection, fused, runs, opts)


def expand_hits(
    coll: Collection, fused: Sequence[tuple[str, float]], runs: Mapping[str, Sequence[tuple[str, float]]], opts: SearchOptions
) -> list[Hit]:
    """Fused chunk ids → the top ``opts.k`` hits; in parent–child collections each parent once, at its best child.

    ``runs`` are the per-retriever lists the fusion consumed; each hit's ``source_scores`` keeps
    its chunk's raw score from each of them.
    """
    source = {name: dict(run) for name, run in runs.items()}
    expand = opts.parents and bool(coll.parents)
    hits: list[Hit] = []
    seen: set[str] = set()
    for chunk_id, score in fused:
        chunk = coll.chunk(chunk_id)
        unit = coll.parents[chunk.parent_id] if expand and chunk.parent_id else chunk
        if unit.id in seen:
            continue  # a better child of this parent came first
        seen.add(unit.id)
        scores = {name: s[chunk_id] for name, s in source.items() if chunk_id in s}
        meta = dict(unit.metadata)
        if unit.headings:
            meta["headings"] = list(unit.headings)
        if unit is not chunk:
            meta["best_child"] = chunk.id
        hits.append(Hit(unit.id, unit.doc_id, float(score), unit.text, unit.title, scores, meta))
        if len(hits) == opts.k:
            break
    return hits


def _ms(start: float) -> float:
    return (time.perf_counter() - start) * 1000.0
