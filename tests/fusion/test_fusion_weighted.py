from __future__ import annotations

import math

import pytest

from ragsift.errors import ConfigError
from ragsift.fusion.weighted import weighted

R15 = math.sqrt(1.5)


def test_weighted_min_max_hand_computed(two_runs):
    # min-max: A a=1, b=0.5, c=0; B b=1, d=0.5, a=0; absent -> 0
    # a = 1 + 0 = 1;  b = 0.5 + 1 = 1.5
    # c = 0 + 0 (absent from B) = 0;  d = 0 (absent from A) + 0.5 = 0.5
    assert weighted(two_runs) == [("b", 1.5), ("a", 1.0), ("d", 0.5), ("c", 0.0)]


def test_weighted_z_score_hand_computed(two_runs):
    # A = (4, 2, 0): mean 2, std sqrt(8/3) -> a=+sqrt(1.5), b=0, c=-sqrt(1.5)
    # B = (3, 2, 1): mean 2, std sqrt(2/3) -> b=+sqrt(1.5), d=0, a=-sqrt(1.5)
    # absent -> the run's minimum z = -sqrt(1.5)
    # a = sqrt(1.5) - sqrt(1.5) = 0;  b = 0 + sqrt(1.5);  d = -sqrt(1.5) + 0;  c = -2 sqrt(1.5)
    got = weighted(two_runs, normalization="zscore")
    assert [d for d, _ in got] == ["b", "a", "d", "c"]
    assert dict(got) == pytest.approx({"b": R15, "a": 0.0, "d": -R15, "c": -2 * R15}, abs=1e-12)


def test_weighted_min_max_missing_doc_gets_zero_and_ties_break_by_rank_then_id():
    # A = (5, 1) -> a=1, b=0; B = (7,) single result -> c=1.0 (not 0)
    # a = 1 + 0 = 1;  c = 0 + 1 = 1;  b = 0 + 0 = 0
    # a and c tie at 1.0 with best rank 1 each -> id order: a, c
    runs = {"A": [("a", 5.0), ("b", 1.0)], "B": [("c", 7.0)]}
    assert weighted(runs) == [("a", 1.0), ("c", 1.0), ("b", 0.0)]


def test_weighted_z_score_missing_doc_gets_run_minimum_not_mean():
    # A = (10, 0, 0): mean 10/3, std 10*sqrt(2)/3 -> x = sqrt(2), y = z = -1/sqrt(2)
    # B = (1,) single result -> std 0 -> w = 0; absent from B -> min z of B = 0
    # w is absent from A -> min z of A = -1/sqrt(2), the same as y and z, which A found but scored
    # low. With 0 (the mean) for absence, w would get 0 and outrank y and z.
    runs = {"A": [("x", 10.0), ("y", 0.0), ("z", 0.0)], "B": [("w", 1.0)]}
    got = dict(weighted(runs, normalization="zscore"))
    low = -1 / math.sqrt(2)
    assert got == pytest.approx({"x": math.sqrt(2), "y": low, "z": low, "w": low}, abs=1e-12)


def test_weighted_single_result_min_max_is_one():
    assert weighted({"A": [("only", 0.02)]}) == [("only", 1.0)]


def test_weighted_all_tied_min_max_is_one_not_zero():
    # all tied -> 1.0 each; tie broken by rank: x (1), y (2), z (3)
    got = weighted({"A": [("x", 0.3), ("y", 0.3), ("z", 0.3)]})
    assert got == [("x", 1.0), ("y", 1.0), ("z", 1.0)]


def test_weighted_z_score_std_zero_contributes_nothing():
    # B is constant -> all z 0 and min z 0 for the absent; only A's z-scores remain:
    # A = (4, 2, 0) -> p = sqrt(1.5), q = 0, r = -sqrt(1.5); s is absent from A -> -sqrt(1.5)
    runs = {"A": [("p", 4.0), ("q", 2.0), ("r", 0.0)], "B": [("s", 5.0), ("p", 5.0)]}
    got = dict(weighted(runs, normalization="zscore"))
    assert got == pytest.approx({"p": R15, "q": 0.0, "r": -R15, "s": -R15}, abs=1e-12)


def test_weighted_zero_weight_yields_other_runs_order(two_runs):
    # A off: B's min-max b=1, d=0.5, a=0; c only in A -> 0.
    # a and c tie at 0; a has rank 3 in a weighted run, c none -> a first
    assert weighted(two_runs, weights={"A": 0}) == [("b", 1.0), ("d", 0.5), ("a", 0.0), ("c", 0.0)]


def test_weighted_weight_two_doubles_contributions(two_runs):
    # B doubled: a = 1 + 2*0 = 1;  b = 0.5 + 2*1 = 2.5;  d = 2*0.5 = 1;  c = 0
    # a and d tie at 1.0: best rank a 1, d 2 -> a first
    assert weighted(two_runs, weights={"B": 2.0}) == [
        ("b", 2.5),
        ("a", 1.0),
        ("d", 1.0),
        ("c", 0.0),
    ]


def test_weighted_duplicates_appear_once_and_first_occurrence_wins():
    # A after dropping the second x: (x=4, y=2, z=0) -> x=1, y=0.5, z=0; the 100 is ignored
    runs = {"A": [("x", 4.0), ("y", 2.0), ("x", 100.0), ("z", 0.0)], "B": [("y", 1.0)]}
    # B single -> y = 1.0;  y = 0.5 + 1 = 1.5;  x = 1 + 0;  z = 0
    assert weighted(runs) == [("y", 1.5), ("x", 1.0), ("z", 0.0)]


def test_weighted_empty_run_contributes_nothing():
    runs = {"A": [("x", 2.0), ("y", 1.0)], "B": []}
    assert weighted(runs) == [("x", 1.0), ("y", 0.0)]
    assert weighted(runs, normalization="zscore") == [("x", 1.0), ("y", -1.0)]


@pytest.mark.parametrize("runs", [{}, {"A": []}, {"A": [], "B": []}])
def test_weighted_empty_input_gives_empty_list(runs):
    assert weighted(runs) == []


def test_weighted_bad_normalization_lists_valid_values(two_runs):
    with pytest.raises(ConfigError) as info:
        weighted(two_runs, normalization="l2")
    assert "'minmax'" in str(info.value) and "'zscore'" in str(info.value)


def test_weighted_negative_weight(two_runs):
    with pytest.raises(ConfigError, match=r"weights\['B'\]=-0.5"):
        weighted(two_runs, weights={"B": -0.5})


def test_weighted_unknown_weight_key(two_runs):
    with pytest.raises(ConfigError, match="'dense'.*'A', 'B'"):
        weighted(two_runs, weights={"dense": 1.0})
