"""Hugging Face text-embeddings-inference compatible API: ``POST /rerank``.

Request ``{"query", "texts": [str], "truncate": false, "truncation_direction": "Right",
"raw_scores": false, "return_text": false}``; response ``[{"index", "score", "text"?}]``, best
first. ``score`` is the normalized relevance (``sigmoid(logit)`` for cross-encoders) unless
``raw_scores`` asks for the raw model score. ``truncate`` defaults to false as in TEI: an
over-long (query, text) pair is a 400 naming ``texts[i]`` (TEI itself answers 413 there; ragsift
keeps one status per error type, see :mod:`ragsift.service.errors`). Only ``Right`` truncation
exists (the model cuts the end of the passage); ``Left`` is a 400.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, StrictBool, StrictStr

from ragsift.errors import BadInputError
from ragsift.service.errors import SCORING_ERRORS, error_responses
from ragsift.service.routes._common import get_state, score_passages
from ragsift.service.scoring import Truncate

__all__ = ["router"]

router = APIRouter(tags=["TEI"])


class RerankRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")
    query: StrictStr
    texts: list[StrictStr]
    truncate: StrictBool | None = None
    truncation_direction: StrictStr = "Right"
    raw_scores: StrictBool = False
    return_text: StrictBool = False


class Rank(BaseModel):
    index: int
    score: float
    text: str | None = None


@router.post(
    "/rerank",
    response_model=list[Rank],
    response_model_exclude_none=True,
    responses=error_responses(*(status for status in SCORING_ERRORS if status != 404)),  # no model field
)
async def rerank(body: RerankRequest, request: Request) -> list[dict]:
    get_state(request).require_ready()
    if body.truncation_direction.strip().lower() != "right":
        raise BadInputError(
            f"truncation_direction={body.truncation_direction!r} is not supported: the model cuts the end "
            "of the passage; send 'Right' (or leave it out)"
        )
    truncate = Truncate.END if body.truncate else Truncate.NONE
    scores = await score_passages(
        request, body.query, body.texts, truncate=truncate, query_field="query", field="texts"
    )
    values = scores.raw if body.raw_scores else scores.relevance
    order = sorted(range(len(body.texts)), key=lambda i: (-scores.raw[i], i))
    out = []
    for i in order:
        item: dict = {"index": i, "score": values[i]}
        if body.return_text:
            item["text"] = body.texts[i]
        out.append(item)
    return out
