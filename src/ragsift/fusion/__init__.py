"""Fusion of several retrievers' ranked lists into one, as pure functions (one method per file).

Every function takes ``runs``: retriever name -> ranked ``[(id, score), ...]``, best first, and
returns ``[(id, fused_score), ...]`` with each id once, sorted best first with a deterministic
tie-break (best 1-based rank in any input, then id). Empty input gives an empty list.

Methods:

* ``rrf`` — Reciprocal Rank Fusion, ``sum w_r / (k + rank)`` (Cormack et al., SIGIR 2009).
* ``weighted`` — convex combination of normalized scores (Bruch et al., TOIS 2023).
* ``combsum`` / ``combmnz`` — CombSUM, and CombSUM times the hit count (Fox & Shaw, TREC-2 1994).

Normalizations for the score-based methods: ``minmax`` (default) and ``zscore``.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum

from ragsift._enums import parse_enum
from ragsift.fusion._runs import Fused, Runs, check_k
from ragsift.fusion.comb import comb_mnz, comb_sum
from ragsift.fusion.normalize import Normalization, min_max, normalize, z_score
from ragsift.fusion.rrf import rrf
from ragsift.fusion.weighted import weighted

__all__ = [
    "FusionMethod",
    "Normalization",
    "fuse",
    "rrf",
    "weighted",
    "comb_sum",
    "comb_mnz",
    "normalize",
    "min_max",
    "z_score",
]


class FusionMethod(str, Enum):
    """Which fusion function :func:`fuse` applies."""

    RRF = "rrf"
    WEIGHTED = "weighted"
    COMBSUM = "combsum"
    COMBMNZ = "combmnz"


_SCORE_BASED = {
    FusionMethod.WEIGHTED: weighted,
    FusionMethod.COMBSUM: comb_sum,
    FusionMethod.COMBMNZ: comb_mnz,
}


def fuse(
    runs: Runs,
    method: FusionMethod | str = FusionMethod.RRF,
    *,
    k: float = 60.0,
    weights: Mapping[str, float] | None = None,
    normalization: Normalization | str = Normalization.MIN_MAX,
) -> Fused:
    """Fuse ``runs`` with ``method``. ``k`` applies to RRF only, ``normalization`` to the others;
    both are validated whatever the method, so a typo never passes silently."""
    chosen = parse_enum(FusionMethod, method, param="fusion")
    norm = parse_enum(Normalization, normalization, param="normalization")
    k = check_k(k)
    if chosen is FusionMethod.RRF:
        return rrf(runs, k=k, weights=weights)
    return _SCORE_BASED[chosen](runs, weights=weights, normalization=norm)
