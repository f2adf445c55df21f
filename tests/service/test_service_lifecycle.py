"""Startup (loading, warm-up, readiness), failures, building from settings, the searcher, graceful shutdown."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from service.service_kit import WAIT_S, GatedWarmUpReranker, OverlapReranker, metric, wait_ready, wait_until

from ragsift.config import resolve_reranker_model
from ragsift.errors import ConfigError, ModelNotFoundError
from ragsift.service import ServiceSettings, create_app
from ragsift.service.app import build_reranker

ROOT = Path(__file__).resolve().parents[2]


def test_not_ready_until_the_model_is_warmed_up():
    loaded = threading.Event()
    reranker = GatedWarmUpReranker(loaded)
    app = create_app(ServiceSettings(), reranker=reranker)
    with TestClient(app) as client:
        assert client.get("/v1/health/live").status_code == 200
        ready = client.get("/v1/health/ready")
        assert ready.status_code == 503 and ready.json()["error"]["type"] == "not_ready"
        assert ready.headers["retry-after"] == "1"
        body = {"model": "overlap", "query": {"text": "q"}, "passages": [{"text": "a"}]}
        ranking = client.post("/v1/ranking", json=body)
        assert ranking.status_code == 503 and "loading" in ranking.json()["message"]
        assert client.get("/health").status_code == 503
        assert metric(app, "ragsift_ready") == 0
        loaded.set()
        wait_ready(client)
        assert reranker.warmed and ("warm-up query", 1) in reranker.calls  # a real request went through
        assert metric(app, "ragsift_ready") == 1
    assert app.state.ragsift.shutting_down and app.state.ragsift.batcher.closed


def test_failed_start_keeps_readiness_503_with_the_reason():
    loaded = threading.Event()
    loaded.set()
    app = create_app(ServiceSettings(), reranker=GatedWarmUpReranker(loaded, fail=ModelNotFoundError("no model at /x")))
    state = app.state.ragsift
    with TestClient(app) as client:
        wait_until(lambda: state.load_error is not None, what="load failure")
        ready = client.get("/v1/health/ready")
        assert ready.status_code == 503 and "ModelNotFoundError: no model at /x" in ready.json()["message"]
        assert client.get("/v1/health/live").status_code == 200


def test_shutting_down_answers_503_and_readiness_turns_503():
    app = create_app(ServiceSettings(), reranker=OverlapReranker())
    with TestClient(app) as client:
        wait_ready(client)
        app.state.ragsift.begin_shutdown()  # what SIGTERM does under run()
        ready = client.get("/v1/health/ready")
        assert ready.status_code == 503 and ready.json()["error"]["type"] == "shutting_down"
        late = client.post("/rerank", json={"query": "q", "texts": ["a"]})
        assert late.status_code == 503 and late.json()["error"]["type"] == "shutting_down"
        assert client.get("/v1/health/live").status_code == 200


def test_builds_the_reranker_from_settings(tiny_cross_encoder, tmp_path):
    settings = ServiceSettings(reranker_model=str(tiny_cross_encoder), cache=f"sqlite:{tmp_path / 'c.db'}")
    app = create_app(settings)
    state = app.state.ragsift
    assert state.model_id == tiny_cross_encoder.name  # no served_model_name: the model folder's name, not its path
    with TestClient(app) as client:
        wait_ready(client)
        assert state.tokens is not None and state.tokens.max_length == 128  # capped to the model
        body = {"model": str(tiny_cross_encoder), "query": {"text": "cats"}, "passages": [{"text": "fish"}]}
        assert client.post("/v1/ranking", json=body).status_code == 200


def test_bad_reranker_settings_fail_at_create_app():
    with pytest.raises(ConfigError, match="reranker_type='nonsense'"):
        create_app(ServiceSettings(reranker_type="nonsense"))
    with pytest.raises(ConfigError, match="reranker_type='tei'.*takes no model"):
        create_app(ServiceSettings(reranker_type="tei", reranker_model="org/model"))
    # A cross-encoder without a model gets one by the resolution order (ragsift.config), as everywhere.
    assert build_reranker(ServiceSettings()).name == resolve_reranker_model()[0]
    with pytest.raises(ModelNotFoundError):
        create_app(ServiceSettings(reranker_model="./no/such/folder"))


@pytest.fixture(scope="module")
def collection_dir(tmp_path_factory):
    from ragsift.ingest.chunk_config import ChunkingConfig
    from ragsift.index.collection import Collection, CollectionConfig
    from ragsift.types import Document

    path = tmp_path_factory.mktemp("coll") / "c"
    coll = Collection.create(path, CollectionConfig(dense=False, chunking=ChunkingConfig(mode="none")))
    coll.add([Document(f"d{i}", text) for i, text in enumerate(["apples and pears", "apples", "bananas", "pears"])])
    return path


def test_collection_is_opened_at_startup_with_a_searcher_on_the_model_thread(collection_dir):
    from ragsift.pipeline.rerank import RerankOptions
    from ragsift.pipeline.search import Searcher, SearchOptions

    reranker = OverlapReranker()
    app = create_app(ServiceSettings(collection=collection_dir), reranker=reranker)
    state = app.state.ragsift
    with TestClient(app) as client:
        wait_ready(client)
        assert isinstance(state.searcher, Searcher) and state.searcher.reranker is state.reranker
        assert state.collection is state.searcher.collection and len(state.collection.documents) == 4
        result = state.searcher.search(
            "apples pears", SearchOptions(mode="bm25"), rerank=RerankOptions(candidates=4, top_n=2)
        )
    assert [h.doc_id for h in result.hits][0] == "d0"
    assert ("apples pears", 3) in reranker.calls or ("apples pears", 4) in reranker.calls


# ---------------------------------------------------------------------------------------- run()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(reranker_type: str, port: int) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAGSIFT_", "RERANKER_"))}
    env.update(
        RAGSIFT_PORT=str(port),
        RERANKER_TYPE=reranker_type,
        RAGSIFT_REQUEST_TIMEOUT_S="10",
        PYTHONPATH=os.pathsep.join([str(ROOT / "tests"), str(ROOT / "src")]),
    )
    code = "from ragsift.service import run; run()"
    return subprocess.Popen([sys.executable, "-c", code], env=env, stderr=subprocess.PIPE, text=True)


def test_run_drains_in_flight_requests_on_sigterm():
    port = _free_port()
    proc = _start("service.service_kit:SlowOverlapReranker", port)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/v1/health/ready").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, "server did not start"
            time.sleep(0.05)
        result: dict = {}
        body = {"model": "overlap", "query": {"text": "q"}, "passages": [{"text": "q a"}]}
        post = lambda: result.update(r=httpx.post(f"{base}/v1/ranking", json=body, timeout=WAIT_S))  # noqa: E731
        worker = threading.Thread(target=post)
        worker.start()
        in_model = 'ragsift_stage_seconds_count{stage="queue"} 2.0'  # the warm-up and this request
        wait_until(lambda: in_model in httpx.get(f"{base}/v1/metrics").text, what="request handed to the model")
        proc.send_signal(signal.SIGTERM)
        worker.join(WAIT_S)
        assert result["r"].status_code == 200  # drained, not dropped
        # uvicorn re-raises the signal once shut down cleanly, so the status is "killed by SIGTERM"
        assert proc.wait(WAIT_S) in (0, -signal.SIGTERM)
    finally:
        if proc.poll() is None:
            proc.kill()
    log = proc.stderr.read()
    assert "service stopped" in log and '"route":"/v1/ranking","status":200' in log


def test_run_exits_with_the_startup_error():
    proc = _start("service.service_kit:FailingWarmUpReranker", _free_port())
    try:
        code = proc.wait(60)
    finally:
        if proc.poll() is None:
            proc.kill()
    log = proc.stderr.read()
    assert code != 0 and "ModelNotFoundError" in log and "/models/nowhere" in log
