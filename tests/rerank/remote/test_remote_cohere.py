"""CohereReranker against the Cohere stub: scores, v1/v2 wire contract, batching, errors."""

from __future__ import annotations

import httpx
import pytest
from rerank.remote.remote_kit import API_KEY, DOCS, EXPECTED_ORDER, FAST, QUERY
from rerank.remote.stubs.cohere import CohereStub
from rerank.remote.stubs.scoring import probability

from ragsift.errors import ConfigError, RemoteClientError
from ragsift.rerank.remote import CohereReranker


@pytest.fixture
def cohere(serve):
    return serve(CohereStub(api_key=API_KEY))


def make(server, **kw):
    return CohereReranker(base_url=server.url, api_key=API_KEY, **{**FAST, **kw})


def test_scores_are_relevance_scores(cohere):
    results = make(cohere).rerank(QUERY, DOCS)
    assert [r.index for r in results] == EXPECTED_ORDER
    for r in results:
        assert r.score == r.relevance == probability(QUERY, DOCS[r.index])


def test_v2_request_matches_the_contract(cohere):
    make(cohere, max_tokens_per_doc=512).rerank(QUERY, DOCS, top_n=2)
    (req,) = cohere.requests
    assert req.path == "/v2/rerank"
    assert req.headers["authorization"] == f"Bearer {API_KEY}"
    # top_n is the batch size (every document scored); rerank() cuts to 2 afterwards
    assert req.json() == {"model": "rerank-v3.5", "query": QUERY, "documents": DOCS, "top_n": 4,
                          "max_tokens_per_doc": 512}


def test_v1_request_matches_the_contract(cohere):
    results = make(cohere, api_version="v1", model="rerank-english-v3.0").rerank(QUERY, DOCS)
    assert [r.index for r in results] == EXPECTED_ORDER
    (req,) = cohere.requests
    assert req.path == "/v1/rerank"
    assert req.json() == {"model": "rerank-english-v3.0", "query": QUERY, "documents": DOCS, "top_n": 4,
                          "return_documents": False}


def test_batches_above_the_cap_are_split_and_merged_in_input_order(serve):
    server = serve(CohereStub(api_key=API_KEY, max_documents=3))
    docs = DOCS + ["bandwidth", "gpu bandwidth", "unrelated"]
    scores = make(server, max_batch=3).score(QUERY, docs)
    assert [(len(b["documents"]), b["top_n"]) for b in server.bodies()] == [(3, 3), (3, 3), (1, 1)]
    assert scores.raw == [probability(QUERY, d) for d in docs]


def test_too_many_documents_is_a_client_error_with_cohere_message(serve):
    server = serve(CohereStub(api_key=API_KEY, max_documents=3))
    with pytest.raises(RemoteClientError, match="too many documents, got 4, the maximum is 3"):
        make(server).rerank(QUERY, DOCS)


def test_unknown_model_is_a_client_error(cohere):
    with pytest.raises(RemoteClientError, match="model 'rerank-v9' not found") as info:
        make(cohere, model="rerank-v9").rerank(QUERY, DOCS)
    assert info.value.status == 404


def test_scores_above_one_are_clipped_for_relevance_only():
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"id": "x", "results": [{"index": 0, "relevance_score": 1.0000002}], "meta": {}})

    client = CohereReranker(api_key="k", transport=httpx.MockTransport(handler))
    (r,) = client.rerank("q", ["d"])
    assert r.score == 1.0000002 and r.relevance == 1.0


def test_key_from_either_environment_variable(cohere, monkeypatch):
    monkeypatch.delenv("COHERE_API_KEY", raising=False)
    monkeypatch.setenv("CO_API_KEY", API_KEY)
    CohereReranker(base_url=cohere.url, **FAST).rerank(QUERY, DOCS)
    assert cohere.requests[0].headers["authorization"] == f"Bearer {API_KEY}"


def test_constructor_validation(monkeypatch):
    monkeypatch.delenv("COHERE_API_KEY", raising=False)
    monkeypatch.delenv("CO_API_KEY", raising=False)
    with pytest.raises(ConfigError, match="COHERE_API_KEY or CO_API_KEY"):
        CohereReranker()
    with pytest.raises(ConfigError, match="v2 parameter"):
        CohereReranker(api_key="k", api_version="v1", max_tokens_per_doc=100)
    with pytest.raises(ConfigError, match="api_version='v3' is not valid"):
        CohereReranker(api_key="k", api_version="v3")
    with pytest.raises(ConfigError, match=r"max_batch=1001 must be an integer in \[1, 1000\]"):
        CohereReranker(api_key="k", max_batch=1001)
    with pytest.raises(ConfigError, match="timeout=0"):
        CohereReranker(api_key="k", timeout=0)
    with pytest.raises(ConfigError, match="max_retries=-1"):
        CohereReranker(api_key="k", max_retries=-1)
