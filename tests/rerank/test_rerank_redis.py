"""RedisCache against a real redis-server (the ``redis_server`` fixture) and real redis-py.

Covers the store (round trip, TTL, key format, clear, stats), keys per model and version, two
replicas in two processes sharing scores, a Redis killed mid-run (misses, counted, rate-limited
warning, reconnection on the same port) and a Redis that accepts connections but never answers.
"""

from __future__ import annotations

import json
import logging
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Sequence

import pytest

from ragsift.config import CacheKind, CacheSpec, cache_spec
from ragsift.errors import ConfigError, MissingDependencyError
from ragsift.rerank import CachedReranker, Reranker, Scores
from ragsift.rerank.cache import cache_key, open_cache

redis = pytest.importorskip("redis", reason="redis-py is not installed (pip install 'ragsift[redis]')")

from ragsift.rerank.redis_cache import KEY_PREFIX, RedisCache  # noqa: E402 (after the skip)

QUERY = "a b"
DOCS = ["a b", "b c", "c d", "a d"]


class Overlap(Reranker):
    """Raw score = words shared with the query (+ ``bonus``); records every batch it scores."""

    def __init__(self, name: str = "overlap", bonus: float = 0.0, version: str | None = None) -> None:
        self.name = name
        self.bonus = bonus
        self.model_version = version
        self.calls: list[list[str]] = []

    def score(self, query: str, documents: Sequence[str]) -> Scores:
        self.calls.append(list(documents))
        q = set(query.split())
        raw = [len(q & set(d.split())) + self.bonus for d in documents]
        return Scores(raw=raw, relevance=[min(1.0, r / len(q)) for r in raw])


def ranking(reranker: Reranker) -> list[tuple[int, float]]:
    return [(r.index, r.score) for r in reranker.rerank(QUERY, DOCS)]


def raw_client(server):
    return redis.Redis.from_url(server.url, socket_timeout=2)


# ------------------------------------------------------------------------------------- the store


def test_round_trip_is_exact_and_counts_hits_and_misses(redis_server):
    cache = RedisCache(redis_server.url)
    items = {"k1": (0.1 + 0.2, 0.7310585786300049), "k2": (-3.5e-12, 0.0), "k3": (float("inf"), 1.0)}
    cache.put_many(items)
    assert cache.get_many(["k1", "k2", "k3", "nope", "k1"]) == items
    stats = cache.stats()
    assert (stats["hits"], stats["misses"], stats["hit_ratio"], stats["errors"]) == (4, 1, 0.8, 0)
    assert cache.get_many([]) == {} and cache.ping() is True


def test_keys_carry_the_cluster_hash_tag_and_expire_after_the_ttl(redis_server):
    cache = RedisCache(redis_server.url, ttl=0.3)
    key = cache_key("overlap", QUERY, DOCS[0])
    cache.put_many({key: (2.0, 1.0)})
    client = raw_client(redis_server)
    name = f"ragsift:{{rerank}}:{key}"
    assert KEY_PREFIX == "ragsift:{rerank}:" and client.get(name) == b"2.0 1.0"
    assert 0 < client.pttl(name) <= 300
    assert cache.get_many([key]) == {key: (2.0, 1.0)}
    time.sleep(0.5)
    assert cache.get_many([key]) == {} and client.exists(name) == 0


def test_no_ttl_keeps_entries(redis_server):
    RedisCache(redis_server.url, ttl=None).put_many({"k": (1.0, 0.5)})
    assert raw_client(redis_server).pttl(f"{KEY_PREFIX}k") == -1  # no expiry


def test_batches_beyond_one_round_trip(redis_server):
    cache = RedisCache(redis_server.url)
    items = {f"k{i}": (float(i), i / 2500) for i in range(2500)}  # 3 chunks of at most 1,000
    cache.put_many(items)
    assert cache.get_many(list(items)) == items


def test_clear_removes_only_its_own_keys(redis_server):
    client = raw_client(redis_server)
    client.set("someone-else", "x")
    cache = RedisCache(redis_server.url)
    cache.put_many({"k1": (1.0, 0.5), "k2": (2.0, 0.6)})
    cache.get_many(["k1"])
    cache.clear()
    assert cache.get_many(["k1", "k2"]) == {} and client.get("someone-else") == b"x"
    assert cache.stats()["hits"] == 0


def test_a_value_written_by_something_else_is_a_miss(redis_server):
    raw_client(redis_server).set(f"{KEY_PREFIX}k", "not a score")
    assert RedisCache(redis_server.url).get_many(["k"]) == {}


# ------------------------------------------------------------------------------ keys per model


def test_models_and_versions_never_share_scores(redis_server):
    url = redis_server.url
    first = CachedReranker(Overlap("ce"), RedisCache(url))
    first.score(QUERY, DOCS)
    other_model = Overlap("other")
    CachedReranker(other_model, RedisCache(url)).score(QUERY, DOCS)
    assert other_model.calls == [DOCS]  # nothing reused across model names

    v1, v2 = Overlap("ce", version="v1"), Overlap("ce", version="v2", bonus=1.0)
    CachedReranker(v1, RedisCache(url)).score(QUERY, DOCS)
    retrained = CachedReranker(v2, RedisCache(url))
    assert retrained.model_key == "ce@v2"
    assert retrained.score(QUERY, DOCS).raw == [3.0, 2.0, 1.0, 2.0]  # its own scores, not v1's
    assert v1.calls == [DOCS] and v2.calls == [DOCS]


# ------------------------------------------------------------------------------ two replicas

REPLICA = textwrap.dedent(
    """
    import json, sys
    from ragsift.rerank import CachedReranker, Reranker, Scores
    from ragsift.rerank.redis_cache import RedisCache

    class Overlap(Reranker):
        name = "overlap"
        def score(self, query, documents):
            q = set(query.split())
            raw = [len(q & set(d.split())) for d in documents]
            return Scores(raw=raw, relevance=[min(1.0, r / len(q)) for r in raw])

    cached = CachedReranker(Overlap(), RedisCache(sys.argv[1]))
    out = [(r.index, r.score) for r in cached.rerank(sys.argv[2], json.loads(sys.argv[3]))]
    print(json.dumps({"ranking": out, "stats": cached.cache.stats()}))
    """
)


def run_replica(url: str, docs: list[str]) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", REPLICA, url, QUERY, json.dumps(docs)],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_a_pair_scored_by_one_process_is_a_hit_in_another(redis_server):
    first = run_replica(redis_server.url, DOCS[:3])  # replica A scores three pairs
    assert first["stats"]["hits"] == 0 and first["stats"]["misses"] == 3
    assert [tuple(p) for p in first["ranking"]] == [(r.index, r.score) for r in Overlap().rerank(QUERY, DOCS[:3])]

    inner = Overlap()
    replica_b = CachedReranker(inner, RedisCache(redis_server.url))  # this process: replica B
    assert ranking(replica_b) == ranking(Overlap())
    assert inner.calls == [[DOCS[3]]]  # only the pair A never saw
    assert replica_b.cache.stats()["hits"] == 3

    again = run_replica(redis_server.url, DOCS)  # a third process: all four are hits now
    assert again["stats"] == {**again["stats"], "hits": 4, "misses": 0}


# ------------------------------------------------------------------------------ Redis failures


def test_redis_killed_mid_run_scores_without_the_cache_then_reconnects(redis_server, caplog):
    inner = Overlap("ce")
    cache = RedisCache(redis_server.url, retry_interval=0.2)
    cached = CachedReranker(inner, cache)
    expected = ranking(Overlap("ce"))
    assert ranking(cached) == expected and len(inner.calls) == 1
    assert ranking(cached) == expected and len(inner.calls) == 1  # a hit

    redis_server.kill()
    with caplog.at_level(logging.INFO, logger="ragsift.rerank.cache"):
        for _ in range(5):
            start = time.perf_counter()
            assert ranking(cached) == expected  # every request still succeeds, scored by the model
            assert time.perf_counter() - start < 0.5
        assert len(inner.calls) == 6 and cached.errors == 10  # a failed read and write per call
        assert cache.ping() is False
        warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warnings) == 2  # rate-limited: the first read and the first write failure only
        assert "read failed for 'ce'" in warnings[0] and "is unreachable" in warnings[0]

        redis_server.start()  # same port, empty (nothing persisted)
        time.sleep(0.25)  # past retry_interval
        assert ranking(cached) == expected and len(inner.calls) == 7  # a miss, stored again
        assert ranking(cached) == expected and len(inner.calls) == 7  # a hit: the cache works again
        assert cached.errors == 10 and cache.ping() is True
    assert any("works again" in r.getMessage() for r in caplog.records if r.levelno == logging.INFO)


def test_warnings_repeat_after_the_interval_with_the_count_of_quiet_failures(redis_server, caplog):
    cached = CachedReranker(Overlap(), RedisCache(redis_server.url, retry_interval=0), warn_interval=0.2)
    redis_server.kill()
    with caplog.at_level(logging.WARNING, logger="ragsift.rerank.cache"):
        for _ in range(3):
            cached.score(QUERY, DOCS)
        time.sleep(0.25)
        cached.score(QUERY, DOCS)
    reads = [r.getMessage() for r in caplog.records if "read failed" in r.getMessage()]
    assert len(reads) == 2 and "2 more failure(s) since the last warning" in reads[1]


def test_strict_mode_raises_when_redis_is_down(redis_server):
    from ragsift.errors import RagsiftError

    cached = CachedReranker(Overlap(), RedisCache(redis_server.url), strict=True)
    redis_server.kill()
    with pytest.raises(RagsiftError, match="rerank cache read failed.*unreachable"):
        cached.score(QUERY, DOCS)


@pytest.fixture
def silent_server():
    """A TCP server that accepts connections and never answers (a hung or black-holed Redis)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    try:
        yield f"redis://127.0.0.1:{sock.getsockname()[1]}/0"
    finally:
        sock.close()


def test_a_redis_that_never_answers_costs_one_timeout_per_retry_interval(silent_server):
    inner = Overlap()
    cached = CachedReranker(inner, RedisCache(silent_server, timeout=0.3, retry_interval=30))
    start = time.perf_counter()
    assert ranking(cached) == ranking(Overlap())
    first = time.perf_counter() - start
    start = time.perf_counter()
    cached.score(QUERY, DOCS)
    second = time.perf_counter() - start
    assert 0.25 < first < 1.5  # one read timeout; the write fails at once (within retry_interval)
    assert second < 0.1 and cached.errors == 4


# ------------------------------------------------------------------------------ configuration


def test_the_setting_opens_a_redis_cache_with_its_ttl(redis_server):
    spec = cache_spec(redis_server.url, environ={"RERANKER_CACHE_TTL": "5"})
    assert spec.kind is CacheKind.REDIS and spec.ttl == 5.0
    cache = open_cache(spec)
    assert isinstance(cache, RedisCache) and cache.ttl == 5.0 and cache.where == redis_server.url
    cache.put_many({"k": (1.0, 0.5)})
    assert 0 < raw_client(redis_server).pttl(f"{KEY_PREFIX}k") <= 5000


def test_maxsize_is_refused_for_redis_naming_its_source():
    spec = cache_spec("redis://localhost:6379/0", environ={"RERANKER_CACHE_MAXSIZE": "10"})
    with pytest.raises(ConfigError, match=r"maxsize=10 does not apply to a Redis cache.*RERANKER_CACHE_MAXSIZE"):
        open_cache(spec)


@pytest.mark.parametrize("url", ["redis://", "redis://:pw@host/x", "redis://host:99999/0", "redis:///0"])
def test_bad_redis_urls_are_refused_without_the_password(url):
    with pytest.raises(ConfigError, match="not a valid Redis URL") as err:
        CacheSpec.parse(url, "RERANKER_CACHE")
    assert "pw" not in str(err.value) and "RERANKER_CACHE" in str(err.value)


def test_a_spec_never_shows_the_password():
    spec = CacheSpec.parse("rediss://:s3cret@cache.internal:6380/2")
    assert spec.kind is CacheKind.REDIS and spec.url == "rediss://:s3cret@cache.internal:6380/2"
    assert str(spec) == "rediss://:***@cache.internal:6380/2" and "s3cret" not in repr(spec)
    assert RedisCache(spec.url).where == "rediss://cache.internal:6380/2"  # constructing does not connect


def test_invalid_arguments_name_the_parameter():
    with pytest.raises(ConfigError, match="ttl=0"):
        RedisCache("redis://localhost", ttl=0)
    with pytest.raises(ConfigError, match="timeout=None"):
        RedisCache("redis://localhost", timeout=None)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="url=None"):
        RedisCache()


def test_missing_redis_py_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "redis", None)  # as if redis-py were not installed
    with pytest.raises(MissingDependencyError, match=r"pip install 'ragsift\[redis\]'"):
        open_cache(CacheSpec.parse("redis://localhost:6379/0"))


def test_get_reranker_wraps_in_a_redis_cache(redis_server):
    from ragsift.rerank import get_reranker

    cached = get_reranker(Overlap, cache=redis_server.url, cache_ttl=30)
    assert isinstance(cached, CachedReranker) and isinstance(cached.cache, RedisCache) and cached.cache.ttl == 30
    assert ranking(cached) == ranking(Overlap()) and ranking(cached) == ranking(Overlap())
    assert cached.inner.calls == [DOCS]
