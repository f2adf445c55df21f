"""``POST /v1/search``: BM25, dense or hybrid search over the served collection, optionally reranked.

Request body (JSON); only ``query`` is required::

    {"query": "...", "mode": "hybrid", "k": 10,
     "fusion": "rrf", "rrf_k": 60, "weights": {"bm25": 0.4, "dense": 0.6}, "normalization": "minmax",
     "rerank": false, "candidates": 45, "top_n": null, "threshold": null, "interpolate": null,
     "filters": {"lang": "en", "year": [2020, 2021]}}

Response::

    {"hits": [{"id", "doc_id", "score", "title", "text", "source_scores", "metadata"}],
     "timings_ms": {"bm25"?, "dense"?, "fuse", "expand", "filter"?, "rerank"?, "total"}}

Without ``rerank`` the first stage returns ``k`` hits. With ``rerank: true`` it returns
``candidates`` hits (default 45, or the service's ``max_passages`` if lower) and the service's
reranker keeps ``top_n`` of them (default ``k``); the rerank goes through the service's queue
and micro-batcher like ``/v1/ranking`` (so a full queue answers 429 here too). ``fusion``,
``rrf_k``, ``weights`` and ``normalization`` apply to ``mode: hybrid`` only,
``candidates``/``top_n``/``threshold``/``interpolate`` to ``rerank: true`` only; sending them
otherwise is a 400 rather than being silently ignored.

Errors (statuses from :data:`ragsift.service.errors.ERROR_TABLE`): a body that does not fit the
schema (wrong types, unknown fields) is 422; values that are not acceptable (blank query, ``k=0``,
an unknown ``mode``, which lists the valid ones) are 400; ``rerank: true`` on a service without a
reranker (``reranker_type=none``) is 400; no collection served is 404.

Metadata filters
----------------
A hit passes when, for every key, its *document's* metadata has that key and the value equals the
filter value (or one of the values, when the filter value is a list). ``true`` never equals ``1``.
The retrievers know nothing of metadata, so the filter runs after the first stage by
over-fetching: the first pass asks for ``max(FETCH_FLOOR, FETCH_FACTOR × wanted)`` hits, keeps the
ones that pass, and while fewer than ``wanted`` passed it asks again for ``FETCH_FACTOR`` times
more, until the request covers every chunk of the collection or the first stage stops returning
new hits. So a filter never misses a matching document that the first stage would rank; a very
selective filter on a large collection costs a few passes (at most ``log4(chunks / FETCH_FLOOR) +
2``), reported in ``timings_ms`` (stage times summed over passes, plus ``filter``). Reranking
sees only hits that passed.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, replace
from typing import Any, Mapping, Sequence, Union

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, ConfigDict, StrictBool, StrictFloat, StrictInt, StrictStr

from ragsift._enums import parse_enum
from ragsift.errors import BadInputError, ConfigError
from ragsift.fusion import Normalization
from ragsift.pipeline.rerank import RerankOptions, rerank_hits
from ragsift.pipeline.search import Mode, SearchOptions, SearchResult, Searcher
from ragsift.rerank.base import Reranker, Scores
from ragsift.rerank.identity import FirstStageReranker
from ragsift.service.middleware import note_passages
from ragsift.service.routes._common import get_state
from ragsift.service.scoring import Truncate
from ragsift.service.settings import ServiceSettings
from ragsift.service.state import ServiceState
from ragsift.types import Hit

__all__ = [
    "router",
    "SearchRequest",
    "SearchResponse",
    "SearchPlan",
    "MetadataFilter",
    "plan_search",
    "first_stage",
    "served_searcher",
    "MAX_K",
    "FETCH_FLOOR",
    "FETCH_FACTOR",
]

router = APIRouter(tags=["Search"])

MAX_K = 1000
"""Largest ``k``, ``candidates`` and ``top_n`` a request may ask for."""
FETCH_FLOOR = 100
"""Hits asked of the first stage on the first filtered pass, at least."""
FETCH_FACTOR = 4
"""Over-fetch multiplier of a filtered search (first pass and each further pass)."""
DEFAULT_CANDIDATES = 45

HYBRID_ONLY = ("fusion", "rrf_k", "weights", "normalization")
RERANK_ONLY = ("candidates", "top_n", "threshold", "interpolate")
NO_COLLECTION = (
    "no collection is served by this service, so there is nothing to search or change. "
    "Fix: start the service with collection=PATH (RAGSIFT_COLLECTION), a folder built by `ragsift index`"
)

Scalar = Union[StrictStr, StrictBool, StrictInt, StrictFloat, None]


class SearchRequest(BaseModel):
    """Body of ``POST /v1/search`` (the schema; values are checked by :func:`plan_search`)."""

    model_config = ConfigDict(extra="forbid")

    query: StrictStr
    mode: StrictStr = Mode.HYBRID.value
    k: StrictInt = 10
    fusion: StrictStr = "rrf"
    rrf_k: StrictInt | StrictFloat = 60.0
    weights: dict[str, StrictInt | StrictFloat] | None = None
    normalization: StrictStr = Normalization.MIN_MAX.value
    rerank: StrictBool = False
    candidates: StrictInt | None = None
    top_n: StrictInt | None = None
    threshold: StrictInt | StrictFloat | None = None
    interpolate: StrictInt | StrictFloat | None = None
    filters: dict[str, Union[Scalar, list[Scalar]]] | None = None


class HitModel(BaseModel):
    id: str
    doc_id: str
    score: float
    title: str
    text: str
    source_scores: dict[str, float]
    metadata: dict[str, Any]


class SearchResponse(BaseModel):
    hits: list[HitModel]
    timings_ms: dict[str, float]


class MetadataFilter:
    """``{key: value | [values]}``: passes metadata holding every key with an allowed value."""

    def __init__(self, filters: Mapping[str, Any]):
        self.allowed = {key: value if isinstance(value, list) else [value] for key, value in filters.items()}

    def matches(self, metadata: Mapping[str, Any] | None) -> bool:
        if metadata is None:
            return False
        for key, allowed in self.allowed.items():
            if key not in metadata or not any(_same(metadata[key], v) for v in allowed):
                return False
        return True


def _same(a: Any, b: Any) -> bool:
    """JSON equality: ``true`` is not ``1`` (Python says it is)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return a == b


@dataclass(frozen=True)
class SearchPlan:
    """A validated request: the first stage's options, the rerank options (or None), the filter."""

    query: str
    options: SearchOptions
    rerank: RerankOptions | None
    filter: MetadataFilter | None


def plan_search(req: SearchRequest, settings: ServiceSettings) -> SearchPlan:
    """Check the request's values (BadInputError/ConfigError → 400) and build the pipeline options."""
    if not req.query.strip():
        raise BadInputError("query is empty (or only whitespace); send the text to search for")
    if len(req.query) > settings.max_query_chars:
        raise BadInputError(
            f"query has {len(req.query)} characters, more than max_query_chars={settings.max_query_chars}; shorten it"
        )
    mode = parse_enum(Mode, req.mode, param="mode")
    sent = req.model_fields_set
    _only_with(sent & set(HYBRID_ONLY), mode is Mode.HYBRID, f"mode='hybrid' (this request has mode={mode.value!r})")
    _only_with(sent & set(RERANK_ONLY), req.rerank, "rerank=true")
    _check_count("k", req.k)
    parse_enum(Normalization, req.normalization, param="normalization")
    rerank = None
    if req.rerank:
        default = min(DEFAULT_CANDIDATES, settings.max_passages)
        candidates = default if req.candidates is None else req.candidates
        _check_count("candidates", candidates)
        if candidates > settings.max_passages:
            raise BadInputError(
                f"candidates={candidates} is more than the service's max_passages={settings.max_passages} "
                "(passages per rerank); ask for fewer candidates"
            )
        top_n = req.k if req.top_n is None else req.top_n
        _check_count("top_n", top_n)
        rerank = RerankOptions(candidates, top_n, _float(req.threshold), _float(req.interpolate))
    options = SearchOptions(
        mode=mode,
        k=rerank.candidates if rerank else req.k,
        fusion=req.fusion,
        rrf_k=float(req.rrf_k),
        weights=req.weights,
        normalization=req.normalization,
    )
    return SearchPlan(req.query, options, rerank, _filter(req.filters))


def _only_with(fields: set[str], allowed: bool, condition: str) -> None:
    if fields and not allowed:
        names = ", ".join(sorted(fields))
        pronoun = "them" if len(fields) > 1 else "it"
        raise ConfigError(f"{names} only apply with {condition}; drop {pronoun} or set {condition}")


def _check_count(name: str, value: int) -> None:
    if not 1 <= value <= MAX_K:
        raise ConfigError(f"{name}={value!r} is not valid; use an integer in 1..{MAX_K}")


def _float(value: float | None) -> float | None:
    return None if value is None else float(value)


def _filter(filters: Mapping[str, Any] | None) -> MetadataFilter | None:
    for key, allowed in (filters or {}).items():
        if isinstance(allowed, list) and not allowed:
            raise BadInputError(
                f"filters[{key!r}] is an empty list, which matches nothing; give at least one value or drop the key"
            )
    return MetadataFilter(filters) if filters else None


def first_stage(searcher: Searcher, plan: SearchPlan) -> SearchResult:
    """Retrieve (→ fuse → expand) with the plan's filter applied; blocking, run it in a worker thread."""
    if plan.filter is None:
        return searcher.search(plan.query, plan.options)
    return filtered_search(searcher, plan.query, plan.options, plan.filter)


def filtered_search(searcher: Searcher, query: str, opts: SearchOptions, flt: MetadataFilter) -> SearchResult:
    """The first ``opts.k`` hits that pass ``flt``, by over-fetching (see the module docstring)."""
    documents = searcher.collection.documents
    available = max(len(searcher.collection.chunks), 1)
    fetch = min(max(FETCH_FLOOR, FETCH_FACTOR * opts.k), available)
    timings: dict[str, float] = {}
    previous = -1
    while True:
        result = searcher.search(query, replace(opts, k=fetch))
        for name, ms in result.timings_ms.items():
            if name != "total":
                timings[name] = timings.get(name, 0.0) + ms
        start = time.perf_counter()
        kept = [h for h in result.hits if flt.matches(_metadata(documents, h))]
        timings["filter"] = timings.get("filter", 0.0) + (time.perf_counter() - start) * 1000.0
        exhausted = fetch >= available or len(result.hits) <= previous
        if len(kept) >= opts.k or exhausted:
            return SearchResult(hits=kept[: opts.k], timings_ms=timings)
        previous = len(result.hits)
        fetch = min(fetch * FETCH_FACTOR, available)


def _metadata(documents: Mapping[str, Any], hit: Hit) -> Mapping[str, Any] | None:
    doc = documents.get(hit.doc_id)
    return None if doc is None else doc.metadata


class _ScoresReplay(Reranker):
    """Hands :func:`rerank_hits` scores already computed by the batcher (so its logic is reused as is)."""

    name = "replay"

    def __init__(self, scores: Scores):
        self._scores = scores

    def score(self, query: str, documents: Sequence[str]) -> Scores:
        return self._scores


def served_searcher(state: ServiceState) -> Searcher:
    """The searcher over the served collection; 404 when the service serves none."""
    if state.searcher is None:
        raise HTTPException(status_code=404, detail=NO_COLLECTION)
    return state.searcher


def _check_reranker(state: ServiceState) -> None:
    model = getattr(state.runner, "model", None)
    if state.reranker is None or isinstance(model, FirstStageReranker):
        raise ConfigError(
            "rerank=true, but this service has no reranker (reranker_type='none' keeps the first-stage order). "
            "Fix: send rerank=false, or start the service with reranker_type='cross-encoder' and reranker_model=FOLDER"
        )


async def _rerank(request: Request, state: ServiceState, plan: SearchPlan, hits: list[Hit]) -> tuple[list[Hit], float]:
    """Score ``hits`` through the service's batcher, then order/cut/threshold them like the pipeline."""
    if not hits:
        return [], 0.0
    note_passages(request, len(hits))
    start = time.perf_counter()
    scores = await state.batcher.score(plan.query, [h.text for h in hits], truncate=Truncate.END)
    ranked, _ = rerank_hits(_ScoresReplay(scores), plan.query, hits, plan.rerank)
    return ranked, (time.perf_counter() - start) * 1000.0


@router.post("/v1/search", response_model=SearchResponse)
async def search(body: SearchRequest, request: Request) -> dict:
    """Search the served collection; see the module docstring for the body and the response."""
    state = get_state(request)
    state.require_ready()
    plan = plan_search(body, state.settings)
    if plan.rerank is not None:
        _check_reranker(state)
    searcher = served_searcher(state)  # one snapshot for the whole request
    with state.metrics.time_stage("retrieve"):
        result = await asyncio.to_thread(first_stage, searcher, plan)
    timings = {name: ms for name, ms in result.timings_ms.items() if name != "total"}
    hits = result.hits
    if plan.rerank is not None:
        hits, timings["rerank"] = await _rerank(request, state, plan, hits)
    timings["total"] = sum(timings.values())
    return {"hits": [h.to_dict() for h in hits], "timings_ms": timings}
