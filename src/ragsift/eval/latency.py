"""Latency summaries: percentiles of per-query timings in milliseconds."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ragsift.errors import ConfigError

__all__ = ["percentiles"]


def percentiles(samples_ms: Sequence[float], ps: Sequence[float] = (50, 95, 99)) -> dict[str, float]:
    """Summarise latency samples: ``{"p50": .., "p95": .., "p99": .., "mean": .., "n": ..}``.

    Percentiles use numpy's linear interpolation; keys are ``f"p{p:g}"`` (``p99.9`` for 99.9).
    ``n`` is the sample count. Raises ConfigError for no samples (rather than inventing zeros),
    for non-finite samples, and for a percentile outside [0, 100].
    """
    values = np.asarray(samples_ms, dtype=float).ravel()
    if values.size == 0:
        raise ConfigError("samples_ms is empty: no latency samples; time at least one query")
    if not np.all(np.isfinite(values)):
        raise ConfigError("samples_ms contains NaN or infinite values; pass measured times in ms")
    bad = [p for p in ps if not 0 <= p <= 100]
    if bad:
        raise ConfigError(f"ps={tuple(ps)!r} has values outside [0, 100]: {bad}; use e.g. (50, 95, 99)")
    out = {f"p{p:g}": float(np.percentile(values, p)) for p in ps}
    out["mean"] = float(values.mean())
    out["n"] = int(values.size)
    return out
