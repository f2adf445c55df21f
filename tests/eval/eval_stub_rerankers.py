"""Small real rerankers for the grid tests (importable as ``eval_stub_rerankers:Class`` specs).

``OverlapReranker`` scores a passage by the distinct query words it contains (pointwise, so it
is cached); ``SlowOverlapReranker`` also sleeps ``DELAY_S`` per scored pair, which makes the
charged rerank latency measurable; ``AntiOverlapReranker`` ranks the passages sharing the fewest
query words first (a reranker that visibly changes, and worsens, every ranking); all count the pairs
they score in ``PAIRS``.
"""

from __future__ import annotations

import re
import time
from typing import Sequence

from ragsift.rerank.base import Reranker, Scores

_WORD = re.compile(r"[a-z0-9]+")
PAIRS = {"OverlapReranker": 0, "SlowOverlapReranker": 0, "AntiOverlapReranker": 0}
DELAY_S = 0.002


def overlap(query: str, passage: str) -> int:
    return len(set(_WORD.findall(query.lower())) & set(_WORD.findall(passage.lower())))


class OverlapReranker(Reranker):
    name = "overlap"

    def score(self, query: str, documents: Sequence[str]) -> Scores:
        PAIRS[type(self).__name__] += len(documents)
        raw = [float(overlap(query, d)) for d in documents]
        return Scores(raw=raw, relevance=[min(r / 10.0, 1.0) for r in raw])


class SlowOverlapReranker(OverlapReranker):
    name = "slow-overlap"

    def score(self, query: str, documents: Sequence[str]) -> Scores:
        time.sleep(DELAY_S * len(documents))
        return super().score(query, documents)


class AntiOverlapReranker(OverlapReranker):
    name = "anti-overlap"

    def score(self, query: str, documents: Sequence[str]) -> Scores:
        PAIRS[type(self).__name__] += len(documents)
        raw = [-float(overlap(query, d)) for d in documents]
        return Scores(raw=raw, relevance=[1.0 - min(-r / 10.0, 1.0) for r in raw])
