"""What the rerank routes share: request limits, scoring through the batcher, error wording."""

from __future__ import annotations

import asyncio

from fastapi import Request

from ragsift.errors import BadInputError, PassageTooLongError
from ragsift.rerank.base import Scores
from ragsift.service.middleware import note_passages, request_deadline
from ragsift.service.scoring import Truncate
from ragsift.service.state import ServiceState

__all__ = ["get_state", "check_limits", "score_passages", "pair_tokens"]


def get_state(request: Request) -> ServiceState:
    return request.app.state.ragsift


def check_limits(state: ServiceState, query: str, passages: list[str], *, query_field: str, field: str) -> None:
    """BadInputError (400) naming the field when the request breaks a limit of the settings."""
    s = state.settings
    if not query.strip():
        raise BadInputError(f"{query_field} is empty; send the text to rank the {field} against")
    if len(query) > s.max_query_chars:
        raise BadInputError(
            f"{query_field} has {len(query)} characters, more than max_query_chars={s.max_query_chars}; shorten it"
        )
    if not passages:
        raise BadInputError(f"{field} is empty; send at least one")
    if len(passages) > s.max_passages:
        raise BadInputError(
            f"{field} has {len(passages)} items, more than max_passages={s.max_passages}; split the request"
        )
    for i, text in enumerate(passages):
        if len(text) > s.max_chars_per_passage:
            raise BadInputError(
                f"{field}[{i}] has {len(text)} characters, more than max_chars_per_passage="
                f"{s.max_chars_per_passage}; chunk it"
            )


async def score_passages(
    request: Request,
    query: str,
    passages: list[str],
    *,
    truncate: Truncate,
    query_field: str,
    field: str,
) -> Scores:
    """Check readiness and limits, then score on the model thread (through the batcher)."""
    state = get_state(request)
    state.require_ready()
    check_limits(state, query, passages, query_field=query_field, field=field)
    note_passages(request, len(passages))
    try:
        return await state.batcher.score(query, passages, truncate=truncate, deadline=request_deadline(request))
    except PassageTooLongError as exc:
        raise PassageTooLongError(
            f"{field}[{exc.index}] is too long: {exc.tokens} tokens with the query exceed the model's limit of "
            f"{exc.limit} tokens, and truncation is off. Fix: ask for truncation (truncate='END'), or shorten "
            "or chunk the passage",
            index=exc.index,
            tokens=exc.tokens,
            limit=exc.limit,
        ) from None


async def pair_tokens(state: ServiceState, query: str, passages: list[str], truncate: Truncate) -> int | None:
    """Tokens the model read for the request (None without a tokenizer)."""
    if state.tokens is None:
        return None
    return await asyncio.to_thread(state.tokens.pair_tokens, query, passages, truncate)
