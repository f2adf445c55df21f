"""VertexReranker against the Vertex AI ranking stub: scores, contract, 200-record batches, errors."""

from __future__ import annotations

import httpx
import pytest
from rerank.remote.remote_kit import API_KEY, DOCS, EXPECTED_ORDER, FAST, QUERY
from rerank.remote.stubs.scoring import probability
from rerank.remote.stubs.vertex import VertexStub

from ragsift.errors import AuthenticationError, ConfigError, MalformedResponseError, RemoteClientError
from ragsift.rerank.remote import VertexReranker

PATH = "/v1/projects/my-project/locations/global/rankingConfigs/default_ranking_config:rank"


@pytest.fixture
def vertex(serve):
    return serve(VertexStub(access_token=API_KEY, project="my-project"))


def make(server, **kw):
    return VertexReranker(project="my-project", base_url=server.url, **{"access_token": API_KEY, **FAST, **kw})


def test_scores_and_the_omitted_zero_score(vertex):
    results = make(vertex).rerank(QUERY, DOCS)
    assert [r.index for r in results] == EXPECTED_ORDER
    for r in results:
        assert r.score == r.relevance == probability(QUERY, DOCS[r.index])
    assert results[-1].score == 0.0  # the stub omitted "score" for it, as proto3 JSON does


def test_request_matches_the_contract(vertex):
    make(vertex).rerank(QUERY, DOCS)
    (req,) = vertex.requests
    assert req.path == PATH
    assert req.headers["authorization"] == f"Bearer {API_KEY}"
    assert req.headers["x-goog-user-project"] == "my-project"
    assert req.json() == {
        "model": "semantic-ranker-default@latest",
        "query": QUERY,
        "records": [{"id": str(i), "content": d} for i, d in enumerate(DOCS)],
        "topN": 4,
        "ignoreRecordDetailsInResponse": True,
    }


def test_more_than_200_records_are_split_and_merged(vertex):
    docs = [("gpu " if i % 7 == 0 else "") + f"record {i}" + (" memory" if i % 2 else "") for i in range(450)]
    scores = make(vertex).score(QUERY, docs)
    bodies = vertex.bodies()
    assert [len(b["records"]) for b in bodies] == [200, 200, 50]
    assert [b["topN"] for b in bodies] == [200, 200, 50]
    assert bodies[1]["records"][0] == {"id": "0", "content": docs[200]}  # ids restart per request
    assert scores.raw == [probability(QUERY, d) for d in docs]


def test_callable_token_is_fetched_for_each_request(vertex):
    calls = []

    def token() -> str:
        calls.append(1)
        return API_KEY

    make(vertex, access_token=token, max_batch=2).rerank(QUERY, DOCS)
    assert len(vertex.requests) == 2 and len(calls) >= 2


def test_token_from_environment(vertex, monkeypatch):
    monkeypatch.setenv("GOOGLE_ACCESS_TOKEN", API_KEY)
    VertexReranker(project="my-project", base_url=vertex.url, **FAST).rerank(QUERY, DOCS)
    assert vertex.requests[0].headers["authorization"] == f"Bearer {API_KEY}"


def test_wrong_project_is_permission_denied(serve):
    server = serve(VertexStub(access_token=API_KEY, project="other-project"))
    with pytest.raises(AuthenticationError, match=r"Permission .* denied .*\[PERMISSION_DENIED\]") as info:
        make(server).rerank(QUERY, DOCS)
    assert info.value.status == 403


def test_expired_token_hint(vertex):
    with pytest.raises(AuthenticationError, match="UNAUTHENTICATED.*gcloud auth print-access-token"):
        make(vertex, access_token="ya29.expired-token").rerank(QUERY, DOCS)


def test_unsupported_model_is_a_client_error(vertex):
    with pytest.raises(RemoteClientError, match=r"Unsupported model: semantic-ranker-9.*\[INVALID_ARGUMENT\]"):
        make(vertex, model="semantic-ranker-9").rerank(QUERY, DOCS)


def _answer(payload):
    return httpx.MockTransport(lambda request: httpx.Response(200, json=payload))


@pytest.mark.parametrize(
    "payload, problem",
    [
        ({"records": [{"id": "0", "score": 0.5}]}, "1 records for 2 documents"),
        ({}, "0 records for 2 documents"),
        ({"records": [{"id": "0", "score": 0.5}, {"id": "doc-1", "score": 0.1}]}, "is not one of the ids sent"),
        ({"records": [{"id": "0", "score": 0.5}, {"id": "5", "score": 0.1}]}, "out of range"),
        ({"records": [{"id": "0", "score": "high"}, {"id": "1"}]}, "is not a finite number"),
    ],
)
def test_missing_or_foreign_records_are_malformed(payload, problem):
    client = VertexReranker(project="p", access_token="t", transport=_answer(payload))
    with pytest.raises(MalformedResponseError, match=problem):
        client.rerank("q", ["a", "b"])


def test_absent_score_reads_as_zero():
    client = VertexReranker(project="p", access_token="t", transport=_answer({"records": [{"id": "1", "score": 0.5}, {"id": "0"}]}))
    assert client.score("q", ["a", "b"]).raw == [0.0, 0.5]


def test_constructor_validation(monkeypatch):
    monkeypatch.delenv("GOOGLE_ACCESS_TOKEN", raising=False)
    with pytest.raises(ConfigError, match="gcloud auth print-access-token"):
        VertexReranker(project="p")
    with pytest.raises(ConfigError, match="project="):
        VertexReranker(project="a/b", access_token="t")
    with pytest.raises(ConfigError, match=r"max_batch=201 must be an integer in \[1, 200\]"):
        VertexReranker(project="p", access_token="t", max_batch=201)
    with pytest.raises(ConfigError, match="access_token must be a string or a callable"):
        VertexReranker(project="p", access_token=42)
