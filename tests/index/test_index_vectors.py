"""VectorIndex against the exact numpy reference, on real FAISS."""

from __future__ import annotations

import numpy as np
import pytest

from ragsift.errors import BadInputError, CollectionError, ConfigError
from ragsift.index.vectors import AUTO_HNSW_THRESHOLD, VectorIndex, VectorIndexKind, exact_search


def unit_rows(n: int, dim: int, seed: int) -> np.ndarray:
    rows = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    return unit_rows(2000, 64, seed=1), unit_rows(50, 64, seed=2)


@pytest.fixture(scope="module")
def hnsw(data) -> VectorIndex:
    return VectorIndex(64, kind="hnsw").build(data[0])


def test_flat_matches_exact_search(data):
    vectors, queries = data
    index = VectorIndex(64, kind="flat").build(vectors)
    scores, positions = index.search(queries, 10)
    ref_scores, ref_positions = exact_search(vectors, queries, 10)
    assert positions.shape == (50, 10) and positions.dtype == np.int64
    assert scores.dtype == np.float32
    np.testing.assert_array_equal(positions, ref_positions)
    np.testing.assert_allclose(scores, ref_scores, rtol=0, atol=1e-5)
    assert np.all(np.diff(scores, axis=1) <= 0)


def test_exact_search_is_hand_checkable():
    vectors = np.array([[1, 0], [0, 1], [0.6, 0.8]], dtype=np.float32)
    scores, positions = exact_search(vectors, np.array([[0, 1]], dtype=np.float32), 2)
    np.testing.assert_array_equal(positions, [[1, 2]])
    np.testing.assert_allclose(scores, [[1.0, 0.8]])


def test_hnsw_recall_at_10_vs_exact(data, hnsw):
    vectors, queries = data
    assert hnsw.effective_kind is VectorIndexKind.HNSW
    _, approx = hnsw.search(queries, 10)
    _, exact = exact_search(vectors, queries, 10)
    recall = np.mean([len(set(a) & set(e)) / 10 for a, e in zip(approx, exact)])
    assert recall >= 0.95


def test_hnsw_save_load_round_trip(tmp_path, data, hnsw):
    queries = data[1]
    path = hnsw.save(tmp_path / "sub" / "dense.faiss")
    assert path is not None and path.is_file()
    assert [p.name for p in path.parent.iterdir()] == ["dense.faiss"]  # no temp file left behind
    loaded = VectorIndex.load(path, dim=64)
    assert len(loaded) == 2000 and loaded.effective_kind is VectorIndexKind.HNSW
    assert loaded.hnsw_m == 32
    before, after = hnsw.search(queries, 10), loaded.search(queries, 10)
    np.testing.assert_array_equal(before[1], after[1])
    np.testing.assert_array_equal(before[0], after[0])


def test_load_rejects_wrong_dim_and_missing_file(tmp_path, hnsw):
    path = hnsw.save(tmp_path / "dense.faiss")
    with pytest.raises(CollectionError, match="dim=32"):
        VectorIndex.load(path, dim=32)
    with pytest.raises(CollectionError, match="rebuild"):
        VectorIndex.load(tmp_path / "absent.faiss", dim=64)


def test_flat_save_writes_nothing(tmp_path):
    index = VectorIndex(4, kind="flat").build(unit_rows(10, 4, seed=3))
    assert index.save(tmp_path / "dense.faiss") is None
    assert list(tmp_path.iterdir()) == []


def test_k_larger_than_n_returns_all_rows_in_order():
    vectors = unit_rows(5, 8, seed=4)
    for kind in ("flat", "hnsw"):
        scores, positions = VectorIndex(8, kind=kind).build(vectors).search(vectors[:2], 50)
        assert positions.shape == scores.shape == (2, 5)
        assert sorted(positions[0].tolist()) == [0, 1, 2, 3, 4]
        assert positions[0, 0] == 0 and positions[1, 0] == 1  # each vector is its own best match


def test_empty_index_and_empty_queries():
    index = VectorIndex(8, kind="hnsw").build(np.zeros((0, 8), dtype=np.float32))
    scores, positions = index.search(unit_rows(3, 8, seed=5), 10)
    assert scores.shape == positions.shape == (3, 0)
    scores, positions = VectorIndex(8).search(np.zeros((0, 8)), 10)  # never built
    assert scores.shape == (0, 0)


def test_inputs_are_converted_and_validated():
    vectors = unit_rows(20, 8, seed=6).astype(np.float64)  # float64 in, float32 inside
    index = VectorIndex(8).build(np.asfortranarray(vectors))
    assert index.effective_kind is VectorIndexKind.FLAT  # auto below the threshold
    assert AUTO_HNSW_THRESHOLD == 200_000
    scores, positions = index.search(vectors[3], 1)  # 1-D query = one row
    assert positions.tolist() == [[3]] and scores.dtype == np.float32
    with pytest.raises(BadInputError, match=r"expected \(n, 8\)"):
        index.search(unit_rows(2, 16, seed=7), 3)
    with pytest.raises(BadInputError, match="expected"):
        VectorIndex(8).build(unit_rows(4, 7, seed=8))
    with pytest.raises(BadInputError, match="NaN"):
        index.search(np.full((1, 8), np.nan), 3)
    with pytest.raises(ConfigError, match="k=0"):
        index.search(vectors[:1], 0)


def test_constructor_validates_options():
    with pytest.raises(ConfigError, match="'flat', 'hnsw', 'auto'"):
        VectorIndex(8, kind="ivf")
    with pytest.raises(ConfigError, match="dim=0"):
        VectorIndex(0)
    with pytest.raises(ConfigError, match="ef_search"):
        VectorIndex(8, ef_search=-1)
    assert VectorIndex(8, kind="HNSW").kind is VectorIndexKind.HNSW
