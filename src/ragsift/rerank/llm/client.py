"""A small async client for OpenAI-compatible ``POST {base_url}/chat/completions``.

Wire contract: the request body is ``{model, messages, temperature, max_tokens}``; a 2xx answer
must be a JSON object whose ``choices[0].message.content`` is a string. Everything else maps to
the typed errors of :mod:`ragsift.errors`:

========================================  ===============================  =======
failure                                   error (after retries)            retried
========================================  ===============================  =======
no answer within ``timeout``, HTTP 408    :class:`RemoteTimeoutError`      yes
connection failed                         :class:`RemoteServerError`       yes
HTTP 429                                  :class:`RateLimitedError`        yes
HTTP 5xx                                  :class:`RemoteServerError`       yes
HTTP 401 / 403                            :class:`AuthenticationError`     no
other HTTP 4xx                            :class:`RemoteClientError`       no
2xx without JSON, ``choices`` or content  :class:`MalformedResponseError`  no
========================================  ===============================  =======

Retries wait ``backoff * 2**attempt`` seconds, or the server's ``Retry-After`` (seconds or an
HTTP date) when it sends one, never more than ``max_backoff``. ``timeout`` applies to each
attempt. The API key is sent as ``Authorization: Bearer`` and redacted from every error message.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import time
from typing import Any, Callable

import httpx

from ragsift.errors import (
    AuthenticationError,
    MalformedResponseError,
    RateLimitedError,
    RemoteClientError,
    RemoteError,
    RemoteServerError,
    RemoteTimeoutError,
)

__all__ = ["ChatClient", "retry_delay", "parse_retry_after", "PROVIDER"]

log = logging.getLogger("ragsift.rerank.llm")

PROVIDER = "openai-compatible"
_SNIPPET = 200


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP date); None if absent/invalid."""
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(when.timestamp() - (time.time() if now is None else now), 0.0)


def retry_delay(attempt: int, retry_after: str | None, backoff: float, max_backoff: float) -> float:
    """Seconds before retry number ``attempt + 1``: Retry-After if given, else exponential backoff; capped."""
    hinted = parse_retry_after(retry_after)
    delay = hinted if hinted is not None else backoff * (2**attempt)
    return min(delay, max_backoff)


def _snippet(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _SNIPPET else text[:_SNIPPET] + "…"


class ChatClient:
    """Sends chat-completion requests with timeouts, retries and typed errors (see the module docstring)."""

    def __init__(
        self,
        *,
        model: str,
        base_url: str,
        api_key: str | None,
        timeout: float,
        max_retries: int,
        backoff: float,
        max_backoff: float,
        temperature: float,
        transport: httpx.AsyncBaseTransport | None = None,
        on_retry: Callable[[], None] | None = None,
    ):
        self.model = model
        self.url = base_url.rstrip("/") + "/chat/completions"
        self._api_key = api_key
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.temperature = temperature
        self._transport = transport
        self._on_retry = on_retry

    def __repr__(self) -> str:
        return f"ChatClient(model={self.model!r}, url={self.url!r})"

    def open(self, max_connections: int) -> httpx.AsyncClient:
        """A fresh ``httpx.AsyncClient`` for one batch of requests; use it as an async context manager."""
        headers = {"Accept": "application/json", "User-Agent": "ragsift-llm-reranker"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        return httpx.AsyncClient(
            timeout=httpx.Timeout(self.timeout),
            headers=headers,
            transport=self._transport,
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
        )

    async def complete(self, http: httpx.AsyncClient, messages: list[dict[str, str]], *, max_tokens: int) -> str:
        """POST one chat completion and return ``choices[0].message.content``, retrying transient failures."""
        payload = {
            "model": self.model,
            "messages": messages,
            "temperature": self.temperature,
            "max_tokens": max_tokens,
        }
        attempts = self.max_retries + 1
        for attempt in range(attempts):
            retry_after = None
            try:
                response = await http.post(self.url, json=payload)
            except httpx.TimeoutException as exc:
                failure, cause = self._timeout_error(attempts), exc
            except httpx.TransportError as exc:
                failure, cause = self._connection_error(exc, attempts), exc
            else:
                if response.is_success:
                    return self._content(response)
                failure, cause = self._status_error(response, attempts), None
                if not self._retryable(response.status_code):
                    raise failure
                retry_after = response.headers.get("retry-after")
            if attempt == attempts - 1:
                raise failure from cause
            delay = retry_delay(attempt, retry_after, self.backoff, self.max_backoff)
            log.info("retrying %s in %.2fs (attempt %d/%d): %s", self.url, delay, attempt + 2, attempts, failure)
            if self._on_retry is not None:
                self._on_retry()
            await asyncio.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    # -- error mapping -------------------------------------------------------------------------

    @staticmethod
    def _retryable(status: int) -> bool:
        return status in (408, 429) or status >= 500

    def _redact(self, text: str) -> str:
        return text.replace(self._api_key, "***") if self._api_key else text

    def _timeout_error(self, attempts: int) -> RemoteError:
        return RemoteTimeoutError(
            f"POST {self.url} got no answer within timeout={self.timeout}s ({attempts} attempt(s)); "
            "raise timeout= or check that the server is up and not overloaded",
            provider=PROVIDER,
        )

    def _connection_error(self, exc: Exception, attempts: int) -> RemoteError:
        return RemoteServerError(
            f"could not connect to {self.url} ({type(exc).__name__}: {self._redact(str(exc))}) after "
            f"{attempts} attempt(s); check base_url and that the server is running",
            provider=PROVIDER,
        )

    def _status_error(self, response: httpx.Response, attempts: int) -> RemoteError:
        status = response.status_code
        detail = self._redact(_snippet(_error_message(response)))
        where = f"POST {self.url} returned HTTP {status}"
        if status in (401, 403):
            return AuthenticationError(
                f"{where}: {detail}; pass api_key= or set OPENAI_API_KEY to a key the server accepts",
                status=status,
                provider=PROVIDER,
            )
        if status == 429:
            cls, fix = RateLimitedError, "lower concurrency= or raise max_retries="
        elif status == 408:
            cls, fix = RemoteTimeoutError, "raise timeout= or max_retries="
        elif status >= 500:
            cls, fix = RemoteServerError, "the server is failing; retry later or raise max_retries="
        else:
            return RemoteClientError(
                f"{where}: {detail}; check model={self.model!r} and base_url", status=status, provider=PROVIDER
            )
        return cls(f"{where} after {attempts} attempt(s): {detail}; {fix}", status=status, provider=PROVIDER)

    def _content(self, response: httpx.Response) -> str:
        try:
            body: Any = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise self._malformed(response, "the body is not a JSON object")
        choices = body.get("choices")
        if not isinstance(choices, list) or not choices:
            raise self._malformed(response, "the response has no choices")
        message = choices[0].get("message") if isinstance(choices[0], dict) else None
        content = message.get("content") if isinstance(message, dict) else None
        if not isinstance(content, str):
            raise self._malformed(response, "choices[0].message.content is not a string")
        return content

    def _malformed(self, response: httpx.Response, what: str) -> MalformedResponseError:
        return MalformedResponseError(
            f"POST {self.url} returned HTTP {response.status_code} but {what}: "
            f"{self._redact(_snippet(response.text))!r}; is base_url an OpenAI-compatible /v1 endpoint?",
            status=response.status_code,
            provider=PROVIDER,
        )


def _error_message(response: httpx.Response) -> str:
    """The message of an OpenAI error body ``{"error": {"message": ...}}``, else the raw text."""
    try:
        body = response.json()
    except ValueError:
        return response.text or response.reason_phrase
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return error["message"]
        if isinstance(error, str):
            return error
    return response.text
