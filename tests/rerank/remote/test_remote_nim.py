"""NIMReranker against the NIM stub: scores, wire contract, batching, NIM-specific errors."""

from __future__ import annotations

import math

import pytest
from rerank.remote.remote_kit import API_KEY, DOCS, EXPECTED_ORDER, FAST, QUERY
from rerank.remote.stubs.nim import HOSTED_PATH, MODEL, NimStub
from rerank.remote.stubs.scoring import logit

from ragsift.errors import ConfigError, RemoteClientError
from ragsift.rerank.base import sigmoid
from ragsift.rerank.remote import NIMReranker


@pytest.fixture
def nim(serve):
    return serve(NimStub(api_key=API_KEY, max_passages=512))


def make(server, **kw):
    return NIMReranker(**{"base_url": server.url, "api_key": API_KEY, **FAST, **kw})


def test_scores_are_logits_and_relevance_is_sigmoid(nim):
    results = make(nim).rerank(QUERY, DOCS)
    assert [r.index for r in results] == EXPECTED_ORDER
    for r in results:
        assert r.score == logit(QUERY, DOCS[r.index])
        assert math.isclose(r.relevance, sigmoid(r.score))
    scores = make(nim).score(QUERY, DOCS)
    assert scores.raw == [-3.0, -1.0, 3.0, 1.0]  # input order


def test_request_matches_the_contract(nim):
    make(nim).rerank(QUERY, DOCS)
    (req,) = nim.requests
    assert req.method == "POST" and req.path == "/v1/ranking"
    assert req.headers["authorization"] == f"Bearer {API_KEY}"
    assert req.headers["content-type"] == "application/json"
    assert req.json() == {
        "model": MODEL,
        "query": {"text": QUERY},
        "passages": [{"text": d} for d in DOCS],
        "truncate": "END",
    }


def test_hosted_catalog_url_is_posted_to_as_given(nim):
    client = NIMReranker(base_url=nim.url + HOSTED_PATH, api_key=API_KEY, **FAST)
    assert [r.index for r in client.rerank(QUERY, DOCS)] == EXPECTED_ORDER
    assert nim.requests[0].path == HOSTED_PATH


def test_base_url_ending_in_v1_is_accepted(nim):
    make(nim, base_url=nim.url + "/v1/").rerank(QUERY, DOCS)
    assert nim.requests[0].path == "/v1/ranking"


def test_local_nim_without_key_sends_no_authorization(serve, monkeypatch):
    monkeypatch.delenv("NVIDIA_API_KEY", raising=False)
    server = serve(NimStub(api_key=None))
    NIMReranker(base_url=server.url, **FAST).rerank(QUERY, DOCS)
    assert "authorization" not in server.requests[0].headers


def test_api_key_from_environment(nim, monkeypatch):
    monkeypatch.setenv("NVIDIA_API_KEY", API_KEY)
    NIMReranker(base_url=nim.url, **FAST).rerank(QUERY, DOCS)
    assert nim.requests[0].headers["authorization"] == f"Bearer {API_KEY}"


def test_batches_above_the_cap_are_split_and_merged_in_input_order(serve):
    server = serve(NimStub(api_key=API_KEY, max_passages=3))
    docs = DOCS + ["bandwidth tests", "gpu", "nothing relevant", "memory bandwidth gpu"]
    scores = make(server, max_batch=3).score(QUERY, docs)
    assert [len(b["passages"]) for b in server.bodies()] == [3, 3, 2]
    assert scores.raw == [logit(QUERY, d) for d in docs]
    results = make(server, max_batch=3).rerank(QUERY, docs, top_n=2)
    assert [r.index for r in results] == [2, 7]


def test_batch_over_the_server_cap_is_a_client_error_with_the_vendor_message(serve):
    server = serve(NimStub(api_key=API_KEY, max_passages=3))
    with pytest.raises(RemoteClientError, match="exceeds the maximum of 3") as info:
        make(server, max_batch=10).rerank(QUERY, DOCS)
    assert info.value.status == 400


def test_truncate_none_fails_the_batch_on_one_long_passage(serve):
    server = serve(NimStub(api_key=API_KEY, max_tokens=20))
    docs = DOCS + ["gpu " * 40]
    with pytest.raises(RemoteClientError, match="exceeds maximum allowed token size 20"):
        make(server, truncate="NONE").rerank(QUERY, docs)
    assert len(make(server, truncate="END").rerank(QUERY, docs)) == 5


def test_wrong_model_is_a_client_error(nim):
    with pytest.raises(RemoteClientError, match="not served here"):
        make(nim, model="nvidia/other-reranker").rerank(QUERY, DOCS)


def test_schema_errors_show_the_fastapi_detail(nim):
    nim.fail(422, detail=[{"loc": ["body", "query", "text"], "msg": "Field required", "type": "missing"}])
    with pytest.raises(RemoteClientError, match=r"query\.text: Field required"):
        make(nim).rerank(QUERY, DOCS)


def test_constructor_validates_without_network():
    with pytest.raises(ConfigError, match="truncate='START' is not valid; choose one of 'NONE', 'END'"):
        NIMReranker(truncate="START")
    with pytest.raises(ConfigError, match="max_batch=0"):
        NIMReranker(max_batch=0)
    with pytest.raises(ConfigError, match="base_url='localhost:8000'"):
        NIMReranker(base_url="localhost:8000")
    with pytest.raises(ConfigError, match="model="):
        NIMReranker(model="")
    # unreachable hosts are fine: nothing is contacted until the first rerank
    assert NIMReranker(base_url="http://10.255.255.1:9", truncate="none").truncate.value == "NONE"


def test_hosted_endpoint_requires_a_key(monkeypatch):
    monkeypatch.delenv("NVIDIA_API_KEY", raising=False)
    with pytest.raises(ConfigError, match="NVIDIA_API_KEY"):
        NIMReranker(base_url="https://ai.api.nvidia.com/v1/retrieval/nvidia/reranking")
