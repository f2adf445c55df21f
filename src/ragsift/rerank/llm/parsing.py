"""Robust parsing of LLM answers: a 0–10 relevance grade, or a permutation of passage ids.

Both parsers first drop ``<think>…</think>`` blocks (reasoning models) and raise
:class:`UnparseableAnswer` when nothing usable is left; the reranker turns that into its
``on_malformed`` policy. They never guess from ambiguous text.
"""

from __future__ import annotations

import json
import math
import re

__all__ = ["UnparseableAnswer", "parse_grade", "parse_permutation", "MAX_GRADE"]

MAX_GRADE = 10.0
_GRADE_KEYS = ("relevance", "score", "grade", "rating")

_THINK = re.compile(r"<think>.*?(</think>|$)", re.DOTALL | re.IGNORECASE)
_FENCE = re.compile(r"```[a-zA-Z]*\s*(.*?)```", re.DOTALL)
_OBJECT = re.compile(r"\{[^{}]*\}")
_NUMBER = r"[+-]?\d+(?:\.\d+)?"
_BARE = re.compile(rf"^\s*({_NUMBER})\s*\.?\s*$")
_FRACTION = re.compile(rf"({_NUMBER})\s*(?:/|out\s+of)\s*10(?![\d.])", re.IGNORECASE)
_KEYWORD = re.compile(rf"\b(?:{'|'.join(_GRADE_KEYS)})\b[^\w+-]{{0,3}}(?:is\s+|of\s+)?({_NUMBER})", re.IGNORECASE)
_UNSIGNED = re.compile(r"(?<![\w.])\d+(?:\.\d+)?(?![\w])")
_BRACKET_ID = re.compile(r"\[\s*(\d+)\s*\]")
_BARE_ID = re.compile(r"\b(\d+)\b")


class UnparseableAnswer(ValueError):
    """The model's answer holds no usable grade or permutation."""


def _strip_think(text: str) -> str:
    return _THINK.sub(" ", text).strip()


def _clamp(value: float) -> float:
    if not math.isfinite(value):
        raise UnparseableAnswer(f"grade {value!r} is not a finite number")
    return min(max(value, 0.0), MAX_GRADE)


def _as_number(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str) and re.fullmatch(_NUMBER, value.strip()):
        return float(value)
    return None


def _grade_from_json(candidate: str) -> float | None:
    """The grade in a JSON text: a number, or an object with a relevance/score/grade/rating key."""
    try:
        data = json.loads(candidate)
    except ValueError:
        return None
    if isinstance(data, dict):
        lowered = {str(k).lower(): v for k, v in data.items()}
        for key in _GRADE_KEYS:
            if key in lowered:
                return _as_number(lowered[key])
        return None
    return _as_number(data)


def _json_candidates(text: str) -> list[str]:
    """The whole text, then the content of each ``` fence, then each flat {...} object in it."""
    return [text, *(m.group(1).strip() for m in _FENCE.finditer(text)), *_OBJECT.findall(text)]


def parse_grade(text: str) -> float:
    """Read a relevance grade in [0, 10] from an LLM answer; raise :class:`UnparseableAnswer` if none.

    Tried in order, the first hit wins:

    1. JSON: the whole answer, a ```json fenced block, or a ``{...}`` object inside prose, holding
       a number or a ``relevance`` (also ``score``/``grade``/``rating``) key, e.g. ``{"relevance": 8}``;
    2. a fraction of ten: ``8/10``, ``7.5 / 10``, ``8 out of 10``;
    3. a bare number, e.g. ``8`` or ``7.5``;
    4. a keyword followed by a number: ``Relevance: 8``, ``my grade is 6``;
    5. prose containing exactly one number, which must lie in [0, 10] (``I would give it a 7.``).

    Grades from 1–4 are clamped to [0, 10]; non-finite values, ambiguous prose (several numbers
    and no keyword) and answers with no number are rejected.
    """
    t = _strip_think(text)
    if not t:
        raise UnparseableAnswer("empty answer")
    for candidate in _json_candidates(t):
        value = _grade_from_json(candidate)
        if value is not None:
            return _clamp(value)
    for pattern in (_FRACTION, _BARE, _KEYWORD):
        m = pattern.search(t)
        if m:
            return _clamp(float(m.group(1)))
    numbers = {float(n) for n in _UNSIGNED.findall(t)}
    if len(numbers) == 1:
        (value,) = numbers
        if 0.0 <= value <= MAX_GRADE:
            return value
    raise UnparseableAnswer("no relevance grade found" if not numbers else "no unambiguous grade in [0, 10] found")


def parse_permutation(text: str, n: int) -> list[int]:
    """Read a ranking of ``n`` passages (ids ``1..n``) and return all 0-based positions, best first.

    Ids are read as ``[i]`` tokens; if the answer has none, as bare integers (``3 > 1 > 2``).
    Duplicates keep their first occurrence, out-of-range ids are ignored, and ids the model left
    out are appended in their previous (input) order. An answer with no valid id at all raises
    :class:`UnparseableAnswer`.
    """
    t = _strip_think(text)
    ids = [int(x) for x in _BRACKET_ID.findall(t)] or [int(x) for x in _BARE_ID.findall(t)]
    order: list[int] = []
    seen: set[int] = set()
    for i in ids:
        if 1 <= i <= n and i not in seen:
            seen.add(i)
            order.append(i - 1)
    if not order:
        raise UnparseableAnswer(f"no passage identifier between [1] and [{n}] found")
    return order + [i for i in range(n) if i + 1 not in seen]
