"""Cohere-compatible rerank API: ``POST /v1/rerank`` and ``POST /v2/rerank``.

Both answer ``{"id", "results": [{"index", "relevance_score", "document"?}], "meta": {"api_version":
{"version"}, "billed_units": {"search_units"}}}``, best first, at most ``top_n``.
``relevance_score`` is ragsift's normalized score in [0, 1] (``sigmoid(logit)`` for cross-encoders).
One search unit is billed per 100 documents, as Cohere counts.

Differences mirrored from Cohere's API reference:

======================  ==========================================  =====================================
Field                   v1                                          v2
======================  ==========================================  =====================================
``model``               optional (default: the served model)        required
``documents``           strings or objects with ``text`` (other     strings (objects with ``text`` are
                        fields are kept and returned); with         accepted, as the first v2 release
                        ``rank_fields``, those fields are ranked    did)
``return_documents``    returns each ``document`` (the object as    removed from v2 (accepted for SDKs
                        sent, or ``{"text"}``)                      of the first v2 release)
``max_tokens_per_doc``  accepted (ragsift extension)                default 4096: longer documents are
                                                                    cut to that many tokens
``max_chunks_per_doc``  accepted, ignored (one chunk per document)  —
======================  ==========================================  =====================================

A document object nested more than :data:`MAX_DOCUMENT_DEPTH` levels deep is a 400.
Documents over the model's limit are always truncated (``END``), as Cohere does; unknown fields
(``relevant_spans``, ``priority``) are ignored. ``model`` naming another model is a 404.
"""

from __future__ import annotations

import asyncio
import math
import uuid
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, StrictBool, StrictInt, StrictStr

from ragsift.errors import BadInputError
from ragsift.rerank.base import rank
from ragsift.service.errors import SCORING_ERRORS, error_responses
from ragsift.service.routes._common import check_limits, get_state, score_passages
from ragsift.service.scoring import Truncate
from ragsift.service.state import ServiceState

__all__ = ["router"]

router = APIRouter(tags=["Cohere"])

Document = StrictStr | dict[str, Any]

MAX_DOCUMENT_DEPTH = 32
"""Deepest nesting of objects/arrays in a document object (400 beyond): v1 returns the object as
sent, and JSON nested some hundreds of levels deep cannot be written back."""


class RerankV1Request(BaseModel):
    model_config = ConfigDict(extra="ignore")
    model: StrictStr | None = None
    query: StrictStr
    documents: list[Document]
    top_n: StrictInt | None = None
    rank_fields: list[StrictStr] | None = None
    return_documents: StrictBool = False
    max_chunks_per_doc: StrictInt | None = None
    max_tokens_per_doc: StrictInt | None = None


class RerankV2Request(BaseModel):
    model_config = ConfigDict(extra="ignore")
    model: StrictStr
    query: StrictStr
    documents: list[Document]
    top_n: StrictInt | None = None
    max_tokens_per_doc: StrictInt | None = None
    return_documents: StrictBool = False


class Result(BaseModel):
    model_config = ConfigDict(extra="allow")
    index: int
    relevance_score: float
    document: dict[str, Any] | None = None


class RerankResponse(BaseModel):
    id: str
    results: list[Result]
    meta: dict[str, Any]


@router.post(
    "/v1/rerank",
    response_model=RerankResponse,
    response_model_exclude_none=True,
    responses=error_responses(*SCORING_ERRORS),
)
async def rerank_v1(body: RerankV1Request, request: Request) -> dict:
    texts = [_text(doc, i, body.rank_fields) for i, doc in enumerate(body.documents)]
    returned = [doc if isinstance(doc, dict) else {"text": doc} for doc in body.documents]
    return await _rerank(request, body, texts, returned if body.return_documents else None, version="1")


@router.post(
    "/v2/rerank",
    response_model=RerankResponse,
    response_model_exclude_none=True,
    responses=error_responses(*SCORING_ERRORS),
)
async def rerank_v2(body: RerankV2Request, request: Request) -> dict:
    texts = [_text(doc, i, None) for i, doc in enumerate(body.documents)]
    returned = [{"text": t} for t in texts] if body.return_documents else None
    max_tokens = 4096 if body.max_tokens_per_doc is None else body.max_tokens_per_doc
    return await _rerank(request, body, texts, returned, version="2", max_tokens=max_tokens)


async def _rerank(
    request: Request,
    body: RerankV1Request | RerankV2Request,
    texts: list[str],
    returned: list[dict] | None,
    *,
    version: str,
    max_tokens: int | None = None,
) -> dict:
    state = get_state(request)
    state.require_ready()
    state.check_model(body.model)
    if body.top_n is not None and body.top_n < 1:
        raise BadInputError(f"top_n={body.top_n} must be a positive integer, or left out for all documents")
    check_limits(state, body.query, texts, query_field="query", field="documents")  # before tokenizing
    max_tokens = body.max_tokens_per_doc if body.max_tokens_per_doc is not None else max_tokens
    texts = await _cut(state, texts, max_tokens)
    scores = await score_passages(
        request, body.query, texts, truncate=Truncate.END, query_field="query", field="documents"
    )
    results = []
    for r in rank(scores, None, body.top_n, None):
        item: dict[str, Any] = {"index": r.index, "relevance_score": r.relevance}
        if returned is not None:
            item["document"] = returned[r.index]
        results.append(item)
    meta = {"api_version": {"version": version}, "billed_units": {"search_units": math.ceil(len(texts) / 100)}}
    return {"id": str(uuid.uuid4()), "results": results, "meta": meta}


def _text(doc: Any, i: int, rank_fields: list[str] | None) -> str:
    if isinstance(doc, str):
        return doc
    _check_depth(doc, i)
    if rank_fields:
        lines = [f"{name}: {doc[name]}" for name in rank_fields if name in doc and doc[name] is not None]
        if not lines:
            raise BadInputError(f"documents[{i}] has none of the rank_fields {rank_fields}")
        return "\n".join(lines)
    text = doc.get("text")
    if not isinstance(text, str):
        raise BadInputError(
            f"documents[{i}] is an object without a 'text' string; send a string, {{'text': ...}}, "
            "or name the fields to rank with rank_fields"
        )
    return text


def _check_depth(doc: dict[str, Any], i: int) -> None:
    """BadInputError (400) when ``documents[i]`` nests objects or arrays deeper than MAX_DOCUMENT_DEPTH."""
    stack: list[tuple[Any, int]] = [(doc, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DOCUMENT_DEPTH:
            raise BadInputError(
                f"documents[{i}] is nested more than {MAX_DOCUMENT_DEPTH} levels deep; send a flatter object "
                "(only its 'text' or its rank_fields are ranked)"
            )
        children = item.values() if isinstance(item, dict) else item
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))


async def _cut(state: ServiceState, texts: list[str], max_tokens: int | None) -> list[str]:
    """Documents cut to ``max_tokens`` tokens with the model's tokenizer (when it has one)."""
    if max_tokens is None:
        return texts
    if max_tokens < 1:
        raise BadInputError(f"max_tokens_per_doc={max_tokens} must be a positive integer")
    if state.tokens is None or max_tokens >= state.tokens.max_length:
        return texts  # the model's own END truncation is at least as short
    return await asyncio.to_thread(state.tokens.cut, texts, max_tokens)
