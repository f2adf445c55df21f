"""LangChain adapters with the real langchain-core / langchain-classic, a real collection and a tiny real cross-encoder."""

from __future__ import annotations

import asyncio

import pytest
from _frameworks import QUERY, OverlapReranker, doc_metadata, expected_rerank

pytest.importorskip("langchain_core", reason="pip install 'ragsift[langchain]'")
pytest.importorskip("langchain_classic", reason="pip install langchain-classic")

from langchain_classic.retrievers import ContextualCompressionRetriever  # noqa: E402
from langchain_core.documents import Document  # noqa: E402

from ragsift.errors import BadInputError, ConfigError  # noqa: E402
from ragsift.integrations.langchain import RagsiftRerank, RagsiftRetriever  # noqa: E402
from ragsift.pipeline.rerank import RerankOptions  # noqa: E402
from ragsift.pipeline.search import Searcher  # noqa: E402

CANDIDATES = 20


def _ids(docs):
    return [d.id for d in docs]


def test_seed_000_contextual_compression_returns_the_reranked_top_5(collection_path, collection, cross_encoder):
    # Seed 000's shape: ContextualCompressionRetriever(base_compressor=reranker(top_n=5), base_retriever=k candidates).
    retriever = ContextualCompressionRetriever(
        base_compressor=RagsiftRerank(reranker=cross_encoder, top_n=5),
        base_retriever=RagsiftRetriever(collection=str(collection_path), mode="hybrid", k=CANDIDATES),
    )
    docs = retriever.invoke(QUERY)

    want, relevance, first = expected_rerank(cross_encoder, collection, QUERY, CANDIDATES, 5)
    assert _ids(docs) == want
    assert want != first[:5]  # the reranker reordered the first stage: the test tells them apart
    assert [d.metadata["relevance_score"] for d in docs] == pytest.approx(relevance)
    assert relevance == sorted(relevance, reverse=True)
    # ... and the same as ragsift's own second stage
    pipeline = Searcher(collection, cross_encoder).search(QUERY, rerank=RerankOptions(candidates=CANDIDATES, top_n=5))
    assert _ids(docs) == [h.id for h in pipeline.hits]


def test_seed_000_shape_with_a_reranker_spec_string(collection_path, collection, cross_encoder, tiny_cross_encoder):
    compressor = RagsiftRerank(
        reranker=f"cross-encoder={tiny_cross_encoder}", reranker_options={"backend": "torch"}, top_n=5
    )
    retriever = ContextualCompressionRetriever(
        base_compressor=compressor, base_retriever=RagsiftRetriever(collection=collection_path, k=CANDIDATES)
    )
    want, _, _ = expected_rerank(cross_encoder, collection, QUERY, CANDIDATES, 5)
    assert _ids(retriever.invoke(QUERY)) == want


def test_seed_000_shape_async(collection_path, collection, cross_encoder):
    retriever = ContextualCompressionRetriever(
        base_compressor=RagsiftRerank(reranker=cross_encoder, top_n=5),
        base_retriever=RagsiftRetriever(collection=collection_path, k=CANDIDATES),
    )
    want, _, _ = expected_rerank(cross_encoder, collection, QUERY, CANDIDATES, 5)

    async def both():
        return await asyncio.gather(retriever.ainvoke(QUERY), retriever.ainvoke("bond market interest rates"))

    docs, other = asyncio.run(both())
    assert _ids(docs) == want
    assert _ids(other) == _ids(retriever.invoke("bond market interest rates"))


@pytest.mark.parametrize("mode", ["bm25", "dense", "hybrid", "auto"])
def test_every_mode_matches_the_searcher_with_metadata_and_scores(collection_path, collection, mode):
    docs = RagsiftRetriever(collection=collection_path, mode=mode, k=6).invoke(QUERY)
    hits = Searcher(collection).search(QUERY, mode=mode, k=6).hits
    assert _ids(docs) == [h.id for h in hits] and len(docs) == 6
    for doc, hit in zip(docs, hits):
        assert doc.page_content == hit.text
        meta = doc.metadata
        assert {k: meta[k] for k in ("year", "source", "lang")} == doc_metadata(hit.id)
        assert (meta["id"], meta["doc_id"], meta["title"]) == (hit.id, hit.doc_id, hit.title)
        assert meta["score"] == pytest.approx(hit.score)
        assert meta["source_scores"] == pytest.approx(hit.source_scores)
        assert "relevance_score" not in meta  # not reranked


def test_hybrid_options_reach_the_searcher(collection_path, collection):
    options = {"fusion": "weighted", "weights": {"bm25": 1.0, "dense": 0.0}, "bm25_depth": 50}
    docs = RagsiftRetriever(collection=collection_path, k=5, options=options).invoke(QUERY)
    hits = Searcher(collection).search(QUERY, mode="hybrid", k=5, **options).hits
    assert _ids(docs) == [h.id for h in hits]
    assert set(docs[0].metadata["source_scores"]) == {"bm25", "dense"}


def test_filters_apply_before_the_cut_and_per_call_overrides(collection_path):
    retriever = RagsiftRetriever(collection=collection_path, k=5, filters=["year>=2020"])
    docs = retriever.invoke(QUERY)
    assert len(docs) == 5 and all(d.metadata["year"] >= 2020 for d in docs)

    other = retriever.invoke(QUERY, filters={"source": "10-K"}, k=3)  # replaces the filter for this call
    assert len(other) == 3 and {d.metadata["source"] for d in other} == {"10-K"}
    assert all(d.metadata["year"] >= 2020 for d in retriever.invoke(QUERY))  # the constructor's filter is back

    nine = retriever.invoke(QUERY, k=20)  # only 9 documents are from 2020 on
    assert len(nine) == 9


def test_filters_and_overrides_on_the_async_path(collection_path):
    retriever = RagsiftRetriever(collection=collection_path, mode="bm25", k=4)
    docs = asyncio.run(retriever.ainvoke(QUERY, filters=["source in (8-K)"]))
    assert _ids(docs) == _ids(retriever.invoke(QUERY, filters=["source in (8-K)"]))
    assert len(docs) == 4 and {d.metadata["source"] for d in docs} == {"8-K"}


def test_reranking_inside_the_retriever(collection_path, collection, cross_encoder):
    retriever = RagsiftRetriever(
        collection=collection, reranker=cross_encoder, rerank=RerankOptions(candidates=CANDIDATES, top_n=5)
    )
    docs = retriever.invoke(QUERY)
    want, relevance, _ = expected_rerank(cross_encoder, collection, QUERY, CANDIDATES, 5)
    assert _ids(docs) == want
    meta = docs[0].metadata
    assert meta["relevance_score"] == pytest.approx(relevance[0])
    assert {"bm25", "dense", "first_stage", "rerank", "rerank_relevance"} <= set(meta["source_scores"])
    assert meta["score"] == pytest.approx(meta["source_scores"]["rerank"])
    assert _ids(asyncio.run(retriever.ainvoke(QUERY))) == want
    assert _ids(retriever.invoke(QUERY, k=2)) == want[:2]  # k is the reranker's top_n when reranking


def test_a_reranker_alone_keeps_k_hits(collection_path):
    docs = RagsiftRetriever(collection=collection_path, k=3, reranker=OverlapReranker()).invoke(QUERY)
    assert len(docs) == 3 and all("relevance_score" in d.metadata for d in docs)


def test_compressor_on_plain_langchain_documents():
    docs = [
        Document(page_content="bond market rates", metadata={"src": "a"}, id="a"),
        Document(page_content="apples and fruit harvest today", metadata={"src": "b"}, id="b"),
        Document(page_content="fruit stand", metadata={"src": "c"}, id="c"),
    ]
    out = RagsiftRerank(reranker=OverlapReranker(), top_n=None).compress_documents(docs, QUERY)
    assert _ids(out) == ["b", "c", "a"]
    assert out[0].metadata["src"] == "b" and out[0].metadata["relevance_score"] == pytest.approx(1.0)
    assert out[0].metadata["source_scores"]["rerank"] == 4.0
    assert docs[1].metadata == {"src": "b"}  # the input documents are not changed

    kept = RagsiftRerank(reranker=OverlapReranker(), top_n=5, threshold=0.5).compress_documents(docs, QUERY)
    assert _ids(kept) == ["b"]  # "fruit stand" has relevance 1/4
    assert asyncio.run(RagsiftRerank(reranker=OverlapReranker(), top_n=2).acompress_documents(docs, QUERY))[0].id == "b"
    assert RagsiftRerank(reranker=OverlapReranker()).compress_documents([], QUERY) == []


def test_compressor_reads_the_title_like_the_first_stage():
    docs = [
        Document(page_content="nothing here", metadata={"title": "apples"}, id="titled"),
        Document(page_content="nothing here", id="plain"),
    ]
    assert _ids(RagsiftRerank(reranker=OverlapReranker(), top_n=2).compress_documents(docs, "apples")) == ["titled", "plain"]
    text_only = RagsiftRerank(reranker=OverlapReranker(), top_n=2, text_fields=("text",))
    assert [d.metadata["relevance_score"] for d in text_only.compress_documents(docs, "apples")] == [0.0, 0.0]


def test_invalid_arguments_say_what_to_do(collection_path):
    with pytest.raises(ConfigError, match="needs a reranker"):
        RagsiftRetriever(collection=collection_path, rerank=RerankOptions(top_n=3))
    with pytest.raises(ConfigError, match="mode='fuzzy'"):
        RagsiftRetriever(collection=collection_path, mode="fuzzy")
    with pytest.raises(ConfigError, match="unknown key"):
        RagsiftRetriever(collection=collection_path, options={"depth": 3})
    with pytest.raises(BadInputError, match="year"):
        RagsiftRetriever(collection=collection_path, filters=["year"])
    with pytest.raises(ConfigError, match="unknown search option"):
        RagsiftRetriever(collection=collection_path).invoke(QUERY, depth=3)
    with pytest.raises(ConfigError, match="not valid"):
        RagsiftRerank(reranker="no-such-type")
    with pytest.raises(ConfigError, match="top_n"):
        RagsiftRerank(reranker=OverlapReranker(), top_n=0)
    with pytest.raises(ConfigError, match="spec"):
        RagsiftRerank(reranker=OverlapReranker(), reranker_options={"backend": "torch"})
