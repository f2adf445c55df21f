"""Collection: persistence, add/replace/delete across reloads, bad input, crash safety."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from ragsift.errors import BadInputError, CollectionError
from ragsift.index.collection import Collection, CollectionConfig
from ragsift.ingest import ChunkingConfig
from ragsift.pipeline.search import Searcher
from ragsift.types import Document

DOCS = [
    Document("a", "Cats purr when they are content and sleep most of the day.", "Cats"),
    Document("b", "Dogs bark at strangers and love long walks in the park.", "Dogs"),
    Document("c", "Quarterly EBITDA rose while the P/E ratio fell.", "Finance"),
]


def bm25_config(**kw):
    return CollectionConfig(dense=False, chunking=ChunkingConfig(mode="none"), **kw)


def ids(hits):
    return [h.doc_id for h in hits]


def test_create_add_reopen_search(tmp_path):
    coll = Collection.create(tmp_path / "c", bm25_config())
    counts = coll.add(DOCS)
    assert counts == {"added": 3, "replaced": 0, "chunks": 3}
    reopened = Collection.open(tmp_path / "c")
    assert set(reopened.documents) == {"a", "b", "c"}
    hits = Searcher(reopened).search("dogs bark", mode="bm25").hits
    assert ids(hits)[0] == "b"
    manifest = json.loads((tmp_path / "c" / "manifest.json").read_text())
    assert manifest["format"] == "ragsift-collection" and manifest["version"] == 1
    assert manifest["stats"]["documents"] == 3


def test_replace_by_id_and_delete_survive_reload(tmp_path):
    coll = Collection.create(tmp_path / "c", bm25_config())
    coll.add(DOCS)
    counts = Collection.open(tmp_path / "c").add([Document("b", "Parrots talk and mimic voices.", "Birds")])
    assert counts["replaced"] == 1
    coll = Collection.open(tmp_path / "c")
    assert coll.documents["b"].title == "Birds"
    assert Searcher(coll).search("dogs bark", mode="bm25").hits == []
    assert ids(Searcher(coll).search("parrots", mode="bm25").hits) == ["b"]
    assert coll.delete(["a"]) == 1
    coll = Collection.open(tmp_path / "c")
    assert set(coll.documents) == {"b", "c"}
    assert Searcher(coll).search("cats purr", mode="bm25").hits == []


def test_delete_unknown_id_deletes_nothing(tmp_path):
    coll = Collection.create(tmp_path / "c", bm25_config())
    coll.add(DOCS)
    with pytest.raises(BadInputError, match="zzz"):
        coll.delete(["a", "zzz"])
    assert set(Collection.open(tmp_path / "c").documents) == {"a", "b", "c"}
    assert coll.delete(["a", "zzz"], missing_ok=True) == 1


def test_bad_batch_loses_nothing(tmp_path):
    coll = Collection.create(tmp_path / "c", bm25_config())
    coll.add(DOCS)
    with pytest.raises(BadInputError, match="duplicate"):
        coll.add([Document("x", "one"), Document("x", "two")])
    coll = Collection.open(tmp_path / "c")
    assert set(coll.documents) == {"a", "b", "c"}


def test_empty_documents_are_skipped_with_one_warning_and_counted(tmp_path, caplog):
    coll = Collection.create(tmp_path / "c", bm25_config())
    with caplog.at_level("WARNING", logger="ragsift.index.collection"):
        counts = coll.add([Document("a", "apples"), Document("e1", "   "), Document("e2", "", title=" ")])
    assert counts == {"added": 1, "replaced": 0, "chunks": 1, "skipped_empty": 2}
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 1 and "skipped 2 empty document(s)" in messages[0] and "'e1', 'e2'" in messages[0]
    reopened = Collection.open(tmp_path / "c")
    assert set(reopened.documents) == {"a"}
    assert reopened.skipped_empty == {"count": 2, "ids": ["e1", "e2"]}
    assert reopened.add([Document("e3", "")]) == {"added": 0, "replaced": 0, "chunks": 0, "skipped_empty": 1}


def test_failed_write_rolls_back_memory_and_disk(tmp_path):
    """An error in the middle of an add (a model that cannot load) leaves everything as it was."""
    path = tmp_path / "c"
    coll = Collection.create(path, CollectionConfig(embed_model=str(tmp_path / "no-such-model"), chunking=ChunkingConfig(mode="none")))
    with pytest.raises(Exception):
        coll.add(DOCS)
    assert not Collection.exists(path)
    assert coll.documents == {} and len(coll.sparse) == 0


def test_open_errors(tmp_path):
    with pytest.raises(CollectionError, match="ragsift index"):
        Collection.open(tmp_path / "missing")
    coll = Collection.create(tmp_path / "c", bm25_config())
    coll.add(DOCS)
    manifest = tmp_path / "c" / "manifest.json"
    data = json.loads(manifest.read_text())
    del data["records"]
    manifest.write_text(json.dumps(data))
    with pytest.raises(CollectionError, match="pre-release"):
        Collection.open(tmp_path / "c")
    data["version"] = 99
    manifest.write_text(json.dumps(data))
    with pytest.raises(CollectionError, match="version 99"):
        Collection.open(tmp_path / "c")
    with pytest.raises(CollectionError, match="already holds"):
        Collection.create(tmp_path / "c")


def test_only_live_and_previous_generation_are_kept(tmp_path):
    coll = Collection.create(tmp_path / "c", bm25_config())
    for n in range(4):
        coll.add([Document(f"d{n}", f"document number {n}")])
    gens = sorted(p.name for p in (tmp_path / "c").glob("gen-*"))
    assert gens == ["gen-000003", "gen-000004"]


def test_dense_collection_with_tiny_model(tmp_path, tiny_st_model):
    config = CollectionConfig(embed_model=str(tiny_st_model), chunking=ChunkingConfig(mode="none"))
    coll = Collection.create(tmp_path / "c", config)
    coll.add(DOCS)
    coll = Collection.open(tmp_path / "c")
    assert coll.embeddings.shape[0] == 3
    np.testing.assert_allclose(np.linalg.norm(coll.embeddings, axis=1), 1.0, rtol=1e-5)
    # An identical text is its own nearest neighbour.
    hits = Searcher(coll).search(Collection.index_text(coll.chunks[2]), mode="dense", k=1).hits
    assert ids(hits) == ["c"]
    coll.delete(["c"])
    assert Collection.open(tmp_path / "c").embeddings.shape[0] == 2


def test_token_chunks_are_capped_to_the_model(tmp_path, tiny_st_model):
    """The tiny model reads 128 tokens: a requested 400-token chunk size is capped and reported."""
    text = " ".join(f"word{i}" for i in range(2000))
    config = CollectionConfig(embed_model=str(tiny_st_model), chunking=ChunkingConfig(mode="recursive", size=400, overlap=50))
    coll = Collection.create(tmp_path / "c", config)
    coll.add([Document("long", text)])
    assert coll.chunk_size_note and "126" in coll.chunk_size_note
    from ragsift.ingest import token_length_function

    count = token_length_function(str(tiny_st_model))
    assert len(coll.chunks) > 1
    assert max(count(c.text) for c in coll.chunks) <= 126


WRITER = textwrap.dedent(
    """
    import sys
    from ragsift.index.collection import Collection
    from ragsift.types import Document
    coll = Collection.open(sys.argv[1])
    n = int(sys.argv[2])
    docs = [Document(f"new{i}", f"fresh document {i} about topic {i % 97} " * 20) for i in range(n)]
    print("start", flush=True)
    coll.add(docs)
    print("done", flush=True)
    """
)


def test_killed_writer_leaves_previous_collection_readable(tmp_path):
    """SIGKILL a real writer while it writes a generation: the collection still opens, unchanged."""
    path = tmp_path / "c"
    coll = Collection.create(path, bm25_config())
    coll.add(DOCS)
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    mid_write_kills = 0
    for extra_delay in (0.0, 0.01, 0.05, 0.2):
        proc = subprocess.Popen([sys.executable, str(script), str(path), "20000"], stdout=subprocess.PIPE, text=True)
        assert proc.stdout.readline().strip() == "start"
        deadline = time.monotonic() + 60
        while not any(path.glob(".gen-*.tmp-*")) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.001)
        time.sleep(extra_delay)
        killed_mid_write = proc.poll() is None and any(path.glob(".gen-*.tmp-*"))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        reopened = Collection.open(path)
        n = len(reopened.documents)
        assert len(reopened.chunks) == len(reopened.sparse) == n
        mid_write_kills += killed_mid_write
        if killed_mid_write:
            assert set(reopened.documents) == {"a", "b", "c"}
            assert [h.doc_id for h in Searcher(reopened).search("dogs bark", mode="bm25").hits] == ["b"]
        else:
            assert n in (3, 20003)
        if n == 20003:
            reopened.delete([f"new{i}" for i in range(20000)])
    assert mid_write_kills >= 2, "kills did not land during a write"
    # The next write sweeps the orphaned temporary generation.
    Collection.open(path).add([Document("z", "zebras")])
    assert not any(path.glob(".gen-*.tmp-*"))
