"""Word analyzers for space-delimited languages: ``en`` (bm25s-compatible) and ``simple``.

Both lowercase and split with bm25s' default pattern ``(?u)\\b\\w\\w+\\b`` (words of at least two
word characters, so "P/E" alone yields nothing: protect it). ``en`` then removes bm25s' English
stopwords and applies Snowball English stemming (PyStemmer), exactly like
``bm25s.tokenize(texts, stopwords="en", stemmer=Stemmer.Stemmer("english"))``.

Speed: each distinct word is stemmed once and memoized in a dict that also maps stopwords to "",
so a document costs one regex scan plus C-level dict lookups (``map`` + ``filter``).
"""

from __future__ import annotations

import re
import threading
from typing import Any

from ragsift.index.analysis.base import Analyzer
from ragsift.index.analysis.options import AnalyzerName, Stopwords

__all__ = ["WORD_PATTERN", "EnglishAnalyzer", "SimpleAnalyzer"]

WORD_PATTERN = r"(?u)\b\w\w+\b"
"""bm25s' (and scikit-learn's) default token pattern."""

_find_words = re.compile(WORD_PATTERN).findall

_MAX_CACHE = 1_000_000
"""Distinct words memoized per analyzer before the cache starts afresh (bounds a service's memory)."""


class _WordAnalyzer(Analyzer):
    """Lowercase ``\\w\\w+`` words, stopwords removed, optionally stemmed, with a memo per word."""

    stem_language: str | None = None

    def __init__(self, *, protected_terms=(), stopwords: Any = None):
        super().__init__(protected_terms=protected_terms, stopwords=stopwords)
        self._stemmer = None
        if self.stem_language is not None:
            import Stemmer  # PyStemmer, a core dependency (bm25s uses it too)

            self._stemmer = Stemmer.Stemmer(self.stem_language)
        self._lock = threading.Lock()  # PyStemmer objects are not thread-safe
        self._plain = self._stemmer is None and not self._stopword_set
        self._memo = self._fresh_memo()

    def _fresh_memo(self) -> dict[str, str]:
        return dict.fromkeys(self._stopword_set, "")

    def _analyze(self, text: str) -> list[str]:
        words = _find_words(text)
        if self._plain:
            return words
        memo = self._memo  # a local reference: _learn may swap self._memo for a fresh one
        try:
            return list(filter(None, map(memo.__getitem__, words)))
        except KeyError:
            self._learn(memo, words)
            return list(filter(None, map(memo.__getitem__, words)))

    def _learn(self, memo: dict[str, str], words: list[str]) -> None:
        """Add the words of ``words`` missing from ``memo``, stemmed (or kept) in one batch."""
        new = [w for w in set(words) if w not in memo]
        if self._stemmer is None:
            memo.update(zip(new, new))
        else:
            with self._lock:
                stems = self._stemmer.stemWords(new)
            # A stem is never empty for a word of 2+ characters; `or w` keeps "" meaning "drop".
            memo.update((w, s or w) for w, s in zip(new, stems))
        if len(memo) > _MAX_CACHE:
            self._memo = self._fresh_memo()


class EnglishAnalyzer(_WordAnalyzer):
    """``en``: lowercase words, bm25s' English stopwords (by default), Snowball English stems."""

    name = AnalyzerName.EN
    default_stopwords = Stopwords.EN
    stem_language = "english"


class SimpleAnalyzer(_WordAnalyzer):
    """``simple``: lowercase words; no stopwords unless asked for, no stemming."""

    name = AnalyzerName.SIMPLE
