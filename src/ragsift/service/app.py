"""The FastAPI app: :func:`create_app` builds it, :func:`run` serves it with uvicorn.

Lifecycle:

1. ``create_app`` validates everything cheap: it builds the reranker object (no model loading),
   the model thread, the batcher, the metrics and the middleware, and puts a
   :class:`~ragsift.service.state.ServiceState` on ``app.state.ragsift``;
2. the lifespan starts the batcher and a loading task: the collection (opened when configured;
   a bad one fails the start before the model loads), the model's ``warm_up`` on the model
   thread, the collection's warm-up, the tokenizer, then one warm-up
   request through the real scoring path; only then ``ready`` turns true (``/v1/health/ready`` →
   200). Liveness answers 200 throughout. A failed start keeps readiness at 503 with the error and
   makes :func:`run` exit with it;
   While it serves, a background task checks every ``reload_interval_s`` whether another
   process committed a new generation of the collection and, if so, serves it;
3. shutdown (SIGINT/SIGTERM under :func:`run`): readiness turns 503 and new requests get 503 at
   once, uvicorn stops accepting connections and waits for the requests in flight, then the
   lifespan drains the queue and stops the model thread.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI

import ragsift
from ragsift._lazy import require
from ragsift.errors import ConfigError, RagsiftError
from ragsift.rerank.base import Reranker
from ragsift.rerank.cache import open_cache
from ragsift.service.batching import MicroBatcher
from ragsift.service.errors import describe_validation_errors, install_error_handlers
from ragsift.service.metrics import ServiceMetrics
from ragsift.service.middleware import (
    OPEN_PATHS,
    AccessLogMiddleware,
    APIKeyMiddleware,
    BodyLimitMiddleware,
    TimeoutMiddleware,
)
from ragsift.service.routes import answer, cohere, documents, embeddings, health, nim, page, search, tei
from ragsift.service.scoring import ModelRunner, ServedReranker, Truncate
from ragsift.service.settings import ServiceSettings
from ragsift.service.state import ServiceState

__all__ = ["create_app", "run", "build_reranker"]

logger = logging.getLogger("ragsift.service")

_WARM_UP_QUERY = "warm-up query"
_WARM_UP_PASSAGE = "a short passage that warms up the whole scoring path"


def create_app(
    settings: ServiceSettings | None = None,
    *,
    reranker: Reranker | None = None,
    collection: Any = None,
) -> FastAPI:
    """The service app. ``reranker``/``collection`` override what ``settings`` would build or open."""
    settings = settings if settings is not None else ServiceSettings()
    state = _build_state(settings, reranker if reranker is not None else build_reranker(settings), collection)
    if collection is not None:
        gc.freeze()  # the collection's records are long-lived: keep them out of the cyclic GC's scans
    app = FastAPI(title="ragsift", version=ragsift.__version__, lifespan=_lifespan)
    app.state.ragsift = state
    install_error_handlers(app)
    describe_validation_errors(app)
    routers = _routers()
    for router in routers:
        app.include_router(router)
    routes = [route for router in routers for route in router.routes]  # to label requests stopped early
    # add_middleware wraps: the last added is the outermost.
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    keys = [k.get_secret_value() for k in settings.api_keys]
    app.add_middleware(APIKeyMiddleware, keys=keys, open_paths=OPEN_PATHS | page.PATHS)  # the page holds no data
    app.add_middleware(TimeoutMiddleware, timeout_s=settings.request_timeout_s)
    app.add_middleware(AccessLogMiddleware, metrics=state.metrics, log_json=settings.log_json, routes=lambda: routes)
    return app


def _build_state(settings: ServiceSettings, model: Reranker, collection: Any) -> ServiceState:
    metrics = ServiceMetrics()
    runner = ModelRunner(model, open_cache(settings.effective_cache))
    if runner.cache is not None:
        metrics.track_cache(runner.cache_stats, runner.cache_errors)
    metrics.forward_passes.read = runner.forward_passes
    batcher = MicroBatcher(
        runner,
        metrics,
        max_batch_pairs=settings.batch_max_size,
        max_wait_ms=settings.batch_max_wait_ms,
        queue_max=settings.queue_max,
        enabled=settings.micro_batching,
    )
    served = ServedReranker(runner)
    return ServiceState(
        settings=settings,
        reranker=served,
        runner=runner,
        batcher=batcher,
        metrics=metrics,
        model_names=_model_names(settings, model),
        collection=collection,
        searcher=_searcher(collection, served) if collection is not None else None,
    )


def build_reranker(settings: ServiceSettings) -> Reranker:
    """The reranker named by ``reranker_type``/``reranker_model`` (not loaded yet)."""
    from ragsift.rerank.registry import get_reranker

    options: dict[str, Any] = {}
    if settings.reranker_type == "cross-encoder":
        if settings.max_length is not None:  # else the model's recorded max_length, else 512
            options["max_length"] = settings.max_length
        if settings.reranker_backend:
            options["backend"] = settings.reranker_backend
    try:
        return get_reranker(settings.reranker_type, settings.reranker_model, cache="off", **options)
    except ConfigError as exc:
        raise ConfigError(f"service reranker (reranker_type={settings.reranker_type!r}): {exc}") from None


def _model_names(settings: ServiceSettings, model: Reranker) -> tuple[str, ...]:
    """Ids a request's ``model`` may name; the first is shown (``/v1/models``, errors).

    A model loaded from a folder is shown by the folder's name, never by its filesystem path
    (the path is still accepted as an id).
    """
    given = [n for n in (str(model.name), settings.reranker_model) if n]
    names = [settings.served_model_name, *(public_model_name(n) for n in given), *given]
    return tuple(dict.fromkeys(n for n in names if n))


def public_model_name(name: str) -> str:
    """``name`` as it may be shown to clients: a local path becomes its last component."""
    if name.startswith(("/", "./", "../", "~")) or "\\" in name or os.path.isdir(name):
        return os.path.basename(os.path.normpath(os.path.expanduser(name))) or name
    return name


def _searcher(collection: Any, reranker: Reranker) -> Any:
    from ragsift.pipeline.search import Searcher

    return Searcher(collection, reranker=reranker)


def _routers() -> list[APIRouter]:
    return [health.router, nim.router, cohere.router, tei.router, search.router, documents.router, page.router,
            answer.router, embeddings.router]


# ---------------------------------------------------------------------------- lifespan


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    state: ServiceState = app.state.ragsift
    state.batcher.start()
    loading = asyncio.create_task(_load(state), name="ragsift-load")
    following = asyncio.create_task(_follow_disk(app, state), name="ragsift-follow")
    try:
        yield
    finally:
        state.begin_shutdown()
        loading.cancel()
        following.cancel()
        await state.batcher.drain(timeout=state.settings.request_timeout_s)
        state.runner.executor.shutdown(wait=False, cancel_futures=True)
        logger.info("service stopped")


async def _follow_disk(app: FastAPI, state: ServiceState) -> None:
    """Every ``reload_interval_s``, serve generations other processes committed (0: never)."""
    interval = state.settings.reload_interval_s
    if interval <= 0:
        return
    while not state.shutting_down:
        await asyncio.sleep(interval)
        if not state.ready or state.collection is None:
            continue
        try:
            if await documents.follow_disk(app, state):
                logger.info("serving generation %s written by another process", state.collection.generation)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # keep serving the current state; try again next time
            logger.warning("could not load the collection's new generation: %s: %s", type(exc).__name__, exc)


async def _load(state: ServiceState) -> None:
    """Load and warm up everything, then mark the state ready (or record why not)."""
    start = time.perf_counter()
    try:
        if state.collection is None and state.settings.collection is not None:  # first: fails fast
            from ragsift.index.backends import open_collection

            state.collection = await asyncio.to_thread(open_collection, state.settings.collection)
            gc.freeze()  # its records are long-lived: keep them out of the cyclic GC's scans
            state.searcher = _searcher(state.collection, state.reranker)
        await state.runner.run(state.runner.warm_up)
        if state.searcher is not None:
            await asyncio.to_thread(state.searcher.warm_up)
        from ragsift.service.tokens import TokenCounter

        state.tokens = await asyncio.to_thread(TokenCounter.for_reranker, state.runner.model)
        await state.batcher.score(_WARM_UP_QUERY, [_WARM_UP_PASSAGE], truncate=Truncate.END)
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        state.load_error = exc
        expected = isinstance(exc, RagsiftError)  # a clear error needs no traceback
        logger.error("startup failed: %s: %s", type(exc).__name__, exc, exc_info=None if expected else exc)
        if state.on_load_error is not None:
            state.on_load_error(exc)
        return
    state.mark_ready()
    logger.info("ready: model %r in %.2f s", state.model_id, time.perf_counter() - start)


# ---------------------------------------------------------------------------- serving


def run(settings: ServiceSettings | None = None) -> None:
    """Serve with uvicorn until SIGINT/SIGTERM; graceful: stop accepting, drain the queue, exit.

    Raises the startup error (e.g. ModelNotFoundError) when the model or collection failed to load.
    """
    settings = settings if settings is not None else ServiceSettings.load()
    uvicorn = require("uvicorn", extra="serve")
    configure_logging(settings)
    app = create_app(settings)
    state: ServiceState = app.state.ragsift
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,  # the service writes its own access log
        lifespan="on",
        timeout_graceful_shutdown=int(settings.request_timeout_s) + 5,
    )
    server = _graceful_server(uvicorn, config, state)
    state.on_load_error = lambda exc: setattr(server, "should_exit", True)
    logger.info("starting ragsift service on %s:%d with %s", settings.host, settings.port, settings.describe())
    server.run()
    if state.load_error is not None:
        raise state.load_error


def _graceful_server(uvicorn: Any, config: Any, state: ServiceState) -> Any:
    """A uvicorn server that turns the service unready (503) as soon as a shutdown signal arrives."""

    class GracefulServer(uvicorn.Server):
        def handle_exit(self, sig: int, frame: Any) -> None:
            state.begin_shutdown()
            super().handle_exit(sig, frame)

    return GracefulServer(config)


def configure_logging(settings: ServiceSettings) -> None:
    """Log to stderr at ``log_level``; access-log lines are written bare (one JSON object per line)."""
    level = getattr(logging, settings.log_level.upper())
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    access = logging.getLogger("ragsift.service.access")
    bare = logging.StreamHandler(sys.stderr)
    bare.setFormatter(logging.Formatter("%(message)s"))
    access.handlers[:] = [bare]
    access.propagate = False
