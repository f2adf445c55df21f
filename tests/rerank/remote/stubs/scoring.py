"""Deterministic relevance for the stubs: word overlap between query and passage.

``logit`` is for the APIs that return raw logits (NIM, TEI with ``raw_scores``); ``probability``
(in [0, 1], exactly 0.0 without overlap) for those that return calibrated scores.
"""

from __future__ import annotations

import math
import re

_WORD = re.compile(r"\w+")


def words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text)]


def overlap(query: str, passage: str) -> int:
    """How many distinct query words occur in the passage."""
    return len(set(words(query)) & set(words(passage)))


def logit(query: str, passage: str) -> float:
    """0 shared words → -3.0, 1 → -1.0, 2 → 1.0, 3 → 3.0, …"""
    return 2.0 * overlap(query, passage) - 3.0


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def probability(query: str, passage: str) -> float:
    """Share of the distinct query words found in the passage, in [0, 1]."""
    q = set(words(query))
    return round(overlap(query, passage) / len(q), 6) if q else 0.0


def tokens(*texts: str) -> int:
    """A token count good enough for length limits: words."""
    return sum(len(words(t)) for t in texts)
