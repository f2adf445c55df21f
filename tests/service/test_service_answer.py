"""POST /v1/answer over a real collection and a real local LLM server, JSON and server-sent events.

The service runs under uvicorn; the LLM is the chat-completions stub of tests/rerank/stubs_openai.py
(a real HTTP server that cites the passages sharing words with the question and counts its calls).
The JSON answers are read with httpx, the streams with a real server-sent-events parse of the bytes
as they arrive. Nothing of ragsift is patched.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import httpx
import pytest
from fastapi.testclient import TestClient
from rerank.stubs_openai import Fault, OpenAIStub
from service.service_kit import OverlapReranker, serve, wait_ready

from ragsift.index.collection import Collection, CollectionConfig
from ragsift.ingest import ChunkingConfig
from ragsift.service import ServiceSettings, create_app
from ragsift.types import Document

LLM_MODEL = "stub-answerer"
LLM_KEY = "sk-service-llm-key"
DOCS = [
    Document("cats", "Cats purr when they are content. Cats sleep most of the day.", "Cats", {"kind": "animal"}),
    Document("dogs", "Dogs bark at strangers. Dogs love long walks in the park.", "Dogs", {"kind": "animal"}),
    Document("fin", "Quarterly earnings rose while the price ratio fell sharply.", "Finance", {"kind": "money"}),
    Document("birds", "Parrots talk and mimic human voices; crows use tools.", "Birds", {"kind": "animal"}),
]
QUESTION = "why do dogs bark at strangers"


@pytest.fixture(scope="module")
def collection(tmp_path_factory, tiny_st_model) -> Collection:
    config = CollectionConfig(embed_model=str(tiny_st_model), chunking=ChunkingConfig(mode="none"))
    coll = Collection.create(tmp_path_factory.mktemp("answer") / "c", config)
    coll.add(DOCS)
    return coll


@pytest.fixture(scope="module")
def stub() -> Iterator[OpenAIStub]:
    with OpenAIStub(model=LLM_MODEL, api_key=LLM_KEY) as server:
        yield server


def settings(llm_url: str | None, key: str = LLM_KEY, **extra) -> ServiceSettings:
    llm = {"llm_url": llm_url, "llm_model": LLM_MODEL, "llm_api_key": key} if llm_url else {}
    return ServiceSettings(served_model_name="overlap", log_json=False, **llm, **extra)


@pytest.fixture(scope="module")
def base(collection, stub) -> Iterator[str]:
    with serve(create_app(settings(stub.base_url), reranker=OverlapReranker(), collection=collection)) as url:
        yield url


@pytest.fixture
def http(base) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base, timeout=30) as client:
        yield client


def sse_events(response: httpx.Response) -> list[tuple[str, dict]]:
    """The (event, JSON data) pairs of a text/event-stream body, parsed as the SSE spec says."""
    events, name, data = [], "message", []
    for line in response.iter_lines():
        if not line:
            if data:
                events.append((name, json.loads("\n".join(data))))
            name, data = "message", []
        elif line.startswith(":"):
            continue
        else:
            field, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if field == "event":
                name = value
            elif field == "data":
                data.append(value)
    assert not data, "the stream ended inside an event"
    return events


def stream(http: httpx.Client, **body) -> tuple[httpx.Response, list[tuple[str, dict]]]:
    with http.stream("POST", "/v1/answer", json={"stream": True, **body}) as response:
        if response.status_code != 200:
            response.read()
            return response, []
        return response, sse_events(response)


def assert_cited(body: dict) -> None:
    """Every citation names the hit at its number; the dogs passage is cited by its number."""
    hits = body["hits"]
    for c in body["citations"]:
        hit = hits[c["number"] - 1]
        assert (c["doc_id"], c["id"], c["title"]) == (hit["doc_id"], hit["id"], hit["title"])
    dogs = next(i for i, h in enumerate(hits, start=1) if h["doc_id"] == "dogs")
    assert {"number": dogs, "doc_id": "dogs"} in [{"number": c["number"], "doc_id": c["doc_id"]} for c in body["citations"]]


def test_answer_as_json(http, stub):
    before = stub.calls
    r = http.post("/v1/answer", json={"query": QUESTION, "mode": "hybrid", "k": 3})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "answered" and body["question"] == QUESTION
    assert body["answer"].startswith("Dogs bark at strangers")
    assert_cited(body)
    assert body["invalid_citations"] == [] and len(body["hits"]) == 3
    assert body["validation"]["verdict"] == "pass" and body["suggestions"] is None
    assert body["model"] == LLM_MODEL and body["finish_reason"] == "stop"
    assert body["usage"]["completion_tokens"] == len(body["answer"].split())
    assert {"bm25", "dense", "fuse", "validate", "llm", "total"} <= set(body["timings_ms"])
    assert stub.calls == before + 1
    request = stub.requests[-1]
    assert request["headers"]["Authorization"] == f"Bearer {LLM_KEY}" and "stream" not in request["json"]


def test_answer_streamed_as_server_sent_events(http, stub):
    before = stub.calls
    response, events = stream(http, query=QUESTION, mode="auto", k=3)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
    names = [name for name, _ in events]
    assert names[0] == "hits" and names[-2:] == ["citations", "done"]
    deltas = [data["text"] for name, data in events if name == "delta"]
    assert names[1:-2] == ["delta"] * len(deltas) and len(deltas) > 3  # token by token
    hits, citations, done = events[0][1], events[-2][1], events[-1][1]
    assert done["status"] == "answered" and "".join(deltas).strip() == done["answer"]
    assert citations == {"citations": done["citations"], "invalid_citations": done["invalid_citations"]}
    assert hits["hits"] == done["hits"] and hits["validation"]["verdict"] == "pass"
    assert hits["route"]["route"] in ("bm25", "dense", "hybrid") and done["route"] == hits["route"]
    assert_cited(done)
    assert "first_token" in done["timings_ms"] and done["usage"]["completion_tokens"] == len(done["answer"].split())
    assert stub.calls == before + 1 and stub.requests[-1]["json"]["stream"] is True


def test_answer_after_rerank_cites_the_reranked_hits(http):
    r = http.post("/v1/answer", json={"query": QUESTION, "rerank": True, "candidates": 4, "top_n": 2})
    assert r.status_code == 200, r.text
    body = r.json()
    assert len(body["hits"]) == 2 and body["hits"][0]["doc_id"] == "dogs"
    assert "rerank" in body["hits"][0]["source_scores"] and body["rerank_settings"]["candidates"]["value"] == 4
    assert_cited(body)


def test_failed_validation_returns_suggestions_and_makes_no_llm_call(http, stub):
    before = stub.calls
    r = http.post("/v1/answer", json={"query": "zzqx vvbnm"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "validation_failed" and body["answer"] is None and body["citations"] == []
    assert body["validation"]["verdict"] == "fail" and body["suggestions"] == body["validation"]["suggestions"]
    r = http.post("/v1/answer", json={"query": "dgos brak", "mode": "bm25"})
    fixes = {(s["term"], s["suggestion"]) for s in r.json()["suggestions"]["spelling"]}
    assert {("dgos", "dogs"), ("brak", "bark")} <= fixes
    response, events = stream(http, query="dgos brak", mode="bm25")
    assert response.status_code == 200 and [name for name, _ in events] == ["validation", "done"]
    assert events[0][1]["suggestions"] == events[1][1]["suggestions"] and events[1][1]["status"] == "validation_failed"
    assert stub.calls == before


def test_invalid_citations_are_reported_not_mapped(http, stub):
    stub.fail(Fault(content="Dogs bark at strangers [1]. Crows use tools [9]."))
    body = http.post("/v1/answer", json={"query": QUESTION, "mode": "bm25", "k": 2}).json()
    assert [c["number"] for c in body["citations"]] == [1]
    assert [c["number"] for c in body["invalid_citations"]] == [9]
    assert f"given passages [1] to [{len(body['hits'])}]" in body["invalid_citations"][0]["reason"]


def test_a_stream_cut_short_ends_with_an_error_event(http, stub):
    stub.fail(Fault(cut_after=3))
    response, events = stream(http, query=QUESTION, mode="bm25")
    assert response.status_code == 200
    names = [name for name, _ in events]
    assert names[0] == "hits" and "delta" in names and names[-1] == "error" and "done" not in names
    error = events[-1][1]
    assert error["status"] == 502 and error["error"]["type"] == "upstream_error" and error["message"]


def test_bad_values_are_400_and_no_llm_is_404(collection, http, stub):
    before = stub.calls
    r = http.post("/v1/answer", json={"query": QUESTION, "max_tokens": 0})
    assert r.status_code == 400 and "max_tokens" in r.json()["message"]
    r = http.post("/v1/answer", json={"query": " "})
    assert r.status_code == 400 and r.json()["error"]["type"] == "bad_request"
    r = http.post("/v1/answer", json={"query": QUESTION, "temperature": 1})
    assert r.status_code == 422
    assert stub.calls == before
    with TestClient(create_app(settings(None), reranker=OverlapReranker(), collection=collection)) as client:
        wait_ready(client)
        r = client.post("/v1/answer", json={"query": QUESTION})
    assert r.status_code == 404 and "RAGSIFT_LLM_URL" in r.json()["message"]


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}/v1"


@pytest.mark.parametrize("streamed", [False, True])
def test_an_unreachable_llm_is_a_502(collection, streamed):
    app = create_app(settings(closed_port_url()), reranker=OverlapReranker(), collection=collection)
    with TestClient(app) as client:
        wait_ready(client)
        r = client.post("/v1/answer", json={"query": QUESTION, "stream": streamed})
    assert r.status_code == 502 and r.headers["content-type"] == "application/json"
    assert r.json()["error"]["type"] == "upstream_error" and "failed to connect" in r.json()["message"]


def test_a_wrong_llm_key_is_a_502_without_the_key(collection, stub):
    app = create_app(settings(stub.base_url, key="sk-bad-key-77"), reranker=OverlapReranker(), collection=collection)
    with TestClient(app) as client:
        wait_ready(client)
        r = client.post("/v1/answer", json={"query": QUESTION})
    assert r.status_code == 502 and "HTTP 401" in r.json()["message"] and "sk-bad-key-77" not in r.text


def test_an_llm_that_does_not_answer_in_time_is_a_504(collection, stub):
    stub.fail(*[Fault(delay=2.0)] * 4)  # the first try and the 3 retries
    app = create_app(settings(stub.base_url, llm_timeout_s=0.2), reranker=OverlapReranker(), collection=collection)
    with TestClient(app) as client:
        wait_ready(client)
        r = client.post("/v1/answer", json={"query": QUESTION, "stream": True})
    assert r.status_code == 504 and r.json()["error"]["type"] == "upstream_timeout"
    assert "timed out after 4 attempts" in r.json()["message"]


def test_the_spec_declares_the_answer_route(collection):
    spec = create_app(settings(None), reranker=OverlapReranker(), collection=collection).openapi()
    op = spec["paths"]["/v1/answer"]["post"]
    assert {"400", "404", "422", "502", "504"} <= set(op["responses"])
    assert set(op["responses"]["200"]["content"]) == {"application/json", "text/event-stream"}
    assert {"stream", "max_tokens", "query", "mode", "filters", "rerank"} <= set(
        spec["components"]["schemas"]["AnswerRequest"]["properties"]
    )
