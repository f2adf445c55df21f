"""Searcher: modes, fusion, per-retriever depths, parent–child expansion, timings."""

from __future__ import annotations

import pytest

from ragsift.errors import ConfigError
from ragsift.index.collection import Collection, CollectionConfig
from ragsift.ingest import ChunkingConfig
from ragsift.pipeline.search import SearchOptions, Searcher
from ragsift.types import Document

DOCS = [
    Document("cats", "Cats purr when they are content. Cats sleep most of the day.", "Cats"),
    Document("dogs", "Dogs bark at strangers. Dogs love long walks in the park.", "Dogs"),
    Document("fin", "Quarterly EBITDA rose while the P/E ratio fell sharply.", "Finance"),
    Document("birds", "Parrots talk and mimic human voices; crows use tools.", "Birds"),
]


@pytest.fixture(scope="module")
def searcher(tmp_path_factory, tiny_st_model):
    path = tmp_path_factory.mktemp("coll") / "c"
    config = CollectionConfig(
        embed_model=str(tiny_st_model), chunking=ChunkingConfig(mode="none"), protected_terms=("P/E",)
    )
    coll = Collection.create(path, config)
    coll.add(DOCS)
    return Searcher(Collection.open(path))


def test_bm25_mode(searcher):
    result = searcher.search("dogs bark", mode="bm25", k=2)
    assert result.hits[0].doc_id == "dogs"
    assert set(result.hits[0].source_scores) == {"bm25"}
    assert {"bm25", "fuse", "total"} <= set(result.timings_ms)


def test_protected_term_matches_as_one_token(searcher):
    assert [h.doc_id for h in searcher.search("P/E", mode="bm25").hits] == ["fin"]


def test_hybrid_fuses_each_doc_once_with_source_scores(searcher):
    result = searcher.search("dogs bark", mode="hybrid", k=4)
    ids = [h.doc_id for h in result.hits]
    assert len(ids) == len(set(ids)) == 4  # dense finds every doc; each appears once
    top = result.hits[0]
    assert top.doc_id == "dogs" and set(top.source_scores) == {"bm25", "dense"}
    # RRF with 1-based ranks and k=60: rank 1 in both runs → 2/61.
    bm25_rank1 = searcher.search("dogs bark", mode="bm25").hits[0].doc_id
    dense_rank1 = searcher.search("dogs bark", mode="dense").hits[0].doc_id
    if bm25_rank1 == dense_rank1 == "dogs":
        assert top.score == pytest.approx(2 / 61)


def test_weights_change_the_fused_order(searcher):
    bm25_only = searcher.search("cats purr", SearchOptions(mode="hybrid", k=4, weights={"bm25": 1, "dense": 0}))
    dense_only = searcher.search("cats purr", SearchOptions(mode="hybrid", k=4, weights={"bm25": 0, "dense": 1}))
    plain_bm25 = searcher.search("cats purr", mode="bm25", k=4)
    plain_dense = searcher.search("cats purr", mode="dense", k=4)
    assert bm25_only.hits[0].doc_id == plain_bm25.hits[0].doc_id
    assert [h.doc_id for h in dense_only.hits] == [h.doc_id for h in plain_dense.hits]


def test_depth_limits_candidates(searcher):
    result = searcher.search("dogs", SearchOptions(mode="dense", k=10, dense_depth=2))
    assert len(result.hits) == 2


@pytest.mark.parametrize("fusion", ["rrf", "weighted", "combsum", "combmnz"])
def test_every_fusion_method_runs(searcher, fusion):
    hits = searcher.search("parrots talk", mode="hybrid", fusion=fusion, k=3).hits
    assert hits[0].doc_id == "birds"


def test_bad_options(searcher):
    with pytest.raises(ConfigError, match="mode='fuzzy'"):
        SearchOptions(mode="fuzzy")
    with pytest.raises(ConfigError, match="k=0"):
        SearchOptions(k=0)
    with pytest.raises(ConfigError, match="query"):
        searcher.search("   ")


def test_parent_child_returns_each_parent_once(tmp_path):
    sentences = [f"Sentence {i} talks about {'volcanoes' if i % 5 == 0 else 'gardening'} topic {i}." for i in range(60)]
    doc = Document("long", " ".join(sentences), "Notes")
    config = CollectionConfig(
        dense=False, chunking=ChunkingConfig(mode="recursive", unit="chars", size=120, overlap=0, parent_size=600)
    )
    coll = Collection.create(tmp_path / "c", config)
    coll.add([doc])
    assert coll.parents and all(c.parent_id in coll.parents for c in coll.chunks)
    searcher = Searcher(Collection.open(tmp_path / "c"))
    parents = searcher.search("volcanoes", mode="bm25", k=20).hits
    children = searcher.search("volcanoes", SearchOptions(mode="bm25", k=20, parents=False)).hits
    assert len({h.id for h in parents}) == len(parents)
    assert all(h.id in coll.parents for h in parents)
    assert len(children) > len(parents)
    assert all(len(p.text) > len(c.text) for p, c in zip(parents, children))
    # A parent's score is its best child's score.
    best_child = max(children, key=lambda h: h.score)
    assert parents[0].score == pytest.approx(best_child.score)


def test_bm25_only_collection_rejects_dense(tmp_path):
    coll = Collection.create(tmp_path / "c", CollectionConfig(dense=False, chunking=ChunkingConfig(mode="none")))
    coll.add(DOCS)
    with pytest.raises(ConfigError, match="no-dense"):
        Searcher(coll).search("cats", mode="hybrid")


# ---------------------------------------------------------------- mode="auto"
ROUTED = [
    ("P/E ratio", "fact", "bm25"),  # short, a protected term
    ("what do cats do all day long", "concept", "dense"),  # no anchor
    ("dogs and cats and parrots and crows in the park at night with tools", "complex", "hybrid"),
]


@pytest.mark.parametrize(("query", "kind", "mode"), ROUTED)
def test_auto_mode_routes_each_query_and_says_where(searcher, query, kind, mode):
    routed = searcher.search(query, mode="auto", k=3)
    assert routed.route["kind"] == kind and routed.route["route"] == mode and routed.route["reasons"]
    fixed = searcher.search(query, mode=mode, k=3)
    assert [h.id for h in routed.hits] == [h.id for h in fixed.hits]  # the same search as that mode's
    assert "route" in routed.timings_ms and routed.timings_ms["total"] >= routed.timings_ms["route"]
    assert fixed.route is None


def test_auto_mode_batches_keep_query_order(searcher):
    results = searcher.search_many([q for q, _, _ in ROUTED], SearchOptions(mode="auto", k=2))
    assert [r.route["route"] for r in results] == [m for _, _, m in ROUTED]
    assert [r.route["query"] for r in results] == [q for q, _, _ in ROUTED]


def test_auto_mode_on_a_bm25_only_collection_stays_on_bm25(tmp_path):
    coll = Collection.create(tmp_path / "c", CollectionConfig(dense=False, chunking=ChunkingConfig(mode="none")))
    coll.add(DOCS)
    result = Searcher(coll).search("what do cats do all day long", mode="auto")
    assert result.route["kind"] == "concept" and result.route["route"] == "bm25"
    assert "no" in result.route["reasons"][-1] and result.hits[0].doc_id == "cats"
    with pytest.raises(ConfigError, match="auto"):
        SearchOptions(mode="auto").retrievers()
    with pytest.raises(ConfigError, match="server_fusion"):
        SearchOptions(mode="auto", server_fusion=True)
