"""``POST /v1/documents`` and ``DELETE /v1/documents/{id}``: change the served collection.

``POST /v1/documents`` with ``{"documents": [{"id", "text", "title"?, "metadata"?}]}`` adds the
documents (a document whose id is already served is replaced) and answers
``{"added", "replaced", "chunks", "documents"}`` (``documents``: total now served).
``DELETE /v1/documents/{id}`` answers ``{"deleted": 1}``, or 404 when the id is not served.

Errors (statuses from :data:`ragsift.service.errors.ERROR_TABLE`): a body that does not fit the
schema is 422; an empty ``documents`` list, a blank ``id`` or ``text``, or an id repeated within one
request is 400 (naming the item); more than :data:`MAX_DOCUMENTS` documents is 413 (so is a body
over ``max_body_bytes``); no collection served is 404.

How a write stays invisible to searches until it is complete:

* Writers are serialized inside the process by one ``asyncio.Lock`` per app, and across
  processes (``ragsift index``, other replicas) by the collection's writer lock file. A write that
  cannot get that lock within ``write_lock_timeout_s`` is a 503 with ``Retry-After``; nothing
  was changed.
* The change is applied, in a worker thread, to a *fork* of the served collection
  (:meth:`Collection.fork`: shared immutable parts, copied containers; milliseconds at 100k
  documents), never to the object that searches are reading. Under the writer lock the fork
  first compares itself with the manifest on disk and reloads the committed state if another
  process wrote meanwhile, so no acknowledged write of anyone is lost. The fork commits a new
  generation on disk (atomically, then the manifest swap), extends or rebuilds its vector index,
  and only then is swapped in, together with a new :class:`Searcher`, in one step on the event
  loop. After answering, a background thread removes old generations, and once writes pause
  for ``CACHE_QUIET_S`` (2 s) the served generation's derived caches are written (the BM25
  score matrix and any missing HNSW graph, for other processes that open it; a burst of writes
  writes them once). A search holds the searcher it started with, so it sees the old state or the new one,
  never a mix.
* Each document is checked against the collection's limits (``max_document_bytes``, metadata
  depth and size, valid text; see :mod:`ragsift.ingest.limits`): a violation is a 400 naming the
  item.
* The event loop is never blocked: searches keep being served during the write.
* Writes made by other processes are picked up without a restart: every ``reload_interval_s``
  (default 1 s) the app compares the manifest with what it serves and, when another process
  committed, loads that generation into a fork and swaps it in (:func:`follow_disk`).
"""

from __future__ import annotations

import asyncio
import gc
import logging
from dataclasses import replace
from typing import Any, Callable, TypeVar

from fastapi import APIRouter, FastAPI, HTTPException, Request
from pydantic import BaseModel, ConfigDict, StrictStr

from ragsift.errors import BadInputError, UnknownDocumentError
from ragsift.index.collection import Collection
from ragsift.ingest.limits import check_text
from ragsift.pipeline.search import Searcher
from ragsift.service.middleware import note_passages
from ragsift.service.errors import error_responses
from ragsift.service.routes._common import get_state
from ragsift.service.settings import ServiceSettings
from ragsift.service.routes.search import NO_COLLECTION
from ragsift.service.state import ServiceState
from ragsift.types import Document

__all__ = [
    "router",
    "AddDocumentsRequest",
    "AddDocumentsResponse",
    "DeleteDocumentResponse",
    "MAX_DOCUMENTS",
    "check_documents",
    "commit_change",
    "writable_fork",
    "follow_disk",
]

log = logging.getLogger(__name__)

router = APIRouter(tags=["Documents"])

MAX_DOCUMENTS = 1000
"""Most documents one ``POST /v1/documents`` may carry (more: 413); send larger sets in batches."""
MAX_ID_CHARS = 512

T = TypeVar("T")


class DocumentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: StrictStr
    text: StrictStr
    title: StrictStr = ""
    metadata: dict[str, Any] = {}

    def to_document(self) -> Document:
        return Document(self.id, self.text, self.title, dict(self.metadata))


class AddDocumentsRequest(BaseModel):
    """Body of ``POST /v1/documents`` (the schema; values are checked by :func:`check_documents`)."""

    model_config = ConfigDict(extra="forbid")

    documents: list[DocumentIn]


class AddDocumentsResponse(BaseModel):
    added: int
    replaced: int
    chunks: int
    documents: int


class DeleteDocumentResponse(BaseModel):
    deleted: int


def check_documents(items: list[DocumentIn]) -> list[Document]:
    """The request's documents; 413 when there are too many, BadInputError (400) for bad values."""
    if len(items) > MAX_DOCUMENTS:
        raise HTTPException(
            status_code=413,
            detail=f"documents has {len(items)} items, more than {MAX_DOCUMENTS} per request; send them in batches",
        )
    if not items:
        raise BadInputError("documents is empty; send at least one {id, text} object")
    seen: dict[str, int] = {}
    for n, item in enumerate(items):
        where = f"documents[{n}]"
        if not item.id.strip():
            raise BadInputError(f"{where}.id is empty; every document needs a unique id")
        if len(item.id) > MAX_ID_CHARS:
            raise BadInputError(f"{where}.id has {len(item.id)} characters, more than {MAX_ID_CHARS}; shorten it")
        if item.id in seen:
            raise BadInputError(
                f"{where}.id={item.id!r} repeats documents[{seen[item.id]}].id; ids must be unique within a request "
                "(an id already in the collection is replaced, so send each document once)"
            )
        if not item.text.strip():
            raise BadInputError(f"{where}.text is empty (id={item.id!r}); send the document's text")
        seen[item.id] = n
    return [item.to_document() for item in items]


def served_collection(state: ServiceState) -> Collection:
    if state.collection is None:
        raise HTTPException(status_code=404, detail=NO_COLLECTION)
    return state.collection


def writable_fork(served: Collection, settings: ServiceSettings) -> Collection:
    """A fork of the served collection that a change may mutate, with the service's write limits."""
    fork = served.fork()
    fork.lock_timeout = settings.write_lock_timeout_s
    fork.defer_cleanup = True  # removed after the answer (commit_change), off the request's path
    fork.limits = replace(fork.limits, max_document_bytes=settings.max_document_bytes)
    return fork


def apply_to_fork(
    state: ServiceState, served: Collection, change: Callable[[Collection], T]
) -> tuple[Collection, Searcher, T]:
    """Blocking: ``change`` a fork (which commits it), build its indexes' search state and its searcher."""
    fork = writable_fork(served, state.settings)
    outcome = change(fork)
    fork.warm_up_indexes()  # BM25 weights, vector index: now, not on the first search after the swap
    gc.freeze()  # the collection's long-lived objects leave the cyclic GC's scans (no GC pauses in writes)
    return fork, Searcher(fork, reranker=state.reranker), outcome


def _writer_lock(app: FastAPI) -> asyncio.Lock:
    lock = getattr(app.state, "ragsift_writer_lock", None)
    if lock is None:
        lock = asyncio.Lock()
        app.state.ragsift_writer_lock = lock
    return lock


async def commit_change(app: FastAPI, state: ServiceState, change: Callable[[Collection], T]) -> tuple[Collection, T]:
    """Apply ``change`` to a fork under the writer locks and swap the result in; see the module docstring.

    The work is shielded from the request's cancellation (timeout, disconnect): once a write has
    started it is committed *and* swapped in, so what is served never lags behind what is on disk.
    """

    async def locked() -> tuple[Collection, T]:
        async with _writer_lock(app):
            served = served_collection(state)
            fork, searcher, outcome = await asyncio.to_thread(apply_to_fork, state, served, change)
            state.collection, state.searcher = fork, searcher  # one step on the event loop
            _in_background(fork.remove_old_generations)
            _cache_when_quiet(app, fork)
            return fork, outcome

    return await asyncio.shield(asyncio.ensure_future(locked()))


_BACKGROUND: set[asyncio.Task] = set()
#: Seconds without a new write before the served generation's derived caches are written.
CACHE_QUIET_S = 2.0


def _cache_when_quiet(app: FastAPI, fork: Collection) -> None:
    """Write ``fork``'s caches (:meth:`Collection.write_caches`) once writes pause for :data:`CACHE_QUIET_S`.

    Only other processes that open the generation read them (this one holds the matrix in
    memory), so a burst of writes writes them once, at its end, instead of 100 MB per write
    competing with the next write. A newer write cancels the pending one.
    """
    pending = getattr(app.state, "ragsift_cache_task", None)
    if pending is not None and not pending.done():
        pending.cancel()

    async def later() -> None:
        await asyncio.sleep(CACHE_QUIET_S)
        _in_background(fork.write_caches)

    task = asyncio.ensure_future(later())
    app.state.ragsift_cache_task = task
    _BACKGROUND.add(task)
    task.add_done_callback(_BACKGROUND.discard)


def _in_background(*work: Callable[[], None]) -> None:
    """Run blocking ``work`` (in order) in a thread without waiting for it (the task is kept until it ends)."""

    def run() -> None:
        for step in work:
            try:
                step()
            except Exception:  # off the request's path: log, never raise into the loop
                log.exception("background step %s after a write failed", getattr(step, "__name__", step))

    task = asyncio.ensure_future(asyncio.to_thread(run))
    _BACKGROUND.add(task)
    task.add_done_callback(_BACKGROUND.discard)


async def follow_disk(app: FastAPI, state: ServiceState) -> bool:
    """Serve a generation another process committed (``ragsift index``, another replica); True if one was loaded.

    Cheap when nothing changed (one manifest read). Otherwise the new generation is loaded into a
    fork in a worker thread, under the service's writer lock, and swapped in like a write.
    """
    served = state.collection
    if served is None or not await asyncio.to_thread(served.changed_on_disk):
        return False

    async def locked() -> bool:
        async with _writer_lock(app):
            current = served_collection(state)
            fork, searcher, loaded = await asyncio.to_thread(apply_to_fork, state, current, lambda c: c.refresh())
            if loaded:
                state.collection, state.searcher = fork, searcher
            return loaded

    return await asyncio.shield(asyncio.ensure_future(locked()))


@router.post("/v1/documents", response_model=AddDocumentsResponse, responses=error_responses(400, 401, 404, 413, 422, 500, 503, 504))
async def add_documents(body: AddDocumentsRequest, request: Request) -> dict:
    """Add (or replace, by id) documents; answers the counts and the total now served."""
    state = get_state(request)
    state.require_ready()
    documents = check_documents(body.documents)
    served_collection(state)
    note_passages(request, len(documents))
    collection, counts = await commit_change(request.app, state, lambda c: c.add(documents))
    return {**counts, "documents": len(collection.documents)}


@router.delete("/v1/documents/{doc_id:path}", response_model=DeleteDocumentResponse, responses=error_responses(400, 401, 404, 413, 500, 503, 504))
async def delete_document(doc_id: str, request: Request) -> dict:
    """Delete one document by id; 404 when the collection does not hold it."""
    state = get_state(request)
    state.require_ready()
    check_text(doc_id, "the document id in the path")
    if len(doc_id) > MAX_ID_CHARS:
        raise BadInputError(f"the document id has {len(doc_id)} characters, more than {MAX_ID_CHARS}; no such id exists")

    def delete(collection: Collection) -> int:
        try:
            return collection.delete([doc_id])
        except UnknownDocumentError:
            raise UnknownDocumentError(
                f"no document with id {doc_id!r} in the served collection; nothing was deleted", ids=[doc_id]
            ) from None

    _, deleted = await commit_change(request.app, state, delete)
    return {"deleted": deleted}
