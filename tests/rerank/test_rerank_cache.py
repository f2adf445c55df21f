"""Rerank score cache: keys, counters, TTL, LRU, SQLite persistence and concurrency, CachedReranker."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import sqlite3
import subprocess
import sys
import threading
from typing import Sequence

import pytest

from ragsift.errors import ConfigError, RagsiftError
from ragsift.rerank import CachedReranker, FirstStageReranker, MemoryCache, Reranker, Scores, SQLiteCache
from ragsift.rerank.cache import cache_key


class Overlap(Reranker):
    """Raw score = words shared with the query; records every batch it is asked to score."""

    def __init__(self, name: str = "overlap", bonus: float = 0.0) -> None:
        self.name = name
        self.bonus = bonus
        self.calls: list[list[str]] = []
        self.warmed = 0

    def warm_up(self) -> None:
        self.warmed += 1

    def score(self, query: str, documents: Sequence[str]) -> Scores:
        self.calls.append(list(documents))
        q = set(query.split())
        raw = [len(q & set(d.split())) + self.bonus for d in documents]
        return Scores(raw=raw, relevance=[min(1.0, r / len(q)) for r in raw])


class Clock:
    """A hand-driven clock for TTL tests."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class BrokenStore:
    """A store whose backing file fails, as a locked or full SQLite database does."""

    def get_many(self, keys):
        raise sqlite3.OperationalError("database is locked")

    def put_many(self, items):
        raise OSError(28, "No space left on device")


DOCS = ["a b", "b c", "c d", "a d"]


# ----------------------------------------------------------------------------- keys


def test_key_is_sha256_of_model_query_passage():
    expected = hashlib.sha256("m\x00what is x\x00x is y".encode("utf-8")).hexdigest()
    assert cache_key("m", "what is x", "x is y") == expected
    assert len(expected) == 64


def test_key_separates_its_fields():
    assert cache_key("m1", "q", "p") != cache_key("m2", "q", "p")
    assert cache_key("m", "ab", "c") != cache_key("m", "a", "bc")


# ----------------------------------------------------------------------------- MemoryCache


def test_memory_counts_hits_and_misses():
    cache = MemoryCache()
    assert cache.get_many(["k1", "k2"]) == {}
    cache.put_many({"k1": (2.0, 0.5)})
    assert cache.get_many(["k1", "k2"]) == {"k1": (2.0, 0.5)}
    assert cache.stats() == {"hits": 1, "misses": 3, "size": 1, "hit_ratio": 0.25}


def test_memory_put_accepts_pairs_and_clear_resets():
    cache = MemoryCache()
    cache.put_many([("k1", (1, 0.1)), ("k2", (2, 0.2))])
    assert cache.get_many(["k2"]) == {"k2": (2.0, 0.2)}
    cache.clear()
    assert cache.stats() == {"hits": 0, "misses": 0, "size": 0, "hit_ratio": 0.0}
    assert cache.get_many(["k1", "k2"]) == {}


def test_memory_ttl_expiry_with_injected_clock():
    clock = Clock()
    cache = MemoryCache(ttl=10, clock=clock)
    cache.put_many({"k": (1.0, 0.5)})
    clock.now += 9.9
    assert cache.get_many(["k"]) == {"k": (1.0, 0.5)}
    clock.now += 0.1
    assert cache.get_many(["k"]) == {}
    assert cache.stats()["size"] == 0


def test_memory_ttl_none_never_expires():
    clock = Clock()
    cache = MemoryCache(ttl=None, clock=clock)
    cache.put_many({"k": (1.0, 0.5)})
    clock.now += 1e9
    assert cache.get_many(["k"]) == {"k": (1.0, 0.5)}


def test_memory_lru_evicts_least_recently_used():
    cache = MemoryCache(maxsize=2)
    cache.put_many({"a": (1, 1), "b": (2, 1)})
    cache.get_many(["a"])  # a is now more recent than b
    cache.put_many({"c": (3, 1)})
    assert set(cache.get_many(["a", "b", "c"])) == {"a", "c"}
    assert len(cache) == 2


@pytest.mark.parametrize(("kwargs", "param"), [({"maxsize": 0}, "maxsize"), ({"ttl": 0}, "ttl"), ({"ttl": -5}, "ttl")])
def test_cache_limits_are_validated(kwargs, param, tmp_path):
    with pytest.raises(ConfigError, match=param):
        MemoryCache(**kwargs)
    with pytest.raises(ConfigError, match=param):
        SQLiteCache(tmp_path / "c.db", **kwargs)


# ----------------------------------------------------------------------------- SQLiteCache


def test_sqlite_persists_across_cache_objects(tmp_path):
    path = tmp_path / "scores.db"
    with SQLiteCache(path) as first:
        first.put_many({"k1": (1.5, 0.25), "k2": (-2.0, 0.1)})
    with SQLiteCache(path) as second:
        assert second.get_many(["k1", "k2", "k3"]) == {"k1": (1.5, 0.25), "k2": (-2.0, 0.1)}
        assert second.stats() == {"hits": 2, "misses": 1, "size": 2, "hit_ratio": 2 / 3}


def test_sqlite_uses_wal_and_documented_schema(tmp_path):
    path = tmp_path / "scores.db"
    SQLiteCache(path).close()
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        columns = {row[1]: row[2] for row in conn.execute("PRAGMA table_info(rerank_cache)")}
    finally:
        conn.close()
    assert columns == {"key": "TEXT", "raw": "REAL", "relevance": "REAL", "expires": "REAL", "last_used": "REAL"}


def test_sqlite_ttl_expiry_with_injected_clock(tmp_path):
    clock = Clock()
    cache = SQLiteCache(tmp_path / "c.db", ttl=60, clock=clock)
    cache.put_many({"k": (1.0, 0.5)})
    clock.now += 59
    assert cache.get_many(["k"]) == {"k": (1.0, 0.5)}
    clock.now += 1
    assert cache.get_many(["k"]) == {}
    assert cache.stats()["size"] == 0


def test_sqlite_lru_eviction_beyond_maxsize(tmp_path):
    clock = Clock()
    cache = SQLiteCache(tmp_path / "c.db", maxsize=2, clock=clock)
    cache.put_many({"a": (1, 1)})
    clock.now += 1
    cache.put_many({"b": (2, 1)})
    clock.now += 1
    cache.get_many(["a"])  # a used after b
    clock.now += 1
    cache.put_many({"c": (3, 1)})
    assert set(cache.get_many(["a", "b", "c"])) == {"a", "c"}


def test_sqlite_expired_rows_are_evicted_on_write(tmp_path):
    clock = Clock()
    cache = SQLiteCache(tmp_path / "c.db", ttl=5, clock=clock)
    cache.put_many({"old": (1, 1)})
    clock.now += 10
    cache.put_many({"new": (2, 1)})
    conn = sqlite3.connect(tmp_path / "c.db")
    try:
        assert [k for (k,) in conn.execute("SELECT key FROM rerank_cache")] == ["new"]
    finally:
        conn.close()


def test_sqlite_batches_larger_than_one_statement(tmp_path):
    cache = SQLiteCache(tmp_path / "c.db")
    items = {f"k{i}": (float(i), 0.5) for i in range(1200)}
    cache.put_many(items)
    assert cache.get_many(list(items)) == items


def test_sqlite_clear(tmp_path):
    cache = SQLiteCache(tmp_path / "c.db")
    cache.put_many({"k": (1, 1)})
    cache.clear()
    assert cache.get_many(["k"]) == {}
    assert cache.stats()["size"] == 0


def test_sqlite_unusable_path_is_config_error(tmp_path):
    not_a_db = tmp_path / "notes.txt"
    not_a_db.write_text("this is not a database, " * 200)
    with pytest.raises(ConfigError, match="notes.txt"):
        SQLiteCache(not_a_db)


def test_sqlite_shared_by_threads(tmp_path):
    cache = SQLiteCache(tmp_path / "c.db")
    errors: list[BaseException] = []

    def work(t: int) -> None:
        try:
            for i in range(40):
                cache.put_many({f"t{t}-{i}": (float(i), 0.5), f"shared-{i}": (1.0, 1.0)})
                got = cache.get_many([f"t{t}-{i}", f"shared-{i}"])
                assert got[f"t{t}-{i}"] == (float(i), 0.5)
        except BaseException as exc:  # noqa: BLE001 - reported to the main thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert cache.stats()["size"] == 6 * 40 + 40


def test_sqlite_shared_by_processes(tmp_path):
    path = tmp_path / "c.db"
    SQLiteCache(path).close()
    code = (
        "import sys; from ragsift.rerank.cache import SQLiteCache;"
        "c = SQLiteCache(sys.argv[1]); p = sys.argv[2];"
        "[c.put_many({f'{p}-{i}': (float(i), 0.5), f'shared-{i}': (1.0, 1.0)}) for i in range(50)];"
        "assert len(c.get_many([f'{p}-{i}' for i in range(50)])) == 50"
    )
    procs = [subprocess.Popen([sys.executable, "-c", code, str(path), name]) for name in ("p1", "p2")]
    assert [proc.wait(timeout=120) for proc in procs] == [0, 0]
    cache = SQLiteCache(path)
    assert cache.stats()["size"] == 150
    assert cache.get_many(["p1-49", "p2-0"]) == {"p1-49": (49.0, 0.5), "p2-0": (0.0, 0.5)}


# ----------------------------------------------------------------------------- CachedReranker


@pytest.fixture(params=["memory", "sqlite"])
def store(request, tmp_path):
    return MemoryCache() if request.param == "memory" else SQLiteCache(tmp_path / "c.db")


def test_cached_scores_equal_uncached(store):
    cached = CachedReranker(Overlap(), store)
    expected = Overlap().rerank("a d", DOCS)
    assert cached.rerank("a d", DOCS) == expected
    assert cached.rerank("a d", DOCS) == expected


def test_only_misses_reach_the_inner_reranker(store):
    inner = Overlap()
    cached = CachedReranker(inner, store)
    cached.rerank("a b", DOCS[:2])
    results = cached.rerank("a b", ["new one", DOCS[1], "a", DOCS[0]])
    assert inner.calls == [DOCS[:2], ["new one", "a"]]
    assert [r.index for r in results] == [3, 1, 2, 0]
    assert [r.score for r in results] == [2.0, 1.0, 1.0, 0.0]
    assert store.stats()["hits"] == 2
    assert store.stats()["misses"] == 4


def test_all_hits_do_not_call_the_inner_reranker(store):
    inner = Overlap()
    cached = CachedReranker(inner, store)
    cached.rerank("a", DOCS)
    cached.rerank("a", list(reversed(DOCS)))
    assert len(inner.calls) == 1


def test_duplicate_documents_are_scored_once(store):
    inner = Overlap()
    results = CachedReranker(inner, store).rerank("a", ["a x", "a x", "b"])
    assert inner.calls == [["a x", "b"]]
    assert [r.index for r in results] == [0, 1, 2]


def test_model_name_is_part_of_the_key(store):
    first = CachedReranker(Overlap("model-1"), store)
    second_inner = Overlap("model-2", bonus=10.0)
    second = CachedReranker(second_inner, store)
    first.rerank("a", DOCS)
    results = second.rerank("a", DOCS)
    assert len(second_inner.calls) == 1
    assert results[0].score == 11.0


def test_cached_reranker_ttl_refetches_after_expiry():
    clock = Clock()
    inner = Overlap()
    cached = CachedReranker(inner, MemoryCache(ttl=30, clock=clock))
    cached.rerank("a", DOCS)
    clock.now += 31
    cached.rerank("a", DOCS)
    assert len(inner.calls) == 2


def test_cached_reranker_takes_name_and_delegates_warm_up():
    inner = Overlap("bge-reranker")
    cached = CachedReranker(inner, MemoryCache())
    cached.warm_up()
    assert cached.name == "bge-reranker"
    assert inner.warmed == 1


def test_cached_arerank_scores_only_misses(store):
    inner = Overlap()
    cached = CachedReranker(inner, store)
    cached.rerank("a b", DOCS[:2])
    got = asyncio.run(cached.arerank("a b", DOCS, top_n=2, return_documents=True))
    assert inner.calls == [DOCS[:2], DOCS[2:]]
    assert [(r.index, r.document) for r in got] == [(0, "a b"), (1, "b c")]


def test_first_stage_reranker_cannot_be_cached():
    with pytest.raises(ConfigError, match="cannot be cached"):
        CachedReranker(FirstStageReranker(), MemoryCache())


def test_cached_reranker_validates_its_arguments():
    with pytest.raises(ConfigError, match="inner"):
        CachedReranker(object(), MemoryCache())  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="get_many"):
        CachedReranker(Overlap(), object())  # type: ignore[arg-type]


def test_failing_store_degrades_to_uncached_with_warning(caplog):
    inner = Overlap("ce")
    cached = CachedReranker(inner, BrokenStore())
    with caplog.at_level(logging.WARNING, logger="ragsift.rerank.cache"):
        results = cached.rerank("a", DOCS)
    assert [r.index for r in results] == [0, 3, 1, 2]
    assert cached.errors == 2
    messages = [r.getMessage() for r in caplog.records]
    assert any("read failed" in m and "database is locked" in m and "'ce'" in m for m in messages)
    assert any("write failed" in m and "No space left" in m for m in messages)


def test_failing_store_raises_when_strict():
    cached = CachedReranker(Overlap(), BrokenStore(), strict=True)
    with pytest.raises(RagsiftError, match="rerank cache read failed.*database is locked"):
        cached.rerank("a", DOCS)
