"""The second stage: rerank first-stage hits and keep the top n.

``interpolate`` (a weight w in [0, 1]) blends the reranker with the first stage:
``final = w · relevance + (1 − w) · minmax(first-stage score)``, so a weak reranker degrades
gracefully instead of undoing a good first stage. w = 1 is pure reranking; tune w on a dev
split with :func:`ragsift.eval.tuning.tune_interpolation`.

Settings a model carries (:mod:`ragsift.rerank.settings`, written by ``ragsift train-reranker``)
are the defaults of :class:`RerankOptions`: a field left ``None`` takes the model's value, then
the built-in default. :meth:`RerankOptions.resolve` fixes every value and records where it came
from (``applied``), which search results and ``--json`` report as ``rerank_settings``.

One query never aborts a search or an evaluation: when the reranker refuses it (a query or
passage over the limit with ``truncate="NONE"``), :func:`rerank_hits` keeps the first-stage
order for it and says so in ``warnings``.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field, replace
from typing import Any, Mapping, Sequence

from ragsift.errors import ConfigError, PassageTooLongError, QueryTooLongError
from ragsift.fusion.normalize import min_max
from ragsift.rerank.settings import OFF, Applied, ModelSettings, report, resolve
from ragsift.types import TEXT_FIELDS, Hit, passage_text

__all__ = [
    "DEFAULT_CANDIDATES",
    "RerankOptions",
    "rerank_hits",
    "hit_texts",
    "model_reranker",
    "rerank_settings",
    "truncation_count",
]

log = logging.getLogger(__name__)

#: Candidates reranked when neither the caller nor the model says otherwise.
DEFAULT_CANDIDATES = 45


@dataclass
class RerankOptions:
    """``candidates``: first-stage hits passed to the reranker; ``top_n``: kept.

    ``candidates``, ``interpolate`` and ``text_fields`` left ``None`` take the reranker model's
    recorded settings, else the defaults (45 candidates, no interpolation, title + text — what the
    first stage indexed, :func:`ragsift.types.passage_text`). ``interpolate="none"`` turns
    interpolation off even when the model recommends it. ``auto=True`` (``--rerank auto``) reranks
    only the queries the collection's trained gate expects to gain (``ragsift train-router
    --reranker``; :class:`ragsift.query.policy.Gate`); the others keep their first-stage order.
    """

    candidates: int | None = None
    top_n: int = 5
    threshold: float | None = None
    interpolate: float | str | None = None
    text_fields: tuple[str, ...] | None = None
    auto: bool = False
    #: Set by :meth:`resolve`: every applied value with its source.
    applied: Mapping[str, Applied] | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        for name in ("candidates", "top_n"):
            value = getattr(self, name)
            if value is None and name == "candidates":
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name}={value!r} must be an integer >= 1")
        if self.threshold is not None and not 0.0 <= self.threshold <= 1.0:
            raise ConfigError(f"threshold={self.threshold!r} must be in [0, 1] (normalized reranker score)")
        if isinstance(self.interpolate, str):
            if self.interpolate.strip().lower() not in (OFF, "off"):
                raise ConfigError(f"interpolate={self.interpolate!r} must be a weight in [0, 1] or 'none' (off)")
            self.interpolate = OFF
        elif self.interpolate is not None and not 0.0 <= self.interpolate <= 1.0:
            raise ConfigError(f"interpolate={self.interpolate!r} must be in [0, 1] (1 = reranker only) or 'none'")
        if self.text_fields is not None:
            self.text_fields = tuple(self.text_fields)
            passage_text("", "", self.text_fields)  # validates

    @property
    def weight(self) -> float | None:
        """The interpolation weight to apply (None: pure reranking)."""
        return None if self.interpolate in (None, OFF) else float(self.interpolate)

    def resolve(self, reranker: Any = None) -> "RerankOptions":
        """These options with every default filled from ``reranker``'s model settings; ``applied`` says how."""
        if self.applied is not None:
            return self
        model = model_settings(reranker)
        candidates = resolve("candidates", self.candidates, model=model, default=DEFAULT_CANDIDATES)
        interpolate = resolve("interpolate", self.interpolate, model=model, default=None)
        if interpolate.source == "model" and candidates.source != "model":
            weight, depth = model.interpolate_at(int(candidates.value))
            if weight is not None and depth != model.candidates:
                interpolate = Applied(weight, f"model@{depth}")
        applied = {
            "candidates": candidates,
            "interpolate": interpolate,
            "text_fields": resolve("text_fields", self.text_fields, model=model, default=TEXT_FIELDS),
        }
        applied.update(reranker_applied(reranker))
        interpolate = interpolate.value
        return replace(
            self,
            candidates=int(applied["candidates"].value),
            interpolate=OFF if interpolate is None else float(interpolate),
            text_fields=tuple(applied["text_fields"].value),
            applied=applied,
        )

    def settings_report(self) -> dict[str, dict[str, Any]]:
        """``{name: {"value", "source"}}`` of the applied settings (after :meth:`resolve`)."""
        return report(self.applied or {})


def rerank_hits(
    reranker, query: str, hits: Sequence[Hit], opts: RerankOptions, *, warnings: list[str] | None = None
) -> tuple[list[Hit], float]:
    """Rerank ``hits`` (already cut to the candidates); return the new top ``opts.top_n`` and the ms spent.

    Each returned hit keeps its first-stage scores in ``source_scores`` (plus ``first_stage``)
    and adds ``rerank`` (raw) and ``rerank_relevance`` (normalized); ``score`` is the raw
    reranker score, or the interpolated score when ``interpolate`` is set. ``warnings`` (a list)
    receives ``"query_truncated"`` when the query was cut to fit, ``"rerank_skipped"`` when the
    reranker refused the query (the hits then keep their first-stage order and scores).
    """
    start = time.perf_counter()
    if not hits:
        return [], 0.0
    opts = opts.resolve(reranker)
    truncated = truncation_count(reranker)
    try:
        results = reranker.rerank(query, hit_texts(hits, opts.text_fields))
    except (QueryTooLongError, PassageTooLongError) as exc:
        log.warning("query %.60r kept its first-stage order: %s", query, exc)
        if warnings is not None:
            warnings.append("rerank_skipped")
        return list(hits[: opts.top_n]), (time.perf_counter() - start) * 1000.0
    if warnings is not None and truncation_count(reranker) > truncated:
        warnings.append("query_truncated")
    first = min_max([h.score for h in hits])
    weight = opts.weight
    scored = []
    for r in results:
        hit = hits[r.index]
        final = r.score
        if weight is not None:
            final = weight * r.relevance + (1.0 - weight) * float(first[r.index])
        sources = {**hit.source_scores, "first_stage": hit.score, "rerank": r.score, "rerank_relevance": r.relevance}
        scored.append((final, r.relevance, r.index, replace(hit, score=float(final), source_scores=sources)))
    scored.sort(key=lambda t: (-t[0], t[2]))
    kept = [h for _, rel, _, h in scored if opts.threshold is None or rel >= opts.threshold]
    return kept[: opts.top_n], (time.perf_counter() - start) * 1000.0


def hit_texts(hits: Sequence[Hit], fields: Sequence[str] = TEXT_FIELDS) -> list[str]:
    """What a reranker reads for each hit: :func:`ragsift.types.passage_text` of its title and text."""
    return [passage_text(h.title, h.text, tuple(fields)) for h in hits]


def model_reranker(reranker: Any) -> Any:
    """The reranker that holds the model inside caches, meters and fallback chains (their first link)."""
    seen = 0
    while reranker is not None and seen < 16:
        seen += 1
        if hasattr(reranker, "inner"):
            reranker = reranker.inner
        elif hasattr(getattr(reranker, "runner", None), "model"):
            reranker = reranker.runner.model  # the service's ServedReranker
        elif getattr(reranker, "chain", None):
            reranker = reranker.chain[0]
        else:
            break
    return reranker


def model_settings(reranker: Any) -> ModelSettings | None:
    """The recorded settings of ``reranker``'s model (:mod:`ragsift.rerank.settings`), if any."""
    return getattr(model_reranker(reranker), "model_settings", None)


def reranker_applied(reranker: Any) -> dict[str, Applied]:
    """``max_length`` and ``backend`` of a local model with their sources (empty for other rerankers)."""
    inner = model_reranker(reranker)
    if inner is None or not hasattr(inner, "max_length_source"):
        return {}
    sources = getattr(inner, "option_sources", {}) or {}
    backend = inner.backend.value + (f"-{inner.quantize.value}" if getattr(inner, "quantize", None) else "")
    return {
        "max_length": Applied(inner.max_length, sources.get("max_length", inner.max_length_source)),
        "backend": Applied(backend, sources.get("backend", getattr(inner, "backend_source", "default"))),
    }


def rerank_settings(reranker: Any, opts: RerankOptions | None = None) -> dict[str, dict[str, Any]]:
    """The ``rerank_settings`` report for ``reranker`` used with ``opts`` (default options when None)."""
    return (opts or RerankOptions()).resolve(reranker).settings_report()


def truncation_count(reranker: Any) -> int:
    """Queries the model has cut to fit so far (0 for rerankers that never cut one)."""
    return int(getattr(model_reranker(reranker), "queries_truncated", 0) or 0)
