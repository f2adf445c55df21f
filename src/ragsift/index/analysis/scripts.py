"""Unicode ranges of the CJK scripts (Han, Hiragana, Katakana, Hangul) that have no word spaces.

Only letters are included; CJK punctuation (、。「」・) is left out so it separates runs.
"""

from __future__ import annotations

import re

__all__ = ["CJK_RANGES", "CJK_CLASS", "is_cjk", "has_cjk"]

CJK_RANGES: tuple[tuple[int, int, str], ...] = (
    (0x1100, 0x11FF, "Hangul Jamo"),
    (0x3005, 0x3007, "Ideographic iteration mark, closing mark, number zero (々〆〇)"),
    (0x3041, 0x3096, "Hiragana letters"),
    (0x309D, 0x309F, "Hiragana iteration marks, digraph yori"),
    (0x30A1, 0x30FA, "Katakana letters (the middle dot U+30FB is punctuation)"),
    (0x30FC, 0x30FF, "Katakana prolonged sound mark ー, iteration marks, digraph koto"),
    (0x3131, 0x318E, "Hangul Compatibility Jamo"),
    (0x31F0, 0x31FF, "Katakana Phonetic Extensions"),
    (0x3400, 0x4DBF, "CJK Unified Ideographs Extension A"),
    (0x4E00, 0x9FFF, "CJK Unified Ideographs"),
    (0xA960, 0xA97F, "Hangul Jamo Extended-A"),
    (0xAC00, 0xD7A3, "Hangul Syllables"),
    (0xD7B0, 0xD7FF, "Hangul Jamo Extended-B"),
    (0xF900, 0xFAFF, "CJK Compatibility Ideographs"),
    (0x20000, 0x2FA1F, "CJK Unified Ideographs Extensions B-F, I; Compatibility Supplement"),
    (0x30000, 0x323AF, "CJK Unified Ideographs Extensions G-H"),
)

CJK_CLASS = "".join(f"\\U{lo:08x}-\\U{hi:08x}" for lo, hi, _ in CJK_RANGES)
"""The ranges as the inside of a regex character class."""

_CJK_CHAR = re.compile(f"[{CJK_CLASS}]")


def is_cjk(char: str) -> bool:
    """Whether the single character ``char`` is a CJK letter."""
    return _CJK_CHAR.match(char) is not None


def has_cjk(text: str) -> bool:
    """Whether ``text`` contains at least one CJK letter."""
    return _CJK_CHAR.search(text) is not None
