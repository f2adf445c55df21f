"""The little Markdown syntax the chunker needs: ATX headings, code fences, table lines."""

from __future__ import annotations

import re
from typing import Iterator

__all__ = ["parse_atx_heading", "is_table_line", "FenceTracker", "iter_unfenced_lines"]

_ATX = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?[ \t]*$")
_CLOSING_HASHES = re.compile(r"(?:^|[ \t]+)#+$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})(.*)$")


def parse_atx_heading(line: str) -> tuple[int, str] | None:
    """``(level, text)`` for an ATX heading line (``## Install ##`` → ``(2, "Install")``), else None."""
    match = _ATX.match(line)
    if match is None:
        return None
    text = _CLOSING_HASHES.sub("", match.group(2) or "").strip()
    return len(match.group(1)), text


def is_table_line(line: str) -> bool:
    """A Markdown table row: the line starts (after indentation) with ``|``."""
    return line.lstrip().startswith("|")


class FenceTracker:
    """Feed lines in order; ``update`` says whether each line belongs to a fenced code block."""

    def __init__(self) -> None:
        self._marker: str | None = None

    @property
    def open(self) -> bool:
        return self._marker is not None

    def update(self, line: str) -> bool:
        """Return True when ``line`` is a fence line or lies inside a fenced block."""
        match = _FENCE.match(line)
        if self._marker is None:
            if match and not (match.group(1)[0] == "`" and "`" in match.group(2)):
                self._marker = match.group(1)
                return True
            return False
        if match and not match.group(2).strip() and _closes(match.group(1), self._marker):
            self._marker = None
        return True


def iter_unfenced_lines(text: str) -> Iterator[str]:
    """Yield the lines of ``text`` that are outside fenced code blocks."""
    fences = FenceTracker()
    for line in text.split("\n"):
        if not fences.update(line):
            yield line


def _closes(marker: str, opener: str) -> bool:
    return marker[0] == opener[0] and len(marker) >= len(opener)
