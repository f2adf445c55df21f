"""NVIDIA NIM (NeMo Retriever reranking) compatible API: ``POST /v1/ranking`` and ``GET /v1/models``.

Contract (NIM "Use the API" and API reference pages):

* request ``{"model", "query": {"text"}, "passages": [{"text"}], "truncate": "NONE"|"END"}``;
  ``model`` is required; ``truncate`` defaults to ``NONE`` as in NIM: a (query, passage) pair over
  the model's token limit fails the request with 400, naming the passage; ``END`` cuts it;
* response ``{"rankings": [{"index", "logit"}], "usage": {"prompt_tokens", "total_tokens"}}``,
  rankings sorted by logit (raw model score), descending; ties keep input order. ``usage`` counts
  the tokens of every pair with the model's tokenizer (omitted when the reranker has none);
* ``model`` must be one this service serves (``GET /v1/models``), else 404 ``model_not_found``
  (unless ``strict_model`` is off), as OpenAI-style NIM endpoints answer an unknown model;
* ``GET /v1/models`` → ``{"object": "list", "data": [{"id", "object": "model", "created",
  "owned_by", "root"}]}``: LangChain's ``NVIDIARerank`` picks its default model from it.
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, StrictStr, field_validator

from ragsift.service.errors import SCORING_ERRORS, error_responses
from ragsift.service.routes._common import get_state, pair_tokens, score_passages
from ragsift.service.scoring import Truncate

__all__ = ["router"]

router = APIRouter(tags=["NIM"])


class TextItem(BaseModel):
    model_config = ConfigDict(extra="ignore")
    text: StrictStr


class RankingRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")
    model: StrictStr
    query: TextItem
    passages: list[TextItem]
    truncate: Literal["NONE", "END"] = "NONE"

    @field_validator("truncate", mode="before")
    @classmethod
    def _upper(cls, v: object) -> object:
        return v.strip().upper() if isinstance(v, str) else v


class Ranking(BaseModel):
    index: int
    logit: float


class Usage(BaseModel):
    prompt_tokens: int
    total_tokens: int


class RankingResponse(BaseModel):
    rankings: list[Ranking]
    usage: Usage | None = None


class ModelCard(BaseModel):
    id: str
    object: str = "model"
    created: int
    owned_by: str = "ragsift"
    root: str


class ModelList(BaseModel):
    object: str = "list"
    data: list[ModelCard]


@router.post(
    "/v1/ranking",
    response_model=RankingResponse,
    response_model_exclude_none=True,
    responses=error_responses(*SCORING_ERRORS),
)
async def ranking(body: RankingRequest, request: Request) -> dict:
    state = get_state(request)
    state.check_model(body.model)
    query, passages, truncate = body.query.text, [p.text for p in body.passages], Truncate(body.truncate)
    scores = await score_passages(
        request, query, passages, truncate=truncate, query_field="query.text", field="passages"
    )
    order = sorted(range(len(passages)), key=lambda i: (-scores.raw[i], i))
    response: dict = {"rankings": [{"index": i, "logit": scores.raw[i]} for i in order]}
    tokens = await pair_tokens(state, query, passages, truncate)
    if tokens is not None:
        response["usage"] = {"prompt_tokens": tokens, "total_tokens": tokens}
    return response


@router.get("/v1/models", response_model=ModelList, responses=error_responses(401, 500, 504))
async def models(request: Request) -> dict:
    state = get_state(request)
    card = {"id": state.model_id, "created": int(state.started_at), "root": state.model_id}
    return {"object": "list", "data": [card]}
