"""Paired significance tests on per-query metric values, with Holm's correction.

Two runs evaluated on the same queries give paired values ``a[i]``, ``b[i]``. The null hypothesis
is that the runs are exchangeable on every query (mean difference zero).

* ``randomization`` (default) — two-sided paired randomization test (Fisher; Smucker, Allan &
  Carterette, CIKM 2007): flip the sign of each query's difference at random ``n_resamples``
  times (seeded), and count how often the absolute mean difference reaches the observed one.
  ``p = (count + 1) / (n_resamples + 1)``, so p is never 0.
* ``t-test`` — paired Student t-test (:func:`scipy.stats.ttest_rel`), as ranx ``compare`` offers.

Identical values on every query give ``p = 1`` with both tests. :func:`holm` adjusts a family of
p-values (Holm–Bonferroni step-down), controlling the family-wise error rate.

The evaluation grid's two families of tests (:func:`annotate_significance`):

* ``vs_first_stage`` — every reranked run against the first stage it reranked;
* ``vs_baseline`` — every run against one chosen baseline run (default: BM25 without reranking).

Within each family, p-values of one metric are Holm-corrected across the runs. A difference is
*significant* when the corrected p is below ``alpha``. Each run record gets
``record["significance"] = {family: {metric: {"p", "p_holm", "significant"}}}``.
"""

from __future__ import annotations

from enum import Enum
from typing import Mapping, Sequence

import numpy as np

from ragsift._enums import parse_enum
from ragsift.errors import ConfigError

__all__ = [
    "SignificanceTest",
    "randomization_test",
    "t_test",
    "paired_p_value",
    "holm",
    "compare_per_query",
    "run_key",
    "resolve_baseline",
    "annotate_significance",
]

_CHUNK = 2_000  # resamples per matrix product: bounds memory at chunk × queries floats


class SignificanceTest(str, Enum):
    RANDOMIZATION = "randomization"
    T_TEST = "t-test"


def _differences(a: Sequence[float], b: Sequence[float]) -> np.ndarray:
    x, y = np.asarray(a, dtype=float).ravel(), np.asarray(b, dtype=float).ravel()
    if x.shape != y.shape:
        raise ConfigError(f"paired tests need as many values in a ({x.size}) as in b ({y.size}), one per query")
    if x.size == 0:
        raise ConfigError("paired tests need at least one query; a and b are empty")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise ConfigError("per-query values contain NaN or infinity; pass finite metric values")
    return x - y


def randomization_test(a: Sequence[float], b: Sequence[float], *, n_resamples: int = 10_000, seed: int = 0) -> float:
    """Two-sided paired randomization (sign-flip) test of mean(a − b) = 0; returns p in (0, 1]."""
    if isinstance(n_resamples, bool) or not isinstance(n_resamples, int) or n_resamples < 1:
        raise ConfigError(f"n_resamples={n_resamples!r} must be a positive integer (e.g. 10000)")
    d = _differences(a, b)
    if not np.any(d):
        return 1.0
    observed = abs(d.mean())
    tolerance = 1e-12 * max(1.0, observed)
    rng = np.random.default_rng(seed)
    count, left = 0, n_resamples
    while left:
        m = min(left, _CHUNK)
        signs = rng.integers(0, 2, size=(m, d.size), dtype=np.int8) * 2 - 1
        means = np.abs(signs @ d) / d.size
        count += int(np.count_nonzero(means >= observed - tolerance))
        left -= m
    return (count + 1) / (n_resamples + 1)


def t_test(a: Sequence[float], b: Sequence[float]) -> float:
    """Two-sided paired t-test p-value; 1.0 when every difference is zero, 0.0 when all are equal but not zero."""
    from scipy.stats import ttest_rel

    d = _differences(a, b)
    if not np.any(d):
        return 1.0
    if np.all(d == d[0]):
        return 0.0  # a constant non-zero shift: no variance, certain difference
    return float(ttest_rel(np.asarray(a, float), np.asarray(b, float)).pvalue)


def paired_p_value(
    a: Sequence[float], b: Sequence[float], test: SignificanceTest | str = SignificanceTest.RANDOMIZATION, **kwargs
) -> float:
    """p-value of the named test (``kwargs`` go to :func:`randomization_test`)."""
    chosen = parse_enum(SignificanceTest, test, param="test")
    if chosen is SignificanceTest.T_TEST:
        return t_test(a, b)
    return randomization_test(a, b, **kwargs)


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm–Bonferroni adjusted p-values, in the input order (each ≤ 1, monotone in the raw p)."""
    p = np.asarray(p_values, dtype=float)
    m = p.size
    order = np.argsort(p, kind="stable")
    adjusted = np.empty(m)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        adjusted[i] = running
    return adjusted.tolist()


def compare_per_query(
    a: Mapping[str, Mapping[str, float]],
    b: Mapping[str, Mapping[str, float]],
    metrics: Sequence[str],
    test: SignificanceTest | str = SignificanceTest.RANDOMIZATION,
    **kwargs,
) -> dict[str, dict]:
    """Per metric: means of a and b on their common queries, delta a − b, and the paired p-value.

    ``a``/``b`` are :func:`ragsift.eval.metrics.evaluate_per_query` outputs; only queries both
    hold are paired (``n`` says how many).
    """
    common = sorted(set(a) & set(b))
    if not common:
        raise ConfigError("the two runs share no evaluated query; they cannot be compared pairwise")
    out = {}
    for metric in metrics:
        x = [a[q][metric] for q in common]
        y = [b[q][metric] for q in common]
        out[metric] = {
            "mean_a": float(np.mean(x)),
            "mean_b": float(np.mean(y)),
            "delta": float(np.mean(x) - np.mean(y)),
            "p": paired_p_value(x, y, test, **kwargs),
            "n": len(common),
        }
    return out


# ---------------------------------------------------------------------------- the grid's families

PerQuery = Mapping[str, Mapping[str, float]]


def run_key(retriever: str, reranker: str) -> str:
    """The key of a run in ``per_query.json`` and comparisons: ``"RETRIEVER:RERANKER"``."""
    return f"{retriever}:{reranker}"


def resolve_baseline(spec: str | None, records: Sequence[Mapping]) -> str:
    """The run key a ``RETRIEVER[:RERANKER]`` spec names (default reranker ``none``).

    Without a spec: ``bm25:none`` if it ran, else the first run.
    """
    keys = [run_key(r["retriever"], r["reranker"]) for r in records]
    if spec is None:
        return "bm25:none" if "bm25:none" in keys else keys[0]
    retriever, sep, reranker = spec.partition(":")
    key = run_key(retriever.strip(), reranker.strip() if sep else "none")
    if key not in keys:
        raise ConfigError(f"baseline={spec!r} names no run of this grid; runs are: {', '.join(keys)}")
    return key


def _family(
    pairs: list[tuple[Mapping, str]],
    per_query: Mapping[str, PerQuery],
    metrics: Sequence[str],
    test: SignificanceTest | str,
    alpha: float,
    **kwargs,
) -> list[dict]:
    """Test each (record, reference key) pair on every metric; Holm-correct per metric across pairs."""
    out: list[dict] = [{} for _ in pairs]
    for metric in metrics:
        raw = []
        for record, ref in pairs:
            a, b = per_query[run_key(record["retriever"], record["reranker"])], per_query[ref]
            qids = sorted(set(a) & set(b))
            raw.append(paired_p_value([a[q][metric] for q in qids], [b[q][metric] for q in qids], test, **kwargs))
        for result, p, adjusted in zip(out, raw, holm(raw) if raw else []):
            result[metric] = {"p": p, "p_holm": adjusted, "significant": adjusted < alpha}
    return out


def annotate_significance(
    records: Sequence[dict],
    per_query: Mapping[str, PerQuery],
    metrics: Sequence[str],
    *,
    baseline: str,
    test: SignificanceTest | str = SignificanceTest.RANDOMIZATION,
    alpha: float = 0.05,
    **kwargs,
) -> dict:
    """Add ``significance`` to each record (see the module docstring); return the test settings."""
    if not 0.0 < alpha < 1.0:
        raise ConfigError(f"alpha={alpha!r} must be between 0 and 1 (e.g. 0.05)")
    reranked = [(r, run_key(r["retriever"], "none")) for r in records if r["reranker"] != "none"]
    others = [(r, baseline) for r in records if run_key(r["retriever"], r["reranker"]) != baseline]
    for family, pairs in (("vs_first_stage", reranked), ("vs_baseline", others)):
        for (record, _), result in zip(pairs, _family(pairs, per_query, metrics, test, alpha, **kwargs)):
            record.setdefault("significance", {})[family] = result
    return {
        "test": parse_enum(SignificanceTest, test, param="test").value,
        "alpha": alpha,
        "correction": "holm",
        "baseline": baseline,
        "metrics": list(metrics),
        **{k: v for k, v in kwargs.items()},
    }
