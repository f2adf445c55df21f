"""``ja``: Japanese morphological analysis with SudachiPy (``pip install 'ragsift[ja]'``).

Text is NFKC-normalized and lowercased, then split into morphemes (split mode B by default:
"東京都" stays one token, "附属病院" becomes "付属" + "病院"). Each kept morpheme emits its
Sudachi *normalized form* (住ん → 住む, すし → 寿司), so inflections and spelling variants meet.
Morphemes without any CJK letter (English words, numbers) pass through as their lowercased surface.

Dropped, by the first part-of-speech field: 助詞 (particles: は, が, に, の ...) and 助動詞
(auxiliary verbs: ます, た, れる ...), which occur in nearly every sentence and carry no topic, like
English stopwords; 補助記号 (punctuation) and 空白 (whitespace), which are not words. Tokens with no
word character left are dropped too. Content words, including light verbs such as いる, are kept.

The Sudachi dictionary is loaded once per analyzer, on :meth:`JapaneseAnalyzer.warm_up` or the
first call. A Sudachi tokenizer must not be used by two threads at once, so each thread gets its
own tokenizer over the shared dictionary.
"""

from __future__ import annotations

import re
import threading
from typing import Any

from ragsift._enums import parse_enum
from ragsift._lazy import require
from ragsift.index.analysis.base import Analyzer
from ragsift.index.analysis.cjk import nfkc_lower
from ragsift.index.analysis.options import AnalyzerName, SplitMode
from ragsift.index.analysis.scripts import has_cjk

__all__ = ["JapaneseAnalyzer", "DROPPED_POS"]

DROPPED_POS = frozenset({"助詞", "助動詞", "補助記号", "空白"})
"""First part-of-speech fields whose morphemes are not emitted."""

_MAX_CHUNK_CHARS = 8_000
"""Sudachi rejects inputs over 49,149 UTF-8 bytes; 8,000 characters stay far below it."""

_has_word_char = re.compile(r"\w").search


class JapaneseAnalyzer(Analyzer):
    """``ja``: SudachiPy normalized forms of content morphemes; NFKC and lowercase first."""

    name = AnalyzerName.JA

    def __init__(
        self,
        *,
        protected_terms=(),
        stopwords: Any = None,
        split_mode: SplitMode | str = SplitMode.B,
    ):
        super().__init__(protected_terms=protected_terms, stopwords=stopwords)
        self.split_mode = parse_enum(SplitMode, split_mode, param="split_mode")
        # Fail now, not on the first document, when the extra is missing (imports are cheap).
        self._sudachipy = require("sudachipy", extra="ja")
        require("sudachidict_core", extra="ja")
        self._dictionary = None
        self._lock = threading.Lock()
        self._local = threading.local()

    def normalize(self, text: str) -> str:
        return nfkc_lower(text)

    def warm_up(self) -> None:
        """Load the Sudachi core dictionary (about a second) if it is not loaded yet."""
        self._tokenizer()

    def _extra_config(self) -> dict[str, Any]:
        return {"split_mode": self.split_mode.value}

    def _tokenizer(self):
        tokenizer = getattr(self._local, "tokenizer", None)
        if tokenizer is None:
            with self._lock:
                if self._dictionary is None:
                    self._dictionary = self._sudachipy.Dictionary(dict="core")
            mode = getattr(self._sudachipy.SplitMode, self.split_mode.value)
            make = getattr(self._dictionary, "tokenizer", None) or self._dictionary.create
            tokenizer = self._local.tokenizer = make(mode=mode)
        return tokenizer

    def _analyze(self, text: str) -> list[str]:
        tokenizer = self._tokenizer()
        stop = self._stopword_set
        tokens: list[str] = []
        for chunk in _chunks(text, _MAX_CHUNK_CHARS):
            for morpheme in tokenizer.tokenize(chunk):
                if morpheme.part_of_speech()[0] in DROPPED_POS:
                    continue
                surface = morpheme.surface()
                token = morpheme.normalized_form().lower() if has_cjk(surface) else surface.lower()
                token = token.strip()
                if token and _has_word_char(token) and token not in stop:
                    tokens.append(token)
        return tokens


def _chunks(text: str, limit: int) -> list[str]:
    """Split ``text`` into pieces of at most ``limit`` characters, at a line or sentence end if any."""
    pieces = []
    while len(text) > limit:
        cut = max(text.rfind(sep, 0, limit) for sep in ("\n", "。", "!", "?", ". "))
        if cut < limit // 2:
            cut = max(text.rfind(" ", 0, limit), text.rfind("、", 0, limit))
        if cut < limit // 2:
            cut = limit - 1
        pieces.append(text[: cut + 1])
        text = text[cut + 1 :]
    pieces.append(text)
    return pieces
