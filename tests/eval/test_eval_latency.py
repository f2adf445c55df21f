"""Latency percentiles on known samples."""

from __future__ import annotations

import math

import pytest

from ragsift.errors import ConfigError
from ragsift.eval.latency import percentiles


def test_percentiles_linear_interpolation():
    # samples 1..10: position of p is (n-1)*p/100 = 9p/100 -> p50 at 4.5 -> 5.5; p95 at 8.55 -> 9.55;
    # p99 at 8.91 -> 9.91 (values are index + 1).
    out = percentiles([float(v) for v in range(10, 0, -1)])
    assert out == {"p50": pytest.approx(5.5), "p95": pytest.approx(9.55), "p99": pytest.approx(9.91),
                   "mean": pytest.approx(5.5), "n": 10}


def test_single_sample_and_custom_percentiles():
    assert percentiles([4.0], ps=(0, 99.9, 100)) == {"p0": 4.0, "p99.9": 4.0, "p100": 4.0, "mean": 4.0, "n": 1}


def test_empty_samples_raise():
    with pytest.raises(ConfigError, match="no latency samples"):
        percentiles([])


@pytest.mark.parametrize("bad", [[1.0, math.nan], [math.inf]])
def test_non_finite_samples_raise(bad):
    with pytest.raises(ConfigError, match="samples_ms"):
        percentiles(bad)


def test_percentile_out_of_range_raises():
    with pytest.raises(ConfigError, match=r"ps=.*101"):
        percentiles([1.0, 2.0], ps=(50, 101))
