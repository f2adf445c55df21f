"""POST /v1/documents and DELETE /v1/documents/{id} on a real tiny collection: writes are seen by the
next search, persisted, validated, and never visible half-done to a search already running."""

from __future__ import annotations

import threading

import pytest
from fastapi.testclient import TestClient
from service.service_kit import wait_ready

from ragsift.index.collection import Collection, CollectionConfig
from ragsift.ingest import ChunkingConfig
from ragsift.service import ServiceSettings, create_app
from ragsift.service.routes.documents import MAX_DOCUMENTS
from ragsift.types import Document

DOCS = [
    Document("cats", "Cats purr when they are content. Cats sleep most of the day.", "Cats", {"kind": "animal"}),
    Document("dogs", "Dogs bark at strangers. Dogs love long walks in the park.", "Dogs", {"kind": "animal"}),
    Document("fin", "Quarterly earnings rose while the price ratio fell sharply.", "Finance", {"kind": "money"}),
]
ZEBRA = {
    "id": "zebra",
    "title": "Zebras",
    "text": "Zebras graze on the savanna in striped herds.",
    "metadata": {"kind": "animal"},
}


@pytest.fixture
def served(tmp_path, tiny_st_model, ce_reranker):
    """A fresh collection on disk and a ready client serving it (each test may write)."""
    path = tmp_path / "c"
    config = CollectionConfig(embed_model=str(tiny_st_model), chunking=ChunkingConfig(mode="none"))
    collection = Collection.create(path, config)
    collection.add(DOCS)
    app = create_app(ServiceSettings(served_model_name="ragsift/tiny-ce", log_json=False), reranker=ce_reranker,
                     collection=collection)
    with TestClient(app) as client:
        wait_ready(client)
        yield client, path


def add(client, *documents):
    return client.post("/v1/documents", json={"documents": list(documents)})


def bm25(client, query, k=10, **body):
    response = client.post("/v1/search", json={"query": query, "mode": "bm25", "k": k, **body})
    assert response.status_code == 200, response.text
    return [h["doc_id"] for h in response.json()["hits"]]


def ok(response) -> dict:
    assert response.status_code == 200, response.text
    return response.json()


def assert_error(response, status: int, type_: str, *words: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"]["type"] == type_
    for word in words:
        assert word in body["error"]["message"], body["error"]["message"]


def test_added_document_is_found_by_the_next_search_in_every_mode(served):
    client, _ = served
    assert bm25(client, "zebras savanna") == []
    assert ok(add(client, ZEBRA)) == {"added": 1, "replaced": 0, "chunks": 1, "documents": 4}
    assert bm25(client, "zebras savanna") == ["zebra"]
    hybrid = ok(client.post("/v1/search", json={"query": "zebras savanna", "k": 10}))["hits"]
    assert hybrid[0]["doc_id"] == "zebra" and hybrid[0]["metadata"] == {"kind": "animal"}
    dense = ok(client.post("/v1/search", json={"query": "zebras", "mode": "dense", "k": 10}))["hits"]
    assert "zebra" in [h["doc_id"] for h in dense]  # the new vector is indexed
    filtered = ok(client.post("/v1/search", json={"query": "zebras", "filters": {"kind": "animal"}}))["hits"]
    assert "zebra" in [h["doc_id"] for h in filtered]


def test_replace_by_id(served):
    client, _ = served
    new = {"id": "dogs", "title": "Dogs", "text": "Dogs herd sheep on windy hills."}
    assert ok(add(client, new)) == {"added": 0, "replaced": 1, "chunks": 1, "documents": 3}
    assert bm25(client, "strangers bark") == []
    assert bm25(client, "herd sheep") == ["dogs"]


def test_delete_then_search_does_not_see_it(served):
    client, _ = served
    assert "cats" in bm25(client, "cats purr")
    assert ok(client.delete("/v1/documents/cats")) == {"deleted": 1}
    assert "cats" not in bm25(client, "cats purr")
    dense = ok(client.post("/v1/search", json={"query": "cats", "mode": "dense", "k": 10}))["hits"]
    assert sorted(h["doc_id"] for h in dense) == ["dogs", "fin"]


def test_delete_unknown_is_404_and_changes_nothing(served):
    client, path = served
    generation = Collection.open(path).generation
    assert_error(client.delete("/v1/documents/nope"), 404, "not_found", "'nope'")
    assert Collection.open(path).generation == generation
    assert len(bm25(client, "cats dogs earnings")) == 3


def test_changes_survive_reopening_the_collection_from_disk(served):
    client, path = served
    ok(add(client, ZEBRA, {"id": "fin", "text": "Bond yields climbed."}))
    ok(client.delete("/v1/documents/dogs"))
    reopened = Collection.open(path)
    assert sorted(reopened.documents) == ["cats", "fin", "zebra"]
    assert reopened.documents["fin"].text == "Bond yields climbed."
    assert reopened.documents["zebra"].metadata == {"kind": "animal"}
    assert len(reopened.chunks) == 3 and reopened.embeddings.shape[0] == 3


def test_document_ids_with_slashes_can_be_deleted(served):
    client, _ = served
    ok(add(client, {"id": "wiki/Zebra", "text": "Zebras graze."}))
    assert ok(client.delete("/v1/documents/wiki/Zebra")) == {"deleted": 1}
    assert bm25(client, "zebras graze") == []


@pytest.mark.parametrize(
    "documents, status, type_, words",
    [
        ([ZEBRA, {**ZEBRA, "text": "Another zebra."}], 400, "bad_request", ["documents[1].id='zebra'", "documents[0]"]),
        ([{"id": "z", "text": "   "}], 400, "bad_request", ["documents[0].text is empty"]),
        ([{"id": "", "text": "Zebras."}], 400, "bad_request", ["documents[0].id is empty"]),
        ([], 400, "bad_request", ["documents is empty"]),
        ([{"id": f"d{i}", "text": "x"} for i in range(MAX_DOCUMENTS + 1)], 413, "payload_too_large",
         [f"{MAX_DOCUMENTS + 1} items", "batches"]),
        ([{"id": "z"}], 422, "validation_error", ["documents.0.text"]),
        ([{"id": 7, "text": "Zebras."}], 422, "validation_error", ["documents.0.id"]),
    ],
)
def test_invalid_batches_are_rejected_and_nothing_is_written(served, documents, status, type_, words):
    client, path = served
    generation = Collection.open(path).generation
    assert_error(add(client, *documents), status, type_, *words)
    assert Collection.open(path).generation == generation
    assert bm25(client, "zebras") == []


def test_a_collection_never_written_to_disk_takes_its_first_documents(tmp_path, tiny_st_model, ce_reranker):
    config = CollectionConfig(embed_model=str(tiny_st_model), chunking=ChunkingConfig(mode="none"))
    empty = Collection.create(tmp_path / "new", config)
    app = create_app(ServiceSettings(log_json=False), reranker=ce_reranker, collection=empty)
    with TestClient(app) as client:
        wait_ready(client)
        assert bm25(client, "zebras") == []
        assert ok(add(client, ZEBRA)) == {"added": 1, "replaced": 0, "chunks": 1, "documents": 1}
        assert bm25(client, "zebras") == ["zebra"]
    assert sorted(Collection.open(tmp_path / "new").documents) == ["zebra"]


def test_no_collection_served_is_404(ce_reranker):
    app = create_app(ServiceSettings(log_json=False), reranker=ce_reranker)
    with TestClient(app) as client:
        wait_ready(client)
        assert_error(add(client, ZEBRA), 404, "not_found", "no collection")
        assert_error(client.delete("/v1/documents/cats"), 404, "not_found", "no collection")


def test_a_search_holding_the_old_state_never_sees_a_half_write(served):
    client, _ = served
    state = client.app.state.ragsift
    before = state.searcher
    ok(add(client, ZEBRA))
    ok(client.delete("/v1/documents/cats"))
    # The served objects were replaced, not changed in place: the old snapshot is whole and unchanged.
    assert state.searcher is not before and state.collection is state.searcher.collection
    old = before.collection
    assert sorted(old.documents) == ["cats", "dogs", "fin"] and len(old.chunks) == 3 == old.embeddings.shape[0]
    assert [h.doc_id for h in before.search("zebras cats", mode="bm25").hits] == ["cats"]
    assert [h.doc_id for h in state.searcher.search("zebras cats", mode="bm25").hits] == ["zebra"]


def test_searches_running_during_writes_all_succeed_with_the_old_or_new_state(served):
    client, _ = served
    seen: list[frozenset[str]] = []
    errors: list[str] = []
    stop = threading.Event()

    def searcher_loop() -> None:
        while not stop.is_set() and len(seen) < 500:
            response = client.post("/v1/search", json={"query": "zebras cats", "mode": "hybrid", "k": 10})
            if response.status_code != 200:
                errors.append(response.text)
                return
            seen.append(frozenset(h["doc_id"] for h in response.json()["hits"]))

    threads = [threading.Thread(target=searcher_loop) for _ in range(2)]
    for t in threads:
        t.start()
    try:
        for i in range(3):
            ok(add(client, {**ZEBRA, "id": f"zebra{i}"}))
        ok(client.delete("/v1/documents/zebra0"))
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=60)
    assert not errors, errors[:1]
    assert seen
    states = {
        frozenset({"cats", "dogs", "fin"}),
        frozenset({"cats", "dogs", "fin", "zebra0"}),
        frozenset({"cats", "dogs", "fin", "zebra0", "zebra1"}),
        frozenset({"cats", "dogs", "fin", "zebra0", "zebra1", "zebra2"}),
        frozenset({"cats", "dogs", "fin", "zebra1", "zebra2"}),
    }
    assert set(seen) <= states  # hybrid k=10 returns every document of one committed state
    assert sorted(bm25(client, "zebras")) == ["zebra1", "zebra2"]
