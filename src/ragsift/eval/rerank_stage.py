"""The second stage of the evaluation grid: rerankers with a score cache shared by every retriever.

Each reranker spec of the grid is built once (:func:`build_eval_reranker`) and wrapped in one
in-memory :class:`~ragsift.rerank.cache.CachedReranker`, used for every retriever: their
candidate lists overlap, so a (query, passage) pair is scored once for the whole grid.

A cache hit costs nothing, which would make the rerank latency of the second and later retrievers
look better than it is. So latency is *charged*, not just timed: a :class:`CostMeter` between the
cache and the model records, for every pair the model scores, its share of that call's model time
(call time / pairs in the call). A query's rerank latency is the wall time of its rerank call minus
the model time spent inside it, plus the recorded cost of each of its candidate pairs — what it
would have cost without the cache. For rerankers that cannot be cached (listwise LLM ranking, the
first-stage identity) it is simply the wall time.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from ragsift.config import parse_reranker_ref
from ragsift.errors import ConfigError
from ragsift.pipeline.rerank import RerankOptions, hit_texts, rerank_hits
from ragsift.rerank.settings import OFF
from ragsift.rerank.base import Reranker, Scores
from ragsift.rerank.cache import CachedReranker, MemoryCache, cache_key
from ragsift.types import TEXT_FIELDS, Hit

__all__ = [
    "CostMeter", "EvalReranker", "parse_reranker_spec", "reranker_label", "training_manifest", "build_eval_reranker", "rerank_head",
]

#: Cached scores kept by one reranker's grid cache: far more pairs than a BEIR grid scores, no expiry.
GRID_CACHE_SIZE = 5_000_000


class CostMeter(Reranker):
    """Pass-through reranker that records each scored pair's share of the model time (ms)."""

    def __init__(self, inner: Reranker):
        self.inner = inner
        self.cacheable = inner.cacheable
        self.pair_ms: dict[str, float] = {}
        self.model_ms = 0.0
        self.pairs_scored = 0

    @property  # type: ignore[override]
    def name(self) -> str:
        return self.inner.name

    def warm_up(self) -> None:
        self.inner.warm_up()

    def score(self, query: str, documents: Sequence[str]) -> Scores:
        start = time.perf_counter()
        scores = self.inner.score(query, documents)
        spent = (time.perf_counter() - start) * 1000.0
        share = spent / len(documents)
        for doc in documents:
            self.pair_ms[cache_key(self.name, query, doc)] = share
        self.model_ms += spent
        self.pairs_scored += len(documents)
        return scores


@dataclass
class EvalReranker:
    """A grid reranker: its spec and label, the reranker to call, and its cache and meter (if cacheable)."""

    spec: str
    label: str
    reranker: Reranker
    meter: CostMeter | None = None
    cache: MemoryCache | None = None

    def stats(self) -> dict:
        """Cache hits/misses and the pairs the model actually scored."""
        out: dict = {"cached": self.cache is not None}
        if self.cache is not None:
            out.update({k: v for k, v in self.cache.stats().items() if k != "size"})
        if self.meter is not None:
            out["pairs_scored"] = self.meter.pairs_scored
            out["model_s"] = round(self.meter.model_ms / 1000.0, 3)
        return out


def parse_reranker_spec(spec: str) -> tuple[str, str | None]:
    """``(type label, model)`` of a grid entry in the reranker grammar (:func:`ragsift.config.parse_reranker_ref`).

    ``"none"`` → ('none', None); ``"cohere"`` → ('cohere', None); ``"TYPE=MODEL"`` → (TYPE, MODEL);
    a path or ``org/name`` hub id → ('cross-encoder', MODEL).
    """
    ref = parse_reranker_ref(spec, "--rerankers")
    return ref.label, ref.model


_GENERIC_DIRS = {"final", "model", "best", "checkpoint", "output", "latest"}


def reranker_label(spec: str) -> str:
    """A short name for tables and plots: a model folder's name (with its parent when generic)."""
    kind, model = parse_reranker_spec(spec)
    if model is None:
        return spec
    path = Path(model)
    if len(path.parts) > 1:
        name = path.name if path.name.lower() not in _GENERIC_DIRS else f"{path.parent.name}/{path.name}"
        model = name
    return model if kind == "cross-encoder" else f"{kind}={model}"


def training_manifest(spec: str) -> dict | None:
    """The ``ragsift_train.json`` of a cross-encoder folder trained by ``ragsift train-reranker`` (None otherwise)."""
    import json

    from ragsift.train.reranker import TRAIN_MANIFEST

    kind, model = parse_reranker_spec(spec)
    if kind != "cross-encoder" or model is None:
        return None
    path = Path(model).expanduser() / TRAIN_MANIFEST
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"reranker {model!r}: {path} is not readable JSON ({exc})") from exc


def build_eval_reranker(spec: str, *, backend: str | None = None) -> EvalReranker:
    """Build and warm up the reranker an eval spec names, behind a metered in-memory score cache.

    ``backend`` (``torch``, ``onnx``, ``onnx-int8``) goes to a local cross-encoder; its
    ``max_length`` is ``RERANKER_MAX_LENGTH``, else the model's recorded one, else 512.
    """
    from ragsift.rerank.registry import get_reranker

    kind, model = parse_reranker_spec(spec)
    if kind == "none" and model is None and spec.strip() == "none":
        raise ConfigError("reranker spec 'none' is the first stage itself; it has no reranker to build")
    options = {"backend": backend} if backend else {}
    inner = get_reranker(kind, model, cache="off", fallback="off", **options)
    inner.warm_up()
    if not inner.cacheable:
        return EvalReranker(spec, reranker_label(spec), inner)
    meter = CostMeter(inner)
    cache = MemoryCache(maxsize=GRID_CACHE_SIZE, ttl=None)
    return EvalReranker(spec, reranker_label(spec), CachedReranker(meter, cache), meter, cache)


def rerank_head(
    bundle: EvalReranker, query: str, hits: Sequence[Hit], candidates: int, weight: float | None = None,
    text_fields: Sequence[str] = TEXT_FIELDS, warnings: list[str] | None = None,
) -> tuple[list[Hit], float]:
    """Rerank the head of ``candidates`` hits (the tail keeps its order); return hits and charged ms.

    ``weight`` None is pure reranking (the caller resolves the model's recorded weight);
    ``warnings`` receives :func:`~ragsift.pipeline.rerank.rerank_hits`' per-query warnings.
    """
    head, tail = list(hits[:candidates]), list(hits[candidates:])
    opts = RerankOptions(
        candidates=candidates, top_n=candidates, interpolate=OFF if weight is None else weight,
        text_fields=tuple(text_fields),
    )
    before = bundle.meter.model_ms if bundle.meter else 0.0
    new_head, wall = rerank_hits(bundle.reranker, query, head, opts, warnings=warnings)
    if bundle.meter is None:
        return new_head + tail, wall
    overhead = max(wall - (bundle.meter.model_ms - before), 0.0)
    name = bundle.meter.name
    charged = overhead + sum(bundle.meter.pair_ms.get(cache_key(name, query, t), 0.0) for t in hit_texts(head, text_fields))
    return new_head + tail, charged
