"""Cost–accuracy of reranking (seed 004): how many passages the LLM must read for the same accuracy.

A RAG pipeline hands the top N passages to the LLM, whose cost grows with the tokens it reads.
For N = 1..max_n this module measures context recall@N (:mod:`ragsift.eval.rag_metrics`) of a
first stage and of the same first stage reranked. The target is the first stage's context recall
at ``N_base`` passages. ``N_first`` is the smallest N at which the *first stage itself* reaches
that target (its curve is often flat, so ``N_first`` can be well below ``N_base``), and
``N_reranked`` the smallest N at which the reranked list does. Reranking saves
``N_first − N_reranked`` passages per query (that many times the mean passage length in tokens):
positive only when the reranked run reaches the target with fewer passages than the first stage
needs for the same recall, negative when it needs more, and None when it never reaches the
target within ``max_n``. (Comparing against ``N_base`` instead would credit even a harmful
reranker whenever the first stage's curve is flat.)

Passage length is counted with the collection's embedding tokenizer when it can be loaded
(``token_counter`` names it in the results), else as characters / 4.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable, Iterable, Mapping, Sequence

import numpy as np

from ragsift.errors import ConfigError, RagsiftError
from ragsift.eval.rag_metrics import context_recall_curve
from ragsift.types import Qrels

__all__ = ["CostAccuracy", "smallest_matching_n", "cost_accuracy", "token_counter", "mean_tokens"]

log = logging.getLogger(__name__)

_EPS = 1e-12


@dataclass
class CostAccuracy:
    """Context recall@N with and without reranking, and the passages/tokens reranking saves."""

    retriever: str
    reranker: str
    n_base: int
    base: list[float]  # context recall@N of the first stage, N = 1..max_n
    reranked: list[float]
    n_reranked: int | None
    tokens_per_passage: float
    token_counter: str
    n_first: int | None = None  # smallest N at which the first stage reaches its own recall@N_base

    def __post_init__(self) -> None:
        if self.n_first is None:
            self.n_first = smallest_matching_n(self.base, self.base, self.n_base)

    @property
    def target(self) -> float:
        return self.base[self.n_base - 1]

    @property
    def passages_saved(self) -> int | None:
        """``N_first − N_reranked``: > 0 only when reranking needs fewer passages than the first stage; None if it never gets there."""
        return None if self.n_reranked is None else self.n_first - self.n_reranked

    def to_dict(self) -> dict:
        saved = self.passages_saved
        return {
            "retriever": self.retriever,
            "reranker": self.reranker,
            "n_base": self.n_base,
            "recall_base_at_n_base": self.target,
            "n_first_stage": self.n_first,
            "n_reranked": self.n_reranked,
            "recall_reranked_at_n_reranked": None if self.n_reranked is None else self.reranked[self.n_reranked - 1],
            "recall_reranked_at_n_base": self.reranked[self.n_base - 1],
            "passages_saved": saved,
            "passages_saved_pct": None if saved is None else 100.0 * saved / self.n_first,
            "tokens_per_passage": self.tokens_per_passage,
            "tokens_saved_per_query": None if saved is None else saved * self.tokens_per_passage,
            "token_counter": self.token_counter,
            "context_recall_base": self.base,
            "context_recall_reranked": self.reranked,
        }


def smallest_matching_n(base: Sequence[float], reranked: Sequence[float], n_base: int) -> int | None:
    """Smallest N (1-based) with ``reranked[N-1] >= base[n_base-1]``; None if no N in range reaches it."""
    if not 1 <= n_base <= len(base):
        raise ConfigError(f"n_base={n_base!r} must be between 1 and max_n={len(base)}")
    target = base[n_base - 1]
    for n, value in enumerate(reranked, start=1):
        if value >= target - _EPS:
            return n
    return None


def cost_accuracy(
    qrels: Qrels,
    base: Mapping[str, Sequence[str]],
    reranked: Mapping[str, Sequence[str]],
    *,
    retriever: str,
    reranker: str,
    n_base: int,
    max_n: int,
    tokens_per_passage: float,
    token_counter: str,
) -> CostAccuracy:
    """Compare ranked passage documents (``qid → [doc_id, ...]``) of a first stage and its reranking."""
    if isinstance(max_n, bool) or not isinstance(max_n, int) or not 1 <= n_base <= max_n:
        raise ConfigError(f"n_base={n_base!r} and max_n={max_n!r} must satisfy 1 <= n_base <= max_n")
    base_curve = context_recall_curve(qrels, base, max_n)
    reranked_curve = context_recall_curve(qrels, reranked, max_n)
    n = smallest_matching_n(base_curve, reranked_curve, n_base)
    return CostAccuracy(retriever, reranker, n_base, base_curve, reranked_curve, n, tokens_per_passage, token_counter)


def token_counter(model: str | None) -> tuple[Callable[[str], int], str]:
    """``(count, name)``: the embedding model's tokenizer, or characters / 4 when it cannot be loaded."""
    try:
        from ragsift.index.embedder import resolve_model
        from ragsift.ingest import token_length_function

        return token_length_function(resolve_model(model) if model else None), f"tokenizer of {model or 'the bundled model'}"
    except (RagsiftError, OSError, ValueError, ImportError) as exc:
        log.warning("cannot load the tokenizer of %s (%s); counting passage tokens as characters / 4", model, exc)
        return (lambda text: max(1, round(len(text) / 4))), "characters / 4"


def mean_tokens(texts: Iterable[str], count: Callable[[str], int]) -> float:
    """Mean token count of ``texts``; 0.0 for none."""
    values = [count(t) for t in texts]
    return float(np.mean(values)) if values else 0.0
