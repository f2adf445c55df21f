"""LlamaIndex adapters with the real llama-index-core, a real collection and a tiny real cross-encoder."""

from __future__ import annotations

import asyncio

import pytest
from _frameworks import QUERY, OverlapReranker, doc_metadata, expected_rerank

pytest.importorskip("llama_index.core", reason="pip install 'ragsift[llamaindex]'")

from llama_index.core.llms import MockLLM  # noqa: E402
from llama_index.core.query_engine import RetrieverQueryEngine  # noqa: E402
from llama_index.core.response_synthesizers.no_text import NoText  # noqa: E402
from llama_index.core.schema import MetadataMode, NodeWithScore, QueryBundle, TextNode  # noqa: E402
from llama_index.core.vector_stores.types import MetadataFilter, MetadataFilters  # noqa: E402

from ragsift.errors import ConfigError  # noqa: E402
from ragsift.integrations.llamaindex import RagsiftRerank, RagsiftRetriever, metadata_filters  # noqa: E402
from ragsift.pipeline.rerank import RerankOptions  # noqa: E402
from ragsift.pipeline.search import Searcher  # noqa: E402

CANDIDATES = 20


def _ids(nodes):
    return [n.node.id_ for n in nodes]


def test_query_engine_returns_the_reranked_top_5(collection_path, collection, cross_encoder):
    engine = RetrieverQueryEngine.from_args(
        RagsiftRetriever(str(collection_path), mode="hybrid", k=CANDIDATES),
        node_postprocessors=[RagsiftRerank(cross_encoder, top_n=5)],
        llm=MockLLM(),  # echoes the prompt: no model, and the prompt shows what the LLM would read
    )
    response = engine.query(QUERY)

    want, relevance, first = expected_rerank(cross_encoder, collection, QUERY, CANDIDATES, 5)
    assert _ids(response.source_nodes) == want
    assert want != first[:5]
    assert [n.node.metadata["relevance_score"] for n in response.source_nodes] == pytest.approx(relevance)
    scores = [n.score for n in response.source_nodes]
    assert scores == sorted(scores, reverse=True)
    assert scores[0] == pytest.approx(response.source_nodes[0].node.metadata["source_scores"]["rerank"])
    # The LLM reads the passages and their document metadata, not ragsift's ids and scores.
    prompt = str(response)
    assert response.source_nodes[0].node.text[:40] in prompt
    assert "year: " in prompt and "relevance_score" not in prompt and "source_scores" not in prompt


def test_query_engine_without_an_llm_and_async(collection_path, collection, cross_encoder):
    engine = RetrieverQueryEngine(
        retriever=RagsiftRetriever(collection, k=CANDIDATES),
        node_postprocessors=[RagsiftRerank(cross_encoder, top_n=5)],
        response_synthesizer=NoText(llm=MockLLM()),
    )
    want, _, _ = expected_rerank(cross_encoder, collection, QUERY, CANDIDATES, 5)
    assert _ids(engine.query(QUERY).source_nodes) == want
    assert _ids(asyncio.run(engine.aquery(QUERY)).source_nodes) == want


def test_query_engine_with_a_reranker_spec_string(collection_path, collection, cross_encoder, tiny_cross_encoder):
    postprocessor = RagsiftRerank(f"cross-encoder={tiny_cross_encoder}", reranker_options={"backend": "torch"}, top_n=5)
    engine = RetrieverQueryEngine(
        retriever=RagsiftRetriever(collection_path, k=CANDIDATES),
        node_postprocessors=[postprocessor],
        response_synthesizer=NoText(llm=MockLLM()),
    )
    want, _, _ = expected_rerank(cross_encoder, collection, QUERY, CANDIDATES, 5)
    assert _ids(engine.query(QUERY).source_nodes) == want
    assert postprocessor.to_dict()["reranker"] == f"cross-encoder={tiny_cross_encoder}"


@pytest.mark.parametrize("mode", ["bm25", "dense", "hybrid", "auto"])
def test_nodes_carry_ids_metadata_and_scores(collection_path, collection, mode):
    nodes = RagsiftRetriever(collection_path, mode=mode, k=6).retrieve(QUERY)
    hits = Searcher(collection).search(QUERY, mode=mode, k=6).hits
    assert _ids(nodes) == [h.id for h in hits]
    for item, hit in zip(nodes, hits):
        node = item.node
        assert isinstance(node, TextNode) and node.text == hit.text and node.ref_doc_id == hit.doc_id
        assert item.score == pytest.approx(hit.score)
        assert {k: node.metadata[k] for k in ("year", "source", "lang")} == doc_metadata(hit.id)
        assert (node.metadata["id"], node.metadata["doc_id"], node.metadata["title"]) == (hit.id, hit.doc_id, hit.title)
        assert node.metadata["source_scores"] == pytest.approx(hit.source_scores)
        llm_view = node.get_content(metadata_mode=MetadataMode.LLM)
        assert f"title: {hit.title}" in llm_view and "score" not in llm_view and "doc_id" not in llm_view


def test_metadata_filters_and_ragsift_filters_agree(collection_path):
    llama = MetadataFilters(
        filters=[
            MetadataFilter(key="year", value=2020, operator=">="),
            MetadataFilter(key="source", value=["10-K", "8-K"], operator="in"),
        ]
    )
    assert str(metadata_filters(llama)) == "year>=2020 AND source in (10-K, 8-K)"
    nodes = RagsiftRetriever(collection_path, k=10, filters=llama).retrieve(QUERY)
    same = RagsiftRetriever(collection_path, k=10, filters=["year>=2020", "source in (10-K,8-K)"]).retrieve(QUERY)
    assert _ids(nodes) == _ids(same) and nodes
    assert all(n.node.metadata["year"] >= 2020 and n.node.metadata["source"] in ("10-K", "8-K") for n in nodes)
    nested = MetadataFilters(filters=[MetadataFilters(filters=[MetadataFilter(key="lang", value="en")]), llama.filters[0]])
    assert str(metadata_filters(nested)) == "lang=en AND year>=2020"
    assert str(metadata_filters(MetadataFilters(filters=[MetadataFilter(key="year", value=[2015], operator="nin")]))) == (
        "year not in (2015)"
    )


def test_unsupported_metadata_filters_are_refused():
    either = MetadataFilters(
        filters=[MetadataFilter(key="year", value=2020), MetadataFilter(key="year", value=2021)], condition="or"
    )
    with pytest.raises(ConfigError, match="AND of conditions"):
        metadata_filters(either)
    with pytest.raises(ConfigError, match="'text_match'"):
        metadata_filters(MetadataFilters(filters=[MetadataFilter(key="t", value="x", operator="text_match")]))
    with pytest.raises(ConfigError, match="condition='not' cannot be applied"):
        metadata_filters(MetadataFilters(filters=[MetadataFilter(key="year", value=2020)], condition="not"))


def test_async_retrieve_and_postprocess(collection_path):
    retriever = RagsiftRetriever(collection_path, mode="bm25", k=5, filters={"source": "10-Q"})
    nodes = asyncio.run(retriever.aretrieve(QUERY))
    assert _ids(nodes) == _ids(retriever.retrieve(QUERY))
    assert {n.node.metadata["source"] for n in nodes} == {"10-Q"}
    reranker = RagsiftRerank(OverlapReranker(), top_n=3)
    sync = reranker.postprocess_nodes(nodes, query_str=QUERY)
    assert _ids(asyncio.run(reranker.apostprocess_nodes(nodes, query_str=QUERY))) == _ids(sync)


def test_reranking_inside_the_retriever(collection_path, collection, cross_encoder):
    retriever = RagsiftRetriever(collection_path, reranker=cross_encoder, rerank={"candidates": CANDIDATES, "top_n": 5})
    want, _, _ = expected_rerank(cross_encoder, collection, QUERY, CANDIDATES, 5)
    assert _ids(retriever.retrieve(QUERY)) == want
    assert _ids(asyncio.run(retriever.aretrieve(QUERY))) == want


def test_postprocessor_on_plain_nodes():
    nodes = [
        NodeWithScore(node=TextNode(id_="a", text="bond market rates"), score=3.0),
        NodeWithScore(node=TextNode(id_="b", text="apples and fruit harvest"), score=1.0),
        NodeWithScore(node=TextNode(id_="c", text="fruit stand", metadata={"title": "apples"}), score=2.0),
    ]
    out = RagsiftRerank(OverlapReranker(), top_n=None).postprocess_nodes(nodes, QueryBundle(QUERY))
    assert _ids(out) == ["b", "c", "a"]
    assert [n.score for n in out] == [4.0, 2.0, 0.0]
    assert out[1].node.metadata["source_scores"]["first_stage"] == 2.0  # the node's own score
    assert nodes[2].node.metadata == {"title": "apples"}  # the input nodes are not changed
    blended = RagsiftRerank(OverlapReranker(), top_n=1, interpolate=0.0).postprocess_nodes(nodes, QueryBundle(QUERY))
    assert _ids(blended) == ["a"]  # weight 0: the first-stage order
    with pytest.raises(ConfigError, match="needs the query"):
        RagsiftRerank(OverlapReranker()).postprocess_nodes(nodes)


def test_invalid_arguments(collection_path):
    with pytest.raises(ConfigError, match="needs a reranker"):
        RagsiftRetriever(collection_path, rerank=RerankOptions())
    with pytest.raises(ConfigError, match="unknown key"):
        RagsiftRetriever(collection_path, reranker=OverlapReranker(), rerank={"top_k": 3})
    with pytest.raises(ConfigError, match="collection="):
        RagsiftRetriever(42)
    with pytest.raises(ConfigError, match="reranker=None"):
        RagsiftRerank(None)
