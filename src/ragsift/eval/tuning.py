"""Tune on one split, report on another: fusion parameters and the rerank interpolation weight.

* :func:`tune_fusion` — the RRF constant ``k`` (grid :data:`RRF_K_GRID`) or the weight ``w`` of BM25
  in a convex combination of min–max normalized scores, dense getting ``1 − w`` (grid
  :data:`WEIGHT_GRID`). A convex combination tuned on a few queries usually beats RRF with its
  default k (Bruch, Gai & Ingber, TOIS 2023). It fuses the component lists already retrieved
  for the tuning queries (:mod:`ragsift.eval.first_stage`), so no grid point searches again.
* :func:`tune_interpolation` — ``w`` in ``final = w·reranker + (1 − w)·first stage``.

Each picks the grid value with the best mean metric (default NDCG@10) on the tuning queries;
ties go to the value closest to the default (RRF k = 60, w = 0.5, interpolation 1.0: pure reranking).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

from ragsift.errors import ConfigError
from ragsift.eval.first_stage import Components, assemble, ranked_run
from ragsift.eval.metrics import evaluate
from ragsift.index.collection import Collection
from ragsift.pipeline.search import SearchOptions
from ragsift.types import Hit, Qrels

__all__ = [
    "RRF_K_GRID",
    "WEIGHT_GRID",
    "INTERPOLATION_GRID",
    "FusionTuning",
    "fusion_overrides",
    "tune_fusion",
    "tune_interpolation",
    "pick_best",
]

RRF_K_GRID: tuple[float, ...] = (1, 5, 10, 20, 40, 60, 100, 200)
WEIGHT_GRID: tuple[float, ...] = tuple(round(0.1 * i, 1) for i in range(11))
INTERPOLATION_GRID: tuple[float, ...] = WEIGHT_GRID
_DEFAULTS = {"rrf": 60.0, "weighted": 0.5}


@dataclass
class FusionTuning:
    """The outcome of :func:`tune_fusion`: the chosen value and the metric at every grid value."""

    method: str  # "rrf" or "weighted"
    best: float
    scores: dict[float, float]
    metric: str
    split: str
    queries: int

    @property
    def param(self) -> str:
        return "rrf_k" if self.method == "rrf" else "bm25_weight"

    def to_dict(self) -> dict:
        return {
            "method": self.method,
            "param": self.param,
            "best": self.best,
            "metric": self.metric,
            "split": self.split,
            "queries": self.queries,
            "scores": {_key(v): s for v, s in self.scores.items()},
        }


def _key(value: float) -> str:
    return f"{value:g}"


def fusion_overrides(method: str, value: float) -> dict:
    """SearchOptions overrides for a fusion ``method`` at a tuned ``value``."""
    if method == "rrf":
        return {"fusion": "rrf", "rrf_k": float(value)}
    if method == "weighted":
        return {"fusion": "weighted", "weights": {"bm25": float(value), "dense": round(1.0 - float(value), 10)}}
    raise ConfigError(f"method={method!r} cannot be tuned; use 'rrf' or 'weighted'")


def pick_best(scores: Mapping[float, float], default: float) -> float:
    """The grid value with the highest score; ties go to the value closest to ``default``."""
    if not scores:
        raise ConfigError("nothing to pick from: the tuning grid is empty")
    return max(scores, key=lambda v: (scores[v], -abs(v - default), -v))


def tune_fusion(
    collection: Collection,
    components: Components,
    qrels: Qrels,
    method: str,
    *,
    k: int,
    split: str,
    grid: Sequence[float] | None = None,
    metric: str = "ndcg@10",
) -> FusionTuning:
    """Pick the RRF k (``method="rrf"``) or BM25 weight (``"weighted"``) with the best ``metric``."""
    if method not in _DEFAULTS:
        raise ConfigError(f"method={method!r} cannot be tuned; use 'rrf' or 'weighted'")
    values = tuple(grid) if grid is not None else (RRF_K_GRID if method == "rrf" else WEIGHT_GRID)
    scores = {}
    for value in values:
        opts = SearchOptions(mode="hybrid", k=k, **fusion_overrides(method, value))
        hits = assemble(collection, components, opts).hits
        scores[float(value)] = evaluate(qrels, ranked_run(hits), [metric])[metric]
    best = pick_best(scores, _DEFAULTS[method])
    return FusionTuning(method, best, scores, metric, split, len(components.runs))


def tune_interpolation(
    rerank: Callable[[float], Mapping[str, list[Hit]]],
    qrels: Qrels,
    *,
    grid: Sequence[float] = INTERPOLATION_GRID,
    metric: str = "ndcg@10",
) -> tuple[float, dict[float, float]]:
    """Pick the interpolation weight; ``rerank(w)`` returns the reranked hits of the tuning queries."""
    scores = {float(w): evaluate(qrels, ranked_run(rerank(w)), [metric])[metric] for w in grid}
    return pick_best(scores, 1.0), scores
