"""Shared machinery of the hosted rerankers: timeouts, retries, one error map, batching.

Every HTTP client in :mod:`ragsift.rerank.remote` is an :class:`HttpReranker` that talks through one
:class:`HttpRerankClient` (STYLE practice 10):

- **explicit timeouts**: ``timeout`` (read/write/pool, default 30 s) and ``connect_timeout``
  (default 5 s), or any :class:`httpx.Timeout`;
- **retries** (``max_retries``, default 3) with exponential backoff and jitter on HTTP 408, 429 and
  5xx (not 501/505), on timeouts and on connection errors; a ``Retry-After`` header (seconds, or an
  HTTP date) replaces the backoff, capped at ``retry_after_max``. A rerank request is idempotent,
  so retrying a timed-out one is safe; the worst case wall time is about
  ``(max_retries + 1) * timeout`` plus the waits;
- **one typed error tree**: :func:`remote_error` is the only place an outcome becomes an exception
  (timeout → RemoteTimeoutError, 429 → RateLimitedError, 5xx/connection → RemoteServerError,
  401/403 → AuthenticationError, other 4xx → RemoteClientError with the vendor's message,
  2xx with a body that breaks the contract → MalformedResponseError). Messages name the provider,
  the method and URL path, the status and what was wrong; credentials are redacted from them and
  are never logged;
- **an injectable transport**: ``transport=httpx.MockTransport(handler)`` (used for both the sync
  and the async client) or any ``httpx.BaseTransport``; ``async_transport`` for the async side.

Batching: :func:`batches` splits the documents into chunks of the vendor's cap, each chunk is one
request, and :func:`merge_batches` puts the per-chunk scores back in input order (offset per chunk).
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import math
import random
import ssl
import threading
import time
from abc import abstractmethod
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache
from typing import Any, Callable, Iterable, Mapping, Sequence, TypeVar

import httpx

from ragsift.errors import (
    AuthenticationError,
    ConfigError,
    MalformedResponseError,
    RateLimitedError,
    RemoteClientError,
    RemoteError,
    RemoteServerError,
    RemoteTimeoutError,
)
from ragsift.rerank.base import Reranker, Scores

__all__ = [
    "ContractViolation",
    "HttpRerankClient",
    "HttpReranker",
    "RetryPolicy",
    "batches",
    "check_base_url",
    "check_max_batch",
    "check_seconds",
    "clip01",
    "field_of",
    "is_retryable_status",
    "list_field",
    "merge_batches",
    "ordered_scores",
    "parse_retry_after",
    "remote_error",
    "vendor_message",
]

log = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_TIMEOUT = 30.0
DEFAULT_CONNECT_TIMEOUT = 5.0
_NOT_RETRYABLE_5XX = frozenset({501, 505})
_MAX_DETAIL = 500


class ContractViolation(ValueError):
    """Raised by a response parser when a 2xx body breaks the vendor's contract (internal)."""


# --------------------------------------------------------------------------------------------
# Retry policy
# --------------------------------------------------------------------------------------------


def check_seconds(name: str, value: object, *, allow_zero: bool = False) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ConfigError(f"{name}={value!r} must be a finite number {bound} (seconds)")
    return float(value)


@dataclass(frozen=True)
class RetryPolicy:
    """When and how long to wait before retrying a failed request.

    The wait before retry ``k`` (0-based) is ``min(backoff_max, backoff_base * 2**k)`` scaled by a
    random factor in [0.5, 1) ("equal jitter"), unless the server sent ``Retry-After``, which is
    honoured up to ``retry_after_max`` seconds.
    """

    max_retries: int = 3
    backoff_base: float = 0.5
    backoff_max: float = 8.0
    retry_after_max: float = 60.0

    def __post_init__(self) -> None:
        if isinstance(self.max_retries, bool) or not isinstance(self.max_retries, int) or self.max_retries < 0:
            raise ConfigError(f"max_retries={self.max_retries!r} must be an integer >= 0 (0 disables retries)")
        check_seconds("backoff_base", self.backoff_base, allow_zero=True)
        check_seconds("backoff_max", self.backoff_max, allow_zero=True)
        check_seconds("retry_after_max", self.retry_after_max, allow_zero=True)

    def delay(self, retry: int, retry_after: float | None = None, *, rand: Callable[[], float] = random.random) -> float:
        """Seconds to wait before retry number ``retry`` (0-based)."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.retry_after_max)
        ceiling = min(self.backoff_max, self.backoff_base * (2**retry))
        return ceiling * (0.5 + 0.5 * rand())


def is_retryable_status(status: int) -> bool:
    """408, 429 and 5xx except 501/505 are transient; everything else is final."""
    return status in (408, 429) or (status >= 500 and status not in _NOT_RETRYABLE_5XX)


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delay-seconds or an HTTP date; None if absent/invalid.

    Fractional seconds are accepted (some gateways send them); negative values and past dates give 0.
    """
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return max(seconds, 0.0) if math.isfinite(seconds) else None
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    now = now or datetime.now(timezone.utc)
    return max((when - now).total_seconds(), 0.0)


# --------------------------------------------------------------------------------------------
# The one outcome → error map
# --------------------------------------------------------------------------------------------


def _redact(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    return text


def _clip(text: str, limit: int = _MAX_DETAIL) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def remote_error(
    provider: str,
    target: str,
    *,
    status: int | None = None,
    detail: str | None = None,
    timeout: bool = False,
    attempts: int = 1,
    status_errors: Mapping[int, type[RemoteError]] | None = None,
    auth_hint: str | None = None,
    secrets: Iterable[str] = (),
) -> RemoteError:
    """Turn the outcome of a remote call into the matching typed :class:`RemoteError`.

    ``target`` is ``"POST /path"``; ``status`` the HTTP status (None when no response arrived);
    ``timeout`` marks a timed-out attempt; ``detail`` says what went wrong (the vendor's message, or
    the contract violation for a 2xx). ``status_errors`` overrides the class for vendor-specific
    statuses (e.g. TEI's 424 "model failed" is a server error). Secrets are redacted.
    """
    tries = f"after {attempts} attempt{'s' if attempts != 1 else ''}"
    what = f": {_clip(detail)}" if detail else ""
    cls: type[RemoteError]
    if timeout:
        cls = RemoteTimeoutError
        msg = f"{provider}: {target} timed out {tries}{what}. Raise timeout= or check the server's load"
    elif status is None:
        cls = RemoteServerError
        msg = f"{provider}: {target} failed to connect or lost the connection {tries}{what}. Check base_url and the network"
    elif 200 <= status < 300:
        cls = MalformedResponseError
        msg = f"{provider}: {target} returned HTTP {status} with a body that breaks the documented contract{what}"
    else:
        if status_errors and status in status_errors:
            cls = status_errors[status]
        elif status == 429:
            cls = RateLimitedError
        elif status in (401, 403):
            cls = AuthenticationError
        elif 400 <= status < 500:
            cls = RemoteClientError
        elif status >= 500:
            cls = RemoteServerError
        else:
            cls = RemoteClientError
            what += " (unexpected status; check base_url)"
        msg = f"{provider}: {target} failed with HTTP {status} {tries}{what}"
        if cls is AuthenticationError and auth_hint:
            msg += f". {auth_hint}"
        elif cls is RateLimitedError:
            msg += ". Lower the request rate or raise max_retries"
    return cls(_redact(msg, secrets), status=status, provider=provider)


def vendor_message(body: bytes) -> str | None:
    """The vendor's error message from an error body, whatever its shape; None when empty.

    Understands ``{"message"}`` (Cohere, AWS), ``{"error": str, "error_type"}`` (TEI),
    ``{"error": {"code", "message", "status"}}`` (Google), ``{"detail": str | [{"loc","msg"}]}``
    (FastAPI-based services: NIM, Jina) and RFC 7807 ``{"title", "detail"}``; any other text is
    returned as is (clipped).
    """
    if not body:
        return None
    try:
        data = json.loads(body)
    except ValueError:
        text = body.decode("utf-8", "replace").strip()
        return _clip(text) if text else None
    msg = _message_from(data)
    return _clip(msg) if msg else _clip(json.dumps(data))


def _message_from(data: Any) -> str | None:
    if isinstance(data, str):
        return data
    if not isinstance(data, dict):
        return None
    err = data.get("error")
    if isinstance(err, dict):
        inner = err.get("message") or err.get("msg")
        status = err.get("status") or err.get("type") or err.get("code")
        if inner:
            return f"{inner} [{status}]" if status else str(inner)
    if isinstance(err, str) and err:
        kind = data.get("error_type") or data.get("type")
        return f"{err} [{kind}]" if kind else err
    for key in ("message", "msg"):
        if isinstance(data.get(key), str) and data[key]:
            return data[key]
    detail = data.get("detail")
    if isinstance(detail, str) and detail:
        title = data.get("title")
        return f"{title}: {detail}" if isinstance(title, str) and title else detail
    if isinstance(detail, list) and detail:
        parts = []
        for item in detail:
            if isinstance(item, dict):
                loc = ".".join(str(p) for p in item.get("loc", []) if p != "body")
                parts.append(f"{loc}: {item.get('msg', item)}" if loc else str(item.get("msg", item)))
            else:
                parts.append(str(item))
        return "; ".join(parts)
    if isinstance(data.get("title"), str):
        return data["title"]
    return None


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


def field_of(item: object, key: str, where: str) -> object:
    """``item[key]`` for a JSON object, or a ContractViolation naming what is missing."""
    if not isinstance(item, dict):
        raise ContractViolation(f"{where} is a {type(item).__name__}, expected an object")
    if key not in item:
        raise ContractViolation(f"{where} has no {key!r} field")
    return item[key]


def list_field(payload: object, key: str) -> list:
    """``payload[key]`` that must be a JSON list."""
    value = field_of(payload, key, "the response")
    if not isinstance(value, list):
        raise ContractViolation(f"{key!r} is a {type(value).__name__}, expected a list")
    return value


# --------------------------------------------------------------------------------------------
# The HTTP client
# --------------------------------------------------------------------------------------------

AuthHeaders = Callable[[], Mapping[str, str]]


def check_base_url(base_url: object) -> str:
    if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
        raise ConfigError(f"base_url={base_url!r} must be an http:// or https:// URL (e.g. 'http://localhost:8000')")
    return base_url.rstrip("/")


@lru_cache(maxsize=1)
def _shared_ssl_context() -> ssl.SSLContext:
    """httpx's default verifying context, built once: loading the CA bundle costs ~40 ms per client."""
    return httpx.create_ssl_context()


def _make_timeout(timeout: float | httpx.Timeout, connect_timeout: float) -> httpx.Timeout:
    if isinstance(timeout, httpx.Timeout):
        return timeout
    t = check_seconds("timeout", timeout)
    c = check_seconds("connect_timeout", connect_timeout)
    return httpx.Timeout(t, connect=min(c, t))


class HttpRerankClient:
    """POST JSON to one vendor with timeouts, retries and typed errors.

    Options: ``timeout`` (seconds or an :class:`httpx.Timeout`), ``connect_timeout``,
    ``max_retries``, ``backoff_base``/``backoff_max``/``retry_after_max`` (see :class:`RetryPolicy`),
    ``transport``/``async_transport`` (injectable, e.g. :class:`httpx.MockTransport`), ``verify``
    (TLS verification: True uses one shared default context, or pass an :class:`ssl.SSLContext`).
    ``auth`` returns the credential headers for each attempt (so short-lived tokens can be
    refreshed); their values are redacted from every error message and never logged.
    ``status_errors`` maps vendor-specific statuses to error classes.
    """

    def __init__(
        self,
        provider: str,
        base_url: str,
        *,
        auth: AuthHeaders | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        max_retries: int = 3,
        backoff_base: float = 0.5,
        backoff_max: float = 8.0,
        retry_after_max: float = 60.0,
        transport: httpx.BaseTransport | None = None,
        async_transport: httpx.AsyncBaseTransport | None = None,
        verify: bool | ssl.SSLContext = True,
        status_errors: Mapping[int, type[RemoteError]] | None = None,
        auth_hint: str | None = None,
    ):
        self.provider = provider
        self.base_url = check_base_url(base_url)
        self.timeout = _make_timeout(timeout, connect_timeout)
        self.retry = RetryPolicy(max_retries, backoff_base, backoff_max, retry_after_max)
        self._auth = auth or (lambda: {})
        self._headers = {"Accept": "application/json", "User-Agent": "ragsift", **(headers or {})}
        self._transport = transport
        self._async_transport = async_transport
        self._verify = verify
        self._status_errors = dict(status_errors or {})
        self._auth_hint = auth_hint
        self._client: httpx.Client | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:  # never shows credentials
        return f"{type(self).__name__}({self.provider!r}, {self.base_url!r}, max_retries={self.retry.max_retries})"

    # -- plumbing ------------------------------------------------------------------------------

    def url_for(self, path: str) -> str:
        """``path`` appended to ``base_url`` ('' means base_url itself); absolute URLs pass through."""
        if path.startswith(("http://", "https://")):
            return path
        return self.base_url + path

    def target(self, path: str) -> str:
        return f"POST {httpx.URL(self.url_for(path)).path}"

    def _request_headers(self) -> tuple[dict[str, str], list[str]]:
        auth = dict(self._auth())
        secrets = []
        for value in auth.values():
            secrets.append(value)
            if " " in value:
                secrets.append(value.split(" ", 1)[1])
        return {**self._headers, **auth}, secrets

    def _tls(self) -> bool | ssl.SSLContext:
        return _shared_ssl_context() if self._verify is True else self._verify

    def _sync_client(self) -> httpx.Client:
        with self._lock:
            if self._client is None:
                self._client = httpx.Client(timeout=self.timeout, transport=self._transport, verify=self._tls())
            return self._client

    def async_client(self) -> httpx.AsyncClient:
        """A new :class:`httpx.AsyncClient` with this client's timeout, transport and TLS settings."""
        transport = self._async_transport
        if transport is None and isinstance(self._transport, httpx.AsyncBaseTransport):
            transport = self._transport  # MockTransport serves both sides
        return httpx.AsyncClient(timeout=self.timeout, transport=transport, verify=self._tls())

    def close(self) -> None:
        """Close the pooled sync connections (the client reopens them on the next call)."""
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    def error(self, target: str, **kw: Any) -> RemoteError:
        """:func:`remote_error` with this client's provider, overrides, hint and secrets."""
        _, secrets = self._request_headers()
        return remote_error(
            self.provider, target, status_errors=self._status_errors, auth_hint=self._auth_hint, secrets=secrets, **kw
        )

    def _common(self, attempt: int, secrets: list[str]) -> dict[str, Any]:
        return dict(status_errors=self._status_errors, auth_hint=self._auth_hint, secrets=secrets, attempts=attempt + 1)

    def _transport_failure(self, target: str, attempt: int, secrets: list[str], exc: httpx.TransportError):
        """(error, retryable, None) for an attempt that got no response: timeout or connection failure."""
        is_timeout = isinstance(exc, httpx.TimeoutException)
        retryable = isinstance(exc, (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError))
        detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        err = remote_error(self.provider, target, timeout=is_timeout, detail=detail, **self._common(attempt, secrets))
        return err, retryable, None

    def _status_failure(self, target: str, attempt: int, secrets: list[str], response: httpx.Response):
        """(error, retryable, Retry-After seconds) for a non-2xx response."""
        status = response.status_code
        detail = vendor_message(response.content)
        err = remote_error(self.provider, target, status=status, detail=detail, **self._common(attempt, secrets))
        return err, is_retryable_status(status), parse_retry_after(response.headers.get("retry-after"))

    def _decode(self, target: str, response: httpx.Response, secrets: list[str]) -> Any:
        try:
            return json.loads(response.content)
        except ValueError:
            kind = response.headers.get("content-type", "no content-type")
            snippet = response.content[:120].decode("utf-8", "replace")
            raise remote_error(
                self.provider, target, status=response.status_code, secrets=secrets,
                detail=f"body is not JSON ({kind}): {snippet!r}",
            ) from None

    def _log_retry(self, target: str, err: RemoteError, attempt: int, wait: float) -> None:
        log.info(
            "%s: %s failed (%s, status=%s); retry %d/%d in %.2fs",
            self.provider, target, type(err).__name__, err.status, attempt + 1, self.retry.max_retries, wait,
        )

    # -- calls ---------------------------------------------------------------------------------

    def post_json(self, path: str, body: Mapping[str, Any]) -> Any:
        """POST ``body`` as JSON and return the decoded 2xx JSON body, retrying transient failures."""
        url, target = self.url_for(path), self.target(path)
        client = self._sync_client()
        for attempt in range(self.retry.max_retries + 1):
            headers, secrets = self._request_headers()
            try:
                response = client.post(url, json=body, headers=headers)
            except httpx.TransportError as exc:
                err, retryable, after = self._transport_failure(target, attempt, secrets, exc)
                cause: Exception | None = exc
            else:
                if response.is_success:
                    return self._decode(target, response, secrets)
                err, retryable, after = self._status_failure(target, attempt, secrets, response)
                cause = None
            if not retryable or attempt == self.retry.max_retries:
                raise err from cause
            wait = self.retry.delay(attempt, after)
            self._log_retry(target, err, attempt, wait)
            time.sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover

    async def apost_json(self, path: str, body: Mapping[str, Any], *, client: httpx.AsyncClient | None = None) -> Any:
        """Async :meth:`post_json` on ``client`` (or a short-lived :class:`httpx.AsyncClient`)."""
        if client is None:
            async with self.async_client() as owned:
                return await self.apost_json(path, body, client=owned)
        url, target = self.url_for(path), self.target(path)
        for attempt in range(self.retry.max_retries + 1):
            headers, secrets = self._request_headers()
            try:
                response = await client.post(url, json=body, headers=headers)
            except httpx.TransportError as exc:
                err, retryable, after = self._transport_failure(target, attempt, secrets, exc)
                cause: Exception | None = exc
            else:
                if response.is_success:
                    return self._decode(target, response, secrets)
                err, retryable, after = self._status_failure(target, attempt, secrets, response)
                cause = None
            if not retryable or attempt == self.retry.max_retries:
                raise err from cause
            wait = self.retry.delay(attempt, after)
            self._log_retry(target, err, attempt, wait)
            await asyncio.sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover


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
    :meth:`_relevance` (raw → normalized score). Batching, retries, the async path and errors are here.
    """

    provider: str = "http"

    def __init__(self, http: HttpRerankClient, *, max_batch: int | None, max_concurrency: int = 4):
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

    def _parsed(self, path: str, payload: Any, n: int) -> list[float]:
        try:
            return self._parse(payload, n)
        except ContractViolation as exc:
            raise self._http.error(self._http.target(path), status=200, detail=str(exc)) from None

    def _scores(self, parts: list[tuple[int, list[float]]], total: int) -> Scores:
        raw = merge_batches(parts, total)
        return Scores(raw=raw, relevance=[self._relevance(r) for r in raw])

    def score(self, query: str, documents: Sequence[str]) -> Scores:
        parts = []
        for offset, batch in batches(documents, self.max_batch):
            path, body = self._request(query, batch)
            parts.append((offset, self._parsed(path, self._http.post_json(path, body), len(batch))))
        return self._scores(parts, len(documents))

    async def ascore(self, query: str, documents: Sequence[str]) -> Scores:
        """Async :meth:`score`: batches run concurrently, at most ``max_concurrency`` at a time."""
        gate = asyncio.Semaphore(self.max_concurrency)
        async with self._http.async_client() as client:

            async def one(offset: int, batch: Sequence[str]) -> tuple[int, list[float]]:
                path, body = self._request(query, batch)
                async with gate:
                    payload = await self._http.apost_json(path, body, client=client)
                return offset, self._parsed(path, payload, len(batch))

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

