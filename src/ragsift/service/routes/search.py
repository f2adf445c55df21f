"""``POST /v1/search``: BM25, dense or hybrid search over the served collection, optionally reranked.

Request body (JSON); only ``query`` is required::

    {"query": "...", "mode": "hybrid", "k": 10,
     "fusion": "rrf", "rrf_k": 60, "weights": {"bm25": 0.4, "dense": 0.6}, "normalization": "minmax",
     "rerank": false, "candidates": 45, "top_n": null, "threshold": null, "interpolate": null,
     "filters": {"lang": "en", "year": {"$gte": 2020}, "source": ["10-K", "10-Q"]},
     "rm3": false, "validate": false}

Response::

    {"hits": [{"id", "doc_id", "score", "title", "text", "source_scores", "metadata"}],
     "timings_ms": {"bm25"?, "dense"?, "fuse", "expand", "rerank"?, "total"},
     "rerank_settings"?: {"interpolate": {"value": 0.5, "source": "model"}, "candidates": ..., ...},
     "warnings"?: ["query_truncated"],
     "route"?: {"kind": "fact", "route": "bm25", "reasons": [...], "domain_terms": [...], ...},
     "rerank_gate"?: {"rerank": true, "probability": 0.71, "threshold": 0.42},
     "validation"?: {"verdict": "fail", "probability", "threshold", "reasons": [...],
                     "suggestions": {"spelling": [{"term", "suggestion", "distance", "count"}],
                                     "did_you_mean": "...", "related": ["..."]}}}

``"rerank": "auto"`` reranks only when the collection's trained gate (``ragsift train-router
--reranker-model``) expects a gain, and says so in ``rerank_gate``. ``"validate": true`` judges the
final list (:mod:`ragsift.query.validate`) and, on fail, suggests spelling corrections and related
terms. ``"rm3": true`` expands the BM25 query with RM3 feedback.

``"mode": "auto"`` routes the query by its analysis (:mod:`ragsift.query.router`: fact → bm25,
concept → dense, complex → hybrid) and says where it went in ``route``; the hybrid options apply
when it goes to hybrid.

Without ``rerank`` the first stage returns ``k`` hits. With ``rerank: true`` it returns
``candidates`` hits and the service's reranker keeps ``top_n`` of them (default ``k``).
``candidates``, ``interpolate`` and the text the reranker reads default to the settings the
reranker model records (``ragsift_reranker.json``, written by ``ragsift train-reranker``), else
45 candidates (or the service's ``max_passages`` if lower), no interpolation, title + text;
``"interpolate": "none"`` turns a recorded weight off. ``rerank_settings`` reports each applied
value and its source (``option`` = this request). The rerank goes through the service's queue
and micro-batcher like ``/v1/ranking`` (so a full queue answers 429 here too). ``fusion``,
``rrf_k``, ``weights`` and ``normalization`` apply to ``mode: hybrid`` (or ``auto``) only,
``candidates``/``top_n``/``threshold``/``interpolate`` to ``rerank: true`` only; sending them
otherwise is a 400 rather than being silently ignored.

Errors (statuses from :data:`ragsift.service.errors.ERROR_TABLE`): a body that does not fit the
schema (wrong types, unknown fields) is 422; values that are not acceptable (blank query, ``k=0``,
an unknown ``mode``, which lists the valid ones) are 400; ``rerank: true`` on a service without a
reranker (``reranker_type=none``) is 400; no collection served is 404.

Metadata filters
----------------
``filters`` is parsed by :func:`ragsift.index.filters.as_filter` into the same
:class:`~ragsift.index.filters.Filter` that ``SearchOptions.filters`` and ``ragsift search
--filter`` use, in one of two forms:

* an object, ``{key: value}`` (equal), ``{key: [values]}`` (in) or ``{key: {"$op": value}}`` with
  ``$eq $ne $gt $gte $lt $lte $in $nin`` — e.g. ``{"year": {"$gte": 2020, "$lt": 2024}}``;
* a list of expressions in the CLI grammar, ANDed — e.g. ``["year>=2020", "source in (10-K,10-Q)"]``.

Keys are matched against each chunk's metadata (its document's metadata, copied at indexing);
``true`` never equals ``1``; ``!=``/``$ne`` and ``not in``/``$nin`` pass chunks without the key.
The retrievers apply the filter *before* their top-k cut (BM25 masks its scores, FAISS searches
only the matching rows), so ``k`` hits come back whenever ``k`` matching chunks score; there is
no over-fetching and no ``filter`` entry in ``timings_ms`` any more (its cost is inside ``bm25`` /
``dense``). A filter that is not valid is a 400 naming the expression and the allowed forms.
Reranking sees only hits that passed.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, replace
from typing import Any, Literal, Sequence, Union

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt, StrictStr

from ragsift._enums import parse_enum
from ragsift.errors import BadInputError, ConfigError
from ragsift.fusion import Normalization
from ragsift.pipeline.rerank import RerankOptions, hit_texts, rerank_hits, truncation_count
from ragsift.rerank.settings import Applied
from ragsift.pipeline.search import Mode, SearchOptions, SearchResult, Searcher
from ragsift.query.expansion import QueryExpansion
from ragsift.rerank.base import Reranker, Scores
from ragsift.rerank.identity import FirstStageReranker
from ragsift.service.middleware import note_passages
from ragsift.service.errors import SCORING_ERRORS, error_responses
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
    "plan_search",
    "first_stage",
    "served_searcher",
    "MAX_K",
]

router = APIRouter(tags=["Search"])

MAX_K = 1000
"""Largest ``k``, ``candidates`` and ``top_n`` a request may ask for."""
DEFAULT_CANDIDATES = 45

HYBRID_ONLY = ("fusion", "rrf_k", "weights", "normalization", "server_fusion")
RERANK_ONLY = ("candidates", "top_n", "threshold", "interpolate")
NO_COLLECTION = (
    "no collection is served by this service, so there is nothing to search or change. "
    "Fix: start the service with collection=PATH (RAGSIFT_COLLECTION), a folder built by `ragsift index`"
)

Scalar = Union[StrictStr, StrictBool, StrictInt, StrictFloat, None]


class SearchRequest(BaseModel):
    """Body of ``POST /v1/search`` (the schema; values are checked by :func:`plan_search`)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    query: StrictStr
    mode: StrictStr = Mode.HYBRID.value
    k: StrictInt = 10
    fusion: StrictStr = "rrf"
    rrf_k: StrictInt | StrictFloat = 60.0
    weights: dict[str, StrictInt | StrictFloat] | None = None
    normalization: StrictStr = Normalization.MIN_MAX.value
    rerank: StrictBool | Literal["auto"] = False
    candidates: StrictInt | None = None
    top_n: StrictInt | None = None
    threshold: StrictInt | StrictFloat | None = None
    interpolate: StrictInt | StrictFloat | StrictStr | None = None
    filters: dict[str, Union[Scalar, list[Scalar], dict[str, Union[Scalar, list[Scalar]]]]] | list[StrictStr] | None = None
    server_fusion: StrictBool = False  # milvus:// collections: Milvus' hybrid_search fuses
    rm3: StrictBool = False  # RM3 feedback on the BM25 query (embedded collections)
    # the verdict and, on fail, suggested terms; sent as "validate" (a BaseModel method's name)
    validate_result: StrictBool = Field(default=False, alias="validate")


class HitModel(BaseModel):
    id: str
    doc_id: str
    score: float
    title: str
    text: str
    source_scores: dict[str, float]
    metadata: dict[str, Any]


class SettingModel(BaseModel):
    value: Any
    source: str


class RouteModel(BaseModel):
    """``mode: auto``: the query's analysis (:class:`ragsift.query.analysis.QueryAnalysis`) and the mode taken."""

    query: str
    kind: str
    route: str
    tokens: list[str]
    domain_terms: list[str]
    quoted: list[str]
    codes: list[str]
    numbers: list[str]
    protected: list[str]
    rare: list[str]
    reasons: list[str]


class RerankGateModel(BaseModel):
    """``rerank: "auto"``: whether this query was reranked, and the gate's probability and threshold."""

    rerank: bool
    probability: float | None = None
    threshold: float | None = None
    reason: str | None = None


class CorrectionModel(BaseModel):
    term: str
    suggestion: str
    distance: int
    count: int


class SuggestionsModel(BaseModel):
    spelling: list[CorrectionModel]
    did_you_mean: str | None = None
    related: list[str]


class ValidationModel(BaseModel):
    """``validate: true``: pass or fail, why, and on fail the suggested terms (:mod:`ragsift.query.validate`)."""

    verdict: Literal["pass", "fail"]
    probability: float | None = None
    threshold: float | None = None
    reasons: list[str]
    suggestions: SuggestionsModel | None = None


class SearchResponse(BaseModel):
    hits: list[HitModel]
    timings_ms: dict[str, float]
    rerank_settings: dict[str, SettingModel] | None = None
    warnings: list[str] | None = None
    route: RouteModel | None = None
    rerank_gate: RerankGateModel | None = None
    validation: ValidationModel | None = None


@dataclass(frozen=True)
class SearchPlan:
    """A validated request: the first stage's options (filters included) and the rerank options (or None)."""

    query: str
    options: SearchOptions
    rerank: RerankOptions | None
    validate: bool = False


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
    _only_with(sent & set(HYBRID_ONLY), mode in (Mode.HYBRID, Mode.AUTO),
               f"mode='hybrid' or 'auto' (this request has mode={mode.value!r})")
    _only_with(sent & set(RERANK_ONLY), req.rerank, "rerank=true")
    _check_count("k", req.k)
    parse_enum(Normalization, req.normalization, param="normalization")
    rerank = None
    if req.rerank:
        candidates = req.candidates  # None: the model's recorded depth, else DEFAULT_CANDIDATES
        if candidates is not None:
            _check_count("candidates", candidates)
            if candidates > settings.max_passages:
                raise BadInputError(
                    f"candidates={candidates} is more than the service's max_passages={settings.max_passages} "
                    "(passages per rerank); ask for fewer candidates"
                )
        top_n = req.k if req.top_n is None else req.top_n
        _check_count("top_n", top_n)
        interpolate = req.interpolate if isinstance(req.interpolate, str) else _float(req.interpolate)
        rerank = RerankOptions(candidates, top_n, _float(req.threshold), interpolate, auto=req.rerank == "auto")
    options = SearchOptions(
        mode=mode,
        k=(rerank.candidates or DEFAULT_CANDIDATES) if rerank else req.k,
        fusion=req.fusion,
        rrf_k=float(req.rrf_k),
        weights=req.weights,
        normalization=req.normalization,
        filters=req.filters,
        server_fusion=req.server_fusion,
        expansion=QueryExpansion(rm3=True) if getattr(req, "rm3", False) else None,
    )
    return SearchPlan(req.query, options, rerank, bool(getattr(req, "validate_result", False)))


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


def first_stage(searcher: Searcher, plan: SearchPlan) -> SearchResult:
    """Retrieve (filters applied) → fuse → expand; blocking, run it in a worker thread."""
    auto = plan.rerank is not None and plan.rerank.auto
    return searcher.search(plan.query, plan.options, signals=plan.validate or auto)


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
    scores = await state.batcher.score(plan.query, hit_texts(hits, plan.rerank.text_fields), truncate=Truncate.END)
    ranked, _ = rerank_hits(_ScoresReplay(scores), plan.query, hits, plan.rerank)
    return ranked, (time.perf_counter() - start) * 1000.0


@router.post("/v1/search", response_model=SearchResponse, responses=error_responses(*SCORING_ERRORS))
async def search(body: SearchRequest, request: Request) -> dict:
    """Search the served collection; see the module docstring for the body and the response."""
    state = get_state(request)
    plan, searcher = prepare_search(body, state)
    with state.metrics.time_stage("retrieve"):
        result = await asyncio.to_thread(first_stage, searcher, plan)
    timings = {name: ms for name, ms in result.timings_ms.items() if name != "total"}
    hits = result.hits
    extra: dict[str, Any] = {}
    if plan.rerank is not None:
        truncated = truncation_count(state.reranker)
        gate = searcher.decide_rerank(result) if plan.rerank.auto else {"rerank": True}
        if plan.rerank.auto:
            extra["rerank_gate"] = gate
        if gate["rerank"]:
            hits, timings["rerank"] = await _rerank(request, state, plan, hits)
        else:
            hits = hits[: plan.rerank.top_n]
        extra["rerank_settings"] = plan.rerank.settings_report()
        extra["warnings"] = ["query_truncated"] if truncation_count(state.reranker) > truncated else []
    if plan.validate:
        result.hits = hits
        start = time.perf_counter()
        extra["validation"] = await asyncio.to_thread(searcher.validate_result, result)
        timings["validate"] = (time.perf_counter() - start) * 1000.0
    timings["total"] = sum(timings.values())
    if result.route is not None:
        extra["route"] = result.route
    return {"hits": [h.to_dict() for h in hits], "timings_ms": timings, **extra}


def prepare_search(body: SearchRequest, state: ServiceState) -> tuple[SearchPlan, Searcher]:
    """A ready service's plan for ``body`` (rerank defaults resolved) and the searcher snapshot to run it on."""
    state.require_ready()
    plan = plan_search(body, state.settings)
    if plan.rerank is not None:
        _check_reranker(state)
        plan = resolve_rerank(plan, state.reranker, state.settings)
    return plan, served_searcher(state)  # one snapshot for the whole request


def resolve_rerank(plan: SearchPlan, reranker: Any, settings: ServiceSettings) -> SearchPlan:
    """``plan`` with the rerank options' defaults taken from the reranker model (candidates capped to max_passages)."""
    rerank = plan.rerank.resolve(reranker)
    if rerank.candidates > settings.max_passages:
        applied = dict(rerank.applied or {})
        applied["candidates"] = Applied(settings.max_passages, "max_passages")
        rerank = replace(rerank, candidates=settings.max_passages, applied=applied)
    return replace(plan, rerank=rerank, options=replace(plan.options, k=rerank.candidates))
