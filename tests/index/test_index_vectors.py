"""VectorIndex against the exact numpy reference, on real FAISS, unfiltered and filtered."""

from __future__ import annotations

import numpy as np
import pytest

from ragsift.errors import BadInputError, CollectionError, ConfigError
from ragsift.index.vectors import (
    AUTO_HNSW_THRESHOLD,
    FILTER_EXACT_FRACTION,
    VectorIndex,
    VectorIndexKind,
    exact_search,
)


def unit_rows(n: int, dim: int, seed: int) -> np.ndarray:
    rows = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def every_nth(n: int, step: int) -> np.ndarray:
    allowed = np.zeros(n, dtype=bool)
    allowed[::step] = True
    return allowed


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    return unit_rows(2000, 64, seed=1), unit_rows(50, 64, seed=2)


@pytest.fixture(scope="module")
def hnsw(data) -> VectorIndex:
    return VectorIndex(64, kind="hnsw").build(data[0])


def test_flat_matches_exact_search(data):
    vectors, queries = data
    index = VectorIndex(64, kind="flat").build(vectors)
    results = index.search_many(queries, 10)
    reference = exact_search(vectors, queries, 10)
    assert len(results) == 50
    for (positions, scores), (ref_positions, ref_scores) in zip(results, reference):
        assert positions.dtype == np.int64 and scores.dtype == np.float32
        np.testing.assert_array_equal(positions, ref_positions)
        np.testing.assert_allclose(scores, ref_scores, rtol=0, atol=1e-5)
        assert np.all(np.diff(scores) <= 0)


def test_exact_search_is_hand_checkable():
    vectors = np.array([[1, 0], [0, 1], [0.6, 0.8]], dtype=np.float32)
    [(positions, scores)] = exact_search(vectors, np.array([[0, 1]], dtype=np.float32), 2)
    np.testing.assert_array_equal(positions, [1, 2])
    np.testing.assert_allclose(scores, [1.0, 0.8])
    [(positions, scores)] = exact_search(vectors, [[0, 1]], 2, allowed=np.array([True, False, False]))
    np.testing.assert_array_equal(positions, [0])  # only one row allowed: one result
    np.testing.assert_allclose(scores, [0.0])


def test_hnsw_recall_at_10_vs_exact(data, hnsw):
    vectors, queries = data
    assert hnsw.effective_kind is VectorIndexKind.HNSW
    approx = [p for p, _ in hnsw.search_many(queries, 10)]
    exact = [p for p, _ in exact_search(vectors, queries, 10)]
    recall = np.mean([len(set(a) & set(e)) / 10 for a, e in zip(approx, exact)])
    assert recall >= 0.95


@pytest.mark.parametrize("kind", ["flat", "hnsw"])
@pytest.mark.parametrize("step", [100, 7])  # 1 % of the rows allowed, and 14 %: both below the HNSW cut-off
def test_filtered_search_is_exact_over_the_allowed_rows(data, hnsw, kind, step):
    vectors, queries = data
    index = hnsw if kind == "hnsw" else VectorIndex(64, kind="flat").build(vectors)
    allowed = every_nth(len(vectors), step)
    assert allowed.mean() < FILTER_EXACT_FRACTION
    for (positions, scores), (ref_positions, ref_scores) in zip(
        index.search_many(queries, 10, allowed=allowed), exact_search(vectors, queries, 10, allowed=allowed)
    ):
        assert len(positions) == 10 and allowed[positions].all()
        np.testing.assert_array_equal(positions, ref_positions)
        np.testing.assert_allclose(scores, ref_scores, rtol=0, atol=1e-5)


def test_filtered_hnsw_above_the_cut_off_walks_the_graph_and_keeps_recall(data, hnsw):
    vectors, queries = data
    allowed = every_nth(len(vectors), 2)  # 50 %: the graph, with a selector and a wider beam
    assert allowed.mean() >= FILTER_EXACT_FRACTION
    approx = hnsw.search_many(queries, 10, allowed=allowed)
    exact = exact_search(vectors, queries, 10, allowed=allowed)
    assert all(len(p) == 10 and allowed[p].all() for p, _ in approx)
    recall = np.mean([len(set(a) & set(e)) / 10 for (a, _), (e, _) in zip(approx, exact)])
    assert recall >= 0.95


def test_filtered_search_returns_every_allowed_row_when_fewer_than_k(data, hnsw):
    allowed = every_nth(len(data[0]), 400)  # 5 rows
    positions, scores = hnsw.search(data[1][0], 10, allowed=allowed)
    assert sorted(positions.tolist()) == np.flatnonzero(allowed).tolist()
    assert np.all(np.diff(scores) <= 0)
    positions, _ = hnsw.search(data[1][0], 10, allowed=np.zeros(len(data[0]), dtype=bool))
    assert positions.size == 0


def test_allowed_mask_is_validated(hnsw, data):
    with pytest.raises(ConfigError, match=r"boolean mask of shape \(2000,\)"):
        hnsw.search(data[1][0], 10, allowed=np.ones(5, dtype=bool))
    with pytest.raises(ConfigError, match="dtype int64"):
        hnsw.search(data[1][0], 10, allowed=np.ones(2000, dtype=np.int64))


def test_hnsw_save_load_round_trip(tmp_path, data, hnsw):
    queries = data[1]
    path = hnsw.save(tmp_path / "sub" / "dense.faiss")
    assert path is not None and path.is_file()
    assert [p.name for p in path.parent.iterdir()] == ["dense.faiss"]  # no temp file left behind
    loaded = VectorIndex.load(path, dim=64)
    assert len(loaded) == 2000 and loaded.effective_kind is VectorIndexKind.HNSW
    assert loaded.hnsw_m == 32
    for before, after in zip(hnsw.search_many(queries, 10), loaded.search_many(queries, 10)):
        np.testing.assert_array_equal(before[0], after[0])
        np.testing.assert_array_equal(before[1], after[1])


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
        results = VectorIndex(8, kind=kind).build(vectors).search_many(vectors[:2], 50)
        for row, (positions, scores) in enumerate(results):
            assert positions.shape == scores.shape == (5,)
            assert sorted(positions.tolist()) == [0, 1, 2, 3, 4]
            assert positions[0] == row  # each vector is its own best match


def test_empty_index_and_empty_queries():
    index = VectorIndex(8, kind="hnsw").build(np.zeros((0, 8), dtype=np.float32))
    results = index.search_many(unit_rows(3, 8, seed=5), 10)
    assert [(p.size, s.size) for p, s in results] == [(0, 0)] * 3
    assert VectorIndex(8).search_many(np.zeros((0, 8)), 10) == []  # never built


def test_inputs_are_converted_and_validated():
    vectors = unit_rows(20, 8, seed=6).astype(np.float64)  # float64 in, float32 inside
    index = VectorIndex(8).build(np.asfortranarray(vectors))
    assert index.effective_kind is VectorIndexKind.FLAT  # auto below the threshold
    assert AUTO_HNSW_THRESHOLD == 200_000
    positions, scores = index.search(vectors[3], 1)  # one query vector
    assert positions.tolist() == [3] and scores.dtype == np.float32
    with pytest.raises(BadInputError, match=r"expected \(n, 8\)"):
        index.search_many(unit_rows(2, 16, seed=7), 3)
    with pytest.raises(BadInputError, match="use search_many"):
        index.search(vectors[:2], 3)
    with pytest.raises(BadInputError, match="expected"):
        VectorIndex(8).build(unit_rows(4, 7, seed=8))
    with pytest.raises(BadInputError, match="NaN"):
        index.search(np.full(8, np.nan), 3)
    with pytest.raises(ConfigError, match="k=0"):
        index.search(vectors[0], 0)


def test_constructor_validates_options():
    with pytest.raises(ConfigError, match="'flat', 'hnsw', 'auto'"):
        VectorIndex(8, kind="ivf")
    with pytest.raises(ConfigError, match="dim=0"):
        VectorIndex(0)
    with pytest.raises(ConfigError, match="ef_search"):
        VectorIndex(8, ef_search=-1)
    assert VectorIndex(8, kind="HNSW").kind is VectorIndexKind.HNSW


# ---------------------------------------------------------------- shards (extended / kept)
def _same(results, reference):
    for (positions, scores), (ref_positions, ref_scores) in zip(results, reference):
        np.testing.assert_array_equal(positions, ref_positions)
        np.testing.assert_allclose(scores, ref_scores, rtol=0, atol=1e-5)


def test_extended_shares_the_old_rows_and_searches_like_one_index(data):
    vectors, queries = data
    base = VectorIndex(64, kind="flat").build(vectors[:1500])
    grown = base
    for start in range(1500, 2000, 100):  # five writes: five new shards, the base shared
        grown = grown.extended(vectors[start: start + 100])
    assert len(base) == 1500 and base.shards == 1  # unchanged
    assert len(grown) == 2000 and grown.shards == 6
    assert grown._shards[0] is base._shards[0]  # the 1500 rows were not copied
    _same(grown.search_many(queries, 10), exact_search(vectors, queries, 10))
    allowed = every_nth(2000, 3)
    _same(grown.search_many(queries, 10, allowed=allowed), exact_search(vectors, queries, 10, allowed=allowed))
    only_tail = np.zeros(2000, dtype=bool)
    only_tail[1990:] = True
    [(positions, _)] = grown.search_many(queries[:1], 50, allowed=only_tail)
    assert sorted(positions.tolist()) == list(range(1990, 2000))


def test_ties_across_shards_put_the_earlier_shard_first():
    row = unit_rows(1, 8, seed=11)
    index = VectorIndex(8, kind="flat").build(np.repeat(row, 3, axis=0)).extended(np.repeat(row, 3, axis=0))
    positions, _ = index.search(row[0], 6)
    assert sorted(positions[:3].tolist()) == [0, 1, 2] and sorted(positions[3:].tolist()) == [3, 4, 5]


def test_many_extensions_merge_the_recent_shards(data):
    from ragsift.index.vectors import MAX_SHARDS

    vectors, queries = data
    index = VectorIndex(64, kind="flat").build(vectors[:1000])
    for start in range(1000, 2000, 50):  # 20 writes
        index = index.extended(vectors[start: start + 50])
        assert index.shards <= MAX_SHARDS
    _same(index.search_many(queries, 10), exact_search(vectors, queries, 10))


def test_hnsw_base_with_flat_recent_shards(data, hnsw):
    vectors, queries = data
    extra = unit_rows(30, 64, seed=12)
    grown = hnsw.extended(extra)
    assert grown.effective_kind is VectorIndexKind.HNSW and grown.shards == 2
    everything = np.concatenate([vectors, extra])
    exact = [p for p, _ in exact_search(everything, extra, 5)]
    approx = [p for p, _ in grown.search_many(extra, 5)]
    assert [a[0] for a in approx] == list(range(2000, 2030))  # each new row finds itself first
    assert np.mean([len(set(a) & set(e)) / 5 for a, e in zip(approx, exact)]) >= 0.95
    with pytest.raises(CollectionError, match=r"2 shard\(s\)"):
        grown.save("unused.faiss")


def test_kept_drops_rows_and_shares_untouched_shards(data):
    vectors, queries = data
    index = VectorIndex(64, kind="flat").build(vectors[:1500]).extended(vectors[1500:])
    keep = np.ones(2000, dtype=bool)
    keep[[1600, 1700, 1999]] = False
    smaller = index.kept(keep)
    assert len(smaller) == 1997 and smaller._shards[0] is index._shards[0]
    _same(smaller.search_many(queries, 10), exact_search(vectors[keep], queries, 10))
    keep[:1500] = False  # the whole first shard goes
    assert len(index.kept(keep)) == 497 and index.kept(keep).shards == 1
    emptied = index.kept(np.zeros(2000, dtype=bool))
    assert len(emptied) == 0 and emptied.search_many(queries[:2], 3)[0][0].size == 0
    with pytest.raises(ConfigError, match="one entry per row"):
        index.kept(np.ones(3, dtype=bool))


def test_an_hnsw_shard_hides_deleted_rows_until_a_third_are_gone(data, hnsw):
    from ragsift.index.vectors import REBUILD_DEAD_FRACTION

    vectors, queries = data
    keep = np.ones(2000, dtype=bool)
    keep[::10] = False  # 10 % deleted: the graph is kept, the rows hidden
    smaller = hnsw.kept(keep)
    assert smaller._shards[0].index is hnsw._shards[0].index and len(smaller) == 1800
    kept_rows = vectors[keep]
    approx = smaller.search_many(queries, 10)
    exact = exact_search(kept_rows, queries, 10)
    assert np.mean([len(set(a) & set(e)) / 10 for (a, _), (e, _) in zip(approx, exact)]) >= 0.95
    allowed = every_nth(1800, 9)  # a filter on top of the hidden rows: exact over the allowed live rows
    _same(smaller.search_many(queries, 5, allowed=allowed), exact_search(kept_rows, queries, 5, allowed=allowed))
    again = np.ones(1800, dtype=bool)
    again[:500] = False  # now more than a third gone: rebuilt without the dead rows
    assert (1 - (1800 - 500) / 2000) > REBUILD_DEAD_FRACTION
    rebuilt = smaller.kept(again)
    assert rebuilt._shards[0].index is not hnsw._shards[0].index and rebuilt._shards[0].live is None
    assert len(rebuilt) == 1300


def test_from_shards_takes_saved_graphs_with_live_masks(tmp_path, data, hnsw):
    vectors, queries = data
    path = hnsw.save(tmp_path / "g.faiss")
    graph = VectorIndex.load(path, dim=64)._shards[0].index
    live = np.ones(2000, dtype=bool)
    live[1000:1010] = False
    tail = VectorIndex(64, kind="flat").shard(unit_rows(5, 64, seed=13))
    index = VectorIndex.from_shards(64, [(graph, live), (tail, None)], kind="auto")
    assert len(index) == 1995 and index.shards == 2 and index.effective_kind is VectorIndexKind.HNSW
    positions, _ = index.search(unit_rows(5, 64, seed=13)[2], 1)
    assert positions.tolist() == [1992]  # the third tail row comes after the 1990 live graph rows
    with pytest.raises(CollectionError, match="live mask"):
        VectorIndex.from_shards(64, [(graph, np.ones(3, dtype=bool))])


def test_an_hnsw_build_with_progress_shows_a_bar_and_builds_the_same_kind_of_graph(capsys):
    from ragsift.index.vectors import GRAPH_BATCH

    vectors = unit_rows(GRAPH_BATCH + 500, 8, seed=14)
    index = VectorIndex(8, kind="hnsw", ef_construction=16, hnsw_m=8).build(vectors, show_progress=True)
    assert "HNSW graph" in capsys.readouterr().err
    assert len(index) == GRAPH_BATCH + 500 and index.effective_kind is VectorIndexKind.HNSW
    queries = vectors[-20:]  # rows of the last batch find themselves
    assert [p[0] for p, _ in index.search_many(queries, 1)] == list(range(GRAPH_BATCH + 480, GRAPH_BATCH + 500))


def test_from_shards_with_nothing_live_is_an_empty_index():
    index = VectorIndex.from_shards(8, [], kind="flat")
    assert len(index) == 0 and index.search_many(unit_rows(2, 8, seed=15), 3)[0][0].size == 0
