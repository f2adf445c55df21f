"""``cjk-bigram``: overlapping character bigrams for CJK text, no dictionary needed.

Chinese and Japanese write words without spaces, so a word regex sees a whole sentence as one
token and a query never matches a document. Here every run of CJK letters (see
:mod:`ragsift.index.analysis.scripts`) becomes its overlapping bigrams ("東京都" → "東京", "京都");
a one-character run becomes that character. Any other text is split like ``simple``: lowercase
runs of at least two (non-CJK) word characters. Text is NFKC-normalized first, so full-width
"ＡＢＣ１２３" and half-width katakana match their usual forms.
"""

from __future__ import annotations

import re
import unicodedata

from ragsift.index.analysis.base import Analyzer
from ragsift.index.analysis.options import AnalyzerName
from ragsift.index.analysis.scripts import CJK_CLASS

__all__ = ["CjkBigramAnalyzer", "bigrams", "nfkc_lower"]

# Group 1: a run of CJK letters; otherwise two or more word characters that are not CJK.
_TOKENS = re.compile(f"([{CJK_CLASS}]+)|[^\\W{CJK_CLASS}]{{2,}}")


def nfkc_lower(text: str) -> str:
    """NFKC normalization (full-width ASCII to ASCII, half-width kana to full-width), lowercased."""
    return unicodedata.normalize("NFKC", text).lower()


def bigrams(run: str) -> list[str]:
    """Overlapping character bigrams of ``run``; a one-character run gives itself."""
    if len(run) < 2:
        return [run]
    return [run[i : i + 2] for i in range(len(run) - 1)]


class CjkBigramAnalyzer(Analyzer):
    """``cjk-bigram``: CJK runs as character bigrams, other words as ``simple``; NFKC first."""

    name = AnalyzerName.CJK_BIGRAM

    def normalize(self, text: str) -> str:
        return nfkc_lower(text)

    def _analyze(self, text: str) -> list[str]:
        tokens: list[str] = []
        for match in _TOKENS.finditer(text):
            run = match.group(1)
            if run:
                tokens += bigrams(run)
            else:
                tokens.append(match.group())
        if self._stopword_set:
            stop = self._stopword_set
            tokens = [t for t in tokens if t not in stop]
        return tokens
