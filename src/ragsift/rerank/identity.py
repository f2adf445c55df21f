"""The no-op reranker: keep the first-stage order.

:class:`FirstStageReranker` is what ``RERANKER_TYPE=none`` builds, and the usual last link of a
fallback chain (``RERANKER_FALLBACK="cross-encoder,none"``): it never fails, so a chain ending in
it always answers, in the order the first stage (BM25 + dense, fused) produced.
"""

from __future__ import annotations

from typing import Sequence

from ragsift.rerank.base import Reranker, Scores

__all__ = ["FirstStageReranker"]


class FirstStageReranker(Reranker):
    """Keeps the input order: document ``i`` of ``n`` gets raw ``n - i`` and relevance ``1 - i/n``.

    Its scores depend on a document's position, not on its text, so it is never cached
    (``cacheable = False``).
    """

    name = "none"
    cacheable = False

    def score(self, query: str, documents: Sequence[str]) -> Scores:
        n = len(documents)
        return Scores(raw=[float(n - i) for i in range(n)], relevance=[1.0 - i / n for i in range(n)])
