"""Filtered search through the Searcher: applied before top-k, so rare matches still fill k.

The corpus has 2000 documents and 1 % of them (20) match ``source=10-K``; k = 10. Any post-filter
of the usual 100-deep first stage would find only a few; these searches must return exactly 10.
"""

from __future__ import annotations

import numpy as np
import pytest
from _filtering import RARE_SOURCE, HashingEmbedder, rare_documents

from ragsift.errors import BadInputError
from ragsift.index.collection import Collection, CollectionConfig
from ragsift.index.filters import Filter
from ragsift.ingest import ChunkingConfig
from ragsift.pipeline.search import SearchOptions, Searcher

QUERY = "cash dividend report"
RARE = ["source=10-K"]
DOCS = rare_documents()


@pytest.fixture(scope="module", params=["flat", "hnsw"])
def searcher(request, tmp_path_factory) -> Searcher:
    config = CollectionConfig(embed_model="hashing", vector_index=request.param, chunking=ChunkingConfig(mode="none"))
    collection = Collection.create(tmp_path_factory.mktemp("rare") / "c", config, embedder=HashingEmbedder())
    collection.add(DOCS)
    searcher = Searcher(collection)
    assert collection.vectors.effective_kind.value == request.param
    return searcher


def is_rare(hit) -> bool:
    return hit.metadata["source"] == RARE_SOURCE


def test_the_corpus_has_a_one_percent_match_rate():
    assert sum(d.metadata["source"] == RARE_SOURCE for d in DOCS) == len(DOCS) // 100 == 20


@pytest.mark.parametrize("mode", ["bm25", "dense", "hybrid"])
def test_rare_filter_returns_exactly_k_matching_hits(searcher, mode):
    unfiltered = searcher.search(QUERY, mode=mode, k=100)
    assert sum(map(is_rare, unfiltered.hits)) < 10  # over-fetching the usual depth would come up short
    result = searcher.search(QUERY, mode=mode, k=10, filters=RARE)
    assert len(result.hits) == 10 and all(map(is_rare, result.hits))
    assert len({h.doc_id for h in result.hits}) == 10


def test_filtered_bm25_is_the_full_ranking_restricted_to_matches(searcher):
    everything = searcher.search(QUERY, mode="bm25", k=len(DOCS), bm25_depth=len(DOCS)).hits
    expected = [h.score for h in everything if is_rare(h)][:10]
    got = searcher.search(QUERY, mode="bm25", k=10, filters=RARE).hits
    np.testing.assert_allclose([h.score for h in got], expected, rtol=1e-6)


def test_filtered_dense_is_exact_over_the_matches(searcher):
    embedder = HashingEmbedder()
    rare = [d for d in DOCS if d.metadata["source"] == RARE_SOURCE]
    scores = embedder.encode_documents([d.text for d in rare]) @ embedder.encode_queries([QUERY])[0]
    got = searcher.search(QUERY, mode="dense", k=10, filters=RARE).hits
    np.testing.assert_allclose([h.score for h in got], np.sort(scores)[::-1][:10], atol=1e-5)


@pytest.mark.parametrize("mode", ["bm25", "dense", "hybrid"])
def test_fewer_matches_than_k_returns_them_all(searcher, mode):
    flt = ["source=10-K", "year>=2010"]
    expected = {d.id for d in DOCS if Filter.parse(*flt).matches(d.metadata)}
    assert len(expected) == 7
    assert {h.doc_id for h in searcher.search(QUERY, mode=mode, k=10, filters=flt).hits} == expected


def test_no_match_gives_no_hits_and_negation_keeps_the_rest(searcher):
    assert searcher.search(QUERY, k=10, filters={"source": "8-K"}).hits == []
    hits = searcher.search(QUERY, mode="hybrid", k=50, filters={"source": {"$ne": RARE_SOURCE}}).hits
    assert len(hits) == 50 and not any(map(is_rare, hits))


def test_search_many_filters_every_query_like_search(searcher):
    queries = [QUERY, "market risk guidance", "tax inventory"]
    batch = searcher.search_many(queries, SearchOptions(mode="hybrid", k=10, filters=RARE))
    for query, result in zip(queries, batch):
        single = searcher.search(query, SearchOptions(mode="hybrid", k=10, filters=RARE))
        assert [h.id for h in result.hits] == [h.id for h in single.hits]


def test_search_options_parse_filters_once():
    opts = SearchOptions(filters={"year": {"$gte": 2020}})
    assert opts.filters == Filter.parse("year>=2020")
    assert SearchOptions(filters=[]).filters is None
    with pytest.raises(BadInputError, match="'year=>2020'"):
        SearchOptions(filters=["year=>2020"])


def test_parent_child_collections_return_k_distinct_matching_parents(tmp_path):
    chunking = ChunkingConfig(mode="recursive", unit="chars", size=40, overlap=0, parent_size=120)
    config = CollectionConfig(embed_model="hashing", chunking=chunking)
    collection = Collection.create(tmp_path / "c", config, embedder=HashingEmbedder())
    collection.add(rare_documents(n=1000))  # 10 matching documents
    assert collection.parents and len(collection.chunks) > len(collection.documents)
    for mode in ("bm25", "dense", "hybrid"):
        hits = Searcher(collection).search(QUERY, mode=mode, k=5, filters=RARE).hits
        assert len(hits) == len({h.id for h in hits}) == 5 and all(map(is_rare, hits))
        assert all(h.id in collection.parents for h in hits)
