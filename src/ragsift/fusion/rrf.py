"""Reciprocal Rank Fusion (Cormack, Clarke & Büttcher, SIGIR 2009).

``score(d) = sum over runs r containing d of w_r / (k + rank_r(d))`` with 1-based ranks, so rank 1
with the default ``k = 60`` contributes ``w_r / 61``. Only ranks matter; the runs' scores are
ignored, which makes RRF robust to retrievers whose scores live on different scales.

Duplicate ids in one run keep their first occurrence; later ones are dropped and the run is
re-ranked without them. Ordering and weight rules are described in :mod:`ragsift.fusion._runs`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from ragsift.fusion._runs import Fused, Runs, check_k, clean_runs, order, resolve_weights

__all__ = ["rrf"]


def rrf(runs: Runs, *, k: float = 60.0, weights: Mapping[str, float] | None = None) -> Fused:
    """Fuse ranked runs with (weighted) Reciprocal Rank Fusion; see the module docstring."""
    k = check_k(k)
    w = resolve_weights(runs, weights)
    clean = clean_runs(runs)
    parts: dict[str, list[float]] = {}
    for name, run in clean.items():
        for rank, (doc_id, _) in enumerate(run, start=1):
            parts.setdefault(doc_id, []).append(w[name] / (k + rank))
    # fsum is correctly rounded, so the fused score does not depend on the order of the runs.
    return order({d: math.fsum(p) for d, p in parts.items()}, clean, w)
