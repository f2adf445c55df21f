from __future__ import annotations

import math

import pytest

from ragsift.fusion.comb import comb_mnz, comb_sum
from ragsift.fusion.weighted import weighted

R15 = math.sqrt(1.5)


@pytest.mark.parametrize("normalization", ["minmax", "zscore"])
@pytest.mark.parametrize("weights", [None, {"A": 2.0}, {"B": 0.0}])
def test_comb_sum_is_weighted(two_runs, normalization, weights):
    assert comb_sum(two_runs, normalization=normalization, weights=weights) == weighted(
        two_runs, normalization=normalization, weights=weights
    )


def test_comb_sum_hand_computed(two_runs):
    # same arithmetic as weighted min-max: b = 0.5 + 1, a = 1 + 0, d = 0 + 0.5, c = 0 + 0
    assert comb_sum(two_runs) == [("b", 1.5), ("a", 1.0), ("d", 0.5), ("c", 0.0)]


def test_comb_mnz_multiplies_by_hit_count(two_runs):
    # CombSUM b=1.5, a=1, d=0.5, c=0; hits: a 2, b 2, c 1, d 1
    # b = 1.5*2 = 3;  a = 1*2 = 2;  d = 0.5*1;  c = 0*1
    assert comb_mnz(two_runs) == [("b", 3.0), ("a", 2.0), ("d", 0.5), ("c", 0.0)]


def test_comb_mnz_rewards_agreement_over_a_single_strong_hit():
    # A = (s=10, t=4, u=0) -> s=1, t=0.4, u=0;  B = (v=10, t=4, w=0) -> v=1, t=0.4, w=0
    # CombSUM: s = 1, v = 1, t = 0.4 + 0.4 = 0.8          -> s, v ahead of t
    # CombMNZ: s = 1*1, v = 1*1, t = 0.8*2 = 1.6 (2 hits) -> t first
    runs = {
        "A": [("s", 10.0), ("t", 4.0), ("u", 0.0)],
        "B": [("v", 10.0), ("t", 4.0), ("w", 0.0)],
    }
    summed = comb_sum(runs)
    assert [d for d, _ in summed] == ["s", "v", "t", "u", "w"]
    assert dict(summed)["t"] == pytest.approx(0.8)
    mnz = comb_mnz(runs)
    assert [d for d, _ in mnz] == ["t", "s", "v", "u", "w"]
    assert dict(mnz) == pytest.approx({"t": 1.6, "s": 1.0, "v": 1.0, "u": 0.0, "w": 0.0})


def test_comb_mnz_z_score_hand_computed(two_runs):
    # CombSUM z: b = sqrt(1.5), a = 0, d = -sqrt(1.5), c = -2 sqrt(1.5)  (see test_fusion_weighted)
    # hits a 2, b 2, c 1, d 1 -> b = 2 sqrt(1.5), a = 0, d = -sqrt(1.5), c = -2 sqrt(1.5)
    got = comb_mnz(two_runs, normalization="zscore")
    assert [d for d, _ in got] == ["b", "a", "d", "c"]
    assert dict(got) == pytest.approx(
        {"b": 2 * R15, "a": 0.0, "d": -R15, "c": -2 * R15}, abs=1e-12
    )


def test_comb_mnz_does_not_count_zero_weight_runs(two_runs):
    # B off: CombSUM a=1, b=0.5, c=0, d=0; hits in weighted runs: a 1, b 1, c 1, d 0
    # d and c tie at 0: c has rank 3 in a weighted run, d none -> c first
    assert comb_mnz(two_runs, weights={"B": 0.0}) == [
        ("a", 1.0),
        ("b", 0.5),
        ("c", 0.0),
        ("d", 0.0),
    ]


def test_comb_mnz_weights_are_applied(two_runs):
    # B doubled: CombSUM b = 0.5 + 2 = 2.5, a = 1, d = 1, c = 0; x hits: b 5, a 2, d 1, c 0
    assert comb_mnz(two_runs, weights={"B": 2.0}) == [
        ("b", 5.0),
        ("a", 2.0),
        ("d", 1.0),
        ("c", 0.0),
    ]


@pytest.mark.parametrize("fn", [comb_sum, comb_mnz])
@pytest.mark.parametrize("runs", [{}, {"A": []}, {"A": [], "B": []}])
def test_comb_empty_input_gives_empty_list(fn, runs):
    assert fn(runs) == []


def test_comb_mnz_duplicates_in_a_run_count_once():
    # the second x in A is dropped: x is in 1 run, min-max A x=1, y=0 -> x = 1*1
    assert comb_mnz({"A": [("x", 2.0), ("y", 1.0), ("x", 0.5)]}) == [("x", 1.0), ("y", 0.0)]
