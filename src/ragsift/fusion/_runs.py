"""Shared plumbing for the fusion functions: run cleaning, weight checks, final ordering.

Conventions used by every fusion method:

* ``runs`` maps a retriever name to its ranked list of ``(id, score)``, best first; the first
  element has rank 1.
* Duplicate ids inside one run: the first (best) occurrence is kept and later ones are dropped
  *before* anything else happens, so ranks and score statistics are those of the deduplicated run.
* A weight missing for a run defaults to 1.0. Weights must be finite, in [0, MAX_WEIGHT], not all
  zero, and name runs that exist.
* Output has each id once, sorted by fused score descending; ties are broken by the best 1-based
  rank among runs with a positive weight, then the best rank in any run, then id ascending. With
  all weights positive (the default) that is simply "best rank in any input, then id".
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from ragsift.errors import BadInputError, ConfigError

Run = Sequence[tuple[str, float]]
Runs = Mapping[str, Run]
Fused = list[tuple[str, float]]

_NO_RANK = math.inf
MAX_WEIGHT = 1e6
"""Largest weight: weights only matter relative to each other, and sums of weights near the float
maximum overflow."""


def dedupe(name: str, run: Run) -> list[tuple[str, float]]:
    """Return ``run`` as ``(id, float score)`` pairs, keeping the first occurrence of each id."""
    seen: set[str] = set()
    out: list[tuple[str, float]] = []
    for position, item in enumerate(run, start=1):
        try:
            doc_id, raw_score = item
            score = float(raw_score)
        except (TypeError, ValueError):
            raise BadInputError(
                f"runs[{name!r}] item {position} is {item!r}; "
                "each item must be an (id, score) pair with a numeric score"
            ) from None
        if doc_id not in seen:
            seen.add(doc_id)
            out.append((doc_id, score))
    return out


def clean_runs(runs: Runs) -> dict[str, list[tuple[str, float]]]:
    """Check that ``runs`` is a mapping and deduplicate every run (see module docstring)."""
    if not isinstance(runs, Mapping):
        raise ConfigError(
            "runs must be a mapping of retriever name -> [(id, score), ...], "
            f"got {type(runs).__name__}"
        )
    return {name: dedupe(name, run) for name, run in runs.items()}


def resolve_weights(runs: Runs, weights: Mapping[str, float] | None) -> dict[str, float]:
    """Return one validated weight per run name; runs without a weight get 1.0."""
    weights = {} if weights is None else weights
    unknown = [key for key in weights if key not in runs]
    if unknown:
        names = ", ".join(repr(n) for n in runs) or "(no runs)"
        raise ConfigError(
            f"weights has key {unknown[0]!r} that is not a run name; run names are: {names}. "
            "Use the same names as the keys of runs."
        )
    resolved = {name: _check_weight(name, weights.get(name, 1.0)) for name in runs}
    if resolved and not any(resolved.values()):
        raise ConfigError(
            f"weights={dict(weights)!r} are all zero; give at least one run a weight > 0"
        )
    return resolved


def _check_weight(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"weights[{name!r}]={value!r} is not a number; use a finite float >= 0")
    weight = float(value)
    if not math.isfinite(weight) or weight < 0:
        raise ConfigError(f"weights[{name!r}]={value!r} is not allowed; use a finite float >= 0")
    if weight > MAX_WEIGHT:
        raise ConfigError(
            f"weights[{name!r}]={value!r} is larger than {MAX_WEIGHT:g}; weights are relative, so scale them all "
            "down (e.g. 0.3 and 0.7)"
        )
    return weight


def check_k(k: float) -> float:
    """Validate the RRF constant ``k``: a finite number >= 0."""
    if isinstance(k, bool) or not isinstance(k, (int, float)):
        raise ConfigError(f"k={k!r} is not a number; use a finite float >= 0 (default 60)")
    if not math.isfinite(k) or k < 0:
        raise ConfigError(f"k={k!r} is not allowed; use a finite float >= 0 (default 60)")
    return float(k)


def order(
    scores: Mapping[str, float],
    runs: Mapping[str, list[tuple[str, float]]],
    weights: Mapping[str, float],
) -> Fused:
    """Sort fused ``scores`` descending with the deterministic tie-break of the module docstring."""
    active: dict[str, float] = {}
    any_run: dict[str, float] = {}
    for name, run in runs.items():
        for rank, (doc_id, _) in enumerate(run, start=1):
            any_run[doc_id] = min(any_run.get(doc_id, _NO_RANK), rank)
            if weights[name] > 0:
                active[doc_id] = min(active.get(doc_id, _NO_RANK), rank)
    ids = sorted(
        scores,
        key=lambda d: (-scores[d], active.get(d, _NO_RANK), any_run.get(d, _NO_RANK), d),
    )
    return [(doc_id, float(scores[doc_id])) for doc_id in ids]
