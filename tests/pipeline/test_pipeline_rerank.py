"""retrieve → fuse → rerank → top_n with a real (tiny) cross-encoder and a real overlap reranker."""

from __future__ import annotations

import pytest

from ragsift.errors import ConfigError
from ragsift.index.collection import Collection, CollectionConfig
from ragsift.ingest import ChunkingConfig
from ragsift.pipeline.rerank import RerankOptions
from ragsift.pipeline.search import SearchOptions, Searcher
from ragsift.rerank.base import Reranker, Scores
from ragsift.types import Document


class OverlapReranker(Reranker):
    """Scores a passage by how many query words it contains (a transparent, deterministic reranker)."""

    name = "overlap"

    def score(self, query, documents):
        words = set(query.lower().split())
        raw = [float(len(words & set(d.lower().replace(".", " ").split()))) for d in documents]
        return Scores(raw, [r / max(len(words), 1) for r in raw])


DOCS = [Document(f"d{i}", f"Document {i} mentions apples {'and pears ' * (i % 3)}and other fruit.") for i in range(12)]


@pytest.fixture(scope="module")
def collection(tmp_path_factory):
    coll = Collection.create(tmp_path_factory.mktemp("c") / "c", CollectionConfig(dense=False, chunking=ChunkingConfig(mode="none")))
    coll.add(DOCS)
    return coll


def test_rerank_keeps_top_n_in_reranker_order_with_stage_timings(collection):
    searcher = Searcher(collection, OverlapReranker())
    result = searcher.search("apples pears", SearchOptions(mode="bm25"), rerank=RerankOptions(candidates=10, top_n=3))
    assert len(result.hits) == 3
    raw = [h.source_scores["rerank"] for h in result.hits]
    assert raw == sorted(raw, reverse=True) and raw[0] == 2.0
    for h in result.hits:
        assert {"bm25", "first_stage", "rerank", "rerank_relevance"} <= set(h.source_scores)
    assert {"bm25", "rerank", "total"} <= set(result.timings_ms)


def test_interpolate_zero_keeps_first_stage_order(collection):
    searcher = Searcher(collection, OverlapReranker())
    first = searcher.search("apples pears", SearchOptions(mode="bm25", k=6)).hits
    blended = searcher.search(
        "apples pears", SearchOptions(mode="bm25"), rerank=RerankOptions(candidates=6, top_n=6, interpolate=0.0)
    ).hits
    assert [h.id for h in blended] == [h.id for h in first]


def test_threshold_drops_low_relevance(collection):
    searcher = Searcher(collection, OverlapReranker())
    hits = searcher.search(
        "apples pears", SearchOptions(mode="bm25"), rerank=RerankOptions(candidates=12, top_n=12, threshold=0.75)
    ).hits
    assert hits and all(h.source_scores["rerank_relevance"] >= 0.75 for h in hits)


def test_rerank_without_reranker_is_an_error(collection):
    with pytest.raises(ConfigError, match="no reranker"):
        Searcher(collection).search("apples", rerank=RerankOptions())
    with pytest.raises(ConfigError, match="top_n"):
        RerankOptions(top_n=0)


def test_tiny_cross_encoder_in_the_pipeline(collection, tiny_cross_encoder):
    from ragsift.rerank.cross_encoder import CrossEncoderReranker

    reranker = CrossEncoderReranker(str(tiny_cross_encoder))
    searcher = Searcher(collection, reranker)
    searcher.warm_up()
    result = searcher.search("apples", SearchOptions(mode="bm25"), rerank=RerankOptions(candidates=8, top_n=4))
    assert len(result.hits) == 4
    direct = reranker.rerank("apples", [h.text for h in searcher.search("apples", mode="bm25", k=8).hits])
    assert [h.source_scores["rerank"] for h in result.hits] == pytest.approx([r.score for r in direct[:4]], abs=1e-5)
