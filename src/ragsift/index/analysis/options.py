"""The string options of the text analyzers, as Enums whose parse errors list the valid values."""

from __future__ import annotations

from enum import Enum

__all__ = ["AnalyzerName", "Stopwords", "SplitMode"]


class AnalyzerName(str, Enum):
    """Which analyzer turns text into BM25 tokens."""

    EN = "en"
    """English: lowercase, ``\\w\\w+`` words, bm25s' English stopwords, Snowball stemming."""
    JA = "ja"
    """Japanese: SudachiPy morphemes (normalized forms), particles and auxiliaries dropped."""
    CJK_BIGRAM = "cjk-bigram"
    """Any CJK script: overlapping character bigrams; other text as ``simple``."""
    SIMPLE = "simple"
    """Lowercase ``\\w\\w+`` words; no stopwords, no stemming."""


class Stopwords(str, Enum):
    """A named stopword setting (a custom list of words is the other option)."""

    EN = "en"
    """bm25s' English list (``bm25s.stopwords.STOPWORDS_EN``, 33 words)."""
    NONE = "none"
    """Keep every token."""


class SplitMode(str, Enum):
    """Sudachi split mode: A is the shortest units, C the longest (named entities kept whole)."""

    A = "A"
    B = "B"
    C = "C"
