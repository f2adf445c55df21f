"""TEIReranker against the text-embeddings-inference stub: scores, contract, batching, TEI errors."""

from __future__ import annotations

import math

import pytest
from rerank.remote.remote_kit import DOCS, EXPECTED_ORDER, FAST, QUERY
from rerank.remote.stubs.scoring import logit, sigmoid
from rerank.remote.stubs.tei import TeiStub

from ragsift.errors import ConfigError, RateLimitedError, RemoteClientError, RemoteServerError
from ragsift.rerank.remote import TEIReranker


@pytest.fixture
def tei(serve):
    return serve(TeiStub())


def make(server, **kw):
    return TEIReranker(base_url=server.url, **{**FAST, **kw})


def test_default_scores_are_sigmoid_probabilities(tei):
    results = make(tei).rerank(QUERY, DOCS)
    assert [r.index for r in results] == EXPECTED_ORDER
    for r in results:
        assert math.isclose(r.score, sigmoid(logit(QUERY, DOCS[r.index])))
        assert r.relevance == r.score


def test_raw_scores_keep_the_logit_and_normalize_with_sigmoid(tei):
    results = make(tei, raw_scores=True).rerank(QUERY, DOCS)
    assert [r.index for r in results] == EXPECTED_ORDER
    for r in results:
        assert r.score == logit(QUERY, DOCS[r.index])
        assert math.isclose(r.relevance, sigmoid(r.score))
    assert tei.requests[0].json()["raw_scores"] is True


def test_request_matches_the_contract(tei):
    make(tei).rerank(QUERY, DOCS)
    (req,) = tei.requests
    assert req.path == "/rerank"
    assert "authorization" not in req.headers
    assert req.json() == {"query": QUERY, "texts": DOCS, "truncate": True, "raw_scores": False, "return_text": False}


def test_api_key_is_sent_as_bearer(serve):
    server = serve(TeiStub(api_key="tei-secret-key"))
    make(server, api_key="tei-secret-key").rerank(QUERY, DOCS)
    assert server.requests[0].headers["authorization"] == "Bearer tei-secret-key"


def test_batches_above_max_client_batch_size_are_split_and_merged(tei):
    docs = [f"doc {i} " + ("gpu " if i % 3 == 0 else "") + ("memory" if i % 5 == 0 else "") for i in range(70)]
    scores = make(tei).score(QUERY, docs)  # default max_batch=32, TEI's default batch size
    assert [len(b["texts"]) for b in tei.bodies()] == [32, 32, 6]
    assert scores.raw == pytest.approx([sigmoid(logit(QUERY, d)) for d in docs])


def test_batch_larger_than_the_server_allows_is_413(tei):
    with pytest.raises(RemoteClientError, match=r"batch size 40 > maximum allowed batch size 32 \[validation\]") as info:
        make(tei, max_batch=64).rerank(QUERY, ["gpu"] * 40)
    assert info.value.status == 413


def test_untruncated_long_input_is_413(serve):
    server = serve(TeiStub(max_input_length=16))
    docs = DOCS + ["memory " * 30]
    with pytest.raises(RemoteClientError, match="must have less than 16 tokens"):
        make(server, truncate=False).rerank(QUERY, docs)
    assert len(make(server, truncate=True).rerank(QUERY, docs)) == 5


def test_backend_424_is_a_server_error_and_not_retried(tei):
    tei.fail(424, message="Inference failed")
    with pytest.raises(RemoteServerError, match=r"HTTP 424 after 1 attempt: Inference failed \[backend\]"):
        make(tei, max_retries=3).rerank(QUERY, DOCS)
    assert len(tei.requests) == 1


def test_overloaded_429_is_retried_then_rate_limited(tei):
    tei.fail(429, times=3)
    with pytest.raises(RateLimitedError, match=r"Model is overloaded \[overloaded\]"):
        make(tei, max_retries=2).rerank(QUERY, DOCS)
    assert len(tei.requests) == 3


def test_axum_plain_text_rejection_is_shown(tei):
    tei.fail(422, message="Failed to deserialize the JSON body into the target type: missing field `texts`",
             plain=True)
    with pytest.raises(RemoteClientError, match="missing field `texts`"):
        make(tei).rerank(QUERY, DOCS)


def test_constructor_validation():
    with pytest.raises(ConfigError, match="truncate='yes' must be True or False"):
        TEIReranker(truncate="yes")
    with pytest.raises(ConfigError, match="raw_scores=1"):
        TEIReranker(raw_scores=1)
    assert TEIReranker().name == "tei:http://localhost:8080"


def test_truncation_is_a_declared_mode_the_service_switches_per_request(serve):
    """TEI's ``truncate`` flag is a Truncate mode, so the service's NONE requests reach TEI as truncate=false."""
    pytest.importorskip("fastapi")
    from ragsift.rerank.base import Truncate
    from ragsift.service.scoring import ModelRunner

    server = serve(TeiStub(max_input_length=16))
    reranker = make(server)
    assert reranker.truncate is Truncate.END and reranker.truncation_modes == frozenset(Truncate)
    runner = ModelRunner(reranker)
    assert runner.honours_truncate
    docs = DOCS + ["memory " * 30]
    assert len(runner.score(QUERY, docs, Truncate.END).raw) == 5
    with pytest.raises(RemoteClientError, match="must have less than 16 tokens"):
        runner.score(QUERY, docs, Truncate.NONE)
    assert [r.json()["truncate"] for r in server.requests] == [True, False]
