"""Protected terms: phrases such as ``P/E`` or ``C++`` that are emitted as one token, verbatim.

A protected term matches case-insensitively (the text and the term go through the same
normalization), only when it is not part of a longer word: a term edge that is not a CJK
character must not touch a word character (``(?<!\\w)`` / ``(?!\\w)``), which works for edges
that are themselves punctuation, where ``\\b`` would not (``C++`` followed by a space). CJK text
has no spaces between words, so a CJK edge needs no boundary. When terms overlap at the same
position the longest wins; internal whitespace matches any run of whitespace.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator

from ragsift.errors import ConfigError
from ragsift.index.analysis.scripts import is_cjk

__all__ = ["validate_protected_terms", "ProtectedTerms"]


def validate_protected_terms(terms: Iterable[str] | None) -> tuple[str, ...]:
    """Return the terms stripped, in order, without duplicates; reject bad input with ConfigError."""
    if terms is None:
        return ()
    if isinstance(terms, str):
        raise ConfigError(
            f"protected_terms={terms!r} is a single string; pass a list of terms, e.g. [{terms!r}]"
        )
    out: dict[str, None] = {}
    for term in terms:
        if not isinstance(term, str) or not term.strip():
            raise ConfigError(
                f"protected_terms contains {term!r}; every protected term must be a non-empty, "
                "non-whitespace string such as 'P/E' or 'COVID-19'. Remove it."
            )
        out.setdefault(" ".join(term.split()), None)
    return tuple(out)


class ProtectedTerms:
    """Splits normalized text into ``(segment, token)`` pieces around protected terms."""

    def __init__(self, terms: tuple[str, ...], normalize: Callable[[str], str]):
        canonical = {" ".join(normalize(t).split()) for t in terms}
        canonical.discard("")
        # Longest first, so that at one position "covid-19" wins over "covid".
        ordered = sorted(canonical, key=lambda t: (-len(t), t))
        self._pattern = re.compile("(" + "|".join(map(_term_pattern, ordered)) + ")") if ordered else None

    def __bool__(self) -> bool:
        return self._pattern is not None

    def split(self, text: str) -> Iterator[tuple[str, str | None]]:
        """Yield ``(segment, token)``: unprotected text, then the protected token after it (or None)."""
        if self._pattern is None:
            yield text, None
            return
        parts = self._pattern.split(text)
        for i in range(0, len(parts) - 1, 2):
            yield parts[i], " ".join(parts[i + 1].split())
        yield parts[-1], None


def _term_pattern(term: str) -> str:
    body = r"\s+".join(re.escape(word) for word in term.split())
    lead = "" if is_cjk(term[0]) else r"(?<!\w)"
    trail = "" if is_cjk(term[-1]) else r"(?!\w)"
    return f"{lead}{body}{trail}"
