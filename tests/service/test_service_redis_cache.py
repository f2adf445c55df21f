"""Service replicas sharing one real Redis (``redis_server`` fixture): cross-replica hits, a Redis
killed mid-run (requests keep succeeding, counted), and the cache state in ``/v1/health/ready``."""

from __future__ import annotations

import httpx
import pytest
from fastapi.testclient import TestClient
from service.service_kit import OverlapReranker, metric, serve, wait_ready

from ragsift.service.app import create_app
from ragsift.service.settings import ServiceSettings

pytest.importorskip("redis", reason="redis-py is not installed (pip install 'ragsift[redis]')")

QUERY = "what do cats eat"
PASSAGES = ["cats eat fish and mice", "the stock market fell", "kittens drink milk", "dogs are loyal"]


def ranking(client, query: str = QUERY) -> list[tuple[int, float]]:
    body = {"model": "overlap", "query": {"text": query}, "passages": [{"text": p} for p in PASSAGES]}
    response = client.post("/v1/ranking", json=body)
    assert response.status_code == 200, response.text
    return [(r["index"], r["logit"]) for r in response.json()["rankings"]]


def replica(url: str, **settings) -> tuple:
    reranker = OverlapReranker()
    return create_app(ServiceSettings(cache=url, **settings), reranker=reranker), reranker


def test_a_pair_scored_on_one_replica_is_a_hit_on_another(redis_server):
    app_a, _ = replica(redis_server.url)
    app_b, reranker_b = replica(redis_server.url)
    with serve(app_a) as base_a, TestClient(app_b) as client_b:  # A under uvicorn, B in-process
        wait_ready(client_b)
        with httpx.Client(base_url=base_a) as client_a:
            expected = ranking(client_a)
        calls, hits = len(reranker_b.calls), metric(app_b, "ragsift_cache_hits_total")
        assert ranking(client_b) == expected
        assert len(reranker_b.calls) == calls  # B's model never saw the pairs
        assert metric(app_b, "ragsift_cache_hits_total") == hits + len(PASSAGES)
        assert app_b.state.ragsift.runner.cache is not app_a.state.ragsift.runner.cache
        ready = client_b.get("/v1/health/ready")
        assert ready.status_code == 200 and ready.json()["cache"] == {"kind": "redis", "reachable": True}


def test_redis_killed_mid_run_requests_keep_succeeding_and_it_comes_back(redis_server):
    app, reranker = replica(redis_server.url)
    with TestClient(app) as client:
        wait_ready(client)
        expected = ranking(client)
        assert metric(app, "ragsift_cache_errors_total") == 0

        redis_server.kill()
        for _ in range(3):
            assert ranking(client) == expected  # scored by the model, never a failed request
        assert metric(app, "ragsift_cache_errors_total") >= 2
        assert "ragsift_cache_errors_total" in client.get("/v1/metrics").text
        ready = client.get("/v1/health/ready")
        assert ready.status_code == 200  # a cache outage never makes the replica unready
        assert ready.json()["cache"] == {"kind": "redis", "reachable": False}

        redis_server.start()  # same port; the readiness probe's PING ends the back-off at once
        assert client.get("/v1/health/ready").json()["cache"] == {"kind": "redis", "reachable": True}
        errors = metric(app, "ragsift_cache_errors_total")
        assert ranking(client, "cats again") and ranking(client, "cats again")
        calls = [c for c in reranker.calls if c[0] == "cats again"]
        assert len(calls) == 1  # the second request was a cache hit: the cache works again
        assert metric(app, "ragsift_cache_errors_total") == errors


def test_cache_ttl_setting_reaches_the_redis_store(redis_server):
    settings = ServiceSettings.load(environ={"RAGSIFT_CACHE": redis_server.url, "RAGSIFT_CACHE_TTL": "60"})
    app = create_app(settings, reranker=OverlapReranker())
    assert app.state.ragsift.runner.cache.ttl == 60.0
    assert settings.describe()["cache"] == redis_server.url


@pytest.mark.parametrize("cache, state", [("off", {"kind": "off"}), ("memory", {"kind": "memory", "reachable": True})])
def test_readiness_reports_other_caches(cache, state):
    app = create_app(ServiceSettings(cache=cache), reranker=OverlapReranker())
    with TestClient(app) as client:
        wait_ready(client)
        assert client.get("/v1/health/ready").json()["cache"] == state
