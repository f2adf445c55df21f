"""The shared machinery of the hosted rerankers: batching, score validation, :class:`HttpReranker`.

Every HTTP client in :mod:`ragsift.rerank.remote` is an :class:`HttpReranker` that talks through
one :class:`ragsift.http.HttpClient`, the HTTP stack ragsift uses everywhere: explicit timeouts,
one retry policy (backoff with jitter, ``Retry-After``, the retried statuses), one status → typed
error map and an injectable transport (see :mod:`ragsift.http`).

Batching: :func:`batches` splits the documents into chunks of the vendor's cap, each chunk is one
request, and :func:`merge_batches` puts the per-chunk scores back in input order (offset per chunk).
:func:`ordered_scores` validates the ``(index, score)`` pairs of one response.
"""

from __future__ import annotations

import asyncio
import math
from abc import abstractmethod
from typing import Any, Iterable, Sequence, TypeVar

from ragsift.errors import ConfigError
from ragsift.http import ContractViolation, HttpClient
from ragsift.rerank.base import Reranker, Scores

__all__ = [
    "HttpReranker",
    "batches",
    "check_max_batch",
    "clip01",
    "merge_batches",
    "ordered_scores",
]

T = TypeVar("T")


# --------------------------------------------------------------------------------------------
# Batching and response validation
# --------------------------------------------------------------------------------------------


def batches(items: Sequence[T], size: int | None) -> list[tuple[int, Sequence[T]]]:
    """Split ``items`` into ``(offset, chunk)`` pairs of at most ``size`` items (None: one chunk)."""
    if size is None or len(items) <= size:
        return [(0, items)]
    return [(start, items[start : start + size]) for start in range(0, len(items), size)]


def merge_batches(parts: Iterable[tuple[int, Sequence[float]]], total: int) -> list[float]:
    """Scores of each chunk (in chunk order) placed at ``offset + i``; every slot must be filled once."""
    out: list[float | None] = [None] * total
    for offset, scores in parts:
        for i, s in enumerate(scores):
            if out[offset + i] is not None:
                raise ValueError(f"position {offset + i} scored twice while merging batches")
            out[offset + i] = s
    missing = [i for i, s in enumerate(out) if s is None]
    if missing:
        raise ValueError(f"positions {missing[:5]} were not scored while merging batches")
    return out  # type: ignore[return-value]


def _number(value: object, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ContractViolation(f"{where}={value!r} is not a finite number")
    return float(value)


def ordered_scores(pairs: Iterable[tuple[object, object]], n: int, *, field: str = "results") -> list[float]:
    """Validate ``(index, score)`` pairs from one response and return the ``n`` scores in input order.

    Every index must be an integer in ``[0, n)``, appear exactly once, and carry a finite score.
    """
    scores: list[float | None] = [None] * n
    count = 0
    for k, (index, score) in enumerate(pairs):
        count += 1
        if isinstance(index, bool) or not isinstance(index, int):
            raise ContractViolation(f"{field}[{k}].index={index!r} is not an integer")
        if not 0 <= index < n:
            raise ContractViolation(f"{field}[{k}].index={index} is out of range for {n} documents")
        if scores[index] is not None:
            raise ContractViolation(f"{field}[{k}].index={index} appears twice")
        scores[index] = _number(score, f"{field}[{k}] score")
    if count != n:
        raise ContractViolation(f"{count} {field} for {n} documents; expected one per document")
    return scores  # type: ignore[return-value]


# --------------------------------------------------------------------------------------------
# The base class of the HTTP rerankers
# --------------------------------------------------------------------------------------------


def check_max_batch(max_batch: object, *, cap: int | None = None) -> int | None:
    """``max_batch`` must be a positive int (≤ the vendor's hard ``cap`` when there is one) or None."""
    if max_batch is None and cap is None:
        return None
    if isinstance(max_batch, bool) or not isinstance(max_batch, int) or max_batch < 1 or (cap and max_batch > cap):
        allowed = f"an integer in [1, {cap}] (the vendor's per-request cap)" if cap else "a positive integer or None"
        raise ConfigError(f"max_batch={max_batch!r} must be {allowed}")
    return max_batch


class HttpReranker(Reranker):
    """A :class:`Reranker` backed by one HTTP endpoint; subclasses describe the wire format.

    Subclasses implement :meth:`_request` (path and JSON body for one batch), :meth:`_parse` (raw
    scores of one batch, in batch order, raising :class:`ContractViolation` on a bad body) and
    :meth:`_relevance` (raw → normalized score). Batching and the async path are here; timeouts,
    retries and errors are the :class:`~ragsift.http.HttpClient`'s.
    """

    provider: str = "http"

    def __init__(self, http: HttpClient, *, max_batch: int | None, max_concurrency: int = 4):
        if isinstance(max_concurrency, bool) or not isinstance(max_concurrency, int) or max_concurrency < 1:
            raise ConfigError(f"max_concurrency={max_concurrency!r} must be a positive integer (parallel async batches)")
        self._http = http
        self.max_batch = max_batch
        self.max_concurrency = max_concurrency

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, base_url={self._http.base_url!r})"

    @abstractmethod
    def _request(self, query: str, batch: Sequence[str]) -> tuple[str, dict[str, Any]]:
        """Path (relative to base_url, or absolute) and JSON body for one batch."""

    @abstractmethod
    def _parse(self, payload: Any, n: int) -> list[float]:
        """Raw scores of the ``n`` documents of one batch, in batch order."""

    @abstractmethod
    def _relevance(self, raw: float) -> float:
        """The normalized score in [0, 1] for one raw score (see :mod:`ragsift.rerank.base`)."""

    def _parser(self, n: int):
        """The ``parse`` callback of one batch of ``n`` documents (ContractViolation → MalformedResponseError)."""
        return lambda payload: self._parse(payload, n)

    def _scores(self, parts: list[tuple[int, list[float]]], total: int) -> Scores:
        raw = merge_batches(parts, total)
        return Scores(raw=raw, relevance=[self._relevance(r) for r in raw])

    def score(self, query: str, documents: Sequence[str]) -> Scores:
        parts = []
        for offset, batch in batches(documents, self.max_batch):
            path, body = self._request(query, batch)
            parts.append((offset, self._http.post_json(path, body, parse=self._parser(len(batch)))))
        return self._scores(parts, len(documents))

    async def ascore(self, query: str, documents: Sequence[str]) -> Scores:
        """Async :meth:`score`: batches run concurrently, at most ``max_concurrency`` at a time."""
        gate = asyncio.Semaphore(self.max_concurrency)
        async with self._http.async_client() as client:

            async def one(offset: int, batch: Sequence[str]) -> tuple[int, list[float]]:
                path, body = self._request(query, batch)
                async with gate:
                    scores = await self._http.apost_json(path, body, client=client, parse=self._parser(len(batch)))
                return offset, scores

            tasks = [asyncio.ensure_future(one(o, b)) for o, b in batches(documents, self.max_batch)]
            try:
                parts = await asyncio.gather(*tasks)
            except BaseException:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                raise
        return self._scores(list(parts), len(documents))

    def close(self) -> None:
        """Release pooled connections."""
        self._http.close()

    def __enter__(self) -> "HttpReranker":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def clip01(x: float) -> float:
    """A vendor probability clipped into [0, 1]."""
    return 0.0 if x < 0.0 else 1.0 if x > 1.0 else x

