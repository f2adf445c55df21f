"""Under load, on a real uvicorn server: bounded queue (429), timeouts (504), micro-batching, cache.

The model thread is held busy with a real task on the app's own executor (``hold_model_thread``),
so requests pile up deterministically; no timing assumptions beyond generous upper bounds.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from fastapi.testclient import TestClient
from service.service_kit import (
    CE_SETTINGS,
    MODEL,
    WAIT_S,
    OverlapReranker,
    close,
    hold_model_thread,
    metric,
    serve,
    wait_ready,
    wait_submitted,
    wait_until,
)

from ragsift.rerank.base import sigmoid
from ragsift.service import ServiceSettings, create_app


def nim_body(query: str, passages: list[str], **extra) -> dict:
    return {"model": "overlap", "query": {"text": query}, "passages": [{"text": p} for p in passages], **extra}


def post_all(base: str, path: str, bodies: list[dict]) -> list:
    """POST every body concurrently; return the futures (responses) in order."""
    pool = ThreadPoolExecutor(len(bodies))
    futures = [pool.submit(httpx.post, f"{base}{path}", json=b, timeout=WAIT_S) for b in bodies]
    pool.shutdown(wait=False)
    return futures


def test_full_queue_answers_429_with_retry_after():
    app = create_app(ServiceSettings(queue_max=2, micro_batching=False), reranker=OverlapReranker())
    state = app.state.ragsift
    with serve(app) as base:
        gate = threading.Event()
        hold_model_thread(app, gate)
        queued = post_all(base, "/v1/ranking", [nim_body(f"q{i}", ["a b", "c"]) for i in range(3)])
        wait_until(lambda: state.batcher.depth == 2, what="two requests queued")  # the first is taken
        rejected = httpx.post(f"{base}/v1/ranking", json=nim_body("q", ["a"]))
        assert rejected.status_code == 429, rejected.text
        assert rejected.json()["error"]["type"] == "queue_full" and "queue_max=2" in rejected.json()["message"]
        assert int(rejected.headers["retry-after"]) >= 1
        gate.set()
        assert [f.result().status_code for f in queued] == [200, 200, 200]
        assert metric(app, "ragsift_requests_total", {"route": "/v1/ranking", "method": "POST", "status": "429"}) == 1


def test_timeout_answers_504_and_drops_requests_still_queued():
    reranker = OverlapReranker()
    app = create_app(ServiceSettings(request_timeout_s=0.5, batch_max_wait_ms=0), reranker=reranker)
    with serve(app) as base:
        gate = threading.Event()
        hold_model_thread(app, gate)
        running = post_all(base, "/v1/ranking", [nim_body("first", ["a"])])
        wait_submitted(app, 1)  # "first" is with the (held) model thread
        start = time.perf_counter()
        late = httpx.post(f"{base}/v1/ranking", json=nim_body("second", ["b"]))
        assert late.status_code == 504 and late.json()["error"]["type"] == "timeout"
        assert "request_timeout_s=0.5" in late.json()["message"]
        assert time.perf_counter() - start < 0.5 + 2.0
        assert running[0].result().status_code == 504
        gate.set()
        ok = httpx.post(f"{base}/v1/ranking", json=nim_body("third", ["c"]))
        assert ok.status_code == 200
    queries = [q for q, _ in reranker.calls]
    assert "third" in queries and "second" not in queries  # dropped before it reached the model


def _concurrent_rankings(reranker, batching: bool) -> tuple[list[dict], dict]:
    """Six NIM requests (two share a query) piled up behind a held model thread, then released."""
    settings = ServiceSettings(**CE_SETTINGS, micro_batching=batching, batch_max_wait_ms=0)
    app = create_app(settings, reranker=reranker)
    state = app.state.ragsift
    queries = ["what do cats eat", "stock market news", "what do cats eat", "loyal dogs", "rivers", "first"]
    passages = [[f"{w} passage {i} about cats and fish" for i in range(3)] for w in ("a", "b", "c", "d", "e", "f")]
    bodies = [{**nim_body(q, p), "model": MODEL} for q, p in zip(queries, passages)]
    with serve(app) as base:
        gate = threading.Event()
        hold_model_thread(app, gate)
        first = post_all(base, "/v1/ranking", bodies[-1:])
        wait_submitted(app, 1)
        rest = post_all(base, "/v1/ranking", bodies[:-1])
        wait_until(lambda: state.batcher.depth == 5, what="five requests queued")
        gate.set()
        responses = [f.result() for f in rest + first]
        assert all(r.status_code == 200 for r in responses), [r.text for r in responses]
        turns = metric(app, "ragsift_batch_requests_count"), metric(app, "ragsift_batch_requests_sum")
    for q, p, r in zip(queries, passages, responses):
        expected = reranker.score(q, p).raw
        for item in r.json()["rankings"]:
            assert close(item["logit"], expected[item["index"]])
    return [r.json() for r in responses], {"turns": turns[0], "requests": turns[1]}


def test_micro_batching_on_and_off_give_identical_rankings(ce_reranker):
    on, on_stats = _concurrent_rankings(ce_reranker, batching=True)
    off, off_stats = _concurrent_rankings(ce_reranker, batching=False)
    assert [[r["index"] for r in b["rankings"]] for b in on] == [[r["index"] for r in b["rankings"]] for b in off]
    for b_on, b_off in zip(on, off):
        for x, y in zip(b_on["rankings"], b_off["rankings"]):
            assert close(x["logit"], y["logit"])
    # 7 requests each (warm-up + 6): off runs one per turn; on runs the five queued ones in one turn.
    assert off_stats == {"turns": 7, "requests": 7}
    assert on_stats == {"turns": 3, "requests": 7}


def test_same_query_requests_share_one_score_call():
    reranker = OverlapReranker()
    app = create_app(ServiceSettings(batch_max_wait_ms=0), reranker=reranker)
    state = app.state.ragsift
    docs = [["cats eat fish", "dogs"], ["cat food", "fish eat cats too"], ["stocks"]]
    with serve(app) as base:
        gate = threading.Event()
        hold_model_thread(app, gate)
        blocker = post_all(base, "/v1/ranking", [nim_body("other", ["x"])])
        wait_submitted(app, 1)
        futures = post_all(base, "/v1/ranking", [nim_body("cats eat", d) for d in docs])
        wait_until(lambda: state.batcher.depth == 3)
        reranker.calls.clear()
        gate.set()
        responses = [f.result().json() for f in futures]
        blocker[0].result()
    assert ("cats eat", 5) in reranker.calls and not any(n < 5 for q, n in reranker.calls if q == "cats eat")
    for d, body in zip(docs, responses):
        direct = OverlapReranker().score("cats eat", d).raw
        assert {r["index"]: r["logit"] for r in body["rankings"]} == dict(enumerate(direct))


def test_a_bad_request_in_a_merged_batch_fails_alone():
    reranker = OverlapReranker(limit=5)
    app = create_app(ServiceSettings(batch_max_wait_ms=0), reranker=reranker)
    state = app.state.ragsift
    long = "one two three four five six seven"
    bodies = [nim_body("cats", ["cats", "dogs"]), nim_body("cats", ["fine", long]), nim_body("cats", ["cats eat"])]
    with serve(app) as base:
        gate = threading.Event()
        hold_model_thread(app, gate)
        blocker = post_all(base, "/v1/ranking", [nim_body("other", ["x"])])
        wait_submitted(app, 1)
        futures = post_all(base, "/v1/ranking", bodies)
        wait_until(lambda: state.batcher.depth == 3)
        gate.set()
        responses = [f.result() for f in futures]
        blocker[0].result()
    assert [r.status_code for r in responses] == [200, 400, 200]
    assert "passages[1]" in responses[1].json()["message"]  # its own index, not the merged one
    assert responses[1].json()["error"]["type"] == "passage_too_long"


@pytest.mark.parametrize("spec", ["memory", "sqlite"])
def test_cache_answers_repeats_and_keeps_truncation_modes_apart(spec, tmp_path):
    reranker = OverlapReranker(limit=5)
    cache = "memory" if spec == "memory" else f"sqlite:{tmp_path / 'scores.db'}"
    app = create_app(ServiceSettings(cache=cache), reranker=reranker)
    long = "cats one two three four five six"
    with TestClient(app) as client:
        wait_ready(client)
        body = nim_body("cats", ["cats eat", long], truncate="END")
        first = client.post("/v1/ranking", json=body).json()
        calls = len(reranker.calls)
        second = client.post("/v1/ranking", json=body).json()
        assert len(reranker.calls) == calls and second["rankings"] == first["rankings"]  # all from the cache
        strict = client.post("/v1/ranking", json={**body, "truncate": "NONE"})
        assert strict.status_code == 400  # a truncated score cached under END never answers NONE
        assert metric(app, "ragsift_cache_hit_ratio") > 0
        assert 'ragsift_cache_hit_ratio' in client.get("/v1/metrics").text


def test_relevance_uses_the_rerankers_normalization():
    app = create_app(ServiceSettings(), reranker=OverlapReranker())
    with TestClient(app) as client:
        wait_ready(client)
        body = client.post("/v2/rerank", json={"model": "overlap", "query": "a b", "documents": ["a b c"]}).json()
    assert close(body["results"][0]["relevance_score"], sigmoid(2 - 0.03))
