"""Operational endpoints: liveness, readiness (NIM paths and TEI's ``/health``) and Prometheus metrics.

* ``GET /v1/health/live`` — 200 while the process serves HTTP;
* ``GET /v1/health/ready`` and ``GET /health`` — 200 once the model (and collection) is loaded
  and a warm-up request has gone through; before that, after a failed start, or while shutting
  down, 503 with the usual JSON error body (``not_ready`` / ``shutting_down``). The 200 body's
  ``cache`` reports the score cache: ``{"kind": "off"}``, or its kind and whether it answers now
  (``{"kind": "redis", "reachable": false}``). An unreachable cache never makes the service
  unready: requests are then scored without it;
* ``GET /v1/metrics`` and ``GET /metrics`` — the app's Prometheus registry in text format.

Health endpoints never need an API key; metrics do when keys are configured.
"""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request, Response

from ragsift.service.metrics import CONTENT_TYPE
from ragsift.service.errors import error_responses
from ragsift.service.routes._common import get_state

__all__ = ["router"]

router = APIRouter(tags=["Operations"])


@router.get("/v1/health/live", responses=error_responses(500))
async def live() -> dict:
    return {"object": "health-response", "status": "live", "message": "Service is live."}


@router.get("/v1/health/ready", responses=error_responses(500, 503))
@router.get("/health", responses=error_responses(500, 503))
async def ready(request: Request) -> dict:
    state = get_state(request)
    state.require_ready()
    body = {"object": "health-response", "status": "ready", "message": "Service is ready."}
    return {**body, "cache": await _cache_state(state), "collection": await _collection_state(state)}


async def _collection_state(state) -> dict:
    """The served collection's backend and whether it answers (a Milvus server may be down)."""
    coll = state.collection
    if coll is None:
        return {"backend": None}
    out = {"backend": coll.backend, "collection": str(coll.path)}
    if coll.backend == "embedded":
        return {**out, "generation": coll.generation, "reachable": True}
    return {**out, "reachable": await asyncio.to_thread(coll.ping)}


async def _cache_state(state) -> dict:
    cache = state.runner.cache
    if cache is None:
        return {"kind": "off"}
    return {"kind": state.settings.cache.kind.value, "reachable": await asyncio.to_thread(cache.ping)}


_PROMETHEUS = {200: {"description": "Prometheus text format.", "content": {"text/plain": {"schema": {"type": "string"}}}}}


@router.get("/v1/metrics", response_class=Response, responses={**_PROMETHEUS, **error_responses(401, 500)})
@router.get("/metrics", response_class=Response, responses={**_PROMETHEUS, **error_responses(401, 500)})
async def metrics(request: Request) -> Response:
    return Response(get_state(request).metrics.render(), media_type=CONTENT_TYPE)
