"""The one HTTP client stack: timeouts, one retry policy, one status → error map, JSON in and out.

Every JSON-over-HTTP call ragsift makes goes through :class:`HttpClient`: the hosted rerankers
(:mod:`ragsift.rerank.remote`), the LLM reranker and the LLM judge (through
:class:`ragsift.rerank.llm.client.ChatClient`), and the hosted embedders. STYLE practice 10:

- **explicit timeouts**: ``timeout`` (read/write/pool, default 30 s) and ``connect_timeout``
  (default 5 s, never more than ``timeout``), or any :class:`httpx.Timeout`. The worst-case wall
  time of one call is about ``(max_retries + 1) * timeout`` plus the waits;
- **one retry policy** (:class:`RetryPolicy`): up to ``max_retries`` (default 3) retries after a
  retried status (:data:`RETRIED_STATUSES`: 408, 429, 500, 502, 503, 504), a timeout or a
  connection error. Every other status is final: 501 (not implemented) and 505 (HTTP version not
  supported) and the other 5xx say the request will never succeed as sent. The wait before retry
  ``k`` (0-based) is ``min(backoff_max, backoff_base * 2**k)`` times a random factor in [0.5, 1)
  ("equal jitter"); a ``Retry-After`` header (delay-seconds or an HTTP date) replaces it, capped
  at ``retry_after_max``. The requests sent are idempotent (scoring, chat completions at a fixed
  temperature), so retrying a timed-out one is safe;
- **one typed error map** (:func:`remote_error`, the only place an outcome becomes an exception):

  ========================================  ===============================  =========
  outcome (after the retries)               error                            retried
  ========================================  ===============================  =========
  no answer within the timeout, HTTP 408    :class:`RemoteTimeoutError`      yes
  connection failed or lost                 :class:`RemoteServerError`       yes
  HTTP 429                                  :class:`RateLimitedError`        yes
  HTTP 500, 502, 503, 504                   :class:`RemoteServerError`       yes
  other HTTP 5xx (501, 505, …)              :class:`RemoteServerError`       no
  HTTP 401 / 403                            :class:`AuthenticationError`     no
  other HTTP 4xx, 3xx                       :class:`RemoteClientError`       no
  2xx whose body breaks the contract        :class:`MalformedResponseError`  no
  ========================================  ===============================  =========

  ``status_errors`` overrides the class for a vendor's own statuses (TEI's 424 "model failed" is
  a server error). Messages name the provider, the method and URL path, the status, the number of
  attempts and the vendor's message (:func:`vendor_message`); credentials are redacted from them
  and never logged;
- **an injectable transport**: ``transport=httpx.MockTransport(handler)`` (serves the sync and the
  async side) or any ``httpx.BaseTransport``; ``async_transport`` for the async side alone.

Sync and async share one retry loop: :meth:`HttpClient._attempts` is a generator that decides
(send these headers / wait this long / return the body / raise this error) without doing I/O;
:meth:`HttpClient.post_json` and :meth:`HttpClient.apost_json` only carry out its steps.
:meth:`HttpClient.astream_lines` shares it too, for streamed answers (server-sent events): the
attempts before the first byte of a 2xx answer are retried the same way; once the body streams,
a lost connection or a read past ``timeout`` is raised as its typed error (not retried: part of
the answer has been delivered).
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import json
import logging
import math
import random
import ssl
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache
from typing import Any, AsyncIterator, Callable, Generator, Iterable, Mapping

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

__all__ = [
    "RETRIED_STATUSES",
    "ContractViolation",
    "HttpClient",
    "RetryPolicy",
    "check_base_url",
    "check_seconds",
    "field_of",
    "is_retryable_status",
    "list_field",
    "parse_retry_after",
    "remote_error",
    "vendor_message",
]

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 30.0
DEFAULT_CONNECT_TIMEOUT = 5.0
#: The statuses that are retried: the request may succeed unchanged a little later.
RETRIED_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
_MAX_DETAIL = 500


class ContractViolation(ValueError):
    """Raised by a response parser when a 2xx body breaks the service's contract.

    :class:`HttpClient` turns it into a :class:`MalformedResponseError` naming the provider and path.
    """


# --------------------------------------------------------------------------------------------
# Retry policy
# --------------------------------------------------------------------------------------------


def check_seconds(name: str, value: object, *, allow_zero: bool = False) -> float:
    """``value`` as float seconds, or a ConfigError naming ``name`` when it is not finite and > 0 (≥ 0)."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ConfigError(f"{name}={value!r} must be a finite number {bound} (seconds)")
    return float(value)


@dataclass(frozen=True)
class RetryPolicy:
    """How many times to retry and how long to wait before each retry (see the module docstring).

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
    """True for the transient statuses of :data:`RETRIED_STATUSES`; every other status is final."""
    return status in RETRIED_STATUSES


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


def _status_class(status: int, overrides: Mapping[int, type[RemoteError]] | None) -> type[RemoteError]:
    if overrides and status in overrides:
        return overrides[status]
    if status == 408:
        return RemoteTimeoutError
    if status == 429:
        return RateLimitedError
    if status in (401, 403):
        return AuthenticationError
    if status >= 500:
        return RemoteServerError
    return RemoteClientError


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
        cls = _status_class(status, status_errors)
        if status < 400:
            what += " (unexpected status; check base_url)"
        msg = f"{provider}: {target} failed with HTTP {status} {tries}{what}"
        if cls is AuthenticationError and auth_hint:
            msg += f". {auth_hint}"
        elif cls is RateLimitedError:
            msg += ". Lower the request rate or raise max_retries"
        elif cls is RemoteTimeoutError:
            msg += ". The server gave up waiting for the request; check the server's load or raise max_retries"
    return cls(_redact(msg, secrets), status=status, provider=provider)


def vendor_message(body: bytes) -> str | None:
    """The vendor's error message from an error body, whatever its shape; None when empty.

    Understands ``{"message"}`` (Cohere, AWS), ``{"error": str, "error_type"}`` (TEI),
    ``{"error": {"code", "message", "status"}}`` (Google), ``{"error": {"message", "type"}}``
    (OpenAI), ``{"detail": str | [{"loc","msg"}]}`` (FastAPI-based services: NIM, Jina) and
    RFC 7807 ``{"title", "detail"}``; any other text is returned as is (clipped).
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
# Response validation
# --------------------------------------------------------------------------------------------


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
Parse = Callable[[Any], Any]


def check_base_url(base_url: object) -> str:
    """``base_url`` without a trailing slash; a ConfigError unless it is an http(s) URL."""
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


_TIMEOUT_PHASE = {
    httpx.ConnectTimeout: "connect",
    httpx.ReadTimeout: "read",
    httpx.WriteTimeout: "write",
    httpx.PoolTimeout: "pool",
}


@dataclass(frozen=True)
class _Send:
    """A step of the retry loop: send the request with these headers and report the outcome."""

    headers: dict[str, str]


@dataclass(frozen=True)
class _Wait:
    """A step of the retry loop: sleep this many seconds, then resume."""

    seconds: float


class HttpClient:
    """POST JSON to one service with timeouts, retries and typed errors (see the module docstring).

    Options: ``timeout`` (seconds or an :class:`httpx.Timeout`), ``connect_timeout``,
    ``max_retries``, ``backoff_base``/``backoff_max``/``retry_after_max`` (see :class:`RetryPolicy`),
    ``transport``/``async_transport`` (injectable, e.g. :class:`httpx.MockTransport`), ``verify``
    (TLS verification: True uses one shared default context, or pass an :class:`ssl.SSLContext`).
    ``auth`` returns the credential headers for each attempt (so short-lived tokens can be
    refreshed); their values are redacted from every error message and never logged.
    ``status_errors`` maps vendor-specific statuses to error classes; ``auth_hint`` is appended to
    authentication errors; ``on_retry`` is called before each retry (e.g. to count them).
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
        on_retry: Callable[[], None] | None = None,
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
        self._on_retry = on_retry
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

    def async_client(self, *, max_connections: int | None = None) -> httpx.AsyncClient:
        """A new :class:`httpx.AsyncClient` with this client's timeout, transport and TLS settings.

        ``max_connections`` bounds its connection pool (httpx's default when None).
        """
        transport = self._async_transport
        if transport is None and isinstance(self._transport, httpx.AsyncBaseTransport):
            transport = self._transport  # MockTransport serves both sides
        limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
        kwargs: dict[str, Any] = {"limits": limits} if max_connections is not None else {}
        return httpx.AsyncClient(timeout=self.timeout, transport=transport, verify=self._tls(), **kwargs)

    def close(self) -> None:
        """Close the pooled sync connections (the client reopens them on the next call)."""
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    def _error(self, target: str, secrets: list[str], attempt: int = 0, **kw: Any) -> RemoteError:
        return remote_error(
            self.provider, target, status_errors=self._status_errors, auth_hint=self._auth_hint,
            secrets=secrets, attempts=attempt + 1, **kw,
        )

    # -- the one retry loop --------------------------------------------------------------------

    def _failure(self, target: str, attempt: int, secrets: list[str], outcome: Any) -> tuple[RemoteError, bool, float | None]:
        """(error, retryable, Retry-After seconds) for a failed attempt: a transport error or a non-2xx response."""
        if isinstance(outcome, httpx.TransportError):
            is_timeout = isinstance(outcome, httpx.TimeoutException)
            retryable = isinstance(outcome, (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError))
            detail = f"{type(outcome).__name__}: {outcome}" if str(outcome) else type(outcome).__name__
            phase = next((p for cls, p in _TIMEOUT_PHASE.items() if isinstance(outcome, cls)), None)
            limit = getattr(self.timeout, phase) if phase else None
            if limit is not None:
                detail += f" ({phase} timeout={limit:g}s)"
            return self._error(target, secrets, attempt, timeout=is_timeout, detail=detail), retryable, None
        status = outcome.status_code
        err = self._error(target, secrets, attempt, status=status, detail=vendor_message(outcome.content))
        return err, is_retryable_status(status), parse_retry_after(outcome.headers.get("retry-after"))

    def _body(self, target: str, secrets: list[str], response: httpx.Response, parse: Parse | None) -> Any:
        """The decoded (and parsed) 2xx body, or a MalformedResponseError."""
        try:
            payload = json.loads(response.content)
        except ValueError:
            kind = response.headers.get("content-type", "no content-type")
            snippet = response.content[:120].decode("utf-8", "replace")
            detail = f"body is not JSON ({kind}): {snippet!r}"
            raise self._error(target, secrets, status=response.status_code, detail=detail) from None
        if parse is None:
            return payload
        try:
            return parse(payload)
        except ContractViolation as exc:
            raise self._error(target, secrets, status=response.status_code, detail=str(exc)) from None

    def _attempts(self, path: str, parse: Parse | None) -> Generator[_Send | _Wait, Any, Any]:
        """The retry loop shared by :meth:`post_json` and :meth:`apost_json`, free of I/O.

        Yields ``_Send(headers)`` and expects the attempt's outcome back (the response, or the
        :class:`httpx.TransportError` it raised); yields ``_Wait(seconds)`` between attempts.
        Returns the body, or raises the typed error of the last attempt.
        """
        target = self.target(path)
        last = self.retry.max_retries
        for attempt in range(last + 1):
            headers, secrets = self._request_headers()
            outcome = yield _Send(headers)
            if isinstance(outcome, httpx.Response) and outcome.is_success:
                return self._body(target, secrets, outcome, parse)
            err, retryable, after = self._failure(target, attempt, secrets, outcome)
            if not retryable or attempt == last:
                raise err from (outcome if isinstance(outcome, Exception) else None)
            wait = self.retry.delay(attempt, after)
            log.info(
                "%s: %s failed (%s, status=%s); retry %d/%d in %.2fs",
                self.provider, target, type(err).__name__, err.status, attempt + 1, last, wait,
            )
            if self._on_retry is not None:
                self._on_retry()
            yield _Wait(wait)
        raise AssertionError("unreachable")  # pragma: no cover

    # -- calls ---------------------------------------------------------------------------------

    def post_json(self, path: str, body: Mapping[str, Any], *, parse: Parse | None = None) -> Any:
        """POST ``body`` as JSON and return the decoded 2xx body, retrying transient failures.

        ``parse(payload)`` validates and converts the body; a :class:`ContractViolation` it raises
        becomes a :class:`MalformedResponseError` (not retried).
        """
        client, url = self._sync_client(), self.url_for(path)
        steps = self._attempts(path, parse)
        step = next(steps)
        while True:
            outcome: Any = None
            if isinstance(step, _Wait):
                time.sleep(step.seconds)
            else:
                try:
                    outcome = client.post(url, json=body, headers=step.headers)
                except httpx.TransportError as exc:
                    outcome = exc
            try:
                step = steps.send(outcome)
            except StopIteration as done:
                return done.value

    async def apost_json(
        self, path: str, body: Mapping[str, Any], *, client: httpx.AsyncClient | None = None, parse: Parse | None = None
    ) -> Any:
        """Async :meth:`post_json` on ``client`` (or a short-lived :meth:`async_client`)."""
        if client is None:
            async with self.async_client() as owned:
                return await self.apost_json(path, body, client=owned, parse=parse)
        url = self.url_for(path)
        steps = self._attempts(path, parse)
        step = next(steps)
        while True:
            outcome: Any = None
            if isinstance(step, _Wait):
                await asyncio.sleep(step.seconds)
            else:
                try:
                    outcome = await client.post(url, json=body, headers=step.headers)
                except httpx.TransportError as exc:
                    outcome = exc
            try:
                step = steps.send(outcome)
            except StopIteration as done:
                return done.value

    async def astream_lines(
        self,
        path: str,
        body: Mapping[str, Any],
        *,
        client: httpx.AsyncClient | None = None,
        accept: str = "text/event-stream",
    ) -> AsyncIterator[str]:
        """POST ``body`` as JSON and yield the lines of the 2xx answer as they arrive (no line ends).

        Attempts that fail before a 2xx answer starts are retried like :meth:`apost_json` (the
        same steps, statuses and waits); a transport error while the body streams becomes its
        typed error at once (a read past ``timeout`` between two chunks: :class:`RemoteTimeoutError`).
        """
        if client is None:
            async with self.async_client() as owned:
                async with contextlib.aclosing(self.astream_lines(path, body, client=owned, accept=accept)) as lines:
                    async for line in lines:
                        yield line
            return
        url = self.url_for(path)
        steps = self._attempts(path, None)
        step = next(steps)
        while True:
            outcome: Any = None
            if isinstance(step, _Wait):
                await asyncio.sleep(step.seconds)
            else:
                request = client.build_request("POST", url, json=body, headers={**step.headers, "Accept": accept})
                try:
                    response = await client.send(request, stream=True)
                except httpx.TransportError as exc:
                    outcome = exc
                else:
                    if response.is_success:
                        steps.close()
                        try:
                            async for line in response.aiter_lines():
                                yield line
                        except httpx.TransportError as exc:
                            _, secrets = self._request_headers()
                            raise self._failure(self.target(path), 0, secrets, exc)[0] from exc
                        finally:
                            await response.aclose()
                        return
                    try:
                        await response.aread()  # the error body, for the message
                        outcome = response
                    except httpx.TransportError as exc:
                        outcome = exc
                    finally:
                        await response.aclose()
            step = steps.send(outcome)  # the next step, or the typed error of the last attempt

    def malformed(self, path: str, detail: str) -> RemoteError:
        """The :class:`MalformedResponseError` for a 2xx answer to ``path`` that broke the contract (``detail``)."""
        _, secrets = self._request_headers()
        return self._error(self.target(path), secrets, status=200, detail=detail)
