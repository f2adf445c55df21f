from __future__ import annotations

import math

import numpy as np
import pytest

from ragsift.errors import BadInputError, ConfigError
from ragsift.fusion.normalize import Normalization, min_max, normalize, z_score


def test_min_max_hand_computed():
    # (s - 0) / (4 - 0): 4 -> 1, 2 -> 0.5, 0 -> 0
    np.testing.assert_array_equal(min_max([4.0, 2.0, 0.0]), [1.0, 0.5, 0.0])
    # (s - 1) / (5 - 1): 5 -> 1, 3 -> 0.5, 2 -> 0.25, 1 -> 0
    np.testing.assert_array_equal(min_max([5, 3, 2, 1]), [1.0, 0.5, 0.25, 0.0])


def test_min_max_single_result_is_one_not_zero():
    np.testing.assert_array_equal(min_max([0.37]), [1.0])


def test_min_max_all_tied_is_one_not_zero():
    np.testing.assert_array_equal(min_max([2.5, 2.5, 2.5]), [1.0, 1.0, 1.0])


def test_z_score_hand_computed():
    # mean 2, population std sqrt((4 + 0 + 4) / 3) = sqrt(8/3); z = +-2 / sqrt(8/3) = +-sqrt(1.5)
    got = z_score([4.0, 2.0, 0.0])
    np.testing.assert_allclose(got, [math.sqrt(1.5), 0.0, -math.sqrt(1.5)], rtol=1e-12)
    assert got.mean() == pytest.approx(0.0, abs=1e-12)
    assert got.std() == pytest.approx(1.0)  # population std


@pytest.mark.parametrize("scores", [[3.0, 3.0], [0.1, 0.1, 0.1], [7.0]])
def test_z_score_zero_std_gives_zeros(scores):
    # [0.1]*3 has a float std that is not exactly 0; it must still give exact zeros.
    np.testing.assert_array_equal(z_score(scores), np.zeros(len(scores)))


@pytest.mark.parametrize("fn", [min_max, z_score])
def test_empty_scores_give_empty_float64(fn):
    out = fn([])
    assert out.shape == (0,)
    assert out.dtype == np.float64


@pytest.mark.parametrize("fn", [min_max, z_score])
def test_returns_float64_and_leaves_input_alone(fn):
    scores = np.array([3, 1, 2], dtype=np.int64)
    out = fn(scores)
    assert out.dtype == np.float64
    np.testing.assert_array_equal(scores, [3, 1, 2])


@pytest.mark.parametrize(
    ("method", "expected"),
    [
        ("minmax", [1.0, 0.5, 0.0]),
        ("MinMax", [1.0, 0.5, 0.0]),
        (Normalization.MIN_MAX, [1.0, 0.5, 0.0]),
        ("zscore", [math.sqrt(1.5), 0.0, -math.sqrt(1.5)]),
        (Normalization.Z_SCORE, [math.sqrt(1.5), 0.0, -math.sqrt(1.5)]),
    ],
)
def test_normalize_dispatches(method, expected):
    np.testing.assert_allclose(normalize([4.0, 2.0, 0.0], method), expected, rtol=1e-12)


def test_normalize_bad_method_lists_valid_values():
    with pytest.raises(ConfigError) as info:
        normalize([1.0], "softmax")
    message = str(info.value)
    assert "normalization='softmax'" in message
    assert "'minmax'" in message and "'zscore'" in message


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
@pytest.mark.parametrize("fn", [min_max, z_score])
def test_non_finite_scores_are_rejected(fn, bad):
    with pytest.raises(BadInputError, match="finite"):
        fn([1.0, bad])
