"""One reranker interface and one result type.

Every reranker implements :meth:`Reranker.score` — raw and normalized scores for each document,
in input order — and inherits :meth:`Reranker.rerank`, which validates input, sorts, applies an
optional threshold and cuts to ``top_n``.

:meth:`Reranker.score_many` scores several requests (``[(query, documents), ...]``) in one call,
each exactly as :meth:`Reranker.score` would score it alone; a failing request can be reported in
its own slot (``return_exceptions=True``) without failing the others. The default makes one
``score`` call per distinct query (pointwise rerankers) or per request; the local cross-encoder
overrides it to run pairs of different queries through the same length-sorted forward passes.

Normalized score (``relevance``, always in [0, 1], higher is better):

- logit-producing models (cross-encoders, NIM ``logit``): ``sigmoid(logit)``;
- vendor scores that are already probabilities in [0, 1] (Cohere/Jina ``relevance_score``,
  TEI ``score``, Vertex ``score``, Bedrock ``relevanceScore``): the score itself, clipped;
- LLM pointwise grades on 0–10: ``grade / 10``; listwise LLM permutations: ``1 - rank / n``.

``score`` keeps the raw value exactly as the model or vendor returned it.

What a reranker can do and how it is configured is declared on its class, never discovered
(:class:`Reranker`): ``cacheable`` (pointwise scores), ``truncation_modes`` (the per-call
:class:`Truncate` modes its ``truncate`` attribute may be switched between), ``batch_cap`` (the
vendor's hard limit of documents per request), and for the registry ``model_option``, ``options``
and ``required_options`` (the constructor keywords it may pass).
"""

from __future__ import annotations

import asyncio
import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from enum import Enum
from typing import Any, ClassVar, Sequence

from ragsift.errors import BadInputError, ConfigError

__all__ = [
    "RerankResult",
    "Reranker",
    "ScoreOutcome",
    "ScoreRequest",
    "Scores",
    "Truncate",
    "positive_int",
    "sigmoid",
    "validate_request",
]


class Truncate(str, Enum):
    """What to do with a (query, passage) pair longer than the model's limit (NVIDIA NIM semantics)."""

    NONE = "NONE"  # reject it: PassageTooLongError (local) or the vendor's error
    END = "END"  # cut the end of the passage


@dataclass(frozen=True)
class RerankResult:
    """One reranked document: its ``index`` in the input list, raw ``score``, normalized ``relevance``."""

    index: int
    score: float
    relevance: float
    document: str | None = None

    def to_dict(self) -> dict:
        d = {"index": self.index, "score": self.score, "relevance": self.relevance}
        if self.document is not None:
            d["document"] = self.document
        return d


@dataclass(frozen=True)
class Scores:
    """Per-document scores in input order: ``raw`` as returned, ``relevance`` normalized to [0, 1]."""

    raw: list[float]
    relevance: list[float]


#: One request of :meth:`Reranker.score_many`: a query and its documents.
ScoreRequest = tuple[str, Sequence[str]]
#: What :meth:`Reranker.score_many` returns per request: its scores, or (``return_exceptions=True``) its error.
ScoreOutcome = Scores | BaseException


def sigmoid(x: float) -> float:
    """Numerically stable logistic function."""
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    z = math.exp(x)
    return z / (1.0 + z)


def validate_request(query: object, documents: object, top_n: object = None, threshold: object = None) -> None:
    """Raise BadInputError/ConfigError for a malformed rerank request (shared by every reranker)."""
    if not isinstance(query, str) or not query.strip():
        raise BadInputError(f"query={query!r} must be a non-empty string")
    if isinstance(documents, (str, bytes)) or not isinstance(documents, Sequence):
        raise BadInputError(f"documents must be a list of strings, got {type(documents).__name__}")
    for i, d in enumerate(documents):
        if not isinstance(d, str):
            raise BadInputError(f"documents[{i}] is a {type(d).__name__}; every document must be a string")
    if top_n is not None and (isinstance(top_n, bool) or not isinstance(top_n, int) or top_n < 1):
        raise ConfigError(f"top_n={top_n!r} must be a positive integer or None (all documents)")
    if threshold is not None and not (isinstance(threshold, (int, float)) and 0.0 <= threshold <= 1.0):
        raise ConfigError(f"threshold={threshold!r} must be a number in [0, 1] (it applies to the normalized score)")


class Reranker(ABC):
    """Base class of every reranker. Subclasses implement :meth:`score` (and may override :meth:`warm_up`).

    Capabilities and options are declared as class attributes (an instance may refine
    ``cacheable``, e.g. the LLM reranker in listwise mode); see the module docstring.
    """

    #: Short identifier used in logs, cache keys and reports (e.g. the model name).
    name: str = "reranker"
    #: The model's version or revision when the reranker knows it (a hub commit, a weights hash);
    #: score caches key on ``name`` and this, so retrained weights under the same name never reuse
    #: old scores. None: unknown, the cache keys on ``name`` alone.
    model_version: str | None = None
    #: True when a document's score depends only on (query, document): scores may be cached and
    #: several requests with the same query may be scored in one call.
    cacheable: bool = True
    #: The :class:`Truncate` modes :meth:`set_truncate` accepts; empty: long input is handled the
    #: reranker's own way and cannot be chosen per call.
    truncation_modes: ClassVar[frozenset[Truncate]] = frozenset()
    #: The current mode when ``truncation_modes`` is not empty.
    truncate: Truncate | None = None
    #: The vendor's hard limit of documents per request (``max_batch`` may not exceed it); None: no limit.
    batch_cap: ClassVar[int | None] = None
    #: The constructor keyword that receives the model; None: the reranker takes no model.
    model_option: ClassVar[str | None] = None
    #: Other constructor keywords the registry may pass (from arguments or RERANKER_* variables).
    options: ClassVar[frozenset[str]] = frozenset()
    #: Options (or the model option) that have no default and must be given.
    required_options: ClassVar[frozenset[str]] = frozenset()
    #: Forward passes (model invocations over a padded batch of pairs) run so far. Local models
    #: count them (the service exports the sum as ``ragsift_model_forward_passes_total``); others
    #: leave it 0.
    forward_passes: int = 0

    def set_truncate(self, mode: Truncate) -> None:
        """Choose how the next calls treat over-long pairs; only a declared mode is accepted."""
        if mode not in self.truncation_modes:
            allowed = ", ".join(sorted(m.value for m in self.truncation_modes)) or "none"
            shown = getattr(mode, "value", mode)
            raise ConfigError(f"reranker {self.name!r} cannot switch to truncate={shown!r}; its modes: {allowed}")
        self.truncate = mode

    def warm_up(self) -> None:
        """Load models or open connections before the first request (idempotent)."""

    @abstractmethod
    def score(self, query: str, documents: Sequence[str]) -> Scores:
        """Scores for every document, in input order. ``documents`` is already validated and non-empty."""

    def score_many(
        self, requests: Sequence[ScoreRequest], *, return_exceptions: bool = False
    ) -> list[ScoreOutcome]:
        """Scores of several ``(query, documents)`` requests, one :class:`Scores` per request, in order.

        Each request's scores equal what :meth:`score` returns for it alone (within float
        rounding); requests are already validated, and one with no documents gets empty scores.
        With ``return_exceptions=False`` the first error raises; with ``True`` (as in
        :func:`asyncio.gather`) a request that fails holds its exception in its slot and the
        others are still scored.

        The default makes one :meth:`score` call per distinct query when the reranker is pointwise
        (``cacheable``; the documents of requests sharing a query are concatenated), else one per
        request. If a merged call fails on bad input (:class:`BadInputError`,
        :class:`ConfigError`, e.g. one request's over-long passage), its requests are scored one by
        one so the error, with its own document index, reaches only the request that caused it.
        """
        batch = [(query, list(documents)) for query, documents in requests]
        results: list[ScoreOutcome | None] = [None] * len(batch)
        groups: dict[object, list[int]] = {}
        for i, (query, documents) in enumerate(batch):
            if not documents:
                results[i] = Scores([], [])
            else:
                groups.setdefault(query if self.cacheable else i, []).append(i)
        for members in groups.values():
            if len(members) > 1 and self._score_merged(batch, members, results, return_exceptions):
                continue
            for i in members:
                results[i] = _outcome(self.score, batch[i], return_exceptions)
        return results  # type: ignore[return-value]

    def _score_merged(
        self, batch: list[tuple[str, list[str]]], members: list[int], results: list, return_exceptions: bool
    ) -> bool:
        """One ``score`` call for requests sharing a query; False when bad input needs them one by one."""
        documents = [d for i in members for d in batch[i][1]]
        try:
            merged = self.score(batch[members[0]][0], documents)
        except (BadInputError, ConfigError):
            return False
        except Exception as exc:
            if not return_exceptions:
                raise
            for i in members:
                results[i] = exc
            return True
        start = 0
        for i in members:
            stop = start + len(batch[i][1])
            results[i] = Scores(raw=list(merged.raw[start:stop]), relevance=list(merged.relevance[start:stop]))
            start = stop
        return True

    def rerank(
        self,
        query: str,
        documents: Sequence[str],
        top_n: int | None = None,
        *,
        threshold: float | None = None,
        return_documents: bool = False,
    ) -> list[RerankResult]:
        """Rank ``documents`` for ``query``: best first, at most ``top_n``, relevance ≥ ``threshold``."""
        validate_request(query, documents, top_n, threshold)
        if not documents:
            return []
        scores = self.score(query, list(documents))
        return rank(scores, documents if return_documents else None, top_n, threshold)

    async def ascore(self, query: str, documents: Sequence[str]) -> Scores:
        """Async :meth:`score`. The default runs :meth:`score` in a worker thread; network-bound
        rerankers override it with native async I/O."""
        return await asyncio.to_thread(self.score, query, list(documents))

    async def arerank(
        self,
        query: str,
        documents: Sequence[str],
        top_n: int | None = None,
        *,
        threshold: float | None = None,
        return_documents: bool = False,
    ) -> list[RerankResult]:
        """Async :meth:`rerank`, built on :meth:`ascore` (subclasses override ``ascore``, not this)."""
        validate_request(query, documents, top_n, threshold)
        if not documents:
            return []
        scores = await self.ascore(query, list(documents))
        return rank(scores, documents if return_documents else None, top_n, threshold)


def _outcome(score, request: tuple[str, list[str]], return_exceptions: bool) -> ScoreOutcome:
    """``score(*request)``, or its exception when ``return_exceptions``."""
    try:
        return score(*request)
    except Exception as exc:
        if not return_exceptions:
            raise
        return exc


def rank(
    scores: Scores, documents: Sequence[str] | None, top_n: int | None, threshold: float | None
) -> list[RerankResult]:
    """Sort by raw score (ties: input order), filter by normalized threshold, cut to ``top_n``."""
    n = len(scores.raw)
    if len(scores.relevance) != n or (documents is not None and len(documents) != n):
        raise ConfigError(f"reranker returned {n} raw and {len(scores.relevance)} normalized scores")
    order = sorted(range(n), key=lambda i: (-scores.raw[i], i))
    out = []
    for i in order:
        rel = scores.relevance[i]
        if threshold is not None and rel < threshold:
            continue
        out.append(RerankResult(i, float(scores.raw[i]), float(rel), documents[i] if documents is not None else None))
        if top_n is not None and len(out) == top_n:
            break
    return out


def positive_int(value: Any, param: str, *, minimum: int = 1) -> int:
    """``value`` when it is an int ``>= minimum`` (not a bool); ConfigError naming ``param`` otherwise (reranker options)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{param}={value!r} is not valid; use an integer >= {minimum}")
    return value
