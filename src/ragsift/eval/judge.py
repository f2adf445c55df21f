"""LLM-judged RAG metrics over any OpenAI-compatible chat endpoint: faithfulness and answer relevancy.

For each query the judge model (1) writes an answer from the top N retrieved passages, then
(2) splits that answer into statements and says which the passages support, and (3) writes
questions the answer would answer and says whether it is noncommittal. As in RAGAS:

* **faithfulness** = supported statements / statements (a query whose answer has no statement
  is not scored);
* **answer relevancy** = mean cosine similarity between the original question and the generated
  questions (embedded with the collection's embedding model), 0 when the answer is noncommittal.

Robustness: JSON is read from the whole answer, a fenced block, or the first object embedded in
prose (``<think>`` blocks dropped); an answer without usable JSON counts as ``malformed`` for that
metric and query. Requests go through :class:`ragsift.rerank.llm.client.ChatClient` over
:class:`ragsift.http.HttpClient`, the HTTP stack of every remote call: a timeout per attempt,
``max_retries`` retries with jittered exponential backoff (``backoff``, capped at ``max_backoff``) or
the server's ``Retry-After`` on timeouts, connection errors and HTTP 408, 429, 500, 502, 503 and
504, and the same typed errors as the hosted rerankers. Concurrency is bounded. A query whose
requests fail after the retries is counted in ``errors`` and left out (``on_error="skip"``, the
default), or stops the evaluation (``on_error="raise"``).
"""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Callable, Sequence

import numpy as np

from ragsift._enums import parse_enum
from ragsift.errors import ConfigError, RemoteError

__all__ = [
    "JudgeConfig",
    "JudgeItem",
    "JudgeReport",
    "LLMJudge",
    "OnError",
    "extract_json",
    "parse_statements",
    "parse_questions",
    "answer_prompt",
    "faithfulness_prompt",
    "relevancy_prompt",
]

ANSWER_TASK = "### Task: answer the question from the context"
FAITHFULNESS_TASK = "### Task: check the answer's statements against the context"
RELEVANCY_TASK = "### Task: write the questions this answer answers"


class OnError(str, Enum):
    SKIP = "skip"
    RAISE = "raise"


@dataclass
class JudgeConfig:
    """Where the judge model is and how to call it. ``base_url`` ends with ``/v1`` (OpenAI style)."""

    base_url: str
    model: str
    api_key: str | None = None
    contexts: int = 5
    max_passage_chars: int = 2000
    questions: int = 3
    concurrency: int = 4
    timeout: float = 60.0
    max_retries: int = 2
    backoff: float = 0.5
    max_backoff: float = 8.0
    on_error: OnError | str = OnError.SKIP
    max_tokens: int = 512

    def __post_init__(self) -> None:
        if not isinstance(self.base_url, str) or not self.base_url.startswith(("http://", "https://")):
            raise ConfigError(f"judge base_url={self.base_url!r} must be an http(s) URL like http://127.0.0.1:8000/v1")
        if not isinstance(self.model, str) or not self.model.strip():
            raise ConfigError(f"judge model={self.model!r} must name the model the endpoint serves")
        for name in ("contexts", "max_passage_chars", "questions", "concurrency", "max_tokens"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"judge {name}={value!r} must be a positive integer")
        if not (isinstance(self.timeout, (int, float)) and self.timeout > 0):
            raise ConfigError(f"judge timeout={self.timeout!r} must be a positive number of seconds")
        if isinstance(self.max_retries, bool) or not isinstance(self.max_retries, int) or self.max_retries < 0:
            raise ConfigError(f"judge max_retries={self.max_retries!r} must be an integer >= 0")
        self.on_error = parse_enum(OnError, self.on_error, param="on_error")


@dataclass
class JudgeItem:
    """One query to judge: its id, text and the ranked passages handed to the LLM."""

    qid: str
    question: str
    contexts: list[str]


@dataclass
class JudgeReport:
    """Mean faithfulness and answer relevancy over the judged queries, with counts and details."""

    faithfulness: float | None
    answer_relevancy: float | None
    queries: int
    judged: dict[str, int]
    malformed: dict[str, int]
    errors: int
    details: list[dict] = field(default_factory=list)

    def summary(self) -> dict:
        return {
            "faithfulness": self.faithfulness,
            "answer_relevancy": self.answer_relevancy,
            "queries": self.queries,
            "judged": dict(self.judged),
            "malformed": dict(self.malformed),
            "errors": self.errors,
        }


# ---------------------------------------------------------------------------------------- prompts


def _context_block(contexts: Sequence[str], max_chars: int) -> str:
    return "\n".join(f"[{i}] {' '.join(c.split())[:max_chars]}" for i, c in enumerate(contexts, start=1))


def answer_prompt(question: str, contexts: Sequence[str], max_chars: int = 2000) -> list[dict[str, str]]:
    system = (
        "You answer questions using only the numbered context passages. If they do not contain the "
        "answer, say that the context does not answer the question."
    )
    user = f"{ANSWER_TASK}\n\nContext:\n{_context_block(contexts, max_chars)}\n\nQuestion: {question}\n\nAnswer in at most three sentences."
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def faithfulness_prompt(question: str, answer: str, contexts: Sequence[str], max_chars: int = 2000) -> list[dict[str, str]]:
    user = (
        f"{FAITHFULNESS_TASK}\n\nSplit the answer into short standalone statements. For each statement, decide "
        "whether the context supports it (true) or not (false). Reply with JSON only, in this form:\n"
        '{"statements": [{"statement": "...", "supported": true}]}\n\n'
        f"Context:\n{_context_block(contexts, max_chars)}\n\nQuestion: {question}\n\nAnswer: {answer}"
    )
    return [{"role": "user", "content": user}]


def relevancy_prompt(answer: str, n_questions: int = 3) -> list[dict[str, str]]:
    user = (
        f"{RELEVANCY_TASK}\n\nWrite {n_questions} different questions that the answer below answers, and say "
        "whether the answer is noncommittal (evasive, vague, or says it cannot answer). Reply with JSON only, "
        'in this form:\n{"questions": ["...", "..."], "noncommittal": false}\n\n'
        f"Answer: {answer}"
    )
    return [{"role": "user", "content": user}]


# ---------------------------------------------------------------------------------------- parsing

_THINK = re.compile(r"<think>.*?(</think>|$)", re.DOTALL | re.IGNORECASE)
_FENCE = re.compile(r"```[a-zA-Z]*\s*(.*?)```", re.DOTALL)


class MalformedJudgeAnswer(ValueError):
    """The judge's answer holds no JSON of the expected shape."""


def extract_json(text: str) -> Any:
    """The first JSON object in ``text``: the whole text, a fenced block, or one embedded in prose."""
    text = _THINK.sub(" ", text).strip()
    for candidate in (text, *(m.group(1).strip() for m in _FENCE.finditer(text))):
        try:
            return json.loads(candidate)
        except ValueError:
            pass
    decoder = json.JSONDecoder()
    for match in re.finditer(r"\{", text):
        try:
            value, _ = decoder.raw_decode(text, match.start())
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
    raise MalformedJudgeAnswer(f"no JSON object in the judge's answer: {text[:120]!r}")


def _as_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("true", "yes", "supported", "1", "false", "no", "unsupported", "0"):
        return value.strip().lower() in ("true", "yes", "supported", "1")
    raise MalformedJudgeAnswer(f"{value!r} is not a yes/no verdict")


def parse_statements(text: str) -> list[bool]:
    """Verdicts of ``{"statements": [{"statement": ..., "supported": bool}, ...]}``."""
    data = extract_json(text)
    statements = data.get("statements") if isinstance(data, dict) else None
    if not isinstance(statements, list):
        raise MalformedJudgeAnswer("the judge's JSON has no 'statements' list")
    verdicts = []
    for item in statements:
        if not isinstance(item, dict) or not any(k in item for k in ("supported", "verdict")):
            raise MalformedJudgeAnswer(f"statement {item!r} has no 'supported' verdict")
        verdicts.append(_as_bool(item.get("supported", item.get("verdict"))))
    return verdicts


def parse_questions(text: str) -> tuple[list[str], bool]:
    """``(questions, noncommittal)`` from ``{"questions": [...], "noncommittal": bool}``."""
    data = extract_json(text)
    questions = data.get("questions") if isinstance(data, dict) else None
    if not isinstance(questions, list) or not all(isinstance(q, str) for q in questions):
        raise MalformedJudgeAnswer("the judge's JSON has no 'questions' list of strings")
    questions = [q.strip() for q in questions if q.strip()]
    if not questions:
        raise MalformedJudgeAnswer("the judge wrote no question")
    return questions, _as_bool(data.get("noncommittal", False))


# ---------------------------------------------------------------------------------------- judge


class LLMJudge:
    """Judges RAG answers with an OpenAI-compatible chat model (see the module docstring).

    ``embed(texts) -> (n, dim) array`` embeds questions for answer relevancy; ``transport`` is an
    optional ``httpx`` transport (tests use a local stub server or ``httpx.MockTransport``).
    """

    def __init__(self, config: JudgeConfig, embed: Callable[[list[str]], np.ndarray], *, transport=None):
        from ragsift.rerank.llm.client import ChatClient

        self.config = config
        self._embed = embed
        self.client = ChatClient(
            model=config.model,
            base_url=config.base_url,
            api_key=config.api_key,
            timeout=config.timeout,
            max_retries=config.max_retries,
            backoff=config.backoff,
            max_backoff=config.max_backoff,
            temperature=0.0,
            transport=transport,
        )

    def evaluate(self, items: Sequence[JudgeItem]) -> JudgeReport:
        """Judge every item (concurrently, at most ``config.concurrency`` queries in flight)."""
        if not items:
            raise ConfigError("nothing to judge: no query has retrieved passages")
        details = asyncio.run(self._all(list(items)))
        return self._report(details)

    async def _all(self, items: list[JudgeItem]) -> list[dict]:
        limit = asyncio.Semaphore(self.config.concurrency)
        async with self.client.open(self.config.concurrency) as http:

            async def one(item: JudgeItem) -> dict:
                async with limit:
                    return await self._judge(http, item)

            return list(await asyncio.gather(*(one(item) for item in items)))

    async def _judge(self, http, item: JudgeItem) -> dict:
        cfg = self.config
        row: dict[str, Any] = {"qid": item.qid, "question": item.question}
        try:
            answer = await self.client.complete(
                http, answer_prompt(item.question, item.contexts, cfg.max_passage_chars), max_tokens=cfg.max_tokens
            )
            row["answer"] = answer.strip()
            faith, relev = await asyncio.gather(
                self.client.complete(
                    http,
                    faithfulness_prompt(item.question, row["answer"], item.contexts, cfg.max_passage_chars),
                    max_tokens=cfg.max_tokens,
                ),
                self.client.complete(http, relevancy_prompt(row["answer"], cfg.questions), max_tokens=cfg.max_tokens),
            )
        except RemoteError as exc:
            if cfg.on_error is OnError.RAISE:
                raise
            row["error"] = f"{type(exc).__name__}: {exc}"
            return row
        row.update(self._faithfulness(faith))
        row.update(self._relevancy(item.question, relev))
        return row

    @staticmethod
    def _faithfulness(text: str) -> dict:
        try:
            verdicts = parse_statements(text)
        except MalformedJudgeAnswer as exc:
            return {"faithfulness": None, "faithfulness_malformed": str(exc)}
        if not verdicts:
            return {"faithfulness": None, "statements": 0}
        return {"faithfulness": sum(verdicts) / len(verdicts), "statements": len(verdicts)}

    def _relevancy(self, question: str, text: str) -> dict:
        try:
            questions, noncommittal = parse_questions(text)
        except MalformedJudgeAnswer as exc:
            return {"answer_relevancy": None, "relevancy_malformed": str(exc)}
        vectors = _unit_rows(np.asarray(self._embed([question, *questions]), dtype=float))
        similarity = float(np.mean(vectors[1:] @ vectors[0]))
        score = 0.0 if noncommittal else max(similarity, 0.0)
        return {"answer_relevancy": score, "generated_questions": questions, "noncommittal": noncommittal}

    def _report(self, details: list[dict]) -> JudgeReport:
        def mean(key: str) -> float | None:
            values = [d[key] for d in details if d.get(key) is not None]
            return float(np.mean(values)) if values else None

        judged = {k: sum(d.get(k) is not None for d in details) for k in ("faithfulness", "answer_relevancy")}
        malformed = {
            "faithfulness": sum("faithfulness_malformed" in d for d in details),
            "answer_relevancy": sum("relevancy_malformed" in d for d in details),
        }
        errors = sum("error" in d for d in details)
        return JudgeReport(mean("faithfulness"), mean("answer_relevancy"), len(details), judged, malformed, errors, details)


def _unit_rows(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return vectors / norms
