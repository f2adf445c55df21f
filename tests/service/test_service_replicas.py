"""Replicas that agree: real ``ragsift serve`` processes over one Milvus collection and one Redis cache.

Everything is real: a milvus-lite server process (the ``milvus`` fixture), a ``redis-server``
process (``redis_server``), and each replica a ``python -m ragsift.cli serve`` process with a
locally built cross-encoder. The tests write through one replica and read through the other,
share rerank scores through Redis, kill Redis mid-run, index from the CLI while serving, and
SIGKILL a replica while clients write through both.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from contextlib import contextmanager

import httpx
import pytest

from _milvus import free_port

pytest.importorskip("redis", reason="redis-py is not installed (pip install 'ragsift[redis]')")

CLI = [sys.executable, "-m", "ragsift.cli"]
START_S = 120.0  # a replica imports torch and loads the model: seconds, generous for a loaded machine


@contextmanager
def replica(collection: str, cache: str, model, tmp_path, name: str):
    """A ``ragsift serve`` process on a free port; yields an httpx client on it; terminated (or already killed) after."""
    port = free_port()
    log = open(tmp_path / f"{name}.log", "w")
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen(
        [*CLI, "serve", "--collection", collection, "--cache", cache, "--reranker-model", str(model),
         "--port", str(port), "--no-micro-batching"],
        stdout=log, stderr=subprocess.STDOUT, env=env,
    )
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)
    try:
        deadline = time.monotonic() + START_S
        while True:
            if proc.poll() is not None:
                raise AssertionError(f"replica {name} exited {proc.returncode}: {(tmp_path / f'{name}.log').read_text()[-3000:]}")
            try:
                if client.get("/v1/health/ready").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"replica {name} not ready after {START_S} s")
            time.sleep(0.2)
        client.proc = proc  # type: ignore[attr-defined]
        yield client
    finally:
        client.close()
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
        log.close()


def index(collection: str, tmp_path, *docs: dict, create: bool = False) -> None:
    src = tmp_path / f"docs-{time.monotonic_ns()}.jsonl"
    src.write_text("".join(json.dumps(d) + "\n" for d in docs), encoding="utf-8")
    options = ["--no-dense", "--chunking", "none"] if create else []
    run = subprocess.run([*CLI, "index", str(src), "--collection", collection, *options, "-q"],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr


def found(client: httpx.Client, query: str) -> list[str]:
    r = client.post("/v1/search", json={"query": query, "mode": "bm25", "k": 10})
    assert r.status_code == 200, r.text
    return [h["doc_id"] for h in r.json()["hits"]]


def metric(client: httpx.Client, name: str) -> float:
    total = 0.0
    for line in client.get("/metrics").text.splitlines():
        if line.startswith(name) and not line.startswith("#"):
            total += float(line.rsplit(" ", 1)[1])
    return total


SEED = [{"id": "cats", "text": "cats purr and chase mice"}, {"id": "dogs", "text": "dogs bark at the mail carrier"}]


def test_replicas_over_one_milvus_and_one_redis_agree(milvus, redis_server, tiny_cross_encoder, tmp_path):
    uri = milvus.uri("replicas")
    index(uri, tmp_path, *SEED, create=True)
    with replica(uri, redis_server.url, tiny_cross_encoder, tmp_path, "a") as a, \
            replica(uri, redis_server.url, tiny_cross_encoder, tmp_path, "b") as b:
        ready = b.get("/v1/health/ready").json()
        assert ready["collection"] == {"backend": "milvus", "collection": uri, "reachable": True}
        assert ready["cache"] == {"kind": "redis", "reachable": True}

        # a document written through A is found through B, at once (no reload: one server)
        r = a.post("/v1/documents", json={"documents": [{"id": "zebra", "text": "zebras graze on the savanna"}]})
        assert r.status_code == 200, r.text
        assert found(b, "zebras savanna") == ["zebra"]
        assert b.delete("/v1/documents/zebra").status_code == 200
        assert found(a, "zebras savanna") == []

        # a pair scored on A is a cache hit on B
        body = {"query": "cats chase mice, dogs bark", "mode": "bm25", "rerank": True, "candidates": 2, "k": 2}
        first = a.post("/v1/search", json=body)
        assert first.status_code == 200, first.text
        hits_before = metric(b, "ragsift_cache_hits_total")
        second = b.post("/v1/search", json=body)
        assert [h["doc_id"] for h in second.json()["hits"]] == [h["doc_id"] for h in first.json()["hits"]]
        assert len(first.json()["hits"]) == 2
        assert metric(b, "ragsift_cache_hits_total") == hits_before + 2  # both pairs came from Redis

        # Redis killed mid-run: both keep answering; reranking falls back to the model
        redis_server.kill()
        for client in (a, b):
            r = client.post("/v1/search", json={**body, "query": "dogs bark loudly at cats"})
            assert r.status_code == 200, r.text
        assert b.get("/v1/health/ready").json()["cache"]["reachable"] is False
        redis_server.start()

        # `ragsift index` while serving: the new document is visible through both replicas
        index(uri, tmp_path, {"id": "owl", "text": "owls hunt at night"})
        assert found(a, "owls night") == ["owl"] and found(b, "owls night") == ["owl"]


def test_sigkill_of_a_replica_under_load_loses_no_acknowledged_write(milvus, redis_server, tiny_cross_encoder, tmp_path):
    from ragsift.index.milvus import MilvusCollection

    uri = milvus.uri("killed")
    index(uri, tmp_path, *SEED, create=True)
    acknowledged: list[str] = []
    survivor_errors: list[str] = []
    stop = threading.Event()
    with replica(uri, redis_server.url, tiny_cross_encoder, tmp_path, "a") as a, \
            replica(uri, redis_server.url, tiny_cross_encoder, tmp_path, "b") as b:
        lock = threading.Lock()

        def writer(client: httpx.Client, prefix: str, survivor: bool) -> None:
            n = 0
            with httpx.Client(base_url=client.base_url, timeout=30) as own:
                while not stop.is_set():
                    doc_id = f"{prefix}{n}"
                    n += 1
                    try:
                        r = own.post("/v1/documents", json={"documents": [{"id": doc_id, "text": f"note {doc_id} about owls"}]})
                    except httpx.TransportError as exc:
                        if survivor:
                            survivor_errors.append(repr(exc))
                        continue
                    if r.status_code == 200:
                        with lock:
                            acknowledged.append(doc_id)
                    elif survivor:
                        survivor_errors.append(f"{r.status_code} {r.text[:200]}")

        threads = [threading.Thread(target=writer, args=(a, "a-", False)), threading.Thread(target=writer, args=(b, "b-", True))]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 60
        while sum(1 for d in acknowledged if d.startswith("a-")) < 5 and time.monotonic() < deadline:
            time.sleep(0.05)
        os.kill(a.proc.pid, signal.SIGKILL)  # mid-load
        a.proc.wait(10)
        killed_at = len(acknowledged)
        while len(acknowledged) < killed_at + 5 and time.monotonic() < deadline:
            time.sleep(0.05)
        stop.set()
        for t in threads:
            t.join(60)
        assert found(b, "cats mice") == ["cats"]  # the survivor keeps answering
        assert survivor_errors == []
    assert any(d.startswith("a-") for d in acknowledged) and any(d.startswith("b-") for d in acknowledged)
    coll = MilvusCollection.open(uri)
    try:
        stored = set(coll.documents)
        lost = [d for d in acknowledged if d not in stored]
        assert lost == [], f"acknowledged but not stored: {lost[:10]}"
    finally:
        coll.drop()
        coll.close()
