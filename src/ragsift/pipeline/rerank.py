"""The second stage: rerank first-stage hits and keep the top n.

``interpolate`` (a weight w in [0, 1]) blends the reranker with the first stage:
``final = w · relevance + (1 − w) · minmax(first-stage score)``, so a weak reranker degrades
gracefully instead of undoing a good first stage. w = 1 is pure reranking; tune w on a dev
split with :func:`ragsift.eval.tuning.tune_interpolation`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Sequence

from ragsift.errors import ConfigError
from ragsift.fusion.normalize import min_max
from ragsift.types import Hit

__all__ = ["RerankOptions", "rerank_hits"]


@dataclass
class RerankOptions:
    """``candidates``: first-stage hits passed to the reranker (seeds use 45–100); ``top_n``: kept."""

    candidates: int = 45
    top_n: int = 5
    threshold: float | None = None
    interpolate: float | None = None

    def __post_init__(self) -> None:
        for name in ("candidates", "top_n"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name}={value!r} must be an integer >= 1")
        if self.threshold is not None and not 0.0 <= self.threshold <= 1.0:
            raise ConfigError(f"threshold={self.threshold!r} must be in [0, 1] (normalized reranker score)")
        if self.interpolate is not None and not 0.0 <= self.interpolate <= 1.0:
            raise ConfigError(f"interpolate={self.interpolate!r} must be in [0, 1] (1 = reranker only)")


def rerank_hits(reranker, query: str, hits: Sequence[Hit], opts: RerankOptions) -> tuple[list[Hit], float]:
    """Rerank ``hits`` (already cut to the candidates); return the new top ``opts.top_n`` and the ms spent.

    Each returned hit keeps its first-stage scores in ``source_scores`` (plus ``first_stage``)
    and adds ``rerank`` (raw) and ``rerank_relevance`` (normalized); ``score`` is the raw
    reranker score, or the interpolated score when ``interpolate`` is set.
    """
    start = time.perf_counter()
    if not hits:
        return [], 0.0
    results = reranker.rerank(query, [h.text for h in hits])
    first = min_max([h.score for h in hits])
    scored = []
    for r in results:
        hit = hits[r.index]
        final = r.score
        if opts.interpolate is not None:
            final = opts.interpolate * r.relevance + (1.0 - opts.interpolate) * float(first[r.index])
        sources = {**hit.source_scores, "first_stage": hit.score, "rerank": r.score, "rerank_relevance": r.relevance}
        scored.append((final, r.relevance, r.index, replace(hit, score=float(final), source_scores=sources)))
    scored.sort(key=lambda t: (-t[0], t[2]))
    kept = [h for _, rel, _, h in scored if opts.threshold is None or rel >= opts.threshold]
    return kept[: opts.top_n], (time.perf_counter() - start) * 1000.0
