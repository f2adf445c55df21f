"""The error table, API keys and the access log."""

from __future__ import annotations

import json
import logging

import pytest
from fastapi.exceptions import RequestValidationError
from fastapi.testclient import TestClient
from service.service_kit import BrokenReranker, OverlapReranker, wait_ready

from ragsift.errors import (
    AuthenticationError,
    BadInputError,
    ConfigError,
    ModelNotFoundError,
    PassageTooLongError,
    RateLimitedError,
    RemoteServerError,
    RemoteTimeoutError,
)
from ragsift.service import ServiceSettings, create_app
from ragsift.service.errors import (
    ERROR_TABLE,
    MalformedJSONError,
    ModelNotServedError,
    NotReadyError,
    PayloadTooLargeError,
    QueueFullError,
    RequestTimeoutError,
    ShuttingDownError,
    UnauthorizedError,
    error_body,
    rule_for,
)

KEY = "sk-test-0123456789"


@pytest.mark.parametrize(
    ("exc", "status", "type_"),
    [
        (PassageTooLongError("p", index=1, tokens=9, limit=8), 400, "passage_too_long"),
        (BadInputError("b"), 400, "bad_request"),
        (ConfigError("c"), 400, "bad_request"),
        (MalformedJSONError("m"), 400, "malformed_json"),
        (RequestValidationError([]), 422, "validation_error"),
        (UnauthorizedError("u"), 401, "unauthorized"),
        (ModelNotServedError("m"), 404, "model_not_found"),
        (PayloadTooLargeError("p"), 413, "payload_too_large"),
        (QueueFullError("q", retry_after=2.5), 429, "queue_full"),
        (NotReadyError("n"), 503, "not_ready"),
        (ShuttingDownError("s"), 503, "shutting_down"),
        (RequestTimeoutError("t"), 504, "timeout"),
        (RemoteTimeoutError("t"), 504, "upstream_timeout"),
        (RateLimitedError("r"), 502, "upstream_error"),
        (RemoteServerError("r"), 502, "upstream_error"),
        (AuthenticationError("our key was refused upstream"), 502, "upstream_error"),
        (ModelNotFoundError("m"), 500, "internal_error"),
        (KeyError("k"), 500, "internal_error"),
    ],
)
def test_one_table_maps_every_error(exc, status, type_):
    rule = rule_for(exc)
    assert (rule.status, rule.type) == (status, type_)
    code, body, headers = error_body(exc)
    assert code == status and body["error"]["type"] == type_ and body["message"] == body["error"]["message"]
    if status == 500:
        assert body["message"] == "internal server error; the server log has the details"
    if isinstance(exc, QueueFullError):
        assert headers == {"Retry-After": "3"}


def test_table_rows_are_exception_types_with_error_statuses():
    assert all(isinstance(cls, type) and issubclass(cls, BaseException) for cls in ERROR_TABLE)
    assert all(400 <= rule.status <= 599 for rule in ERROR_TABLE.values())


def make_client(reranker=None, **settings) -> TestClient:
    return TestClient(create_app(ServiceSettings(**settings), reranker=reranker or OverlapReranker()))


def test_unexpected_errors_are_500_without_details(caplog):
    with make_client(BrokenReranker()) as client, caplog.at_level(logging.ERROR, "ragsift.service"):
        wait_ready(client)
        response = client.post("/rerank", json={"query": "q", "texts": ["a"]})
    assert response.status_code == 500
    assert response.json()["error"] == {
        "type": "internal_error",
        "message": "internal server error; the server log has the details",
    }
    assert "/secret/path" not in response.text and "Traceback" not in response.text
    assert any("/secret/path" in r.getMessage() or r.exc_info for r in caplog.records)  # the log has it


def test_api_keys(caplog):
    with make_client(api_keys=[KEY, "another-key"]) as client, caplog.at_level(logging.DEBUG, "ragsift"):
        wait_ready(client)  # health is open
        body = {"query": "cats", "texts": ["cats eat fish"]}
        missing = client.post("/rerank", json=body)
        assert missing.status_code == 401 and missing.headers["www-authenticate"] == "Bearer"
        assert missing.json()["error"]["type"] == "unauthorized"
        wrong = client.post("/rerank", json=body, headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401 and "invalid" in wrong.json()["message"]
        basic = client.post("/rerank", json=body, headers={"Authorization": f"Basic {KEY}"})
        assert basic.status_code == 401
        ok = client.post("/rerank", json=body, headers={"Authorization": f"Bearer {KEY}"})
        assert ok.status_code == 200
        assert client.post("/rerank", json=body, headers={"Authorization": "bearer another-key"}).status_code == 200
        assert client.get("/v1/metrics").status_code == 401
        assert client.get("/v1/models", headers={"Authorization": f"Bearer {KEY}"}).status_code == 200
        assert client.get("/v1/health/live").status_code == 200
    assert KEY not in caplog.text and "another-key" not in caplog.text


def test_access_log_is_one_json_line_without_texts(caplog):
    secret_text = "confidential passage about a merger"
    with make_client(api_keys=[KEY]) as client, caplog.at_level(logging.INFO, "ragsift.service.access"):
        wait_ready(client)
        caplog.clear()
        headers = {"Authorization": f"Bearer {KEY}", "X-Request-ID": "req-42"}
        response = client.post("/rerank", json={"query": "merger", "texts": [secret_text, "b", "c"]}, headers=headers)
        assert response.headers["x-request-id"] == "req-42"
        client.post("/rerank", json={"query": "q", "texts": ["a"]})  # 401
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "ragsift.service.access"]
    assert len(lines) == 2
    ok, denied = lines
    assert ok["request_id"] == "req-42" and ok["route"] == "/rerank" and ok["status"] == 200
    assert ok["passages"] == 3 and ok["method"] == "POST" and ok["duration_ms"] >= 0
    assert denied["status"] == 401 and denied["route"] == "/rerank" and "passages" not in denied
    assert secret_text not in caplog.text and "merger" not in caplog.text and KEY not in caplog.text


def test_plain_text_access_log(caplog):
    with make_client(log_json=False) as client, caplog.at_level(logging.INFO, "ragsift.service.access"):
        wait_ready(client)
        caplog.clear()
        client.post("/rerank", json={"query": "q", "texts": ["a"]})
    (line,) = [r.getMessage() for r in caplog.records if r.name == "ragsift.service.access"]
    assert "route=/rerank" in line and "status=200" in line and "passages=1" in line


def test_error_bodies_of_middleware_and_routes_share_one_shape():
    with make_client(api_keys=[KEY], max_body_bytes=2048) as client:
        wait_ready(client)
        auth = {"Authorization": f"Bearer {KEY}"}
        responses = [
            client.post("/rerank", json={"query": "q", "texts": ["a"]}),  # 401 (middleware)
            client.post("/rerank", json={"query": "q", "texts": ["a" * 3000]}, headers=auth),  # 413 (middleware)
            client.post("/rerank", json={"query": "q", "texts": []}, headers=auth),  # 400 (route)
            client.post("/rerank", json={"query": 1}, headers=auth),  # 422 (FastAPI)
            client.get("/nowhere", headers=auth),  # 404 (router)
        ]
    assert [r.status_code for r in responses] == [401, 413, 400, 422, 404]
    for r in responses:
        body = r.json()
        assert set(body) - {"detail"} == {"error", "message"} and set(body["error"]) == {"type", "message"}
        assert r.headers["content-type"] == "application/json"
