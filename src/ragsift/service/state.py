"""What every route reads: the :class:`ServiceState` at ``request.app.state.ragsift``.

These attribute names are a contract with every router (``routes/*.py``); keep them stable.

===============  =============================  ==================================================
Attribute        Type                           Meaning
===============  =============================  ==================================================
``settings``     ServiceSettings                the validated settings
``reranker``     Reranker (ServedReranker)      the served model; ``score``/``rerank`` are safe
                                                from any *worker* thread (they run on the single
                                                model thread, ``END`` truncation, through the
                                                cache) but block: never call them on the event
                                                loop — use ``batcher`` there
``batcher``      MicroBatcher                   ``await state.batcher.score(query, passages,
                                                truncate=Truncate.END, deadline=
                                                request_deadline(request))`` → Scores in input
                                                order; queue limit (429), shutdown (503)
``collection``   Collection | None              the configured collection (None: rerank only)
``searcher``     Searcher | None                ``Searcher(collection, reranker=state.reranker)``;
                                                run it in a thread:
                                                ``await asyncio.to_thread(state.searcher.search,
                                                ...)``
``metrics``      ServiceMetrics                 ``with state.metrics.time_stage("retrieve"): ...``
``ready``        bool                           True once the model (and collection) are loaded
                                                and a warm-up request went through
===============  =============================  ==================================================

Also: ``runner`` (the model thread), ``tokens`` (TokenCounter or None), ``model_names`` (ids a
request's ``model`` may name; the first is listed by ``/v1/models``), ``load_error``,
``shutting_down``. Routes start with ``state.require_ready()`` (503 until ready) and report how
many passages they handled with :func:`ragsift.service.middleware.note_passages` (access log).
A request past ``request_timeout_s`` is answered 504 by the middleware; its handler is *not*
cancelled (writes finish), so long work should check ``request_deadline(request)`` if it can stop.
Errors are raised as exceptions; :mod:`ragsift.service.errors` maps them to statuses.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ragsift.rerank.base import Reranker
from ragsift.service.batching import MicroBatcher
from ragsift.service.errors import ModelNotServedError, NotReadyError, ShuttingDownError
from ragsift.service.metrics import ServiceMetrics
from ragsift.service.scoring import ModelRunner
from ragsift.service.settings import ServiceSettings

if TYPE_CHECKING:
    from ragsift.index.collection import Collection
    from ragsift.pipeline.search import Searcher
    from ragsift.service.tokens import TokenCounter

__all__ = ["ServiceState"]


@dataclass
class ServiceState:
    """Shared state of one app; see the module docstring for the contract."""

    settings: ServiceSettings
    reranker: Reranker
    runner: ModelRunner
    batcher: MicroBatcher
    metrics: ServiceMetrics
    model_names: tuple[str, ...]
    collection: "Collection | None" = None
    searcher: "Searcher | None" = None
    ready: bool = False
    tokens: "TokenCounter | None" = None
    load_error: BaseException | None = None
    shutting_down: bool = False
    started_at: float = field(default_factory=time.time)
    on_load_error: Callable[[BaseException], Any] | None = None

    @property
    def model_id(self) -> str:
        """The id ``/v1/models`` lists and responses report."""
        return self.model_names[0]

    def require_ready(self) -> None:
        """Raise ShuttingDownError or NotReadyError (503) unless the service takes requests."""
        if self.shutting_down:
            raise ShuttingDownError("the service is shutting down and takes no new requests")
        if not self.ready:
            raise NotReadyError(self.readiness_message())

    def readiness_message(self) -> str:
        if self.shutting_down:
            return "the service is shutting down"
        if self.load_error is not None:
            return f"the service failed to start: {type(self.load_error).__name__}: {self.load_error}"
        if self.ready:
            return "ready"
        return "the model is loading and warming up; retry shortly (GET /v1/health/ready answers 200 when ready)"

    def check_model(self, model: str | None) -> None:
        """ModelNotServedError (404) when ``model`` names another model and ``strict_model`` is on."""
        if model is None or not self.settings.strict_model or model in self.model_names:
            return
        raise ModelNotServedError(
            f"model={model!r} is not served here; this service serves {self.model_id!r} (GET /v1/models). "
            "Fix: send that id, or start the service with served_model_name / strict_model=false"
        )

    def mark_ready(self) -> None:
        self.ready = True
        self.metrics.ready.set(1)

    def begin_shutdown(self) -> None:
        """Stop taking work: readiness turns 503, new requests get 503, queued ones still run."""
        self.shutting_down = True
        self.ready = False
        self.metrics.ready.set(0)
        self.batcher.close()
