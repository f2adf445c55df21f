"""Shared runs for the fusion tests, small enough to fuse by hand."""

from __future__ import annotations

import pytest


@pytest.fixture
def two_runs() -> dict[str, list[tuple[str, float]]]:
    """Two runs of three docs overlapping on a and b.

    A: a=4 (rank 1), b=2 (rank 2), c=0 (rank 3)  -> min-max a=1, b=0.5, c=0
    B: b=3 (rank 1), d=2 (rank 2), a=1 (rank 3)  -> min-max b=1, d=0.5, a=0
    """
    return {
        "A": [("a", 4.0), ("b", 2.0), ("c", 0.0)],
        "B": [("b", 3.0), ("d", 2.0), ("a", 1.0)],
    }
