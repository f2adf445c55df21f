"""Weighted (convex-combination) fusion of normalized scores (Bruch, Gai & Ingber, TOIS 2023).

``score(d) = sum over runs r of w_r * norm_r(d)``, where ``norm_r`` is the run's scores after
min–max or z-score normalization. With weights that sum to 1 this is the convex combination
studied by Bruch et al.; other non-negative weights only rescale it.

A document missing from a run gets that run's *minimum* normalized value:

* min–max: 0.0, the bottom of the [0, 1] range (a run whose hits are all tied normalizes them to
  1.0, and absence still gets 0.0);
* z-score: the lowest z-score in that run. Using 0.0 instead would put an absent document at the
  run's mean, i.e. above every document the run found but scored below average: absence would be
  rewarded over a below-mean presence. A run whose scores are all equal has all z-scores 0.0 and so
  contributes nothing to any document.

An empty run contributes nothing. Duplicate ids in one run keep their first occurrence.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from ragsift._enums import parse_enum
from ragsift.fusion._runs import Fused, Runs, clean_runs, order, resolve_weights
from ragsift.fusion.normalize import Normalization, normalize

__all__ = ["weighted"]


def _missing_value(normalized: np.ndarray, method: Normalization) -> float:
    """The value an absent document gets from a run (see the module docstring)."""
    if method is Normalization.MIN_MAX or normalized.size == 0:
        return 0.0
    return float(normalized.min())


def weighted(
    runs: Runs,
    *,
    weights: Mapping[str, float] | None = None,
    normalization: Normalization | str = Normalization.MIN_MAX,
) -> Fused:
    """Fuse runs by the weighted sum of their normalized scores; see the module docstring."""
    method = parse_enum(Normalization, normalization, param="normalization")
    w = resolve_weights(runs, weights)
    clean = clean_runs(runs)
    all_ids = {doc_id for run in clean.values() for doc_id, _ in run}
    parts: dict[str, list[float]] = {doc_id: [] for doc_id in all_ids}
    for name, run in clean.items():
        normalized = normalize([score for _, score in run], method)
        found = {doc_id: float(v) for (doc_id, _), v in zip(run, normalized)}
        missing = _missing_value(normalized, method)
        for doc_id in all_ids:
            parts[doc_id].append(w[name] * found.get(doc_id, missing))
    # fsum is correctly rounded, so the fused score does not depend on the order of the runs.
    return order({d: math.fsum(p) for d, p in parts.items()}, clean, w)
