"""``LLMReranker``: rerank with any OpenAI-compatible chat-completions endpoint.

Two modes (:class:`LLMMode`):

- ``pointwise``: one request per passage asking for a relevance grade 0–10 (prompt in
  :mod:`ragsift.rerank.llm.prompts`), at most ``concurrency`` requests in flight.
  ``score = grade`` and ``relevance = grade / 10``.
- ``listwise``: RankGPT sliding windows (:mod:`ragsift.rerank.llm.windows`), one request per window,
  sent one after the other because each window sees the previous one's order. With the final
  0-based rank ``r`` of a passage among ``n``: ``score = n - r`` and ``relevance = 1 - r / n``.

Malformed answers (:class:`OnMalformed`) are an explicit degraded mode: with ``"zero"`` the passage
gets grade 0 (pointwise) or the window keeps its previous order (listwise), ``stats["malformed"]`` is
incremented and a warning names the passage indices; with ``"raise"`` a
:class:`~ragsift.errors.MalformedResponseError` names them and quotes the answer. A response that
breaks the wire contract (no ``choices``) always raises, as do HTTP failures after retries.
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
from concurrent.futures import ThreadPoolExecutor
from enum import Enum
from typing import Awaitable, Sequence, TypeVar

import httpx

from ragsift import config
from ragsift._enums import parse_enum
from ragsift.errors import ConfigError, MalformedResponseError
from ragsift.rerank.base import Reranker, Scores
from ragsift.rerank.llm.client import PROVIDER, ChatClient
from ragsift.rerank.llm.parsing import MAX_GRADE, UnparseableAnswer, parse_grade, parse_permutation
from ragsift.rerank.llm.prompts import listwise_messages, pointwise_messages
from ragsift.rerank.llm.windows import apply_window, plan_windows

__all__ = ["LLMReranker", "LLMMode", "OnMalformed"]

log = logging.getLogger("ragsift.rerank.llm")
T = TypeVar("T")

#: Default ``max_tokens``: a pointwise answer is one short JSON object; a listwise answer needs
#: about ``"[12] > "`` per passage of the window.
POINTWISE_MAX_TOKENS = 32
LISTWISE_TOKENS_PER_PASSAGE = 8
LISTWISE_EXTRA_TOKENS = 16


class LLMMode(str, Enum):
    """How the LLM judges passages: one grade per passage, or a permutation per window."""

    POINTWISE = "pointwise"
    LISTWISE = "listwise"


class OnMalformed(str, Enum):
    """What to do when an answer cannot be parsed: degrade (grade 0 / keep order) or raise."""

    ZERO = "zero"
    RAISE = "raise"


def _int_option(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{name}={value!r} must be an integer >= {minimum}")
    return value


def _number_option(name: str, value: object, low: float, high: float = math.inf, *, open_low: bool = False) -> float:
    valid = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not (valid and (value > low if open_low else value >= low) and value <= high):
        bounds = (f"> {low}" if open_low else f">= {low}") + ("" if high == math.inf else f" and <= {high}")
        raise ConfigError(f"{name}={value!r} must be a finite number {bounds}")
    return float(value)


class LLMReranker(Reranker):
    """Rerank passages with an LLM behind an OpenAI-compatible ``/chat/completions`` endpoint.

    Args:
        model: model name sent in every request.
        base_url: the API root including ``/v1``; requests go to ``{base_url}/chat/completions``.
        api_key: bearer token; defaults to ``$OPENAI_API_KEY``; no ``Authorization`` header if neither.
        mode: ``"pointwise"`` or ``"listwise"`` (:class:`LLMMode`).
        concurrency: pointwise requests in flight at once.
        timeout: seconds per HTTP attempt (read, write, pool; connect within ``min(5, timeout)``).
        max_retries: extra attempts after a timeout, connection error, HTTP 408, 429, 500, 502, 503
            or 504 (the retry policy of every remote call, :mod:`ragsift.http`).
        window, step: listwise sliding window size and stride (``2 <= window``, ``1 <= step <= window``).
        max_passage_chars: passages are cut to this many characters before prompting.
        on_malformed: ``"zero"`` (degrade, count and warn) or ``"raise"`` (:class:`OnMalformed`).
        temperature: sampling temperature sent to the model (0 for reproducible judgments).
        max_tokens: answer budget; default 32 (pointwise) or ``8 * window_size + 16`` (listwise).
        backoff, max_backoff: the wait before retry ``k`` (0-based) is
            ``min(max_backoff, backoff * 2**k)`` times a random factor in [0.5, 1); a ``Retry-After``
            header (seconds or an HTTP date) replaces it, up to 60 s.
        transport: an ``httpx.AsyncBaseTransport`` (e.g. ``httpx.MockTransport``) for tests or proxies.

    ``stats`` counts ``requests``, ``retries`` and ``malformed`` answers since construction.
    ``cacheable`` is True in pointwise mode only (a listwise score depends on the whole list).
    """

    model_option = "model"
    options = frozenset({
        "base_url", "api_key", "mode", "concurrency", "timeout", "max_retries", "window", "step",
        "max_passage_chars", "on_malformed", "temperature", "max_tokens", "backoff", "max_backoff", "transport",
    })
    required_options = frozenset({"model"})

    def __init__(
        self,
        model: str,
        *,
        base_url: str = "http://localhost:8000/v1",
        api_key: str | None = None,
        mode: LLMMode | str = LLMMode.POINTWISE,
        concurrency: int = 4,
        timeout: float = 60.0,
        max_retries: int = 3,
        window: int = 20,
        step: int = 10,
        max_passage_chars: int = 2000,
        on_malformed: OnMalformed | str = OnMalformed.ZERO,
        temperature: float = 0.0,
        max_tokens: int | None = None,
        backoff: float = 0.5,
        max_backoff: float = 8.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ):
        if not isinstance(model, str) or not model.strip():
            raise ConfigError(f"model={model!r} must be a non-empty model name, e.g. 'gpt-4o-mini'")
        if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
            raise ConfigError(f"base_url={base_url!r} must be an http(s) URL such as 'http://localhost:8000/v1'")
        if transport is not None and not isinstance(transport, httpx.AsyncBaseTransport):
            raise ConfigError(
                f"transport={type(transport).__name__} must be an httpx.AsyncBaseTransport "
                "(e.g. httpx.MockTransport or httpx.AsyncHTTPTransport)"
            )
        self.model = model
        self.base_url = base_url
        self.mode = parse_enum(LLMMode, mode, param="mode")
        self.on_malformed = parse_enum(OnMalformed, on_malformed, param="on_malformed")
        self.concurrency = _int_option("concurrency", concurrency, 1)
        self.window = _int_option("window", window, 2)
        self.step = _int_option("step", step, 1)
        if self.step > self.window:
            raise ConfigError(f"step={step!r} must be <= window={window!r}, or passages would be skipped")
        self.max_passage_chars = _int_option("max_passage_chars", max_passage_chars, 1)
        self.max_tokens = None if max_tokens is None else _int_option("max_tokens", max_tokens, 1)
        self.name = f"llm-{self.mode.value}:{model}"
        #: Pointwise grades depend on one (query, passage) pair and may be cached; listwise scores
        #: depend on the whole candidate list (see ``ragsift.rerank.cache``).
        self.cacheable = self.mode is LLMMode.POINTWISE
        self.stats: dict[str, int] = {"requests": 0, "retries": 0, "malformed": 0}
        self._stats_lock = threading.Lock()
        self._client = ChatClient(
            model=model,
            base_url=base_url,
            api_key=api_key if api_key is not None else config.get("credentials.openai"),
            timeout=_number_option("timeout", timeout, 0.0, open_low=True),
            max_retries=_int_option("max_retries", max_retries, 0),
            backoff=_number_option("backoff", backoff, 0.0),
            max_backoff=_number_option("max_backoff", max_backoff, 0.0),
            temperature=_number_option("temperature", temperature, 0.0, 2.0),
            transport=transport,
            on_retry=lambda: self._count("retries"),
        )

    def __repr__(self) -> str:
        return f"LLMReranker(model={self.model!r}, mode={self.mode.value!r}, base_url={self.base_url!r})"

    # -- public API ----------------------------------------------------------------------------

    def score(self, query: str, documents: Sequence[str]) -> Scores:
        """Synchronous :meth:`ascore`: ``asyncio.run`` it, or in a worker thread if a loop is running here."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(self.ascore(query, documents))
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="ragsift-llm") as pool:
            return pool.submit(asyncio.run, self.ascore(query, documents)).result()

    async def ascore(self, query: str, documents: Sequence[str]) -> Scores:
        """Scores for every document, in input order (see the module docstring for both modes)."""
        docs = list(documents)
        if not docs:
            return Scores(raw=[], relevance=[])
        async with self._client.open(self.concurrency) as http:
            if self.mode is LLMMode.POINTWISE:
                return await self._pointwise(http, query, docs)
            return await self._listwise(http, query, docs)

    # -- pointwise -----------------------------------------------------------------------------

    async def _pointwise(self, http: httpx.AsyncClient, query: str, docs: list[str]) -> Scores:
        semaphore = asyncio.Semaphore(self.concurrency)
        max_tokens = self.max_tokens or POINTWISE_MAX_TOKENS

        async def grade(i: int) -> float:
            async with semaphore:
                answer = await self._ask(http, pointwise_messages(query, docs[i], self.max_passage_chars), max_tokens)
            return self._parse_grade(i, answer)

        grades = await _gather_or_cancel([grade(i) for i in range(len(docs))])
        return Scores(raw=grades, relevance=[g / MAX_GRADE for g in grades])

    def _parse_grade(self, index: int, answer: str) -> float:
        try:
            return parse_grade(answer)
        except UnparseableAnswer as exc:
            self._malformed(f"passage {index}", answer, exc, "grade 0")
            return 0.0

    # -- listwise ------------------------------------------------------------------------------

    async def _listwise(self, http: httpx.AsyncClient, query: str, docs: list[str]) -> Scores:
        n = len(docs)
        order = list(range(n))
        for start, end in plan_windows(n, self.window, self.step):
            ids = order[start:end]
            if len(ids) < 2:
                continue
            max_tokens = self.max_tokens or LISTWISE_TOKENS_PER_PASSAGE * len(ids) + LISTWISE_EXTRA_TOKENS
            messages = listwise_messages(query, [docs[i] for i in ids], self.max_passage_chars)
            answer = await self._ask(http, messages, max_tokens)
            order = apply_window(order, start, end, self._parse_permutation(ids, answer))
        raw, relevance = [0.0] * n, [0.0] * n
        for r, i in enumerate(order):
            raw[i], relevance[i] = float(n - r), 1.0 - r / n
        return Scores(raw=raw, relevance=relevance)

    def _parse_permutation(self, ids: list[int], answer: str) -> list[int]:
        try:
            return parse_permutation(answer, len(ids))
        except UnparseableAnswer as exc:
            self._malformed(f"the window of passages {ids}", answer, exc, "their previous order")
            return list(range(len(ids)))

    # -- shared --------------------------------------------------------------------------------

    async def _ask(self, http: httpx.AsyncClient, messages: list[dict[str, str]], max_tokens: int) -> str:
        self._count("requests")
        return await self._client.complete(http, messages, max_tokens=max_tokens)

    def _malformed(self, where: str, answer: str, exc: UnparseableAnswer, fallback: str) -> None:
        snippet = " ".join(answer.split())[:200]
        if self.on_malformed is OnMalformed.RAISE:
            raise MalformedResponseError(
                f"model {self.model!r} gave an unusable answer for {where} ({exc}): {snippet!r}; "
                "use a stronger model, or on_malformed='zero' to degrade instead of failing",
                provider=PROVIDER,
            )
        self._count("malformed")
        log.warning("model %r gave an unusable answer for %s (%s): %r; using %s", self.model, where, exc, snippet, fallback)

    def _count(self, key: str) -> None:
        with self._stats_lock:
            self.stats[key] += 1


async def _gather_or_cancel(coros: list[Awaitable[T]]) -> list[T]:
    """``asyncio.gather`` that cancels the remaining requests as soon as one fails."""
    tasks = [asyncio.ensure_future(c) for c in coros]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
