"""Citations in an answer: ``[n]`` markers mapped back to the passages the model was given.

A marker is a bracket holding passage numbers: ``[2]``, ``[1, 3]``, ``[1][3]``, ``[2-4]`` (also
``–``), optionally written ``[Passage 2]`` or ``[Source 2]``. Each distinct number becomes one
:class:`Citation` (in the order of first appearance) when passage ``n`` was given, that is when
``1 <= n <= len(hits)``: it names the hit's document, unit (chunk or parent) id and title. A
number outside that range is an :class:`InvalidCitation`: it is reported, never mapped to a
neighbouring passage or dropped silently. A range wider than the passages given is not expanded:
its two ends are checked instead.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from ragsift.types import Hit

__all__ = ["Citation", "InvalidCitation", "MARKER", "cited_numbers", "parse_citations"]

#: One citation marker: ``[`` optional word, numbers separated by commas, dashes or ``][`` … ``]``.
MARKER = re.compile(r"\[(?:(?:passage|source|doc)\s*)?(\d+(?:\s*(?:,|-|–|\]\[)\s*\d+)*)\]", re.IGNORECASE)
_PART = re.compile(r"(\d+)(?:\s*[-–]\s*(\d+))?")


@dataclass(frozen=True)
class Citation:
    """Passage ``number`` of the prompt, which is hit ``number - 1``: its document, unit id and title."""

    number: int
    doc_id: str
    id: str
    title: str

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class InvalidCitation:
    """A cited number that names no passage given to the model, and why."""

    number: int
    reason: str

    def to_dict(self) -> dict:
        return asdict(self)


def cited_numbers(text: str, limit: int) -> list[int]:
    """The distinct passage numbers cited in ``text``, in order of first appearance.

    Ranges (``[2-4]``) expand when both ends are within ``1..limit``; otherwise only their ends count.
    """
    seen: dict[int, None] = {}
    for marker in MARKER.finditer(text):
        for part in _PART.finditer(marker.group(1).replace("][", ",")):
            start = int(part.group(1))
            end = int(part.group(2)) if part.group(2) else start
            if start <= end and 1 <= start and end <= limit:
                numbers = range(start, end + 1)
            else:
                numbers = (start, end)
            for n in numbers:
                seen.setdefault(n, None)
    return list(seen)


def parse_citations(text: str, hits: Sequence[Hit]) -> tuple[list[Citation], list[InvalidCitation]]:
    """The citations of ``text`` mapped to ``hits`` (passage ``n`` is ``hits[n - 1]``), and the invalid ones."""
    valid: list[Citation] = []
    invalid: list[InvalidCitation] = []
    for n in cited_numbers(text, len(hits)):
        if 1 <= n <= len(hits):
            hit = hits[n - 1]
            valid.append(Citation(n, hit.doc_id, hit.id, hit.title))
        else:
            given = f"passages [1] to [{len(hits)}]" if hits else "no passages"
            invalid.append(InvalidCitation(n, f"no passage [{n}]: the model was given {given}"))
    return valid, invalid
