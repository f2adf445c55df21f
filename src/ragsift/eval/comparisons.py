"""Significance of the grid's differences: each reranked run vs its first stage, every run vs a baseline.

Two families of paired tests (:mod:`ragsift.eval.significance`) on per-query metric values:

* ``vs_first_stage`` — every reranked run against the first stage it reranked;
* ``vs_baseline`` — every run against one chosen baseline run (default: BM25 without reranking).

Within each family, p-values of one metric are Holm-corrected across the runs. A difference is
*significant* when the corrected p is below ``alpha``. Each run record gets
``record["significance"] = {family: {metric: {"p", "p_holm", "significant"}}}``.
"""

from __future__ import annotations

from typing import Mapping, Sequence

from ragsift._enums import parse_enum
from ragsift.errors import ConfigError
from ragsift.eval.significance import SignificanceTest, holm, paired_p_value

__all__ = ["run_key", "resolve_baseline", "annotate_significance"]

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
