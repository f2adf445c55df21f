"""The first-stage retriever interface: one result form for BM25 and dense, a backend registry."""

from __future__ import annotations

import numpy as np
import pytest
from _filtering import RARE_SOURCE, HashingEmbedder, rare_documents

from ragsift.errors import ConfigError
from ragsift.index import retriever as retriever_module
from ragsift.index.collection import Collection, CollectionConfig
from ragsift.index.embedded import BM25Retriever, DenseRetriever
from ragsift.index.filters import Filter
from ragsift.index.retriever import BACKENDS, Retriever, open_retrievers
from ragsift.ingest import ChunkingConfig
from ragsift.pipeline.search import Searcher

DOCS = rare_documents(n=500, every=50)
RARE = Filter.parse(f"source={RARE_SOURCE}")


@pytest.fixture(scope="module")
def collection(tmp_path_factory) -> Collection:
    config = CollectionConfig(embed_model="hashing", chunking=ChunkingConfig(mode="none"))
    coll = Collection.create(tmp_path_factory.mktemp("retr") / "c", config, embedder=HashingEmbedder())
    coll.add(DOCS)
    return coll


def test_embedded_backend_gives_bm25_and_dense(collection):
    found = open_retrievers(collection)
    assert collection.backend == "embedded" and set(found) == {"bm25", "dense"}
    assert isinstance(found["bm25"], BM25Retriever) and isinstance(found["dense"], DenseRetriever)
    assert all(isinstance(r, Retriever) and r.name == name for name, r in found.items())


@pytest.mark.parametrize("name", ["bm25", "dense"])
def test_search_returns_chunk_ids_and_scores_best_first(collection, name):
    retriever = open_retrievers(collection)[name]
    ranking = retriever.search("cash dividend", 10)
    assert len(ranking) == 10
    ids = {c.id for c in collection.chunks}
    assert all(isinstance(i, str) and i in ids and isinstance(s, float) for i, s in ranking)
    scores = [s for _, s in ranking]
    assert scores == sorted(scores, reverse=True)
    assert retriever.search_many(["cash dividend", "tax"], 10)[0] == ranking


@pytest.mark.parametrize("name", ["bm25", "dense"])
def test_filters_apply_before_the_top_k_cut(collection, name):
    retriever = open_retrievers(collection)[name]
    ranking = retriever.search("cash dividend report", 10, RARE)  # every chunk has "report"
    assert len(ranking) == 10  # all 10 matching chunks, whatever their rank without the filter
    assert all(collection.chunk(i).metadata["source"] == RARE_SOURCE for i, _ in ranking)


def test_masks_follow_the_collection_when_it_changes(tmp_path):
    config = CollectionConfig(dense=False, chunking=ChunkingConfig(mode="none"))
    coll = Collection.create(tmp_path / "c", config)
    coll.add(DOCS[:100])
    bm25 = open_retrievers(coll)["bm25"]
    assert set(open_retrievers(coll)) == {"bm25"}
    before = bm25.search("cash dividend report", 50, RARE)
    assert len(before) == 2
    coll.add(DOCS[100:200])
    after = bm25.search("cash dividend report", 50, RARE)
    assert len(after) == 4 and all(coll.chunk(i).metadata["source"] == RARE_SOURCE for i, _ in after)


def test_row_positions_and_scores_agree_between_the_two_indexes(collection):
    sparse_positions, sparse_scores = collection.sparse.search("cash dividend", 5)
    dense_positions, dense_scores = collection.vectors.search(HashingEmbedder().encode_queries(["cash dividend"])[0], 5)
    for positions, scores in ((sparse_positions, sparse_scores), (dense_positions, dense_scores)):
        assert positions.dtype == np.int64 and len(positions) == len(scores) == 5


def test_a_new_backend_is_one_function_and_one_registry_line(tmp_path, monkeypatch):
    monkeypatch.setitem(BACKENDS, "toy", "_filtering:toy_retrievers")
    config = CollectionConfig(dense=False, chunking=ChunkingConfig(mode="none"))
    coll = Collection.create(tmp_path / "c", config)
    coll.add(DOCS)
    coll.backend = "toy"
    searcher = Searcher(coll)
    hits = searcher.search("cash dividend report", mode="bm25", k=10, filters=[f"source={RARE_SOURCE}"]).hits
    assert len(hits) == 10 and all(h.metadata["source"] == RARE_SOURCE for h in hits)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_unknown_backend_lists_the_known_ones(tmp_path):
    coll = Collection.create(tmp_path / "c", CollectionConfig(dense=False))
    coll.backend = "milvus-typo"
    with pytest.raises(ConfigError, match=r"backend='milvus-typo'.*\['embedded', 'milvus'\]"):
        open_retrievers(coll)
    assert retriever_module.check_k(3) == 3
    with pytest.raises(ConfigError, match="k=0"):
        open_retrievers(collection=Collection.create(tmp_path / "d", CollectionConfig(dense=False)))["bm25"].search("x", 0)
