"""Rerank score cache: scores keyed by ``sha256(model + "\\x00" + query + "\\x00" + passage)``.

Reranking the same (query, passage) pair with the same model gives the same score, and pipelines
ask for it again and again (paginated results, repeated queries, evaluation grids). Three stores:

- :class:`MemoryCache` — per process, LRU + TTL, thread-safe;
- :class:`SQLiteCache` — one file shared by threads and processes (WAL mode), LRU + TTL;
- :class:`~ragsift.rerank.redis_cache.RedisCache` — one Redis (or Valkey, managed Redis, Redis
  Cluster) shared by every process and replica, TTL (``ragsift[redis]``).

All answer ``get_many(keys) -> {key: (raw, relevance)}`` and ``put_many(items)`` in one batch,
``clear()``, ``ping() -> bool`` (the store answers) and
``stats() -> {"hits", "misses", "size", "hit_ratio"}`` (counters are per cache object, so per
process).

:class:`CachedReranker` puts a cache in front of any reranker whose scores are pointwise: it looks
up every document at once, sends only the misses to the wrapped reranker (once each, in input
order), stores their scores and merges. ``score_many`` does the same for several requests with
one lookup and one write, and passes the misses of every request to the wrapped reranker's
``score_many`` in one call (so the cross-encoder still runs them in shared forward passes).
Rerankers whose score depends on the whole candidate list (the first-stage identity, listwise
LLM ranking) declare ``cacheable = False`` and are refused.

Degraded mode: when the store fails (a locked or corrupt SQLite file, a full disk, an unreachable
Redis), ``CachedReranker`` counts it in ``errors`` and scores without the cache (every lookup is a
miss). It logs a WARNING for the first failure of each operation (read, write), then at most one
per ``warn_interval`` seconds with the number of failures in between, and an INFO line once the
store answers again. With ``strict=True`` it raises :class:`~ragsift.errors.RagsiftError` instead.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import os
import sqlite3
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol, Union

from ragsift.config import CacheKind, CacheSpec
from ragsift.errors import BadInputError, ConfigError, RagsiftError
from ragsift.rerank.base import Reranker, ScoreOutcome, ScoreRequest, Scores

__all__ = ["cache_key", "ScoreCache", "MemoryCache", "SQLiteCache", "CachedReranker", "open_cache"]

logger = logging.getLogger(__name__)

Entry = tuple[float, float]
Items = Union[Mapping[str, Entry], Iterable[tuple[str, Entry]]]

#: Errors of a cache store that put :class:`CachedReranker` in its degraded (uncached) mode
#: (the Redis store raises :class:`ConnectionError`, an OSError).
CACHE_ERRORS: tuple[type[BaseException], ...] = (sqlite3.Error, OSError)

_CHUNK = 500  # keys per SQL statement, well under SQLite's bound-parameter limit


def cache_key(model: str, query: str, passage: str) -> str:
    """Hex ``sha256(model + "\\x00" + query + "\\x00" + passage)`` (UTF-8)."""
    data = f"{model}\x00{query}\x00{passage}".encode("utf-8", "surrogatepass")
    return hashlib.sha256(data).hexdigest()


class ScoreCache(Protocol):
    """What :class:`CachedReranker` needs from a store."""

    def get_many(self, keys: Sequence[str]) -> dict[str, Entry]: ...

    def put_many(self, items: Items) -> None: ...


def _check_limits(maxsize: object, ttl: object) -> None:
    if isinstance(maxsize, bool) or not isinstance(maxsize, int) or maxsize < 1:
        raise ConfigError(f"maxsize={maxsize!r} must be a positive integer (the number of cached scores)")
    if ttl is not None and (isinstance(ttl, bool) or not isinstance(ttl, (int, float)) or not ttl > 0):
        raise ConfigError(f"ttl={ttl!r} must be a positive number of seconds, or None for entries that never expire")


def _pairs(items: Items) -> list[tuple[str, float, float]]:
    pairs = items.items() if isinstance(items, Mapping) else items
    return [(key, float(raw), float(rel)) for key, (raw, rel) in pairs]


def _stats(hits: int, misses: int, size: int) -> dict:
    total = hits + misses
    return {"hits": hits, "misses": misses, "size": size, "hit_ratio": hits / total if total else 0.0}


class MemoryCache:
    """In-process LRU cache with a time-to-live, safe to share between threads.

    ``clock`` (default :func:`time.monotonic`) is injectable so tests can expire entries.
    """

    def __init__(
        self, maxsize: int = 100_000, ttl: float | None = 3600, *, clock: Callable[[], float] = time.monotonic
    ):
        _check_limits(maxsize, ttl)
        self.maxsize = maxsize
        self.ttl = ttl
        self._clock = clock
        self._data: OrderedDict[str, tuple[float, float, float]] = OrderedDict()
        self._lock = threading.Lock()
        self._hits = 0
        self._misses = 0

    def get_many(self, keys: Sequence[str]) -> dict[str, Entry]:
        """Cached ``(raw, relevance)`` for the keys present and fresh; a hit becomes most recent."""
        now = self._clock()
        found: dict[str, Entry] = {}
        with self._lock:
            for key in keys:
                entry = self._data.get(key)
                if entry is not None and entry[2] <= now:
                    del self._data[key]
                    entry = None
                if entry is None:
                    self._misses += 1
                    continue
                self._hits += 1
                self._data.move_to_end(key)
                found[key] = (entry[0], entry[1])
        return found

    def put_many(self, items: Items) -> None:
        """Store ``{key: (raw, relevance)}``; the least recently used entries go beyond ``maxsize``."""
        pairs = _pairs(items)
        expires = self._clock() + self.ttl if self.ttl is not None else math.inf
        with self._lock:
            for key, raw, rel in pairs:
                self._data[key] = (raw, rel, expires)
                self._data.move_to_end(key)
            while len(self._data) > self.maxsize:
                self._data.popitem(last=False)

    def clear(self) -> None:
        """Remove every entry and reset the counters."""
        with self._lock:
            self._data.clear()
            self._hits = self._misses = 0

    def stats(self) -> dict:
        """``hits``, ``misses``, ``size`` (entries stored; expired ones go lazily) and ``hit_ratio``."""
        with self._lock:
            return _stats(self._hits, self._misses, len(self._data))

    def ping(self) -> bool:
        """Always True: the store is this process's memory."""
        return True

    def __len__(self) -> int:
        return len(self._data)


_SCHEMA = """
CREATE TABLE IF NOT EXISTS rerank_cache (
    key TEXT PRIMARY KEY,
    raw REAL NOT NULL,
    relevance REAL NOT NULL,
    expires REAL,
    last_used REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS rerank_cache_last_used ON rerank_cache (last_used);
CREATE INDEX IF NOT EXISTS rerank_cache_expires ON rerank_cache (expires);
"""


def _chunks(seq: Sequence[str], size: int = _CHUNK) -> Iterator[Sequence[str]]:
    for start in range(0, len(seq), size):
        yield seq[start : start + size]


class SQLiteCache:
    """Persistent LRU + TTL cache in one SQLite file, shared by threads and processes.

    The file is in WAL mode, so readers in other processes do not block; each batch is one
    transaction. Rows that expired, then the least recently used rows beyond ``maxsize``, are
    deleted on every write. ``clock`` defaults to wall time (:func:`time.time`) because expiry times
    are shared with other processes. One connection per cache object, guarded by a lock, reopened
    after a ``fork``; ``timeout`` is how long to wait for another process's write lock.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        ttl: float | None = 3600,
        maxsize: int = 1_000_000,
        *,
        clock: Callable[[], float] = time.time,
        timeout: float = 30.0,
    ):
        _check_limits(maxsize, ttl)
        self.path = str(path)
        self.ttl = ttl
        self.maxsize = maxsize
        self.timeout = timeout
        self._clock = clock
        self._lock = threading.RLock()
        self._conn: sqlite3.Connection | None = None
        self._pid = 0
        self._hits = 0
        self._misses = 0
        try:
            self._connection()
        except sqlite3.Error as exc:
            raise ConfigError(
                f"cache path={self.path!r} cannot be used as a SQLite database ({exc}); pass a writable file path"
            ) from exc

    def _connection(self) -> sqlite3.Connection:
        if self._conn is not None and self._pid == os.getpid():
            return self._conn
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None, check_same_thread=False)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.executescript(_SCHEMA)
        except sqlite3.Error:
            conn.close()
            raise
        self._conn, self._pid = conn, os.getpid()
        return conn

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            conn = self._connection()
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def get_many(self, keys: Sequence[str]) -> dict[str, Entry]:
        """Cached ``(raw, relevance)`` for the keys present and fresh; hits get a new ``last_used``."""
        if not keys:
            return {}
        unique = list(dict.fromkeys(keys))
        now = self._clock()
        rows: dict[str, Entry] = {}
        with self._transaction() as conn:
            for chunk in _chunks(unique):
                marks = ",".join("?" * len(chunk))
                sql = f"SELECT key, raw, relevance, expires FROM rerank_cache WHERE key IN ({marks})"
                for key, raw, rel, expires in conn.execute(sql, chunk):
                    if expires is None or expires > now:
                        rows[key] = (raw, rel)
            for chunk in _chunks(list(rows)):
                marks = ",".join("?" * len(chunk))
                conn.execute(f"UPDATE rerank_cache SET last_used = ? WHERE key IN ({marks})", [now, *chunk])
        hits = sum(1 for key in keys if key in rows)
        with self._lock:
            self._hits += hits
            self._misses += len(keys) - hits
        return {key: rows[key] for key in unique if key in rows}

    def put_many(self, items: Items) -> None:
        """Store ``{key: (raw, relevance)}`` in one transaction, then evict expired and LRU rows."""
        pairs = _pairs(items)
        if not pairs:
            return
        now = self._clock()
        expires = now + self.ttl if self.ttl is not None else None
        rows = [(key, raw, rel, expires, now) for key, raw, rel in pairs]
        with self._transaction() as conn:
            conn.executemany("INSERT OR REPLACE INTO rerank_cache VALUES (?, ?, ?, ?, ?)", rows)
            self._evict(conn, now)

    def _evict(self, conn: sqlite3.Connection, now: float) -> None:
        conn.execute("DELETE FROM rerank_cache WHERE expires <= ?", (now,))
        (size,) = conn.execute("SELECT COUNT(*) FROM rerank_cache").fetchone()
        if size > self.maxsize:
            conn.execute(
                "DELETE FROM rerank_cache WHERE key IN "
                "(SELECT key FROM rerank_cache ORDER BY last_used, rowid LIMIT ?)",
                (size - self.maxsize,),
            )

    def clear(self) -> None:
        """Remove every row (for every process sharing the file) and reset this object's counters."""
        with self._transaction() as conn:
            conn.execute("DELETE FROM rerank_cache")
            self._hits = self._misses = 0

    def stats(self) -> dict:
        """``hits`` and ``misses`` of this object, ``size`` (fresh rows in the file), ``hit_ratio``."""
        with self._lock:
            conn = self._connection()
            (size,) = conn.execute(
                "SELECT COUNT(*) FROM rerank_cache WHERE expires IS NULL OR expires > ?", (self._clock(),)
            ).fetchone()
            return _stats(self._hits, self._misses, size)

    def ping(self) -> bool:
        """True when the file answers a query."""
        try:
            with self._lock:
                self._connection().execute("SELECT 1").fetchone()
        except CACHE_ERRORS:
            return False
        return True

    def close(self) -> None:
        """Close the connection (a later call reopens it)."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __enter__(self) -> "SQLiteCache":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_cache(spec: CacheSpec) -> ScoreCache | None:
    """The store a parsed cache setting names (None for ``off``).

    An invalid limit raises ConfigError naming the settings it came from (``RERANKER_CACHE_TTL``...).
    Redis takes no ``maxsize``: its ``maxmemory`` policy bounds it. Opening a Redis cache does not
    connect (the first lookup does).
    """
    if spec.kind is CacheKind.OFF:
        return None
    limits = {k: v for k, v in (("ttl", spec.ttl), ("maxsize", spec.maxsize)) if v is not None}
    try:
        if spec.kind is CacheKind.MEMORY:
            return MemoryCache(**limits)
        if spec.kind is CacheKind.REDIS:
            return _redis_cache(spec.url, limits)  # type: ignore[arg-type]
        return SQLiteCache(spec.path, **limits)  # type: ignore[arg-type]
    except ConfigError as exc:
        raise ConfigError(f"{exc} (from {', '.join(spec.sources)})") from None


def _redis_cache(url: str, limits: dict) -> ScoreCache:
    if "maxsize" in limits:
        raise ConfigError(
            f"maxsize={limits['maxsize']!r} does not apply to a Redis cache: Redis bounds its memory itself "
            "(maxmemory with an allkeys-lru or volatile-ttl policy); unset it and size Redis instead"
        )
    from ragsift.rerank.redis_cache import RedisCache

    return RedisCache(url, **limits)


class CachedReranker(Reranker):
    """A :class:`Reranker` that asks ``inner`` only for the (query, passage) pairs not in ``cache``.

    Keys include ``inner.name`` and, when it declares one, ``inner.model_version``
    (:attr:`model_key`), so two models never share scores. ``strict`` chooses what a failing store
    does: ``False`` (default) counts it in ``errors`` and scores without the cache, with a WARNING
    at most once per ``warn_interval`` seconds and operation; ``True`` raises
    :class:`~ragsift.errors.RagsiftError`.
    """

    def __init__(self, inner: Reranker, cache: ScoreCache, *, strict: bool = False, warn_interval: float = 60.0):
        if not isinstance(inner, Reranker):
            raise ConfigError(f"inner={inner!r} must be a Reranker instance")
        if not inner.cacheable:
            raise ConfigError(
                f"reranker {inner.name!r} ({type(inner).__name__}) cannot be cached: its scores depend on the "
                "whole candidate list, not on each (query, passage) pair; use it without a cache"
            )
        missing = [m for m in ("get_many", "put_many") if not callable(getattr(cache, m, None))]
        if missing:
            raise ConfigError(
                f"cache={cache!r} lacks {', '.join(missing)}; pass a MemoryCache, SQLiteCache or RedisCache"
            )
        self.inner = inner
        self.cache = cache
        self.strict = strict
        if isinstance(warn_interval, bool) or not isinstance(warn_interval, (int, float)) or warn_interval < 0:
            raise ConfigError(f"warn_interval={warn_interval!r} must be a number of seconds >= 0")
        self.warn_interval = warn_interval
        self.errors = 0
        self._lock = threading.Lock()
        self._warned: dict[str, float] = {}  # op -> monotonic time of its last WARNING
        self._quiet: dict[str, int] = {}  # op -> failures not logged since that WARNING
        self._failing: set[str] = set()  # ops whose last attempt failed

    @property  # type: ignore[override]
    def name(self) -> str:
        return self.inner.name

    @property
    def model_key(self) -> str:
        """The model part of the cache keys: ``name``, or ``name@model_version`` when the version is known."""
        version = self.inner.model_version
        return f"{self.name}@{version}" if version else self.name

    def warm_up(self) -> None:
        self.inner.warm_up()

    def score(self, query: str, documents: Sequence[str]) -> Scores:
        keys = [cache_key(self.model_key, query, doc) for doc in documents]
        found = self._lookup(keys)
        missing = _missing(keys, documents, found)
        if missing:
            try:
                fresh = self.inner.score(query, list(missing.values()))
            except BadInputError:
                if len(missing) < len(documents):  # its index counts the misses: name the request's passage
                    self.inner.score(query, list(documents))
                raise
            self._store(found, list(missing), fresh)
        return _merge(keys, found)

    def score_many(
        self, requests: Sequence[ScoreRequest], *, return_exceptions: bool = False
    ) -> list[ScoreOutcome]:
        """:meth:`score` for several requests: one lookup, the misses of all in one ``inner.score_many``
        call, one write. A request the wrapped reranker fails on gets its error (``return_exceptions``)."""
        batch = [(query, list(documents)) for query, documents in requests]
        keys = [[cache_key(self.model_key, query, doc) for doc in docs] for query, docs in batch]
        found = self._lookup([key for request_keys in keys for key in request_keys])
        missing = {i: _missing(keys[i], docs, found) for i, (_, docs) in enumerate(batch)}
        missing = {i: m for i, m in missing.items() if m}
        results: list[ScoreOutcome | None] = [None] * len(batch)
        if missing:
            fresh = self.inner.score_many(
                [(batch[i][0], list(m.values())) for i, m in missing.items()], return_exceptions=return_exceptions
            )
            new: dict[str, Entry] = {}
            for (i, m), scores in zip(missing.items(), fresh):
                if isinstance(scores, BaseException):
                    results[i] = self._request_error(scores, batch[i], len(m))
                    continue
                try:
                    new.update(self._entries(list(m), scores))
                except ConfigError as exc:
                    if not return_exceptions:
                        raise
                    results[i] = exc
            found.update(new)
            self._put(new)
        for i, request_keys in enumerate(keys):
            if results[i] is None:
                results[i] = _merge(request_keys, found)
        return results  # type: ignore[return-value]

    def _request_error(self, error: BaseException, request: tuple[str, list[str]], misses: int) -> BaseException:
        """``error`` of a request whose misses alone were scored; bad input is re-found on the whole request,
        so its passage index counts the request's passages, not the misses."""
        query, documents = request
        if not isinstance(error, BadInputError) or misses == len(documents):
            return error
        try:
            self.inner.score(query, documents)
        except BadInputError as exc:
            return exc
        return error

    async def ascore(self, query: str, documents: Sequence[str]) -> Scores:
        """Async :meth:`score` that uses the wrapped reranker's own ``ascore`` for the misses."""
        keys = [cache_key(self.model_key, query, doc) for doc in documents]
        found = await asyncio.to_thread(self._lookup, keys)
        missing = _missing(keys, documents, found)
        if missing:
            fresh = await self.inner.ascore(query, list(missing.values()))
            await asyncio.to_thread(self._store, found, list(missing), fresh)
        return _merge(keys, found)

    def _lookup(self, keys: list[str]) -> dict[str, Entry]:
        try:
            found = dict(self.cache.get_many(list(dict.fromkeys(keys))))
        except CACHE_ERRORS as exc:
            self._degrade("read", exc)
            return {}
        self._recovered("read")
        return found

    def _store(self, found: dict[str, Entry], keys: list[str], fresh: Scores) -> None:
        new = self._entries(keys, fresh)
        found.update(new)
        self._put(new)

    def _entries(self, keys: list[str], fresh: Scores) -> dict[str, Entry]:
        """``{key: (raw, relevance)}`` of freshly scored documents; ConfigError on a count mismatch."""
        if len(fresh.raw) != len(keys) or len(fresh.relevance) != len(keys):
            raise ConfigError(
                f"reranker {self.name!r} returned {len(fresh.raw)} raw and {len(fresh.relevance)} normalized "
                f"scores for {len(keys)} documents"
            )
        return {key: (float(fresh.raw[i]), float(fresh.relevance[i])) for i, key in enumerate(keys)}

    def _put(self, new: dict[str, Entry]) -> None:
        if not new:
            return
        try:
            self.cache.put_many(new)
        except CACHE_ERRORS as exc:
            self._degrade("write", exc)
            return
        self._recovered("write")

    def _degrade(self, op: str, exc: BaseException) -> None:
        if self.strict:
            raise RagsiftError(f"rerank cache {op} failed for {self.name!r}: {type(exc).__name__}: {exc}") from exc
        now = time.monotonic()
        with self._lock:
            self.errors += 1
            self._failing.add(op)
            last = self._warned.get(op)
            if last is not None and now - last < self.warn_interval:
                self._quiet[op] = self._quiet.get(op, 0) + 1
                return
            self._warned[op] = now
            quiet = self._quiet.pop(op, 0)
        since = f"; {quiet} more failure(s) since the last warning" if quiet else ""
        logger.warning(
            "rerank cache %s failed for %r (%s: %s); scoring without the cache%s",
            op, self.name, type(exc).__name__, exc, since,
        )

    def _recovered(self, op: str) -> None:
        if op not in self._failing:  # the common path: no lock
            return
        with self._lock:
            if op not in self._failing:
                return
            self._failing.discard(op)
        logger.info("rerank cache %s works again for %r", op, self.name)


def _missing(keys: list[str], documents: Sequence[str], found: Mapping[str, Entry]) -> dict[str, str]:
    """Documents to score, once per key, in input order."""
    missing: dict[str, str] = {}
    for key, doc in zip(keys, documents):
        if key not in found and key not in missing:
            missing[key] = doc
    return missing


def _merge(keys: list[str], found: Mapping[str, Entry]) -> Scores:
    return Scores(raw=[found[k][0] for k in keys], relevance=[found[k][1] for k in keys])
