"""Rerank score cache on Redis, shared by every process and replica that points at it.

``RERANKER_CACHE=redis://HOST:PORT/DB`` (``rediss://`` for TLS; ``RAGSIFT_CACHE`` for the
service) with ``pip install 'ragsift[redis]'`` (redis-py). Only core commands are used — ``MGET``
to read, ``SET ... PX`` in a non-transactional pipeline to write, ``SCAN``/``DEL`` for
:meth:`RedisCache.clear`, ``PING`` — so the same code runs on Redis, Valkey, managed Redis
(ElastiCache, Memorystore, Azure Cache) and Redis Cluster.

Keys are ``ragsift:{rerank}:<cache_key>`` where ``<cache_key>`` is
:func:`~ragsift.rerank.cache.cache_key` (sha256 of model name and version, query and passage).
The ``{rerank}`` hash tag puts every key in one cluster slot, so a multi-key ``MGET`` and a
pipeline are legal on Redis Cluster; the price is that the whole cache lives on one shard. Values
are ``"<raw> <relevance>"`` (Python ``repr`` of both floats, so they round-trip exactly). Every
entry expires after ``ttl`` seconds (``RERANKER_CACHE_TTL``, default 3600); Redis' own
``maxmemory`` policy bounds the size (``allkeys-lru`` or ``volatile-ttl``).

A dead Redis never stalls or fails a request:

- sockets time out after ``connect_timeout``/``timeout`` (0.5 s each; a URL query such as
  ``?socket_timeout=1`` overrides them) and redis-py does not retry;
- every redis-py error raises :class:`ConnectionError` (an ``OSError``), which
  :class:`~ragsift.rerank.cache.CachedReranker` turns into a miss (counted, rate-limited WARNING);
- for ``retry_interval`` seconds after an error other than an error reply (a refused or timed-out
  connection, a wrong password, something that does not speak Redis) the cache fails at once without
  touching the network, so a Redis that black-holes packets costs one timeout per interval, not one
  per request;
- after that the next call tries again: redis-py's pool opens a fresh connection, so the cache
  works again by itself once Redis is back.

For Redis Cluster or Sentinel, build the client yourself and pass it:
``RedisCache(client=redis.cluster.RedisCluster.from_url(url, socket_timeout=0.5))``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from ragsift._lazy import require
from ragsift.errors import ConfigError
from ragsift.rerank.cache import Entry, Items, _pairs

__all__ = ["RedisCache", "KEY_PREFIX"]

#: Prefix of every key; ``{rerank}`` is the Redis Cluster hash tag.
KEY_PREFIX = "ragsift:{rerank}:"

_BATCH = 1000  # keys per MGET / pipeline


class RedisCache:
    """Score cache in Redis with a time-to-live; one object per process, safe to share between threads.

    ``url`` is a ``redis://`` or ``rediss://`` URL, or ``client`` an existing redis-py client (then
    ``url``, ``connect_timeout`` and ``timeout`` are not used). Constructing does not connect.
    ``stats()`` counts this object's hits and misses; ``size`` is None (a shared Redis is not counted).
    """

    def __init__(
        self,
        url: str | None = None,
        ttl: float | None = 3600,
        *,
        prefix: str = KEY_PREFIX,
        connect_timeout: float = 0.5,
        timeout: float = 0.5,
        retry_interval: float = 1.0,
        client: Any = None,
    ):
        if ttl is not None and not _seconds(ttl, positive=True):
            raise ConfigError(f"ttl={ttl!r} must be a positive number of seconds, or None: entries never expire")
        for name, value in (("connect_timeout", connect_timeout), ("timeout", timeout)):
            if not _seconds(value, positive=True):
                raise ConfigError(f"{name}={value!r} must be a positive number of seconds: a dead Redis must not stall")
        if not _seconds(retry_interval, positive=False):
            raise ConfigError(f"retry_interval={retry_interval!r} must be a number of seconds >= 0")
        if not isinstance(prefix, str) or not prefix:
            raise ConfigError(f"prefix={prefix!r} must be a non-empty string, e.g. {KEY_PREFIX!r}")
        redis = require("redis", extra="redis")
        self.ttl = ttl
        self.prefix = prefix
        self.retry_interval = float(retry_interval)
        self._client = client if client is not None else _client(redis, url, connect_timeout, timeout)
        self._redis_error = redis.RedisError
        self._answered = redis.ResponseError  # Redis answered with an error (e.g. OOM): it is reachable
        self.where = _where(self._client, url)
        self._lock = threading.Lock()
        self._down_until = 0.0
        self._last_error = ""
        self._hits = 0
        self._misses = 0
        self._errors = 0

    # -- the ScoreCache interface -------------------------------------------------------------------

    def get_many(self, keys: Sequence[str]) -> dict[str, Entry]:
        """Cached ``(raw, relevance)`` for the keys present; ConnectionError when Redis is unreachable."""
        unique = list(dict.fromkeys(keys))
        if not unique:
            return {}
        values = self._run(lambda: self._mget(unique))
        found: dict[str, Entry] = {}
        for key, value in zip(unique, values):
            entry = _decode(value)
            if entry is not None:
                found[key] = entry
        hits = sum(1 for key in keys if key in found)
        with self._lock:
            self._hits += hits
            self._misses += len(keys) - hits
        return found

    def put_many(self, items: Items) -> None:
        """Store ``{key: (raw, relevance)}``, each entry expiring after ``ttl``; one round trip per 1,000."""
        pairs = _pairs(items)
        if pairs:
            self._run(lambda: self._set(pairs))

    def clear(self) -> None:
        """Delete every key under ``prefix`` (for every process sharing this Redis) and reset the counters."""

        def delete() -> None:
            batch: list[bytes] = []
            for key in self._client.scan_iter(match=_glob_escape(self.prefix) + "*", count=_BATCH):
                batch.append(key)
                if len(batch) >= _BATCH:
                    self._client.delete(*batch)
                    batch = []
            if batch:
                self._client.delete(*batch)

        self._run(delete)
        with self._lock:
            self._hits = self._misses = 0

    def stats(self) -> dict:
        """``hits``/``misses``/``hit_ratio`` of this object, ``errors`` (failed calls), ``size`` None."""
        with self._lock:
            total = self._hits + self._misses
            return {
                "hits": self._hits,
                "misses": self._misses,
                "size": None,
                "hit_ratio": self._hits / total if total else 0.0,
                "errors": self._errors,
            }

    def ping(self) -> bool:
        """True when Redis answers ``PING`` now (ignores ``retry_interval``; a success ends it)."""
        try:
            self._client.ping()
        except self._redis_error as exc:
            self._failed(exc)
            return False
        with self._lock:
            self._down_until = 0.0
        return True

    def close(self) -> None:
        """Close the pool's connections (a later call reconnects)."""
        self._client.close()

    def __enter__(self) -> "RedisCache":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"RedisCache({self.where!r}, ttl={self.ttl}, prefix={self.prefix!r})"

    # -- internals --------------------------------------------------------------------------------

    def _run(self, call: Callable[[], Any]) -> Any:
        if time.monotonic() < self._down_until:
            raise ConnectionError(
                f"rerank cache {self.where} is unreachable ({self._last_error}); next try within "
                f"{self.retry_interval:g} s"
            )
        try:
            return call()
        except self._redis_error as exc:
            unreachable = self._failed(exc)
            kind = "is unreachable" if unreachable else "failed"
            raise ConnectionError(f"rerank cache {self.where} {kind}: {type(exc).__name__}: {exc}") from exc

    def _failed(self, exc: BaseException) -> bool:
        unreachable = not isinstance(exc, self._answered)
        with self._lock:
            self._errors += 1
            if unreachable:
                self._down_until = time.monotonic() + self.retry_interval
                self._last_error = f"{type(exc).__name__}: {exc}"
        return unreachable

    def _mget(self, keys: list[str]) -> list[Any]:
        names = [self.prefix + key for key in keys]
        if len(names) <= _BATCH:
            return self._client.mget(names)
        pipe = self._client.pipeline(transaction=False)
        for chunk in _chunks(names):
            pipe.mget(chunk)
        return [value for values in pipe.execute() for value in values]

    def _set(self, pairs: list[tuple[str, float, float]]) -> None:
        px = max(1, round(self.ttl * 1000)) if self.ttl is not None else None
        for chunk in _chunks(pairs):
            pipe = self._client.pipeline(transaction=False)
            for key, raw, rel in chunk:
                pipe.set(self.prefix + key, f"{raw!r} {rel!r}", px=px)
            pipe.execute()


def _client(redis: Any, url: str | None, connect_timeout: float, timeout: float) -> Any:
    if not isinstance(url, str) or not url.strip():
        raise ConfigError(f"url={url!r} must be a Redis URL such as 'redis://localhost:6379/0', or pass client=")
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    try:
        return redis.Redis.from_url(
            url.strip(),
            socket_connect_timeout=connect_timeout,
            socket_timeout=timeout,
            retry=Retry(NoBackoff(), 0),  # fail fast: a miss costs less than a retried stall
        )
    except ValueError as exc:
        raise ConfigError(f"url is not a valid Redis URL ({exc}); use redis://[:PASSWORD@]HOST[:PORT][/DB]") from None


def _where(client: Any, url: str | None) -> str:
    """``redis://host:port/db`` of the client, never with the password."""
    pool = getattr(client, "connection_pool", None)
    kwargs = getattr(pool, "connection_kwargs", None) or {}
    if "host" in kwargs:
        scheme = "rediss" if "SSL" in getattr(pool.connection_class, "__name__", "") else "redis"
        return f"{scheme}://{kwargs['host']}:{kwargs.get('port', 6379)}/{kwargs.get('db', 0)}"
    return type(client).__name__ if url is None else "redis"


def _decode(value: Any) -> Entry | None:
    """``(raw, relevance)`` from a stored value; None (a miss) for anything else."""
    if value is None:
        return None
    try:
        raw, rel = (value.decode() if isinstance(value, bytes) else str(value)).split(" ")
        return float(raw), float(rel)
    except (ValueError, UnicodeDecodeError):
        return None


def _seconds(value: object, *, positive: bool) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return value > 0 if positive else value >= 0


def _glob_escape(text: str) -> str:
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)


def _chunks(seq: Sequence[Any], size: int = _BATCH) -> Iterator[Sequence[Any]]:
    for start in range(0, len(seq), size):
        yield seq[start : start + size]
