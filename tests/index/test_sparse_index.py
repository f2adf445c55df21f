"""SparseIndex: exact bm25s scores, add/delete without re-tokenizing, persistence."""

from __future__ import annotations

import bm25s
import numpy as np
import pytest

from ragsift.errors import ConfigError
from ragsift.index.analyzers import get_analyzer
from ragsift.index.sparse import BM25Params, SparseIndex

DOCS = [
    "The cat sat on the mat.",
    "Dogs chase cats in the garden.",
    "Stock markets rallied as EBITDA beat estimates.",
    "A garden full of roses and tulips.",
    "Cats and dogs are common pets.",
]


def reference_scores(texts, query, k1=1.5, b=0.75):
    """Scores from bm25s' own index over the same tokens (the parity reference)."""
    an = get_analyzer("en")
    ref = bm25s.BM25(k1=k1, b=b, method="lucene")
    ref.index([an(t) for t in texts], show_progress=False)
    return ref.get_scores(an(query))


@pytest.mark.parametrize("query", ["cat garden", "dogs pets", "EBITDA markets", "roses"])
def test_scores_equal_bm25s_index(query):
    idx = SparseIndex(get_analyzer("en"))
    idx.add(DOCS)
    ids = idx.query_ids(query)
    ours = idx.retriever.get_scores_from_ids(ids)
    np.testing.assert_allclose(ours, reference_scores(DOCS, query), rtol=1e-5, atol=1e-6)


def test_incremental_add_equals_full_build():
    one_shot = SparseIndex(get_analyzer("en"))
    one_shot.add(DOCS)
    stepwise = SparseIndex(get_analyzer("en"))
    for doc in DOCS:
        stepwise.add([doc])
    for q in ("cat", "garden dogs", "markets"):
        a_pos, a_scores = one_shot.search(q, 5)
        b_pos, b_scores = stepwise.search(q, 5)
        assert a_pos.tolist() == b_pos.tolist()
        np.testing.assert_allclose(a_scores, b_scores, rtol=1e-6)


def test_delete_equals_build_without_the_docs():
    idx = SparseIndex(get_analyzer("en"))
    idx.add(DOCS)
    keep = np.array([True, False, True, True, False])
    idx.keep(keep)
    remaining = [d for d, k in zip(DOCS, keep) if k]
    ids = idx.query_ids("cat garden")
    np.testing.assert_allclose(
        idx.retriever.get_scores_from_ids(ids), reference_scores(remaining, "cat garden"), rtol=1e-5, atol=1e-6
    )
    assert len(idx) == 3


def test_search_returns_only_matching_docs_best_first():
    idx = SparseIndex(get_analyzer("en"))
    idx.add(DOCS)
    positions, scores = idx.search("garden", 10)
    assert set(positions.tolist()) == {1, 3}
    assert np.all(np.diff(scores) <= 0) and np.all(scores > 0)


def test_unknown_terms_and_empty_index_give_no_hits():
    idx = SparseIndex(get_analyzer("en"))
    assert len(idx.search("anything", 5)[0]) == 0
    idx.add(DOCS)
    assert len(idx.search("zebra quantum", 5)[0]) == 0
    with pytest.raises(ConfigError):
        idx.search("cat", 0)


def test_save_load_roundtrip(tmp_path):
    idx = SparseIndex(get_analyzer("en"), BM25Params(k1=0.9, b=0.4))
    idx.add(DOCS)
    idx.save(tmp_path / "bm25")
    loaded = SparseIndex.load(tmp_path / "bm25", get_analyzer("en"))
    assert loaded.params == BM25Params(k1=0.9, b=0.4)
    for q in ("cats", "garden roses"):
        a, b = idx.search(q, 5), loaded.search(q, 5)
        assert a[0].tolist() == b[0].tolist()
        np.testing.assert_allclose(a[1], b[1])
    loaded.add(["a new cat document"])  # a loaded (memory-mapped) index stays writable
    assert len(loaded) == len(DOCS) + 1


def test_bad_params_are_rejected():
    with pytest.raises(ConfigError, match="b="):
        BM25Params(b=1.5)
    with pytest.raises(ConfigError, match="k1="):
        BM25Params(k1=-1)
