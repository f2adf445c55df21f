"""A small async client for OpenAI-compatible ``POST {base_url}/chat/completions``.

Wire contract: the request body is ``{model, messages, temperature, max_tokens}``; a 2xx answer
must be a JSON object whose ``choices[0].message.content`` is a string.

The HTTP side is :class:`ragsift.http.HttpClient`, the one stack every remote call of ragsift
uses: the same retried statuses (408, 429, 500, 502, 503, 504, timeouts and connection errors),
the same jittered exponential backoff and ``Retry-After`` handling, and the same status → typed
error map (:func:`ragsift.http.remote_error`) as the hosted rerankers. ``backoff`` and
``max_backoff`` are its ``backoff_base`` and ``backoff_max``; ``timeout`` applies to each attempt
(the connection must open within ``min(5 s, timeout)``). The API key is sent as
``Authorization: Bearer`` and redacted from every error message.
"""

from __future__ import annotations

from typing import Any, Callable

import httpx

from ragsift.http import ContractViolation, HttpClient, check_seconds

__all__ = ["ChatClient", "PROVIDER"]

PROVIDER = "openai-compatible"
PATH = "/chat/completions"
_SNIPPET = 200
_HINT = "; is base_url an OpenAI-compatible /v1 endpoint?"


class ChatClient:
    """Sends chat-completion requests through :class:`~ragsift.http.HttpClient` (see the module docstring)."""

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
        self.temperature = temperature
        self.http = HttpClient(
            PROVIDER,
            base_url,
            auth=(lambda: {"Authorization": f"Bearer {api_key}"}) if api_key else None,
            timeout=timeout,
            max_retries=max_retries,
            backoff_base=check_seconds("backoff", backoff, allow_zero=True),
            backoff_max=check_seconds("max_backoff", max_backoff, allow_zero=True),
            async_transport=transport,
            auth_hint="Pass api_key= (or set OPENAI_API_KEY) to a key the server accepts",
            on_retry=on_retry,
        )
        self.url = self.http.url_for(PATH)

    def __repr__(self) -> str:
        return f"ChatClient(model={self.model!r}, url={self.url!r})"

    def open(self, max_connections: int) -> httpx.AsyncClient:
        """A fresh ``httpx.AsyncClient`` for one batch of requests; use it as an async context manager."""
        return self.http.async_client(max_connections=max_connections)

    async def complete(self, http: httpx.AsyncClient, messages: list[dict[str, str]], *, max_tokens: int) -> str:
        """POST one chat completion and return ``choices[0].message.content``, retrying transient failures."""
        payload = {
            "model": self.model,
            "messages": messages,
            "temperature": self.temperature,
            "max_tokens": max_tokens,
        }
        return await self.http.apost_json(PATH, payload, client=http, parse=_content)


def _content(body: Any) -> str:
    """``choices[0].message.content`` of a chat-completion body, or a ContractViolation saying what is wrong."""
    if not isinstance(body, dict):
        raise ContractViolation(f"the body is a {type(body).__name__}, not a JSON object{_HINT}")
    choices = body.get("choices")
    if not isinstance(choices, list) or not choices:
        raise ContractViolation(f"the response has no choices: {_snippet(body)}{_HINT}")
    message = choices[0].get("message") if isinstance(choices[0], dict) else None
    content = message.get("content") if isinstance(message, dict) else None
    if not isinstance(content, str):
        raise ContractViolation(f"choices[0].message.content is not a string: {_snippet(body)}{_HINT}")
    return content


def _snippet(body: Any) -> str:
    text = repr(body)
    return text if len(text) <= _SNIPPET else text[:_SNIPPET] + "…"
