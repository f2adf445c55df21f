"""Dynamic micro-batching of concurrent rerank requests, with a bounded queue.

What "micro-batching" means here. Requests wait in one FIFO queue. A scheduler task takes the
oldest request and, with batching on, keeps collecting waiting requests until the batch holds
``batch_max_size`` (query, passage) pairs or ``batch_max_wait_ms`` have passed since it started
collecting (a request that would overflow the batch waits for the next one; a single request
larger than the batch runs alone). Requests keep arriving while the model thread is busy, so
under load a batch fills from the queue at once. The whole batch then runs in **one turn of the
single model thread** (:meth:`ModelRunner.score_jobs`), as **one**
:meth:`~ragsift.rerank.base.Reranker.score_many` call per truncation mode: the local
cross-encoder tokenizes each request on its own (its truncation or rejection is exactly as if it
were alone), then runs the pairs of *all* requests, whatever their query, through shared forward
passes sorted by length, and splits the scores back per request. A request that fails on its own
input (an over-long passage with ``truncate=NONE``) gets its error; the others in the batch are
answered. ``batch_max_size`` must hold several requests for them to merge: the default 180
pairs holds four requests of 45 passages (chosen by bench/service_load.py: at 16 clients merging
four requests per turn gave 2.27× the throughput of scoring them alone with the late-interaction
reranker and 0.91–1.08× with cross-encoders, which are compute bound on a CPU; 64 pairs never
merged two 45-passage requests).

With batching off every request is its own turn (same queue, same limits): the A/B baseline.
``ragsift_batch_requests`` (requests per turn) and ``ragsift_model_forward_passes_total`` show
what batching did.

Backpressure. When ``queue_max`` requests are already waiting, :meth:`MicroBatcher.score` raises
:class:`QueueFullError` (HTTP 429 with ``Retry-After``) instead of queueing forever; after
:meth:`close` it raises :class:`ShuttingDownError` (503) while the queued work drains. A request
whose caller gave up (its ``deadline`` passed, or its handler was cancelled) is dropped from the
queue before it reaches the model.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from dataclasses import dataclass, field

from ragsift.rerank.base import Scores
from ragsift.service.errors import QueueFullError, RequestTimeoutError, ShuttingDownError
from ragsift.service.metrics import ServiceMetrics
from ragsift.service.scoring import ModelRunner, ScoreJob, Truncate

__all__ = ["MicroBatcher"]

logger = logging.getLogger("ragsift.service")


@dataclass(eq=False)
class _Pending:
    job: ScoreJob
    future: asyncio.Future
    deadline: float | None = None  # time.monotonic() after which nobody waits for the answer
    enqueued: float = field(default_factory=time.perf_counter)

    @property
    def size(self) -> int:
        return len(self.job.passages)

    def live(self) -> bool:
        """False when the caller is gone (future done) or the deadline passed (then it is failed)."""
        if self.future.done():
            return False
        if self.deadline is not None and time.monotonic() > self.deadline:
            self.future.set_exception(RequestTimeoutError("the request timed out while waiting for the model"))
            return False
        return True


class MicroBatcher:
    """Schedules rerank work onto the model thread; see the module docstring."""

    def __init__(
        self,
        runner: ModelRunner,
        metrics: ServiceMetrics,
        *,
        max_batch_pairs: int = 180,
        max_wait_ms: float = 5.0,
        queue_max: int = 64,
        enabled: bool = True,
    ):
        self.runner = runner
        self.metrics = metrics
        self.max_batch_pairs = max_batch_pairs
        self.max_wait_s = max_wait_ms / 1000.0
        self.queue_max = queue_max
        self.enabled = enabled
        self._waiting: deque[_Pending] = deque()
        self._wakeup: asyncio.Event | None = None
        self._task: asyncio.Task | None = None
        self._closed = False
        self._turn_seconds = 0.0  # moving average of one executor turn, for Retry-After

    # -- lifecycle -----------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the scheduler on the running event loop."""
        if self._task is None:
            self._wakeup = asyncio.Event()
            self._task = asyncio.get_running_loop().create_task(self._loop(), name="ragsift-batcher")

    def close(self) -> None:
        """Take no new work (503); what is queued still runs."""
        self._closed = True
        if self._wakeup is not None:
            self._wakeup.set()

    @property
    def closed(self) -> bool:
        return self._closed

    async def drain(self, timeout: float | None = None) -> None:
        """Close, wait until the queue is empty and the scheduler has stopped (at most ``timeout`` s)."""
        self.close()
        if self._task is None:
            return
        try:
            await asyncio.wait_for(asyncio.shield(self._task), timeout)
        except asyncio.TimeoutError:
            logger.warning("queue not drained after %.1f s; cancelling %d waiting request(s)", timeout, self.depth)
            self._task.cancel()
            for pending in self._waiting:
                if not pending.future.done():
                    pending.future.set_exception(ShuttingDownError("the service stopped before this request ran"))
            self._waiting.clear()

    @property
    def depth(self) -> int:
        """Requests waiting for the model (not counting the batch being scored)."""
        return len(self._waiting)

    # -- submitting ----------------------------------------------------------------------------------

    async def score(
        self,
        query: str,
        passages: list[str],
        *,
        truncate: Truncate = Truncate.END,
        deadline: float | None = None,
    ) -> Scores:
        """Scores of ``passages`` for ``query`` in input order, computed on the model thread.

        ``deadline`` (a ``time.monotonic()`` value) drops the job, with RequestTimeoutError, if it
        is still queued then; routes pass :func:`ragsift.service.middleware.request_deadline`.
        """
        if self._closed:
            raise ShuttingDownError("the service is shutting down and takes no new requests; retry on another replica")
        if self._task is None:
            raise RuntimeError("MicroBatcher.start() was not called (the app's lifespan starts it)")
        if len(self._waiting) >= self.queue_max:
            raise QueueFullError(
                f"{len(self._waiting)} requests are already waiting for the model (queue_max={self.queue_max}); "
                "retry later or raise queue_max",
                retry_after=self._retry_after(),
            )
        future = asyncio.get_running_loop().create_future()
        pending = _Pending(ScoreJob(query, list(passages), truncate), future, deadline)
        self._waiting.append(pending)
        self.metrics.queue_depth.set(len(self._waiting))
        assert self._wakeup is not None
        self._wakeup.set()
        return await pending.future  # cancelling this await drops the job if it has not run yet

    def _retry_after(self) -> float:
        """Seconds until the queue has likely moved: waiting requests × one executor turn (≥ 1, ≤ 60)."""
        return min(60.0, max(1.0, len(self._waiting) * self._turn_seconds))

    # -- scheduling ----------------------------------------------------------------------------------

    async def _loop(self) -> None:
        while True:
            first = await self._next()
            if first is None:
                return
            batch = [first]
            if self.enabled:
                await self._fill(batch)
            await self._execute(batch)

    async def _next(self) -> _Pending | None:
        """The oldest live request; None once closed and empty."""
        assert self._wakeup is not None
        while True:
            while self._waiting:
                pending = self._waiting.popleft()
                self.metrics.queue_depth.set(len(self._waiting))
                if pending.live():
                    return pending
            if self._closed:
                return None
            self._wakeup.clear()
            await self._wakeup.wait()

    async def _fill(self, batch: list[_Pending]) -> None:
        """Add waiting requests until ``max_batch_pairs`` or the wait budget is reached."""
        assert self._wakeup is not None
        pairs = batch[0].size
        deadline = time.perf_counter() + self.max_wait_s
        while pairs < self.max_batch_pairs:
            if self._waiting:
                nxt = self._waiting[0]
                if not nxt.live():
                    self._waiting.popleft()
                    continue
                if pairs + nxt.size > self.max_batch_pairs:
                    return
                batch.append(self._waiting.popleft())
                self.metrics.queue_depth.set(len(self._waiting))
                pairs += nxt.size
                continue
            remaining = deadline - time.perf_counter()
            if remaining <= 0 or self._closed:
                return
            self._wakeup.clear()
            try:
                await asyncio.wait_for(self._wakeup.wait(), remaining)
            except asyncio.TimeoutError:
                return

    async def _execute(self, batch: list[_Pending]) -> None:
        live = [p for p in batch if p.live()]
        if not live:
            return
        start = time.perf_counter()
        for p in live:
            self.metrics.observe_stage("queue", start - p.enqueued)
        try:
            results = await self.runner.run(self.runner.score_jobs, [p.job for p in live])
        except asyncio.CancelledError:
            for p in live:
                if not p.future.done():
                    p.future.set_exception(ShuttingDownError("the service stopped while this request ran"))
            raise
        except Exception as exc:  # the executor itself failed (e.g. already shut down)
            results = [exc] * len(live)
        finally:
            elapsed = time.perf_counter() - start
            self._turn_seconds = elapsed if not self._turn_seconds else 0.8 * self._turn_seconds + 0.2 * elapsed
            self.metrics.observe_stage("rerank", elapsed)
            self.metrics.observe_batch(sum(p.size for p in live), len(live))
        for p, result in zip(live, results):
            if p.future.done():
                continue
            if isinstance(result, BaseException):
                p.future.set_exception(result)
            else:
                p.future.set_result(result)
