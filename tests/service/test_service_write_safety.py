"""Writes through the service: other writers' changes kept, a busy lock is a 503, bad input a 400, names not paths."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from _locks import lock_held_elsewhere
from service.service_kit import OverlapReranker, wait_ready

from ragsift.index.collection import Collection, CollectionConfig
from ragsift.ingest import ChunkingConfig
from ragsift.service import ServiceSettings, create_app
from ragsift.types import Document

SURROGATE = "\\ud800"  # as it appears inside a JSON string


@pytest.fixture
def served(tmp_path):
    path = tmp_path / "c"
    coll = Collection.create(path, CollectionConfig(dense=False, chunking=ChunkingConfig(mode="none")))
    coll.add([Document("a", "cats purr softly", "Cats", {"kind": "animal"})])
    settings = ServiceSettings(log_json=False, write_lock_timeout_s=0.3, max_document_bytes=2000)
    with TestClient(create_app(settings, reranker=OverlapReranker(), collection=coll)) as client:
        wait_ready(client)
        yield client, path


def post_raw(client, url, text):
    return client.post(url, content=text.encode(), headers={"content-type": "application/json"})


def error(response, status):
    assert response.status_code == status, response.text
    return response.json()["error"]["message"]


def test_a_write_from_another_process_between_server_writes_is_kept(served):
    client, path = served
    assert client.post("/v1/documents", json={"documents": [{"id": "s1", "text": "server one"}]}).status_code == 200
    Collection.open(path).add([Document("cli", "written by another process")])  # the server's state is now stale
    assert client.post("/v1/documents", json={"documents": [{"id": "s2", "text": "server two"}]}).status_code == 200
    assert client.delete("/v1/documents/s1").status_code == 200
    assert set(Collection.open(path).documents) == {"a", "cli", "s2"}
    hits = client.post("/v1/search", json={"query": "another process", "mode": "bm25"}).json()["hits"]
    assert [h["doc_id"] for h in hits] == ["cli"]  # the served state includes it after the server's own write


def test_busy_writer_lock_is_503_with_retry_after_and_changes_nothing(served):
    client, path = served
    generation = Collection.open(path).generation
    with lock_held_elsewhere(path):
        response = client.post("/v1/documents", json={"documents": [{"id": "b", "text": "dogs"}]})
        assert response.status_code == 503, response.text
        assert response.json()["error"]["type"] == "collection_busy"
        assert int(response.headers["retry-after"]) >= 1
        assert client.delete("/v1/documents/a").status_code == 503
    assert Collection.open(path).generation == generation
    assert client.post("/v1/documents", json={"documents": [{"id": "b", "text": "dogs"}]}).status_code == 200


@pytest.mark.parametrize(
    "url, body, field",
    [
        ("/v1/search", '{"query": "cats %s", "mode": "bm25"}', "query"),
        ("/v1/ranking", '{"model": "overlap", "query": {"text": "q"}, "passages": [{"text": "p %s"}]}',
         "passages[0].text"),
        ("/v1/rerank", '{"query": "q", "documents": ["ok", "p %s"]}', "documents[1]"),
        ("/v2/rerank", '{"model": "m", "query": "q %s", "documents": ["ok"]}', "query"),
        ("/rerank", '{"query": "q", "texts": ["%s"]}', "texts[0]"),
        ("/v1/documents", '{"documents": [{"id": "x", "text": "t", "metadata": {"k": "%s"}}]}',
         "documents[0].metadata.k"),
    ],
)
def test_lone_surrogates_are_400_naming_the_field(served, url, body, field):
    client, _ = served
    message = error(post_raw(client, url, body % SURROGATE), 400)
    assert message.startswith(f"{field} holds an invalid character")


@pytest.mark.parametrize("field", ["rrf_k", "threshold", "interpolate", "weights"])
def test_huge_numbers_are_400(served, field):
    client, _ = served
    big = "1" + "0" * 400
    value = '{"bm25": %s}' % big if field == "weights" else big
    extra = '"mode": "bm25", "rerank": true' if field in ("threshold", "interpolate") else '"mode": "hybrid"'
    message = error(post_raw(client, "/v1/search", '{"query": "cats", %s, "%s": %s}' % (extra, field, value)), 400)
    assert "out of range" in message and field in message
    assert "out of range" in error(post_raw(client, "/v1/search", '{"query": "cats", "k": 1e400}'), 400)


def test_nested_metadata_and_oversized_documents_are_400(served):
    client, path = served
    deep: dict = {}
    cur = deep
    for _ in range(400):
        cur["x"] = {}
        cur = cur["x"]
    message = error(client.post("/v1/documents", json={"documents": [{"id": "d", "text": "t", "metadata": deep}]}), 400)
    assert "nested more than 16 levels" in message
    message = error(client.post("/v1/documents", json={"documents": [{"id": "big", "text": "x" * 3000}]}), 400)
    assert "max_document_bytes=2,000" in message
    assert "d" not in Collection.open(path).documents and "big" not in Collection.open(path).documents
    assert client.post("/v1/search", json={"query": "cats", "mode": "bm25"}).status_code == 200


def test_models_show_a_folder_name_not_a_path(tiny_cross_encoder):
    from ragsift.service.app import build_reranker

    settings = ServiceSettings(log_json=False, reranker_model=str(tiny_cross_encoder))
    with TestClient(create_app(settings, reranker=build_reranker(settings))) as client:
        wait_ready(client)
        model_id = client.get("/v1/models").json()["data"][0]["id"]
        assert model_id == Path(tiny_cross_encoder).name and os.sep not in model_id
        body = {"model": "other", "query": {"text": "q"}, "passages": [{"text": "p"}]}
        message = error(client.post("/v1/ranking", json=body), 404)
        assert str(tiny_cross_encoder) not in message and model_id in message
        body["model"] = str(tiny_cross_encoder)  # the path is still accepted
        assert client.post("/v1/ranking", json=body).status_code == 200


@pytest.mark.parametrize("damage", ["missing", "truncated"])
def test_serve_on_a_bad_collection_exits_cleanly_without_traceback(tmp_path, damage):
    path = tmp_path / "c"
    if damage == "truncated":
        coll = Collection.create(path, CollectionConfig(dense=False, chunking=ChunkingConfig(mode="none")))
        coll.add([Document("a", "cats")])
        for f in (path / f"gen-{coll.generation:06d}" / "sparse").iterdir():
            f.unlink()
    env = {**os.environ, "RAGSIFT_LOG_JSON": "false"}
    run = subprocess.run(
        [sys.executable, "-m", "ragsift.cli", "serve", "--collection", str(path), "--reranker-type", "none",
         "--port", "0"],
        capture_output=True, text=True, env=env, timeout=120,
    )
    assert run.returncode == 2
    assert "Traceback" not in run.stderr
    assert "ragsift serve: error:" in run.stderr


def test_a_generation_written_by_another_process_is_served_without_restart(tmp_path):
    path = tmp_path / "c"
    coll = Collection.create(path, CollectionConfig(dense=False, chunking=ChunkingConfig(mode="none")))
    coll.add([Document("a", "cats purr softly")])
    settings = ServiceSettings(log_json=False, reload_interval_s=0.2)
    with TestClient(create_app(settings, reranker=OverlapReranker(), collection=coll)) as client:
        wait_ready(client)
        src = tmp_path / "new.jsonl"
        src.write_text('{"id": "zebra", "text": "zebras graze on the savanna"}\n', encoding="utf-8")
        run = subprocess.run([sys.executable, "-m", "ragsift.cli", "index", str(src), "-c", str(path), "-q"],
                             capture_output=True, text=True)
        assert run.returncode == 0, run.stderr
        deadline = time.monotonic() + 5  # the setting says 0.2 s; allow for a slow machine
        while time.monotonic() < deadline:
            hits = client.post("/v1/search", json={"query": "zebras savanna", "mode": "bm25"}).json()["hits"]
            if hits:
                break
            time.sleep(0.05)
        assert [h["doc_id"] for h in hits] == ["zebra"]
        # and the server's own next write builds on it
        assert client.post("/v1/documents", json={"documents": [{"id": "b", "text": "dogs"}]}).status_code == 200
    assert set(Collection.open(path).documents) == {"a", "zebra", "b"}


def test_old_generations_are_removed_after_the_answer(served):
    client, path = served
    for i in range(3):
        assert client.post("/v1/documents", json={"documents": [{"id": f"d{i}", "text": "text"}]}).status_code == 200
    deadline = time.monotonic() + 5
    while len(list(path.glob("gen-*"))) > 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    live = Collection.open(path).generation
    assert sorted(int(p.name[4:]) for p in path.glob("gen-*")) == [live - 1, live]


def test_the_score_cache_is_written_once_writes_pause(served):
    """A write answers without writing the BM25 score matrix; it follows once writes pause, for other processes."""
    import json as _json

    from ragsift.index.sparse import SCORES_MARKER

    client, path = served
    for i in range(3):  # a burst
        assert client.post("/v1/documents", json={"documents": [{"id": f"b{i}", "text": "owls hunt"}]}).status_code == 200
    live = path / _json.loads((path / "manifest.json").read_text())["data_dir"]
    assert not (live / "sparse" / SCORES_MARKER).exists()  # not on the write's path
    deadline = time.monotonic() + 20  # the quiet period is 2 s; generous for a loaded machine
    while not (live / "sparse" / SCORES_MARKER).exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert (live / "sparse" / SCORES_MARKER).exists()
    reopened = Collection.open(path)
    assert reopened.sparse._retriever is not None  # memory-mapped from the cache, not recomputed
    assert sorted(reopened.chunks[p].doc_id for p in reopened.sparse.search("owls", 5)[0]) == ["b0", "b1", "b2"]
