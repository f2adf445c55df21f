"""A small async client for OpenAI-compatible ``POST {base_url}/chat/completions``.

Wire contract: the request body is ``{model, messages, temperature, max_tokens}``; a 2xx answer
must be a JSON object whose ``choices[0].message.content`` is a string (:meth:`ChatClient.complete`
returns it; :meth:`ChatClient.chat` also the ``model``, ``finish_reason`` and ``usage`` reported).

Streaming (:meth:`ChatClient.stream`): the body adds ``"stream": true`` (and
``"stream_options": {"include_usage": true}``); the 2xx answer is a stream of server-sent events
whose ``data:`` fields are JSON chunks ``{"choices": [{"delta": {"content": "..."},
"finish_reason": null | "stop"}], "model", "usage"?}``, the last one ``data: [DONE]``. A chunk
with ``"error"`` instead, a chunk that is not JSON, or a stream that ends before ``[DONE]`` and
without a ``finish_reason`` is a :class:`~ragsift.errors.MalformedResponseError`.

The HTTP side is :class:`ragsift.http.HttpClient`, the one stack every remote call of ragsift
uses: the same retried statuses (408, 429, 500, 502, 503, 504, timeouts and connection errors),
the same jittered exponential backoff and ``Retry-After`` handling, and the same status → typed
error map (:func:`ragsift.http.remote_error`) as the hosted rerankers. ``backoff`` and
``max_backoff`` are its ``backoff_base`` and ``backoff_max``; ``timeout`` applies to each attempt
(the connection must open within ``min(5 s, timeout)``). The API key is sent as
``Authorization: Bearer`` and redacted from every error message.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from typing import Any, AsyncIterator, Callable

import httpx

from ragsift.http import ContractViolation, HttpClient, check_seconds, vendor_message

__all__ = ["ChatClient", "ChatCompletion", "ChatDelta", "PROVIDER"]

PROVIDER = "openai-compatible"
PATH = "/chat/completions"
_SNIPPET = 200
_HINT = "; is base_url an OpenAI-compatible /v1 endpoint?"


@dataclass(frozen=True)
class ChatCompletion:
    """A whole answer: its text, the model that wrote it, why it stopped and the tokens it took."""

    content: str
    model: str | None = None
    finish_reason: str | None = None
    usage: dict[str, Any] | None = None


@dataclass(frozen=True)
class ChatDelta:
    """One streamed chunk: new text (often a token; may be empty), and on the last chunks the
    ``finish_reason`` and (with ``include_usage``) the ``usage``."""

    content: str = ""
    model: str | None = None
    finish_reason: str | None = None
    usage: dict[str, Any] | None = None


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
        return await self.http.apost_json(PATH, self._payload(messages, max_tokens), client=http, parse=_content)

    async def chat(self, http: httpx.AsyncClient, messages: list[dict[str, str]], *, max_tokens: int) -> ChatCompletion:
        """Like :meth:`complete`, with the ``model``, ``finish_reason`` and ``usage`` the server reported."""
        return await self.http.apost_json(PATH, self._payload(messages, max_tokens), client=http, parse=_completion)

    async def stream(
        self, http: httpx.AsyncClient, messages: list[dict[str, str]], *, max_tokens: int, include_usage: bool = True
    ) -> AsyncIterator[ChatDelta]:
        """POST one streamed chat completion and yield its chunks as they arrive (see the module docstring).

        Failures before the stream starts are retried like :meth:`complete`; once it streams, an
        error is raised as its typed :class:`~ragsift.errors.RemoteError`.
        """
        payload: dict[str, Any] = {**self._payload(messages, max_tokens), "stream": True}
        if include_usage:
            payload["stream_options"] = {"include_usage": True}
        finished = False
        async with contextlib.aclosing(self.http.astream_lines(PATH, payload, client=http)) as lines:
            async for data in _sse_data(lines):
                if data.strip() == "[DONE]":
                    return
                delta = self._delta(data)
                finished = finished or delta.finish_reason is not None
                yield delta
        if not finished:
            raise self.http.malformed(PATH, f"the stream ended before data: [DONE] and without a finish_reason{_HINT}")

    def _payload(self, messages: list[dict[str, str]], max_tokens: int) -> dict[str, Any]:
        return {"model": self.model, "messages": messages, "temperature": self.temperature, "max_tokens": max_tokens}

    def _delta(self, data: str) -> ChatDelta:
        try:
            return _chunk(json.loads(data))
        except ValueError as exc:  # not JSON, or a ContractViolation
            detail = str(exc) if isinstance(exc, ContractViolation) else f"a data field is not JSON: {data[:_SNIPPET]!r}"
            raise self.http.malformed(PATH, detail) from None


async def _sse_data(lines: AsyncIterator[str]) -> AsyncIterator[str]:
    """The ``data`` of each server-sent event (its ``data:`` lines joined by newlines); other fields are skipped."""
    data: list[str] = []
    async for line in lines:
        if not line:
            if data:
                yield "\n".join(data)
                data = []
            continue
        if line.startswith(":"):
            continue  # a comment (keep-alive)
        name, _, value = line.partition(":")
        if name == "data":
            data.append(value[1:] if value.startswith(" ") else value)
    if data:
        yield "\n".join(data)


def _chunk(body: Any) -> ChatDelta:
    """One ``chat.completion.chunk`` as a :class:`ChatDelta`, or a ContractViolation saying what is wrong."""
    if not isinstance(body, dict):
        raise ContractViolation(f"a chunk is a {type(body).__name__}, not a JSON object{_HINT}")
    if "error" in body:
        message = vendor_message(json.dumps(body).encode()) or "no message"
        raise ContractViolation(f"the stream reported an error: {message}")
    choices = body.get("choices") or []
    if not isinstance(choices, list):
        raise ContractViolation(f"a chunk's choices is not a list: {_snippet(body)}{_HINT}")
    choice = choices[0] if choices else {}
    delta = choice.get("delta") if isinstance(choice, dict) else None
    content = delta.get("content") if isinstance(delta, dict) else None
    if content is not None and not isinstance(content, str):
        raise ContractViolation(f"choices[0].delta.content is not a string: {_snippet(body)}{_HINT}")
    return ChatDelta(
        content=content or "",
        model=body.get("model") if isinstance(body.get("model"), str) else None,
        finish_reason=choice.get("finish_reason") if isinstance(choice, dict) else None,
        usage=body.get("usage") if isinstance(body.get("usage"), dict) else None,
    )


def _completion(body: Any) -> ChatCompletion:
    content = _content(body)
    choice = body["choices"][0]
    return ChatCompletion(
        content=content,
        model=body.get("model") if isinstance(body.get("model"), str) else None,
        finish_reason=choice.get("finish_reason"),
        usage=body.get("usage") if isinstance(body.get("usage"), dict) else None,
    )


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
