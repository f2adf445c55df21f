"""Spelling suggestions ("did you mean") against the words of a collection, with symspellpy.

Seed 002 answers a failed search with search terms to try. The first kind is a spelling fix: a
query word that no chunk contains, within :data:`MAX_DISTANCE` edits (Damerau–Levenshtein) of a
word the collection does contain, is replaced by the most frequent such word at the smallest
distance. Words shorter than :data:`MIN_LENGTH` letters are left alone (too many neighbours),
and so are words the collection contains, however rare.

The vocabulary is the collection's surface words (lowercased), not BM25's stemmed terms, so a
suggestion is a word a person can read and type.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass

__all__ = ["MAX_DISTANCE", "MIN_LENGTH", "WORD", "Correction", "SpellingSuggester"]

MAX_DISTANCE = 2
MIN_LENGTH = 4
WORD = re.compile(r"[^\W\d_](?:[\w'-]*\w)?")
"""A word as a person types it: letters first, then letters, digits, apostrophes and hyphens."""


@dataclass(frozen=True)
class Correction:
    """One query word, the collection word suggested for it, their edit distance and its count."""

    term: str
    suggestion: str
    distance: int
    count: int

    def to_dict(self) -> dict:
        return asdict(self)


class SpellingSuggester:
    """Corrects query words against ``word_counts`` (word → occurrences in the collection)."""

    def __init__(self, word_counts: Mapping[str, int], *, max_distance: int = MAX_DISTANCE):
        from symspellpy import SymSpell

        self.max_distance = max_distance
        self.counts = dict(word_counts)
        self._symspell = SymSpell(max_dictionary_edit_distance=max_distance)
        for word, count in self.counts.items():
            if count > 0:
                self._symspell.create_dictionary_entry(word, int(count))

    @classmethod
    def from_texts(cls, texts: Iterable[str], **options) -> SpellingSuggester:
        counts: Counter[str] = Counter()
        for text in texts:
            counts.update(w.lower() for w in WORD.findall(text))
        return cls(counts, **options)

    @classmethod
    def from_collection(cls, collection, **options) -> SpellingSuggester:
        """From every chunk's title and text (reads them all: seconds at 100k chunks)."""
        return cls.from_texts((collection.index_text(c) for c in collection.chunks), **options)

    def corrections(self, query: str) -> list[Correction]:
        """A :class:`Correction` for each query word the collection lacks and can correct, in query order."""
        from symspellpy import Verbosity

        out, seen = [], set()
        for match in WORD.finditer(query):
            word = match.group(0).lower()
            if len(word) < MIN_LENGTH or word in self.counts or word in seen:
                continue
            seen.add(word)
            found = self._symspell.lookup(word, Verbosity.CLOSEST, max_edit_distance=self.max_distance)
            if found:
                best = min(found, key=lambda s: (s.distance, -s.count, s.term))
                out.append(Correction(word, best.term, int(best.distance), int(best.count)))
        return out

    def suggest(self, query: str) -> str | None:
        """``query`` with every correctable word replaced ("did you mean"), or None when nothing changes."""
        fixes = {c.term: c.suggestion for c in self.corrections(query)}
        if not fixes:
            return None
        return WORD.sub(lambda m: fixes.get(m.group(0).lower(), m.group(0)), query)
