"""Grounded answers: a validated search result, then an OpenAI-compatible chat model over its hits.

:class:`Answerer` takes the result of ``Searcher.search(question, ..., validate=True)`` and:

1. when the search's ``validation`` verdict is ``"fail"``, makes **no** LLM call and returns an
   :class:`Answer` with status ``validation_failed`` carrying the validation and its suggestions
   (spelling fixes, related terms); when the search found nothing, status ``no_passages``, again
   without a call;
2. otherwise sends the hits as passages [1]..[n] (:mod:`ragsift.answer.prompt`) to the chat
   model through :class:`ragsift.rerank.llm.client.ChatClient` (so through
   :class:`ragsift.http.HttpClient`: per-request timeout, retries with backoff on 429/5xx and
   connection errors, typed :class:`~ragsift.errors.RemoteError` s), whole (:meth:`Answerer.answer`)
   or streamed token by token (:meth:`Answerer.stream`);
3. maps the answer's citations to the hits (:mod:`ragsift.answer.citations`): passage ``n`` is
   hit ``n - 1``; a number that names no passage given is reported in ``invalid_citations``.

Timings (ms) are the search's stages plus ``llm`` (the whole call) and, streamed, ``first_token``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from ragsift.answer.citations import Citation, InvalidCitation, parse_citations
from ragsift.answer.prompt import DEFAULT_MAX_PASSAGE_CHARS, build_messages
from ragsift.errors import ConfigError
from ragsift.http import check_base_url
from ragsift.types import Hit

__all__ = ["Answer", "AnswerStatus", "Answerer", "Delta", "DEFAULT_MAX_TOKENS", "validation_failed"]

DEFAULT_MAX_TOKENS = 512


class AnswerStatus(str, Enum):
    ANSWERED = "answered"
    VALIDATION_FAILED = "validation_failed"  # no LLM call: the validation's suggestions instead
    NO_PASSAGES = "no_passages"  # no LLM call: the search found nothing to answer from


@dataclass(frozen=True)
class Delta:
    """A piece of a streamed answer, as the model wrote it."""

    text: str


@dataclass
class Answer:
    """A grounded answer, or why there is none (``status``), with the hits it was written from.

    ``search`` keeps what the search reported besides hits and timings (``route`` in auto mode,
    ``rerank_settings`` and ``warnings`` when reranked).
    """

    question: str
    status: AnswerStatus
    hits: list[Hit]
    answer: str | None = None
    citations: list[Citation] = field(default_factory=list)
    invalid_citations: list[InvalidCitation] = field(default_factory=list)
    validation: dict[str, Any] | None = None
    model: str | None = None
    finish_reason: str | None = None
    usage: dict[str, Any] | None = None
    timings_ms: dict[str, float] = field(default_factory=dict)
    search: dict[str, Any] = field(default_factory=dict)

    @property
    def suggestions(self) -> dict[str, Any] | None:
        """The validation's suggestions when it failed (``{"spelling": [...], "related": [...]}``), else None."""
        if self.status is not AnswerStatus.VALIDATION_FAILED or not self.validation:
            return None
        return self.validation.get("suggestions") or {}

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status.value,
            "question": self.question,
            "answer": self.answer,
            "citations": [c.to_dict() for c in self.citations],
            "invalid_citations": [c.to_dict() for c in self.invalid_citations],
            "hits": [h.to_dict() for h in self.hits],
            "validation": self.validation,
            "suggestions": self.suggestions,
            "model": self.model,
            "finish_reason": self.finish_reason,
            "usage": self.usage,
            "timings_ms": dict(self.timings_ms),
            **self.search,
        }


def validation_failed(validation: Mapping[str, Any] | None) -> bool:
    """True when a search's validation says the question does not fit the collection (verdict ``fail``)."""
    return bool(validation) and validation.get("verdict") == "fail"


class Answerer:
    """Writes grounded, cited answers with an OpenAI-compatible chat model (see the module docstring).

    ``base_url`` is the endpoint's ``/v1`` URL and ``model`` the model it serves; ``api_key`` is
    sent as ``Authorization: Bearer``. ``timeout`` (seconds) bounds each request, and when
    streaming each wait between two chunks; ``max_retries``, ``backoff`` and ``max_backoff`` are
    :class:`ragsift.http.RetryPolicy`'s. ``max_tokens`` caps the answer, ``max_passage_chars``
    each passage in the prompt. ``transport``: an ``httpx`` async transport (tests).
    """

    def __init__(
        self,
        *,
        base_url: str,
        model: str,
        api_key: str | None = None,
        timeout: float = 60.0,
        max_retries: int = 3,
        backoff: float = 0.5,
        max_backoff: float = 8.0,
        temperature: float = 0.0,
        max_tokens: int = DEFAULT_MAX_TOKENS,
        max_passage_chars: int = DEFAULT_MAX_PASSAGE_CHARS,
        transport: Any = None,
    ):
        from ragsift.rerank.llm.client import ChatClient

        check_base_url(base_url)
        if not isinstance(model, str) or not model.strip():
            raise ConfigError(f"model={model!r} must name the model the endpoint serves (e.g. --llm-model gpt-4o-mini)")
        for name, value in (("max_tokens", max_tokens), ("max_passage_chars", max_passage_chars)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name}={value!r} must be an integer >= 1")
        if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
            raise ConfigError(f"max_retries={max_retries!r} must be an integer >= 0 (0 disables retries)")
        if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not 0 <= temperature <= 2:
            raise ConfigError(f"temperature={temperature!r} must be a number in [0, 2]")
        self.model = model.strip()
        self.max_tokens = max_tokens
        self.max_passage_chars = max_passage_chars
        self.chat = ChatClient(
            model=self.model, base_url=base_url, api_key=api_key, timeout=timeout, max_retries=max_retries,
            backoff=backoff, max_backoff=max_backoff, temperature=float(temperature), transport=transport,
        )

    def __repr__(self) -> str:
        return f"Answerer(model={self.model!r}, url={self.chat.url!r})"

    def messages(self, question: str, hits: list[Hit]) -> list[dict[str, str]]:
        """The chat messages sent for ``question`` over ``hits`` (:func:`ragsift.answer.prompt.build_messages`)."""
        return build_messages(question, hits, max_passage_chars=self.max_passage_chars)

    # -- whole answers ---------------------------------------------------------------------------

    async def answer(self, question: str, result: Any) -> Answer:
        """The answer to ``question`` from a search ``result`` (a SearchResult, ideally validated)."""
        answer = _start(question, result)
        if answer.status is not AnswerStatus.ANSWERED:
            return answer
        messages = self.messages(question, answer.hits)
        start = time.perf_counter()
        async with self.chat.open(1) as http:
            completion = await self.chat.chat(http, messages, max_tokens=self.max_tokens)
        _finish(answer, completion.content, completion.model, completion.finish_reason, completion.usage, start)
        return answer

    def ask(self, question: str, result: Any) -> Answer:
        """Synchronous :meth:`answer` (in a worker thread when an event loop runs here)."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(self.answer(question, result))
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="ragsift-answer") as pool:
            return pool.submit(asyncio.run, self.answer(question, result)).result()

    # -- streamed answers ------------------------------------------------------------------------

    async def stream(self, question: str, result: Any) -> AsyncIterator[Delta | Answer]:
        """Yield the answer's text as it is written (:class:`Delta` s), then the complete :class:`Answer`.

        Without an LLM call (validation failed, no passages) only the :class:`Answer` comes.
        """
        answer = _start(question, result)
        if answer.status is not AnswerStatus.ANSWERED:
            yield answer
            return
        messages = self.messages(question, answer.hits)
        parts: list[str] = []
        model = finish_reason = usage = None
        start = time.perf_counter()
        async with self.chat.open(1) as http:
            chunks = self.chat.stream(http, messages, max_tokens=self.max_tokens)
            async with contextlib.aclosing(chunks):
                async for chunk in chunks:
                    model = chunk.model or model
                    finish_reason = chunk.finish_reason or finish_reason
                    usage = chunk.usage or usage
                    if chunk.content:
                        if not parts:
                            answer.timings_ms["first_token"] = _ms(start)
                        parts.append(chunk.content)
                        yield Delta(chunk.content)
        _finish(answer, "".join(parts), model, finish_reason, usage, start)
        yield answer


def _start(question: str, result: Any) -> Answer:
    """The :class:`Answer` before any LLM call: search data copied, status decided."""
    validation = getattr(result, "validation", None)
    search = {}
    for name in ("route", "rerank_settings", "warnings"):
        value = getattr(result, name, None)
        if value:
            search[name] = value
    timings = {k: v for k, v in getattr(result, "timings_ms", {}).items() if k != "total"}
    hits = list(result.hits)
    if validation_failed(validation):
        status = AnswerStatus.VALIDATION_FAILED
    elif not hits:
        status = AnswerStatus.NO_PASSAGES
    else:
        status = AnswerStatus.ANSWERED
    answer = Answer(question, status, hits, validation=validation, timings_ms=timings, search=search)
    answer.timings_ms["total"] = sum(timings.values())
    return answer


def _finish(answer: Answer, text: str, model: str | None, finish_reason: str | None, usage: Any, start: float) -> None:
    answer.answer = text.strip()
    answer.citations, answer.invalid_citations = parse_citations(answer.answer, answer.hits)
    answer.model, answer.finish_reason, answer.usage = model, finish_reason, usage
    answer.timings_ms["llm"] = _ms(start)
    answer.timings_ms["total"] = sum(v for k, v in answer.timings_ms.items() if k not in ("total", "first_token"))


def _ms(start: float) -> float:
    return (time.perf_counter() - start) * 1000.0
