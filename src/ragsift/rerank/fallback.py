"""Explicit degraded mode: a chain of rerankers tried in order.

``FallbackReranker([cohere, cross_encoder, FirstStageReranker()])`` asks Cohere; when it fails with
an error in ``catch`` (by default any :class:`~ragsift.errors.RemoteError`, or a bare
``TimeoutError``/``ConnectionError``) it logs a WARNING naming the failed reranker, the error and the
next reranker, counts the failure, and asks the next one. A chain ending in
:class:`~ragsift.rerank.identity.FirstStageReranker` always answers — in the first-stage order.
When every link fails the last error is raised.

Bad requests never fall back: :class:`~ragsift.errors.BadInputError` and
:class:`~ragsift.errors.ConfigError` propagate at once, whatever ``catch`` says, and so does any
error not in ``catch``.

``score_many`` (several requests in one call) asks each link for all the requests still
unanswered at once, so a cross-encoder link keeps its shared forward passes; a request whose link
failed with a caught error moves on to the next link, the others are done. Failures and uses are
counted per request.

The chain is configuration, not a hidden default: build it explicitly, with
:func:`ragsift.rerank.fallback_chain` (``"cohere,cross-encoder,none"``) or ``RERANKER_FALLBACK``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence

from ragsift.errors import BadInputError, ConfigError, RemoteError
from ragsift.rerank.base import Reranker, ScoreOutcome, ScoreRequest, Scores

__all__ = ["FallbackReranker", "DEFAULT_CATCH", "NEVER_CAUGHT"]

logger = logging.getLogger(__name__)

#: Errors that make :class:`FallbackReranker` try the next reranker, unless told otherwise.
DEFAULT_CATCH: tuple[type[BaseException], ...] = (RemoteError, TimeoutError, ConnectionError)

#: Errors that always propagate: the request or the configuration is wrong, another model won't fix it.
NEVER_CAUGHT: tuple[type[BaseException], ...] = (BadInputError, ConfigError)


def _labels(chain: Sequence[Reranker]) -> list[str]:
    """Reranker names, made unique with ``#2``, ``#3``... for repeats."""
    seen: dict[str, int] = {}
    labels = []
    for reranker in chain:
        name = str(reranker.name)
        seen[name] = seen.get(name, 0) + 1
        labels.append(name if seen[name] == 1 else f"{name}#{seen[name]}")
    return labels


def _check_catch(catch: object) -> tuple[type[BaseException], ...]:
    if isinstance(catch, type):
        catch = (catch,)
    if not isinstance(catch, (tuple, list)) or not catch:
        raise ConfigError(f"catch={catch!r} must be a non-empty tuple of exception classes, e.g. (RemoteError,)")
    for exc_type in catch:
        if not (isinstance(exc_type, type) and issubclass(exc_type, BaseException)):
            raise ConfigError(f"catch contains {exc_type!r}, which is not an exception class")
        if issubclass(exc_type, NEVER_CAUGHT):
            raise ConfigError(
                f"catch contains {exc_type.__name__}: bad input and bad configuration never fall back "
                "(they would fail on every reranker); remove it"
            )
    return tuple(catch)


class FallbackReranker(Reranker):
    """Tries each reranker of ``chain`` in order until one answers.

    ``stats`` is ``{"used": {label: n}, "failed": {label: n}}`` per reranker (labels are the
    rerankers' names, ``name#2`` for a repeat); ``last_used`` is the label of the reranker that
    produced the most recent result (under concurrent use: the most recent to finish).
    """

    def __init__(self, chain: Sequence[Reranker], *, catch: tuple[type[BaseException], ...] = DEFAULT_CATCH):
        if isinstance(chain, Reranker) or not isinstance(chain, Sequence) or not chain:
            raise ConfigError(f"chain={chain!r} must be a non-empty list of Reranker instances")
        for i, reranker in enumerate(chain):
            if not isinstance(reranker, Reranker):
                raise ConfigError(f"chain[{i}]={reranker!r} is not a Reranker instance")
        self.chain = list(chain)
        self.catch = _check_catch(catch)
        self.labels = _labels(self.chain)
        self.cacheable = all(r.cacheable for r in self.chain)  # pointwise only if every link is
        self.name = "fallback(" + ",".join(self.labels) + ")"
        self.stats: dict[str, dict[str, int]] = {
            "used": {label: 0 for label in self.labels},
            "failed": {label: 0 for label in self.labels},
        }
        self.last_used: str | None = None
        self._lock = threading.Lock()

    def warm_up(self) -> None:
        """Warm up every link; a link failing with an error in ``catch`` is logged and left to fail over."""
        for i, reranker in enumerate(self.chain):
            try:
                reranker.warm_up()
            except Exception as exc:
                if not self._recoverable(exc) or i == len(self.chain) - 1:
                    raise
                logger.warning(
                    "reranker %r failed to warm up (%s: %s); requests will fall back to %r when it fails",
                    self.labels[i], type(exc).__name__, exc, self.labels[i + 1],
                )

    def score(self, query: str, documents: Sequence[str]) -> Scores:
        for i, reranker in enumerate(self.chain):
            try:
                scores = reranker.score(query, documents)
            except Exception as exc:
                self._failed(i, exc)
                continue
            self._used(i)
            return scores
        raise AssertionError("unreachable: the last failure is re-raised")  # pragma: no cover

    def score_many(
        self, requests: Sequence[ScoreRequest], *, return_exceptions: bool = False
    ) -> list[ScoreOutcome]:
        """:meth:`score` for several requests: each link gets, in one ``score_many`` call, the
        requests the links before it failed on with an error in ``catch``."""
        batch = [(query, list(documents)) for query, documents in requests]
        results: list[ScoreOutcome | None] = [None] * len(batch)
        todo = list(range(len(batch)))
        for i, reranker in enumerate(self.chain):
            outcomes = reranker.score_many([batch[j] for j in todo], return_exceptions=True)
            todo = [j for j, outcome in zip(todo, outcomes) if self._settle(i, j, outcome, results)]
            if not todo:
                break
        if not return_exceptions:
            for outcome in results:
                if isinstance(outcome, BaseException):
                    raise outcome
        return results  # type: ignore[return-value]

    def _settle(self, i: int, j: int, outcome: ScoreOutcome, results: list) -> bool:
        """Record link ``i``'s outcome for request ``j``; True when the request moves to the next link."""
        if not isinstance(outcome, BaseException):
            self._used(i)
            results[j] = outcome
            return False
        try:
            self._failed(i, outcome)  # type: ignore[arg-type]
        except Exception as final:
            results[j] = final
            return False
        return True

    async def ascore(self, query: str, documents: Sequence[str]) -> Scores:
        """Async :meth:`score` through each link's own ``ascore``, with the same fallback rules."""
        for i, reranker in enumerate(self.chain):
            try:
                scores = await reranker.ascore(query, documents)
            except Exception as exc:
                self._failed(i, exc)
                continue
            self._used(i)
            return scores
        raise AssertionError("unreachable: the last failure is re-raised")  # pragma: no cover

    def _recoverable(self, exc: BaseException) -> bool:
        return isinstance(exc, self.catch) and not isinstance(exc, NEVER_CAUGHT)

    def _failed(self, i: int, exc: Exception) -> None:
        """Count and log the failure of link ``i``; re-raise when it must propagate or was the last."""
        if not self._recoverable(exc):
            raise exc
        label = self.labels[i]
        with self._lock:
            self.stats["failed"][label] += 1
        if i == len(self.chain) - 1:
            logger.warning("reranker %r failed (%s: %s); no reranker left in the chain", label, type(exc).__name__, exc)
            raise exc
        logger.warning(
            "reranker %r failed (%s: %s); falling back to %r", label, type(exc).__name__, exc, self.labels[i + 1]
        )

    def _used(self, i: int) -> None:
        label = self.labels[i]
        with self._lock:
            self.stats["used"][label] += 1
            self.last_used = label
