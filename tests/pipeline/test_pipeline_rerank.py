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

    reranker = CrossEncoderReranker(str(tiny_cross_encoder), backend="torch")
    searcher = Searcher(collection, reranker)
    searcher.warm_up()
    result = searcher.search("apples", SearchOptions(mode="bm25"), rerank=RerankOptions(candidates=8, top_n=4))
    assert len(result.hits) == 4
    direct = reranker.rerank("apples", [h.text for h in searcher.search("apples", mode="bm25", k=8).hits])
    assert [h.source_scores["rerank"] for h in result.hits] == pytest.approx([r.score for r in direct[:4]], abs=1e-5)


# -- recorded settings, title + text, long queries ------------------------------------------------


def _trained_copy(tmp_path, model, **values):
    import shutil

    from ragsift.rerank.settings import ModelSettings, write_model_settings

    folder = tmp_path / "m"
    shutil.copytree(model, folder)
    write_model_settings(folder, ModelSettings(**values))
    return folder


def test_searcher_uses_the_models_recorded_settings(collection, tiny_cross_encoder, tmp_path):
    from ragsift.rerank.cross_encoder import CrossEncoderReranker

    model = _trained_copy(tmp_path, tiny_cross_encoder, interpolate=0.25, candidates=6, max_length=64)
    searcher = Searcher(collection, CrossEncoderReranker(model, backend="torch"))
    result = searcher.search("apples pears", SearchOptions(mode="bm25"), rerank=RerankOptions(top_n=12))
    assert len(result.hits) == 6  # the recorded depth
    applied = result.rerank_settings
    assert applied["interpolate"] == {"value": 0.25, "source": "model"}
    assert applied["candidates"] == {"value": 6, "source": "model"}
    assert applied["max_length"] == {"value": 64, "source": "model"}
    assert applied["text_fields"] == {"value": ["title", "text"], "source": "model"}
    explicit = searcher.search("apples pears", SearchOptions(mode="bm25"),
                               rerank=RerankOptions(candidates=3, top_n=12, interpolate="none"))
    assert len(explicit.hits) == 3
    assert explicit.rerank_settings["interpolate"] == {"value": None, "source": "option"}
    assert all(h.score == h.source_scores["rerank"] for h in explicit.hits)


def test_explicit_depth_takes_the_weight_tuned_at_that_depth(collection, tiny_cross_encoder, tmp_path):
    """--candidates 45 on a model tuned best at 20 uses the weight tuned at 45, not the one for 20."""
    from ragsift.rerank.cross_encoder import CrossEncoderReranker

    by_depth = {"4": {"interpolate": 0.7}, "8": {"interpolate": 0.3}}
    model = _trained_copy(tmp_path, tiny_cross_encoder, interpolate=0.7, candidates=4, max_length=64,
                          tuning={"by_depth": by_depth})
    searcher = Searcher(collection, CrossEncoderReranker(model, backend="torch"))
    at = {}
    for depth in (4, 8, 7, 12, 5):
        applied = searcher.search("apples pears", SearchOptions(mode="bm25"),
                                  rerank=RerankOptions(candidates=depth, top_n=3)).rerank_settings
        at[depth] = applied["interpolate"]
    assert at[4] == {"value": 0.7, "source": "model"}  # the recorded depth: the recorded weight
    assert at[8] == {"value": 0.3, "source": "model@8"}
    assert at[7] == {"value": 0.3, "source": "model@8"}  # nearest tuned depth
    assert at[12] == {"value": 0.3, "source": "model@8"}
    assert at[5] == {"value": 0.7, "source": "model"}  # nearest is the recorded depth
    default = searcher.search("apples pears", SearchOptions(mode="bm25"), rerank=RerankOptions(top_n=3)).rerank_settings
    assert default["interpolate"] == {"value": 0.7, "source": "model"}
    explicit = searcher.search("apples pears", SearchOptions(mode="bm25"),
                               rerank=RerankOptions(candidates=8, top_n=3, interpolate=0.5)).rerank_settings
    assert explicit["interpolate"] == {"value": 0.5, "source": "option"}


def test_interpolate_at_ignores_malformed_tuning():
    from ragsift.rerank.settings import ModelSettings

    s = ModelSettings(interpolate=0.6, candidates=20,
                      tuning={"by_depth": {"x": {"interpolate": 0.1}, "30": {"interpolate": 7}, "45": "bad"}})
    assert s.interpolate_at(45) == (0.6, 20)
    assert ModelSettings().interpolate_at(10) == (None, None)


def test_reranker_reads_title_and_text(tmp_path):
    """The reranker sees what BM25 and the dense index saw: the title line, then the body."""
    seen = []

    class Recording(OverlapReranker):
        def score(self, query, documents):
            seen.extend(documents)
            return super().score(query, documents)

    coll = Collection.create(tmp_path / "c", CollectionConfig(dense=False, chunking=ChunkingConfig(mode="none")))
    coll.add([Document("a", "apples are red", title="Fruit"), Document("b", "apples again")])
    Searcher(coll, Recording()).search("apples", SearchOptions(mode="bm25"), rerank=RerankOptions(candidates=2, top_n=2))
    assert sorted(seen) == sorted(["Fruit\napples are red", "apples again"])
    assert Collection.index_text(coll.chunks[0]) in seen


def test_long_query_is_cut_with_a_warning_and_never_aborts(collection, tiny_cross_encoder):
    from ragsift.rerank.cross_encoder import CrossEncoderReranker

    long_query = "apples pears " + " ".join(["fruit"] * 300)
    end = Searcher(collection, CrossEncoderReranker(tiny_cross_encoder, max_length=64, backend="torch"))
    result = end.search(long_query, SearchOptions(mode="bm25"), rerank=RerankOptions(candidates=5, top_n=5))
    assert result.warnings == ["query_truncated"] and len(result.hits) == 5
    assert all("rerank" in h.source_scores for h in result.hits)

    # truncate NONE keeps the error for the model, but the search answers in first-stage order
    strict = Searcher(collection, CrossEncoderReranker(tiny_cross_encoder, max_length=64, truncate="NONE", backend="torch"))
    first = strict.search(long_query, SearchOptions(mode="bm25", k=5)).hits
    result = strict.search(long_query, SearchOptions(mode="bm25"), rerank=RerankOptions(candidates=5, top_n=5))
    assert result.warnings == ["rerank_skipped"]
    assert [h.id for h in result.hits] == [h.id for h in first]
