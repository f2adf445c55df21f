"""``POST /v1/answer``: a grounded, cited answer from the served collection and an LLM.

The request is ``POST /v1/search``'s body (same fields, same checks; ``k`` defaults to 5 here)
plus ``stream`` (server-sent events instead of one JSON body) and ``max_tokens`` (answer length,
default 512)::

    {"query": "why do dogs bark?", "mode": "auto", "k": 5, "filters": {"lang": "en"},
     "rerank": false, "stream": false, "max_tokens": 512}

The pipeline: the first stage (mode, k, filters; optionally reranked) with validation, then, if
the validation passed and hits came back, the hits as passages [1]..[n] to the service's
OpenAI-compatible LLM (settings ``llm_url``, ``llm_model``, ``llm_api_key``, ``llm_timeout_s``;
:class:`ragsift.answer.Answerer`), and the answer's ``[n]`` citations mapped to the hits.

Response (``stream: false``)::

    {"status": "answered" | "validation_failed" | "no_passages",
     "question": "...", "answer": "Dogs bark at strangers [1].",
     "citations": [{"number": 1, "doc_id": "dogs", "id": "dogs#0", "title": "Dogs"}],
     "invalid_citations": [{"number": 7, "reason": "no passage [7]: ..."}],
     "hits": [...as /v1/search...], "validation": {"verdict": "pass", ...},
     "suggestions": null | {"spelling": [{"term", "suggestion"}], "related": [...]},
     "model": "...", "finish_reason": "stop", "usage": {"prompt_tokens", ...},
     "timings_ms": {"bm25"?, "dense"?, "fuse", "expand", "rerank"?, "validate", "llm", "first_token"? (streamed), "total"},
     "route"?, "rerank_settings"?, "warnings"?}

A failed validation makes no LLM call: the status is ``validation_failed``, ``answer`` is null and
``suggestions`` holds what to try instead (an answer, 200, not an error).

With ``stream: true`` the answer is ``text/event-stream``, one JSON object per ``data:`` line:

* ``event: hits`` — ``{"hits", "validation", "timings_ms", "route"?, ...}``, first;
* ``event: delta`` — ``{"text": "..."}``, the answer as the LLM writes it;
* ``event: citations`` — ``{"citations", "invalid_citations"}``, once the answer is complete;
* ``event: validation`` — instead of the above when the validation failed:
  ``{"validation", "suggestions", "hits"}`` (no LLM call);
* ``event: error`` — the error body of :mod:`ragsift.service.errors` plus ``"status"``, when the
  LLM fails after the stream started;
* ``event: done`` — last: the whole :class:`~ragsift.answer.Answer` as in the JSON response.

The LLM's first token is awaited before the stream starts, so an LLM that is unreachable, rejects
the request or times out is an ordinary error response in both modes: **502** (``upstream_error``:
connection refused, 5xx, 429 after the retries, our key rejected) or **504**
(``upstream_timeout``). No ``llm_url``/``llm_model`` configured is a **404**; the other statuses
are ``/v1/search``'s. The non-streamed answer must arrive within ``request_timeout_s``.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, StrictBool, StrictInt

from ragsift.answer import DEFAULT_MAX_TOKENS, Answer, Answerer, AnswerStatus, Delta
from ragsift.errors import ConfigError
from ragsift.pipeline.search import SearchResult, Searcher
from ragsift.service.errors import SCORING_ERRORS, error_body, error_responses
from ragsift.service.middleware import note_passages
from ragsift.service.routes._common import get_state
from ragsift.service.routes.search import (
    HitModel,
    RouteModel,
    SearchPlan,
    SearchRequest,
    SettingModel,
    prepare_search,
)
from ragsift.service.settings import ServiceSettings

__all__ = ["router", "AnswerRequest", "AnswerResponse", "ANSWER_ERRORS", "MAX_TOKENS"]

router = APIRouter(tags=["Answer"])
logger = logging.getLogger("ragsift.service")

#: Statuses ``/v1/answer`` answers besides 200: the search's, and 502/504 for the LLM.
ANSWER_ERRORS = tuple(sorted({*SCORING_ERRORS, 502, 504}))
MAX_TOKENS = 8192
NO_LLM = (
    "no LLM is configured on this service, so it cannot answer. Fix: start it with llm_url and llm_model "
    "(RAGSIFT_LLM_URL, RAGSIFT_LLM_MODEL; key in RAGSIFT_LLM_API_KEY or OPENAI_API_KEY), an OpenAI-compatible endpoint"
)


class AnswerRequest(SearchRequest):
    """Body of ``POST /v1/answer``: ``/v1/search``'s fields, ``k`` 5 by default, plus ``stream`` and ``max_tokens``."""

    k: StrictInt = 5
    stream: StrictBool = False
    max_tokens: StrictInt | None = None


class CitationModel(BaseModel):
    number: int
    doc_id: str
    id: str
    title: str


class InvalidCitationModel(BaseModel):
    number: int
    reason: str


class AnswerResponse(BaseModel):
    status: str
    question: str
    answer: str | None
    citations: list[CitationModel]
    invalid_citations: list[InvalidCitationModel]
    hits: list[HitModel]
    validation: dict[str, Any] | None
    suggestions: dict[str, Any] | None
    model: str | None
    finish_reason: str | None
    usage: dict[str, Any] | None
    timings_ms: dict[str, float]
    route: RouteModel | None = None
    rerank_settings: dict[str, SettingModel] | None = None
    warnings: list[str] | None = None


_STREAM_DOC = {
    "description": "The answer (JSON), or with stream=true server-sent events: hits, delta…, citations, done "
    "(validation and done when the validation failed; error when the LLM fails mid-stream).",
    "content": {"text/event-stream": {"schema": {"type": "string"}}},
}


@router.post(
    "/v1/answer",
    response_model=AnswerResponse,
    responses={200: _STREAM_DOC, **error_responses(*ANSWER_ERRORS)},
)
async def answer(body: AnswerRequest, request: Request) -> Any:
    """Answer the query from the served collection with citations; see the module docstring."""
    state = get_state(request)
    state.require_ready()
    answerer = _answerer(state.settings, body.max_tokens)
    plan, searcher = prepare_search(body, state)
    with state.metrics.time_stage("retrieve"):
        result = await asyncio.to_thread(_search, searcher, plan)
    note_passages(request, len(result.hits))
    if not body.stream:
        return (await answerer.answer(plan.query, result)).to_dict()
    events = answerer.stream(plan.query, result)
    first = await anext(events)  # LLM errors before the first token are ordinary error responses
    return StreamingResponse(
        _sse(first, events, result), media_type="text/event-stream", headers={"Cache-Control": "no-cache"}
    )


def _answerer(settings: ServiceSettings, max_tokens: int | None) -> Answerer:
    if not settings.llm_url or not settings.llm_model:
        raise HTTPException(status_code=404, detail=NO_LLM)
    if max_tokens is not None and not 1 <= max_tokens <= MAX_TOKENS:
        raise ConfigError(f"max_tokens={max_tokens!r} is not valid; use an integer in 1..{MAX_TOKENS}")
    key = settings.llm_api_key.get_secret_value() if settings.llm_api_key is not None else None
    return Answerer(
        base_url=settings.llm_url, model=settings.llm_model, api_key=key, timeout=settings.llm_timeout_s,
        max_tokens=max_tokens or DEFAULT_MAX_TOKENS,
    )


def _search(searcher: Searcher, plan: SearchPlan) -> SearchResult:
    """The first stage (and the rerank, on the model thread) with validation; blocking, run it in a thread."""
    return searcher.search(plan.query, plan.options, rerank=plan.rerank, validate=True)


async def _sse(first: Delta | Answer, events: AsyncIterator[Delta | Answer], result: SearchResult) -> AsyncIterator[str]:
    """The server-sent events of a streamed answer (see the module docstring)."""
    try:
        if isinstance(first, Answer) and first.status is AnswerStatus.VALIDATION_FAILED:
            hits = [h.to_dict() for h in first.hits]
            yield _event("validation", {"validation": first.validation, "suggestions": first.suggestions, "hits": hits})
            yield _event("done", first.to_dict())
            return
        yield _event("hits", _hits_event(result))
        item: Delta | Answer | None = first
        while item is not None:
            if isinstance(item, Delta):
                yield _event("delta", {"text": item.text})
            else:
                if item.status is AnswerStatus.ANSWERED:
                    citations = {"citations": [c.to_dict() for c in item.citations],
                                 "invalid_citations": [c.to_dict() for c in item.invalid_citations]}
                    yield _event("citations", citations)
                yield _event("done", item.to_dict())
            item = await anext(events, None)
    except Exception as exc:  # the stream has started: the error becomes its last event
        status, payload, _ = error_body(exc)
        if payload["error"]["type"] == "internal_error":
            logger.error("error while streaming an answer: %s", exc, exc_info=exc)
        yield _event("error", {**payload, "status": status})
    finally:
        await events.aclose()


def _hits_event(result: SearchResult) -> dict[str, Any]:
    data: dict[str, Any] = {
        "hits": [h.to_dict() for h in result.hits],
        "validation": getattr(result, "validation", None),
        "timings_ms": {k: v for k, v in result.timings_ms.items() if k != "total"},
    }
    for name in ("route", "rerank_settings", "warnings"):
        if getattr(result, name, None):
            data[name] = getattr(result, name)
    return data


def _event(name: str, data: Any) -> str:
    return f"event: {name}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"
