"""CombSUM and CombMNZ (Fox & Shaw, TREC-2 1994).

* CombSUM: the (weighted) sum of each run's normalized scores; it is exactly
  :func:`ragsift.fusion.weighted.weighted`, including how missing documents are scored.
* CombMNZ: CombSUM multiplied by the number of runs that contain the document, which rewards
  documents that several retrievers agree on. Only runs with a weight > 0 are counted: a run with
  weight 0 is switched off entirely.
"""

from __future__ import annotations

from collections.abc import Mapping

from ragsift.fusion._runs import Fused, Runs, clean_runs, order, resolve_weights
from ragsift.fusion.normalize import Normalization
from ragsift.fusion.weighted import weighted

__all__ = ["comb_sum", "comb_mnz"]


def comb_sum(
    runs: Runs,
    *,
    normalization: Normalization | str = Normalization.MIN_MAX,
    weights: Mapping[str, float] | None = None,
) -> Fused:
    """Weighted sum of normalized scores (same as :func:`weighted`)."""
    return weighted(runs, weights=weights, normalization=normalization)


def comb_mnz(
    runs: Runs,
    *,
    normalization: Normalization | str = Normalization.MIN_MAX,
    weights: Mapping[str, float] | None = None,
) -> Fused:
    """CombSUM times the number of (positively weighted) runs that contain the document."""
    summed = comb_sum(runs, normalization=normalization, weights=weights)
    w = resolve_weights(runs, weights)
    clean = clean_runs(runs)
    hits = {doc_id: 0 for doc_id, _ in summed}
    for name, run in clean.items():
        if w[name] > 0:
            for doc_id, _ in run:
                hits[doc_id] += 1
    return order({doc_id: score * hits[doc_id] for doc_id, score in summed}, clean, w)
