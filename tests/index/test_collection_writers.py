"""Several writers, lost manifests, readers during writes, forks: no acknowledged change is ever lost."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time

import pytest

from _locks import lock_held_elsewhere

from ragsift.errors import CollectionBusyError, CollectionError, UnknownDocumentError
from ragsift.index.collection import Collection, CollectionConfig
from ragsift.index.repair import repair
from ragsift.ingest import ChunkingConfig
from ragsift.pipeline.search import Searcher
from ragsift.types import Document

RAGSIFT = [sys.executable, "-m", "ragsift.cli"]


def bm25_config():
    return CollectionConfig(dense=False, chunking=ChunkingConfig(mode="none"))


def doc(i: str, text: str | None = None) -> Document:
    return Document(i, text or f"document {i} talks about topic{i}", f"Title {i}")


def gen_dirs(path):
    return sorted(p.name for p in path.glob("gen-*"))


def write_jsonl(path, *docs):
    path.write_text("".join(json.dumps(d.to_dict()) + "\n" for d in docs), encoding="utf-8")
    return path


def test_stale_writer_builds_on_the_committed_state(tmp_path):
    """Writer A opened before writer B committed: A's add keeps B's document (was: silently lost)."""
    path = tmp_path / "c"
    Collection.create(path, bm25_config()).add([doc("base")])
    a = Collection.open(path)
    b = Collection.open(path)
    b.add([doc("b1")])
    a.add([doc("a1")])
    final = Collection.open(path)
    assert set(final.documents) == {"base", "a1", "b1"}
    # and a stale delete of an id another writer removed is a clear error, not a resurrection
    c = Collection.open(path)
    Collection.open(path).delete(["b1"])
    with pytest.raises(UnknownDocumentError, match="b1"):
        c.delete(["b1"])
    assert set(Collection.open(path).documents) == {"base", "a1"}


def test_two_new_collections_at_once_merge(tmp_path):
    path = tmp_path / "c"
    first, second = Collection.create(path, bm25_config()), Collection.create(path, bm25_config())
    first.add([doc("x")])
    second.add([doc("y")])
    assert set(Collection.open(path).documents) == {"x", "y"}


def test_cli_writer_during_an_open_library_writer(tmp_path):
    """The issue's reproduction: A opens, `ragsift index b1.jsonl` succeeds meanwhile, then A adds."""
    path = tmp_path / "c"
    Collection.create(path, bm25_config()).add([doc("base")])
    a = Collection.open(path)
    src = write_jsonl(tmp_path / "b1.jsonl", doc("B1"))
    run = subprocess.run([*RAGSIFT, "index", str(src), "-c", str(path), "-q"], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    a.add([doc("A1")])
    assert set(Collection.open(path).documents) == {"base", "A1", "B1"}


def test_busy_lock_waits_then_fails_clearly(tmp_path):
    path = tmp_path / "c"
    coll = Collection.create(path, bm25_config())
    coll.add([doc("a")])
    waiter = threading.Thread(target=lambda: Collection.open(path, lock_timeout=10).add([doc("c")]))
    with lock_held_elsewhere(path):
        coll.lock_timeout = 0.2
        with pytest.raises(CollectionBusyError, match="retry") as info:
            coll.add([doc("b")])
        assert info.value.retry_after >= 1
        run = subprocess.run(
            [*RAGSIFT, "delete", str(path), "a", "--lock-timeout", "0.2"], capture_output=True, text=True
        )
        assert run.returncode == 2 and "lock" in run.stderr and "Traceback" not in run.stderr
        waiter.start()
        time.sleep(0.3)  # the waiting writer gets the lock and commits once it is released
    waiter.join(10)
    assert set(Collection.open(path).documents) == {"a", "c"}


def test_new_generation_never_replaces_a_directory_it_did_not_create(tmp_path):
    path = tmp_path / "c"
    coll = Collection.create(path, bm25_config())
    coll.add([doc("a")])
    stray = path / "gen-000009"
    stray.mkdir()
    (stray / "marker").write_text("someone else's")
    coll.add([doc("b")])
    assert coll.generation == 10 and (path / "gen-000010").is_dir()
    assert Collection.open(path).generation == 10


class _WriterDuringOpen(Collection):
    """Runs two commits right after the first manifest read: the generation it read vanishes."""

    interleave = True

    def _load_generation(self, manifest):
        if _WriterDuringOpen.interleave:
            _WriterDuringOpen.interleave = False
            writer = Collection.open(self.path)
            writer.add([doc("w1")])
            writer.add([doc("w2")])  # removes the generation this reader is about to read
        super()._load_generation(manifest)


def test_reader_retries_when_the_generation_vanishes(tmp_path):
    path = tmp_path / "c"
    Collection.create(path, bm25_config()).add([doc("a")])
    first = json.loads((path / "manifest.json").read_text())["data_dir"]
    reader = _WriterDuringOpen.open(path)
    assert not (path / first).exists()
    assert set(reader.documents) == {"a", "w1", "w2"}


def test_missing_manifest_is_never_treated_as_empty_and_repair_restores(tmp_path):
    path = tmp_path / "c"
    coll = Collection.create(path, bm25_config())
    coll.add([doc(str(i)) for i in range(20)])
    coll.add([doc(str(i)) for i in range(20, 39)])
    before = gen_dirs(path)
    (path / "manifest.json").unlink()
    one = write_jsonl(tmp_path / "one.jsonl", doc("new"))
    run = subprocess.run([*RAGSIFT, "index", str(one), "-c", str(path), "-q"], capture_output=True, text=True)
    assert run.returncode == 2
    assert "ragsift repair" in run.stderr and "no manifest.json" in run.stderr
    assert gen_dirs(path) == before  # nothing deleted
    with pytest.raises(CollectionError, match="repair"):
        Collection.open(path)
    run = subprocess.run([*RAGSIFT, "repair", str(path)], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert f"restored {before[-1]} (39 documents)" in run.stdout
    assert "manifest.json: missing" in run.stdout
    assert len(Collection.open(path).documents) == 39
    run = subprocess.run([*RAGSIFT, "index", str(one), "-c", str(path), "-q"], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert len(Collection.open(path).documents) == 40


def test_repair_skips_a_broken_newest_generation(tmp_path):
    path = tmp_path / "c"
    coll = Collection.create(path, bm25_config())
    coll.add([doc("a")])
    coll.add([doc("b")])
    newest = path / gen_dirs(path)[-1]
    (newest / "sparse" / "sparse.json").unlink()
    (path / "manifest.json").write_text("{ not json")
    with pytest.raises(CollectionError, match="ragsift repair"):
        Collection.open(path)
    report = repair(path)
    assert report.restored == gen_dirs(path)[0]
    assert any(line.startswith(newest.name) and "incomplete" in line for line in report.findings)
    assert set(Collection.open(path).documents) == {"a"}
    assert repair(path).manifest_ok  # a valid collection is left alone


def test_repair_with_nothing_complete_changes_nothing(tmp_path):
    path = tmp_path / "c"
    Collection.create(path, bm25_config()).add([doc("a")])
    gen = path / gen_dirs(path)[0]
    (gen / "manifest.json").unlink()
    (path / "manifest.json").unlink()
    with pytest.raises(CollectionError, match="nothing was changed"):
        repair(path)
    assert not (path / "manifest.json").exists() and gen.is_dir()


def test_empty_source_commits_nothing(tmp_path):
    path = tmp_path / "c"
    Collection.create(path, bm25_config()).add([doc("a")])
    generation = Collection.open(path).generation
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    run = subprocess.run([*RAGSIFT, "index", str(empty), "-c", str(path)], capture_output=True, text=True)
    assert run.returncode == 0 and "nothing was indexed" in run.stderr
    assert Collection.open(path).generation == generation
    assert Collection.open(path).add([]) == {"added": 0, "replaced": 0, "chunks": 0}
    assert Collection.open(path).generation == generation


def test_fork_changes_leave_the_original_untouched(tmp_path, tiny_st_model):
    config = CollectionConfig(embed_model=str(tiny_st_model), chunking=ChunkingConfig(mode="none"))
    served = Collection.create(tmp_path / "c", config)
    served.add([doc("a", "cats purr softly"), doc("b", "dogs bark loudly")])
    searcher = Searcher(served)
    before = {m: searcher.search("cats purr", mode=m).hits for m in ("bm25", "dense", "hybrid")}
    fork = served.fork()
    fork.add([doc("c", "cats and kittens purr together")])
    fork.delete(["a"])
    after = {m: searcher.search("cats purr", mode=m).hits for m in ("bm25", "dense", "hybrid")}
    assert after == before
    assert set(served.documents) == {"a", "b"} and len(served.chunks) == 2 and len(served.sparse) == 2
    assert set(fork.documents) == {"b", "c"}
    assert [h.doc_id for h in Searcher(fork).search("kittens", mode="bm25").hits] == ["c"]
    assert {h.doc_id for h in Searcher(fork).search("cats purr", mode="dense").hits} == {"b", "c"}
    reopened = Collection.open(tmp_path / "c")
    assert set(reopened.documents) == {"b", "c"}
    assert Searcher(reopened).search("kittens", mode="hybrid").hits == Searcher(fork).search("kittens", mode="hybrid").hits
