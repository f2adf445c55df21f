"""Score normalization: put one retriever's scores on a common scale before fusing.

* Min–max maps scores to [0, 1] with ``(s - min) / (max - min)``. When every score is equal (all
  tied, or a single result) there is no spread to scale, and every score becomes 1.0: a hit is
  still a hit, so it must not collapse to 0 (which is what absent documents get when fusing).
* Z-score uses ``(s - mean) / std`` with the population std. When every score is equal it returns
  all 0.0 (the scores carry no information relative to each other).

Scores must be finite; NaN or infinity raise :class:`~ragsift.errors.BadInputError`.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import Enum

import numpy as np

from ragsift._enums import parse_enum
from ragsift.errors import BadInputError

__all__ = ["Normalization", "min_max", "z_score", "normalize"]


class Normalization(str, Enum):
    """How scores of one run are rescaled before fusion."""

    MIN_MAX = "minmax"
    Z_SCORE = "zscore"


def _as_array(scores: Sequence[float] | np.ndarray) -> np.ndarray:
    array = np.asarray(scores, dtype=np.float64).reshape(-1)
    if not np.all(np.isfinite(array)):
        raise BadInputError(
            f"scores contain NaN or infinity ({array[~np.isfinite(array)][:3].tolist()}); "
            "fusion needs finite scores, so drop or clip those hits first"
        )
    return array


def min_max(scores: Sequence[float] | np.ndarray) -> np.ndarray:
    """Rescale to [0, 1]; if all scores are equal (incl. a single score) return all 1.0."""
    s = _as_array(scores)
    if s.size == 0:
        return s
    low, high = s.min(), s.max()
    if high == low:
        return np.ones_like(s)
    return (s - low) / (high - low)


def z_score(scores: Sequence[float] | np.ndarray) -> np.ndarray:
    """Standardize with the population std; if all scores are equal return all 0.0."""
    s = _as_array(scores)
    if s.size == 0:
        return s
    # Test the spread with max == min rather than std == 0: the std of equal floats can come out
    # as a tiny non-zero number, which would blow rounding noise up to z-scores of +-1.
    if s.max() == s.min():
        return np.zeros_like(s)
    return (s - s.mean()) / s.std()


def normalize(
    scores: Sequence[float] | np.ndarray, method: Normalization | str = Normalization.MIN_MAX
) -> np.ndarray:
    """Apply the normalization named by ``method`` ("minmax" or "zscore")."""
    chosen = parse_enum(Normalization, method, param="normalization")
    if chosen is Normalization.MIN_MAX:
        return min_max(scores)
    return z_score(scores)
