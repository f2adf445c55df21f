"""The model side of the service: one worker thread, per-request truncation, and the score cache.

Models are not thread-safe, so every call into the reranker — warm-up, requests, the search
pipeline's rerank stage — runs on the single thread of :attr:`ModelRunner.executor`.

Per-request truncation. NIM and TEI let each request choose ``truncate`` (``NONE``: an over-long
pair is an error; ``END``: cut the passage). Rerankers that declare both modes in
``truncation_modes`` (the local cross-encoder, the NIM and TEI clients) are switched for the call
by a :class:`TruncationView` through :meth:`~ragsift.rerank.base.Reranker.set_truncate`; since
only the model thread ever calls them, switching there is race-free. Other rerankers handle long
input their own way and ignore the choice; the service never sets an attribute a reranker does
not declare.

Several requests at once. :meth:`ModelRunner.score_jobs` (one micro-batch) hands all requests
of the same truncation mode to one :meth:`~ragsift.rerank.base.Reranker.score_many` call with
``return_exceptions=True``: the local cross-encoder runs the pairs of different queries in shared,
length-sorted forward passes, and a request that fails (an over-long passage with ``truncate=NONE``)
gets its own error while the others are answered.

Cache. With a score cache, each view is wrapped in a :class:`~ragsift.rerank.cache.CachedReranker`.
The ``NONE`` view's cache keys carry ``|truncate=NONE`` so a score computed on a truncated passage
never answers a ``NONE`` request that must reject it; the ``END`` view keeps the model's plain name,
so its entries are the library's own (``END`` is the cross-encoder's default).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, NamedTuple, TypeVar

from ragsift.errors import ConfigError
from ragsift.rerank.base import Reranker, ScoreOutcome, ScoreRequest, Scores, Truncate
from ragsift.rerank.cache import CachedReranker
from ragsift.rerank.fallback import FallbackReranker

__all__ = ["Truncate", "ScoreJob", "TruncationView", "ModelRunner", "ServedReranker", "iter_rerankers"]

logger = logging.getLogger("ragsift.service")
T = TypeVar("T")
_ids = itertools.count(1)


class ScoreJob(NamedTuple):
    """One request's work for the model."""

    query: str
    passages: list[str]
    truncate: Truncate


def iter_rerankers(reranker: Reranker) -> Iterator[Reranker]:
    """``reranker`` and every reranker it wraps (cache, fallback chain, truncation view)."""
    yield reranker
    if isinstance(reranker, (CachedReranker, TruncationView)):
        yield from iter_rerankers(reranker.inner)
    elif isinstance(reranker, FallbackReranker):
        for link in reranker.chain:
            yield from iter_rerankers(link)


def truncation_targets(reranker: Reranker) -> list[Reranker]:
    """The rerankers under ``reranker`` that declare both :class:`Truncate` modes."""
    return [r for r in iter_rerankers(reranker) if set(Truncate) <= r.truncation_modes]


def is_pointwise(reranker: Reranker) -> bool:
    """True when each passage's score depends only on (query, passage), not on the other passages."""
    return all(r.cacheable for r in iter_rerankers(reranker))


class TruncationView(Reranker):
    """``inner`` with its ``truncate`` option(s) set to ``mode`` for each call (model thread only)."""

    def __init__(self, inner: Reranker, mode: Truncate, targets: Sequence[Reranker]):
        self.inner = inner
        self.mode = mode
        self.targets = list(targets)
        self.name = inner.name if mode is Truncate.END else f"{inner.name}|truncate={mode.value}"
        self.model_version = inner.model_version
        self.cacheable = inner.cacheable

    def warm_up(self) -> None:
        self.inner.warm_up()

    def score(self, query: str, documents: Sequence[str]) -> Scores:
        self._switch()
        return self.inner.score(query, documents)

    def score_many(
        self, requests: Sequence[ScoreRequest], *, return_exceptions: bool = False
    ) -> list[ScoreOutcome]:
        self._switch()
        return self.inner.score_many(requests, return_exceptions=return_exceptions)

    def _switch(self) -> None:
        for target in self.targets:
            target.set_truncate(self.mode)


class ModelRunner:
    """Owns the reranker, its single worker thread and its per-truncation views (with the cache)."""

    def __init__(self, reranker: Reranker, cache: Any = None):
        if not isinstance(reranker, Reranker):
            raise ConfigError(f"reranker={reranker!r} must be a ragsift.rerank.Reranker instance")
        self.model = reranker
        self.pointwise = is_pointwise(reranker)
        self.cache = cache if self.pointwise else None
        if cache is not None and self.cache is None:
            logger.info("reranker %r scores whole lists (not pointwise): the score cache is not used", reranker.name)
        targets = truncation_targets(reranker)
        self.honours_truncate = bool(targets)
        modes = list(Truncate) if targets else [Truncate.END]
        views: dict[Truncate, Reranker] = {}
        for mode in modes:
            view: Reranker = TruncationView(reranker, mode, targets)
            views[mode] = CachedReranker(view, self.cache) if self.cache is not None else view
        self.views = {mode: views.get(mode, views[Truncate.END]) for mode in Truncate}
        self._thread_prefix = f"ragsift-model-{next(_ids)}"
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=self._thread_prefix)

    # -- running on the model thread ---------------------------------------------------------------

    def on_model_thread(self) -> bool:
        return threading.current_thread().name.startswith(self._thread_prefix)

    def call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(*args)`` on the model thread and wait for it (directly when already there)."""
        if self.on_model_thread():
            return fn(*args)
        return self.executor.submit(fn, *args).result()

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """Await ``fn(*args)`` run on the model thread."""
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)

    def shutdown(self) -> None:
        self.executor.shutdown(wait=True, cancel_futures=True)

    # -- work (call these on the model thread) -------------------------------------------------------

    def warm_up(self) -> None:
        self.model.warm_up()

    def score(self, query: str, passages: list[str], truncate: Truncate = Truncate.END) -> Scores:
        return self.views[truncate].score(query, passages)

    def score_jobs(self, jobs: Sequence[ScoreJob]) -> list[ScoreOutcome]:
        """Scores (or the error) of each job, in order: one ``score_many`` call per truncation view.

        Each job is scored as if alone; a job's own bad input fails only that job, an error of the
        call as a whole (the model or the store failed) fails every job of the call.
        """
        results: list[ScoreOutcome | None] = [None] * len(jobs)
        by_view: dict[int, list[int]] = {}
        for i, job in enumerate(jobs):
            by_view.setdefault(id(self.views[job.truncate]), []).append(i)
        for members in by_view.values():
            view = self.views[jobs[members[0]].truncate]
            try:
                outcomes = view.score_many([(jobs[i].query, jobs[i].passages) for i in members], return_exceptions=True)
            except Exception as exc:  # delivered to every request of the call
                outcomes = [exc] * len(members)
            for i, outcome in zip(members, outcomes):
                results[i] = outcome
        return results  # type: ignore[return-value]

    def forward_passes(self) -> int:
        """Forward passes the served model (every link of a fallback chain) has run so far."""
        unique = {id(r): r for r in iter_rerankers(self.model)}
        return sum(int(r.forward_passes) for r in unique.values())

    def cache_stats(self) -> dict:
        stats = getattr(self.cache, "stats", None)
        return stats() if callable(stats) else {"hit_ratio": 0.0}

    def cache_errors(self) -> int:
        """Cache lookups and writes that failed so far (each request went on without the cache)."""
        cached = {id(v): v for v in self.views.values() if isinstance(v, CachedReranker)}
        return sum(v.errors for v in cached.values())


class ServedReranker(Reranker):
    """The served model as a :class:`Reranker` callable from any thread.

    ``score`` runs on the model thread (``END`` truncation, through the cache) and blocks the
    caller until done: use it from worker threads (e.g. ``Searcher.search`` under
    ``asyncio.to_thread``); from async code prefer ``await state.batcher.score(...)``.
    """

    def __init__(self, runner: ModelRunner):
        self.runner = runner
        self.name = runner.model.name
        self.cacheable = runner.pointwise

    def warm_up(self) -> None:
        self.runner.call(self.runner.warm_up)

    def score(self, query: str, documents: Sequence[str]) -> Scores:
        return self.runner.call(self.runner.score, query, list(documents), Truncate.END)
