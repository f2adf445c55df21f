"""Haystack components with the real haystack-ai, a real collection and a tiny real cross-encoder."""

from __future__ import annotations

import asyncio

import pytest
from _frameworks import QUERY, OverlapReranker, doc_metadata, expected_rerank

pytest.importorskip("haystack", reason="pip install 'ragsift[haystack]'")

from haystack import Document, Pipeline  # noqa: E402

from ragsift.errors import CollectionError, ConfigError  # noqa: E402
from ragsift.integrations.haystack import RagsiftRanker, RagsiftRetriever, haystack_filters  # noqa: E402
from ragsift.pipeline.search import Searcher  # noqa: E402

CANDIDATES = 20
MODULE = "ragsift.integrations.haystack"  # Haystack 3 loads classes only from modules the caller allows


def _ids(docs):
    return [d.id for d in docs]


def _pipeline(retriever, ranker) -> Pipeline:
    pipe = Pipeline()
    pipe.add_component("retriever", retriever)
    pipe.add_component("ranker", ranker)
    pipe.connect("retriever.documents", "ranker.documents")
    return pipe


def _inputs(query=QUERY, **retriever):
    return {"retriever": {"query": query, **retriever}, "ranker": {"query": query}}


@pytest.fixture
def spec_pipeline(collection_path, tiny_cross_encoder):
    """retriever → ranker, both built from what a YAML file can hold (a path and a spec string)."""
    return _pipeline(
        RagsiftRetriever(str(collection_path), mode="hybrid", top_k=CANDIDATES),
        RagsiftRanker(f"cross-encoder={tiny_cross_encoder}", top_k=5, reranker_options={"backend": "torch"}),
    )


def test_pipeline_returns_the_reranked_top_5(spec_pipeline, collection, cross_encoder):
    docs = spec_pipeline.run(_inputs())["ranker"]["documents"]
    want, relevance, first = expected_rerank(cross_encoder, collection, QUERY, CANDIDATES, 5)
    assert _ids(docs) == want
    assert want != first[:5]
    assert [d.meta["relevance_score"] for d in docs] == pytest.approx(relevance)
    assert [d.score for d in docs] == sorted((d.score for d in docs), reverse=True)
    assert docs[0].score == pytest.approx(docs[0].meta["source_scores"]["rerank"])


def test_pipeline_dumps_and_loads_and_runs_the_same(spec_pipeline, collection_path, tiny_cross_encoder):
    before = _ids(spec_pipeline.run(_inputs())["ranker"]["documents"])
    text = spec_pipeline.dumps()
    assert str(collection_path) in text and f"cross-encoder={tiny_cross_encoder}" in text
    loaded = Pipeline.loads(text, allowed_modules=[MODULE])
    assert loaded.to_dict() == spec_pipeline.to_dict()
    assert _ids(loaded.run(_inputs())["ranker"]["documents"]) == before
    async_docs = asyncio.run(loaded.run_async(_inputs()))["ranker"]["documents"]
    assert _ids(async_docs) == before


def test_to_dict_from_dict_round_trip(collection, tiny_cross_encoder):
    retriever = RagsiftRetriever(
        collection,  # an object: serialized as its path
        mode="bm25",
        top_k=7,
        filters=["year>=2020"],
        options={"bm25_depth": 50, "parents": False},
        reranker=f"cross-encoder={tiny_cross_encoder}",
        reranker_options={"backend": "torch"},
        rerank={"candidates": 12, "top_n": 4, "interpolate": 0.5},
    )
    data = retriever.to_dict()
    assert data["type"] == f"{MODULE}.RagsiftRetriever"
    assert data["init_parameters"] == {
        "collection": str(collection.path),
        "mode": "bm25",
        "top_k": 7,
        "filters": ["year>=2020"],
        "options": {"bm25_depth": 50, "parents": False},
        "reranker": f"cross-encoder={tiny_cross_encoder}",
        "reranker_options": {"backend": "torch"},
        "rerank": {"candidates": 12, "top_n": 4, "interpolate": 0.5},
    }
    again = RagsiftRetriever.from_dict(data)
    assert again.to_dict() == data
    assert _ids(again.run(QUERY)["documents"]) == _ids(retriever.run(QUERY)["documents"])

    from ragsift.pipeline.rerank import RerankOptions

    with_options = RagsiftRetriever(str(collection.path), reranker="none", rerank=RerankOptions(candidates=8, top_n=3))
    saved = with_options.to_dict()["init_parameters"]["rerank"]
    assert saved["candidates"] == 8 and saved["top_n"] == 3  # a RerankOptions is saved as its fields
    assert RagsiftRetriever.from_dict(with_options.to_dict()).to_dict() == with_options.to_dict()
    assert len(RagsiftRetriever.from_dict(with_options.to_dict()).run(QUERY)["documents"]) == 3

    ranker = RagsiftRanker("none", top_k=None, threshold=0.2, interpolate="none", text_fields=["text"])
    assert RagsiftRanker.from_dict(ranker.to_dict()).to_dict() == ranker.to_dict()
    assert ranker.to_dict()["init_parameters"]["text_fields"] == ["text"]


@pytest.mark.parametrize("mode", ["bm25", "dense", "hybrid", "auto"])
def test_documents_carry_ids_metadata_and_scores(collection_path, collection, mode):
    docs = RagsiftRetriever(str(collection_path), mode=mode, top_k=6).run(QUERY)["documents"]
    hits = Searcher(collection).search(QUERY, mode=mode, k=6).hits
    assert _ids(docs) == [h.id for h in hits]
    for doc, hit in zip(docs, hits):
        assert doc.content == hit.text and doc.score == pytest.approx(hit.score)
        assert {k: doc.meta[k] for k in ("year", "source", "lang")} == doc_metadata(hit.id)
        assert (doc.meta["id"], doc.meta["doc_id"], doc.meta["title"]) == (hit.id, hit.doc_id, hit.title)
        assert doc.meta["source_scores"] == pytest.approx(hit.source_scores)


def test_haystack_and_ragsift_filters_at_init_and_per_run(collection_path):
    by_year = {"operator": "AND", "conditions": [{"field": "meta.year", "operator": ">=", "value": 2020}]}
    assert str(haystack_filters(by_year)) == "year>=2020"
    retriever = RagsiftRetriever(str(collection_path), top_k=20, filters=by_year)
    docs = retriever.run(QUERY)["documents"]
    assert len(docs) == 9 and all(d.meta["year"] >= 2020 for d in docs)  # 9 documents from 2020 on

    per_run = retriever.run(QUERY, filters={"field": "meta.source", "operator": "in", "value": ["10-Q"]}, top_k=3)
    assert len(per_run["documents"]) == 3 and {d.meta["source"] for d in per_run["documents"]} == {"10-Q"}
    ragsift_form = retriever.run(QUERY, filters=["source in (10-Q)"], top_k=3)
    assert _ids(ragsift_form["documents"]) == _ids(per_run["documents"])

    pipe = _pipeline(RagsiftRetriever(str(collection_path), top_k=20), RagsiftRanker(OverlapReranker(), top_k=4))
    out = pipe.run(_inputs(filters=by_year))["ranker"]["documents"]
    assert len(out) == 4 and all(d.meta["year"] >= 2020 for d in out)


def test_unsupported_haystack_filters_are_refused():
    either = {
        "operator": "OR",
        "conditions": [
            {"field": "meta.year", "operator": "==", "value": 2020},
            {"field": "meta.year", "operator": "==", "value": 2021},
        ],
    }
    with pytest.raises(ConfigError, match="AND of conditions"):
        haystack_filters(either)
    with pytest.raises(ConfigError, match="metadata only"):
        haystack_filters({"field": "content", "operator": "==", "value": "x"})
    with pytest.raises(ConfigError, match="'like'"):
        haystack_filters({"field": "meta.t", "operator": "like", "value": "x"})


def test_ranker_on_plain_documents_sync_and_async():
    docs = [
        Document(id="a", content="bond market rates", score=3.0),
        Document(id="b", content="apples and fruit harvest"),
        Document(id="c", content="fruit stand", meta={"title": "apples"}),
    ]
    ranker = RagsiftRanker(OverlapReranker(), top_k=None)
    out = ranker.run(QUERY, docs)["documents"]
    assert _ids(out) == ["b", "c", "a"] and [d.score for d in out] == [4.0, 2.0, 0.0]
    assert out[1].meta["relevance_score"] == pytest.approx(0.5) and docs[2].meta == {"title": "apples"}
    assert _ids(asyncio.run(ranker.run_async(QUERY, docs))["documents"]) == ["b", "c", "a"]
    assert _ids(ranker.run(QUERY, docs, top_k=1)["documents"]) == ["b"]
    assert ranker.run(QUERY, [])["documents"] == []


def test_objects_work_but_do_not_serialize(collection_path):
    ranker = RagsiftRanker(OverlapReranker(), top_k=2)
    assert len(ranker.run(QUERY, [Document(content="apples"), Document(content="pears")])["documents"]) == 2
    with pytest.raises(ConfigError, match="spec string"):
        ranker.to_dict()
    with pytest.raises(ConfigError, match="spec string"):
        RagsiftRetriever(str(collection_path), reranker=OverlapReranker()).to_dict()


def test_constructors_validate_and_warm_up_opens(tmp_path):
    with pytest.raises(ConfigError, match="mode='fuzzy'"):
        RagsiftRetriever(str(tmp_path), mode="fuzzy")
    with pytest.raises(ConfigError, match="needs a reranker"):
        RagsiftRetriever(str(tmp_path), rerank={"top_n": 3})
    with pytest.raises(ConfigError, match="not valid"):
        RagsiftRanker("no-such-type")
    with pytest.raises(ConfigError, match="top_k=0"):
        RagsiftRanker("none", top_k=0)
    retriever = RagsiftRetriever(str(tmp_path / "missing"))  # nothing is opened yet
    assert retriever.searcher is None
    with pytest.raises(CollectionError):
        retriever.warm_up()
