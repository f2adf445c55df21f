"""NIM-compatible endpoints over the tiny real cross-encoder: /v1/ranking, /v1/models, health, metrics."""

from __future__ import annotations

import pytest
from service.service_kit import LONG, MODEL, close

QUERY = "what do cats eat"
PASSAGES = ["cats eat fish and mice", "the stock market fell", "kittens drink milk", "dogs are loyal"]


def ranking(client, passages=PASSAGES, **extra):
    body = {"model": MODEL, "query": {"text": QUERY}, "passages": [{"text": p} for p in passages], **extra}
    return client.post("/v1/ranking", json=body)


def assert_error(response, status: int, type_: str, *words: str) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"]["type"] == type_
    assert body["message"] == body["error"]["message"]
    for word in words:
        assert word in body["error"]["message"], body["error"]["message"]
    return body


def test_ranking_returns_raw_logits_sorted_descending(ce_client, ce_reranker):
    response = ranking(ce_client)
    assert response.status_code == 200, response.text
    body = response.json()
    expected = ce_reranker.score(QUERY, PASSAGES).raw
    logits = [r["logit"] for r in body["rankings"]]
    assert sorted(r["index"] for r in body["rankings"]) == [0, 1, 2, 3]
    assert logits == sorted(logits, reverse=True)
    for r in body["rankings"]:
        assert close(r["logit"], expected[r["index"]])
    assert body["usage"]["prompt_tokens"] == body["usage"]["total_tokens"] > 4 * len(QUERY.split())


def test_truncate_defaults_to_none_and_names_the_passage(ce_client):
    body = assert_error(ranking(ce_client, [PASSAGES[0], LONG, PASSAGES[1]]), 400, "passage_too_long", "passages[1]")
    assert "128" in body["error"]["message"]  # the model's limit


def test_truncate_end_cuts_long_passages(ce_client):
    response = ranking(ce_client, [PASSAGES[0], LONG], truncate="END")
    assert response.status_code == 200, response.text
    assert len(response.json()["rankings"]) == 2
    assert response.json()["usage"]["prompt_tokens"] <= 2 * 128


def test_truncate_is_case_insensitive_and_validated(ce_client):
    assert ranking(ce_client, [LONG], truncate="end").status_code == 200
    assert_error(ranking(ce_client, truncate="MIDDLE"), 422, "validation_error", "truncate")


def test_unknown_or_missing_model(ce_client):
    body = {"model": "nvidia/other", "query": {"text": QUERY}, "passages": [{"text": "x"}]}
    assert_error(ce_client.post("/v1/ranking", json=body), 404, "model_not_found", "nvidia/other", MODEL)
    del body["model"]
    assert_error(ce_client.post("/v1/ranking", json=body), 422, "validation_error", "model")


@pytest.mark.parametrize(
    ("query", "passages", "words"),
    [
        ("   ", ["a"], ["query.text", "empty"]),
        (QUERY, [], ["passages", "empty"]),
        (QUERY, ["p"] * 9, ["9", "max_passages=8"]),
        (QUERY, ["ok", "x" * 5001], ["passages[1]", "max_chars_per_passage=5000"]),
        ("q" * 201, ["a"], ["201", "max_query_chars=200"]),
    ],
    ids=["empty-query", "no-passages", "too-many", "passage-chars", "query-chars"],
)
def test_limits_are_400_naming_the_problem(ce_client, query, passages, words):
    body = {"model": MODEL, "query": {"text": query}, "passages": [{"text": p} for p in passages]}
    assert_error(ce_client.post("/v1/ranking", json=body), 400, "bad_request", *words)


def test_wrong_types_are_422_with_detail(ce_client):
    body = {"model": MODEL, "query": "not an object", "passages": [{"text": 3}]}
    err = assert_error(ce_client.post("/v1/ranking", json=body), 422, "validation_error")
    locs = {tuple(d["loc"]) for d in err["detail"]}
    assert ("body", "query") in locs and ("body", "passages", 0, "text") in locs


def test_malformed_json_is_400(ce_client):
    response = ce_client.post("/v1/ranking", content=b'{"model": "x", ', headers={"content-type": "application/json"})
    assert_error(response, 400, "malformed_json", "not valid JSON")


def test_oversized_body_is_413_before_parsing(ce_client):
    big = [{"text": "x" * 4000}] * 20  # ~80 KB > max_body_bytes (64 KiB); would also break max_passages
    response = ce_client.post("/v1/ranking", json={"model": MODEL, "query": {"text": QUERY}, "passages": big})
    assert_error(response, 413, "payload_too_large", "max_body_bytes=65536")


def test_oversized_streamed_body_without_length_is_413(ce_client):
    def chunks():
        yield b'{"model": "m", "query": {"text": "q"}, "passages": ['
        for _ in range(100):
            yield b'{"text": "' + b"y" * 1000 + b'"},'
        yield b"]}"

    response = ce_client.post("/v1/ranking", content=chunks(), headers={"content-type": "application/json"})
    assert_error(response, 413, "payload_too_large")


def test_models_lists_the_served_model(ce_client):
    body = ce_client.get("/v1/models").json()
    assert body["object"] == "list"
    (card,) = body["data"]
    assert card["id"] == MODEL and card["object"] == "model" and card["owned_by"] == "ragsift"
    assert isinstance(card["created"], int)


def test_health_endpoints(ce_client):
    assert ce_client.get("/v1/health/live").status_code == 200
    assert ce_client.get("/v1/health/ready").json()["status"] == "ready"
    assert ce_client.get("/health").status_code == 200


def test_metrics_expose_stage_histograms_and_counters(ce_client):
    assert ranking(ce_client).status_code == 200
    response = ce_client.get("/v1/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    text = response.text
    for needle in (
        'ragsift_stage_seconds_bucket{le="0.5",stage="rerank"}',
        'ragsift_stage_seconds_count{stage="queue"}',
        'ragsift_stage_seconds_count{stage="total"}',
        'ragsift_requests_total{method="POST",route="/v1/ranking",status="200"}',
        "ragsift_batch_pairs_bucket",
        "ragsift_batch_requests_count",
        "ragsift_queue_depth 0.0",
        "ragsift_ready 1.0",
    ):
        assert needle in text, needle


def test_unknown_route_and_method_use_the_error_body(ce_client):
    assert_error(ce_client.get("/v1/nothing"), 404, "not_found")
    assert_error(ce_client.get("/v1/ranking"), 405, "method_not_allowed")
