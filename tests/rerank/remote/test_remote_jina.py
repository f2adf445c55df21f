"""JinaReranker against the Jina stub: scores, wire contract, batching, errors."""

from __future__ import annotations

import pytest
from rerank.remote.remote_kit import API_KEY, DOCS, EXPECTED_ORDER, FAST, QUERY
from rerank.remote.stubs.jina import JinaStub
from rerank.remote.stubs.scoring import probability

from ragsift.errors import ConfigError, RemoteClientError
from ragsift.rerank.remote import JinaReranker


@pytest.fixture
def jina(serve):
    return serve(JinaStub(api_key=API_KEY))


def make(server, **kw):
    return JinaReranker(base_url=server.url, api_key=API_KEY, **{**FAST, **kw})


def test_scores_are_relevance_scores(jina):
    results = make(jina).rerank(QUERY, DOCS, return_documents=True)
    assert [r.index for r in results] == EXPECTED_ORDER
    for r in results:
        assert r.score == r.relevance == probability(QUERY, DOCS[r.index])
        assert r.document == DOCS[r.index]


def test_request_matches_the_contract(jina):
    make(jina).rerank(QUERY, DOCS, top_n=1)
    (req,) = jina.requests
    assert req.path == "/v1/rerank"
    assert req.headers["authorization"] == f"Bearer {API_KEY}"
    assert req.json() == {"model": "jina-reranker-v2-base-multilingual", "query": QUERY, "documents": DOCS,
                          "top_n": 4, "return_documents": False}


def test_batches_are_split_and_merged_in_input_order(serve):
    server = serve(JinaStub(api_key=API_KEY, max_documents=2))
    docs = DOCS + ["gpu bandwidth"]
    scores = make(server, max_batch=2).score(QUERY, docs)
    assert [len(b["documents"]) for b in server.bodies()] == [2, 2, 1]
    assert scores.raw == [probability(QUERY, d) for d in docs]


def test_unknown_model_is_a_client_error_with_jina_detail(jina):
    with pytest.raises(RemoteClientError, match="Model 'jina-reranker-v9' not found"):
        make(jina, model="jina-reranker-v9").rerank(QUERY, DOCS)


def test_validation_detail_list_is_readable(jina):
    jina.fail(422, detail=[{"loc": ["body", "query"], "msg": "field required", "type": "value_error.missing"}])
    with pytest.raises(RemoteClientError, match="HTTP 422 after 1 attempt: query: field required"):
        make(jina).rerank(QUERY, DOCS)


def test_key_from_environment_and_required(jina, monkeypatch):
    monkeypatch.setenv("JINA_API_KEY", API_KEY)
    JinaReranker(base_url=jina.url, **FAST).rerank(QUERY, DOCS)
    monkeypatch.delenv("JINA_API_KEY")
    with pytest.raises(ConfigError, match="JINA_API_KEY"):
        JinaReranker()
