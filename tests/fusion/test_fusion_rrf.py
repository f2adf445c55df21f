from __future__ import annotations

import itertools

import pytest

from ragsift.errors import BadInputError, ConfigError
from ragsift.fusion.rrf import rrf


def test_rrf_hand_computed(two_runs):
    # a: A rank 1 + B rank 3 -> 1/61 + 1/63
    # b: A rank 2 + B rank 1 -> 1/62 + 1/61   (> a because 1/62 > 1/63)
    # d: B rank 2            -> 1/62
    # c: A rank 3            -> 1/63
    got = rrf(two_runs)
    assert [d for d, _ in got] == ["b", "a", "d", "c"]
    assert dict(got) == pytest.approx(
        {"b": 1 / 62 + 1 / 61, "a": 1 / 61 + 1 / 63, "d": 1 / 62, "c": 1 / 63}, rel=1e-15
    )


def test_rrf_ranks_are_one_based():
    # rank 1 with k=60 -> 1/61 (a 0-based rank would give 1/60)
    assert rrf({"A": [("x", 9.0), ("y", 1.0)]}) == [("x", 1 / 61), ("y", 1 / 62)]


def test_rrf_k_is_applied():
    # k = 0: 1/1 and 1/2; k = 10: 1/11 and 1/12
    assert rrf({"A": [("x", 0.0), ("y", 0.0)]}, k=0) == [("x", 1.0), ("y", 0.5)]
    assert rrf({"A": [("x", 0.0), ("y", 0.0)]}, k=10) == [("x", 1 / 11), ("y", 1 / 12)]


def test_rrf_ignores_scores():
    same_order = {"A": [("x", 1000.0), ("y", -5.0)]}
    assert rrf(same_order) == rrf({"A": [("x", 0.2), ("y", 0.1)]})


def test_rrf_zero_weight_yields_other_runs_order(two_runs):
    # A switched off: b 1/61, d 1/62, a 1/63 (B's order); c only in A -> 0, last
    got = rrf(two_runs, weights={"A": 0.0})
    assert got == [("b", 1 / 61), ("d", 1 / 62), ("a", 1 / 63), ("c", 0.0)]


def test_rrf_weight_two_doubles_contributions(two_runs):
    # A doubled: a = 2/61 + 1/63, b = 2/62 + 1/61, c = 2/63, d = 1/62
    got = dict(rrf(two_runs, weights={"A": 2.0}))
    assert got == pytest.approx(
        {"a": 2 / 61 + 1 / 63, "b": 2 / 62 + 1 / 61, "c": 2 / 63, "d": 1 / 62}, rel=1e-15
    )
    # the weight changes the order: a = 0.032787 + 0.015873 = 0.048660 now beats
    # b = 0.032258 + 0.016393 = 0.048651; c = 0.031746 overtakes d = 0.016129
    assert [d for d, _ in rrf(two_runs, weights={"A": 2.0})] == ["a", "b", "c", "d"]


def test_rrf_single_run_weight_scales_every_score():
    run = {"A": [("x", 1.0), ("y", 0.5), ("z", 0.1)]}
    plain = rrf(run)
    doubled = rrf(run, weights={"A": 2.0})
    assert [d for d, _ in doubled] == [d for d, _ in plain]
    assert [s for _, s in doubled] == [2 * s for _, s in plain]


def test_rrf_weights_can_flip_the_winner():
    runs = {"A": [("x", 1.0), ("y", 0.0)], "B": [("y", 1.0), ("x", 0.0)]}
    # equal weights: x = y = 1/61 + 1/62, tie -> id order
    assert [d for d, _ in rrf(runs)] == ["x", "y"]
    # B weighted 3: y = 1/62 + 3/61 > x = 1/61 + 3/62
    assert [d for d, _ in rrf(runs, weights={"B": 3.0})] == ["y", "x"]


def test_rrf_documents_in_several_runs_appear_once(two_runs):
    ids = [d for d, _ in rrf(two_runs)]
    assert sorted(ids) == ["a", "b", "c", "d"]


def test_rrf_duplicate_id_in_a_run_keeps_first_occurrence():
    # the second x is dropped and the run re-ranked: x rank 1, y rank 2, z rank 3
    got = rrf({"A": [("x", 3.0), ("y", 2.0), ("x", 1.5), ("z", 1.0)]})
    assert got == [("x", 1 / 61), ("y", 1 / 62), ("z", 1 / 63)]


@pytest.mark.parametrize("runs", [{}, {"A": []}, {"A": [], "B": []}])
def test_rrf_empty_input_gives_empty_list(runs):
    assert rrf(runs) == []


def test_rrf_ties_break_by_best_rank_then_id():
    # k = 0: x = 1/1, y = 1/1, zz = 1/1, aa = 1/2 + 1/2 = 1 -> all tied at exactly 1.0.
    # best ranks: x 1, y 1, zz 1, aa 2 -> x, y, zz by id, then aa despite the smallest id.
    runs = {"A": [("zz", 0.0)], "B": [("x", 0.0), ("aa", 0.0)], "C": [("y", 0.0), ("aa", 0.0)]}
    got = rrf(runs, k=0)
    assert got == [("x", 1.0), ("y", 1.0), ("zz", 1.0), ("aa", 1.0)]


def test_rrf_does_not_depend_on_run_order():
    runs = {
        "A": [("p", 0.0), ("q", 0.0), ("r", 0.0)],
        "B": [("q", 0.0), ("r", 0.0), ("p", 0.0)],
        "C": [("r", 0.0), ("p", 0.0), ("q", 0.0)],
    }
    # p, q, r are all 1/61 + 1/62 + 1/63; every run order must give exactly the same output
    results = [rrf(dict(perm)) for perm in itertools.permutations(runs.items())]
    assert all(r == results[0] for r in results)
    assert [d for d, _ in results[0]] == ["p", "q", "r"]


@pytest.mark.parametrize("bad", [-1.0, float("nan"), float("inf")])
def test_rrf_bad_weight(two_runs, bad):
    with pytest.raises(ConfigError, match=r"weights\['A'\]") as info:
        rrf(two_runs, weights={"A": bad})
    assert ">= 0" in str(info.value)


def test_rrf_non_numeric_weight(two_runs):
    with pytest.raises(ConfigError, match="not a number"):
        rrf(two_runs, weights={"A": "high"})


def test_rrf_unknown_weight_key_names_it_and_lists_runs(two_runs):
    with pytest.raises(ConfigError) as info:
        rrf(two_runs, weights={"bm25": 1.0})
    message = str(info.value)
    assert "'bm25'" in message
    assert "'A'" in message and "'B'" in message


def test_rrf_all_zero_weights(two_runs):
    with pytest.raises(ConfigError, match="all zero"):
        rrf(two_runs, weights={"A": 0.0, "B": 0})


@pytest.mark.parametrize("bad", [-1.0, -0.001, float("nan"), float("inf")])
def test_rrf_bad_k(two_runs, bad):
    with pytest.raises(ConfigError, match="k="):
        rrf(two_runs, k=bad)


def test_rrf_runs_must_be_a_mapping():
    with pytest.raises(ConfigError, match="runs must be a mapping"):
        rrf([("x", 1.0)])


def test_rrf_malformed_item_names_run_and_position():
    with pytest.raises(BadInputError, match=r"runs\['A'\] item 2"):
        rrf({"A": [("x", 1.0), ("y",)]})
