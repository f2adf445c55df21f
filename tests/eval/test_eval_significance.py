"""Paired significance tests and Holm's correction on synthetic per-query values with known outcomes."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy.stats import ttest_rel

from ragsift.errors import ConfigError
from ragsift.eval.significance import annotate_significance, resolve_baseline
from ragsift.eval.significance import compare_per_query, holm, paired_p_value, randomization_test, t_test


def test_identical_runs_have_p_one():
    values = np.random.default_rng(1).random(50)
    assert randomization_test(values, values) == 1.0
    assert t_test(values, values) == 1.0


def test_a_clearly_better_run_is_significant():
    rng = np.random.default_rng(2)
    base = rng.random(100) * 0.5
    better = base + 0.2 + rng.normal(0, 0.05, 100)
    assert randomization_test(better, base) < 0.001
    assert t_test(better, base) < 1e-10


def test_noise_is_not_significant():
    rng = np.random.default_rng(3)
    a, b = rng.random(60), rng.random(60)
    assert randomization_test(a, b) > 0.05
    assert t_test(a, b) == pytest.approx(ttest_rel(a, b).pvalue)


def test_randomization_matches_exact_enumeration():
    """With 8 queries all 256 sign patterns can be enumerated: the sampled p converges to the exact one."""
    d = np.array([0.3, 0.1, -0.05, 0.2, 0.0, 0.15, -0.1, 0.25])
    observed = abs(d.mean())
    exact = np.mean([abs((np.array(s) * d).mean()) >= observed - 1e-12 for s in itertools.product((-1, 1), repeat=8)])
    p = randomization_test(d, np.zeros(8), n_resamples=200_000, seed=7)
    assert p == pytest.approx(exact, abs=0.005)
    assert randomization_test(d, np.zeros(8), seed=7) == randomization_test(d, np.zeros(8), seed=7)  # seeded


def test_holm_by_hand():
    # sorted: 0.01 (×4 = 0.04), 0.02 (×3 = 0.06), 0.03 (×2 = 0.06), 0.5 (×1 = 0.5)
    assert holm([0.03, 0.01, 0.5, 0.02]) == pytest.approx([0.06, 0.04, 0.5, 0.06])
    assert holm([0.9, 0.8]) == pytest.approx([1.0, 1.0])


def test_bad_input_is_refused():
    with pytest.raises(ConfigError, match="as many values"):
        randomization_test([1, 2], [1])
    with pytest.raises(ConfigError, match="NaN"):
        t_test([1.0, float("nan")], [1.0, 2.0])
    with pytest.raises(ConfigError, match="test"):
        paired_p_value([1], [2], "wilcoxon")


def _per_query(values):
    return {f"q{i}": {"ndcg@10": float(v)} for i, v in enumerate(values)}


def test_annotate_grid_significance_families():
    rng = np.random.default_rng(4)
    bm25 = rng.random(80) * 0.5
    per_query = {
        "bm25:none": _per_query(bm25),
        "bm25:ce": _per_query(bm25 + 0.3),
        "dense:none": _per_query(bm25),
        "dense:ce": _per_query(bm25),
    }
    records = [{"retriever": k.split(":")[0], "reranker": k.split(":")[1]} for k in per_query]
    baseline = resolve_baseline(None, records)
    settings = annotate_significance(records, per_query, ["ndcg@10"], baseline=baseline, n_resamples=2000)
    assert settings["baseline"] == "bm25:none" and settings["test"] == "randomization"
    by = {f"{r['retriever']}:{r['reranker']}": r.get("significance", {}) for r in records}
    assert by["bm25:ce"]["vs_first_stage"]["ndcg@10"]["significant"]
    assert by["bm25:ce"]["vs_baseline"]["ndcg@10"]["significant"]
    assert not by["dense:ce"]["vs_first_stage"]["ndcg@10"]["significant"]
    assert by["dense:none"]["vs_baseline"]["ndcg@10"]["p"] == 1.0
    assert "vs_baseline" not in by["bm25:none"] and "vs_first_stage" not in by["dense:none"]
    with pytest.raises(ConfigError, match="names no run"):
        resolve_baseline("splade", records)
    assert resolve_baseline("dense:ce", records) == "dense:ce"


def test_compare_per_query_pairs_common_queries():
    a = {"q1": {"m": 1.0}, "q2": {"m": 0.0}, "q3": {"m": 1.0}}
    b = {"q1": {"m": 0.0}, "q2": {"m": 0.0}}
    out = compare_per_query(a, b, ["m"])["m"]
    assert out["n"] == 2 and out["delta"] == pytest.approx(0.5)
