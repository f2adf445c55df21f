"""The analyzer interface: ``analyzer(text) -> list[str]`` plus a JSON config that rebuilds it."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from typing import Any, ClassVar

from ragsift._enums import parse_enum
from ragsift.errors import BadInputError, ConfigError
from ragsift.index.analysis.options import AnalyzerName, Stopwords
from ragsift.index.analysis.protected import ProtectedTerms, validate_protected_terms

__all__ = ["Analyzer", "StopwordsSetting", "resolve_stopwords", "stopword_list"]

StopwordsSetting = Stopwords | tuple[str, ...]
"""A named setting, or a custom tuple of stopwords (normalized, sorted)."""


def resolve_stopwords(value: Any, *, default: Stopwords) -> StopwordsSetting:
    """Parse the ``stopwords`` option: None (the analyzer's default), 'en', 'none', or a list."""
    if value is None:
        return default
    if isinstance(value, (str, Stopwords)):
        return parse_enum(Stopwords, value, param="stopwords")
    if not isinstance(value, Iterable) or isinstance(value, (bytes, dict)):
        raise ConfigError(
            f"stopwords={value!r} is not valid; pass None (the analyzer's default), "
            "'en', 'none', or a list of words"
        )
    words = []
    for word in value:
        if not isinstance(word, str) or not word.strip():
            raise ConfigError(
                f"stopwords contains {word!r}; every custom stopword must be a non-empty string. "
                "Remove it."
            )
        words.append(word.strip())
    return tuple(sorted(set(words)))


def stopword_list(setting: StopwordsSetting) -> tuple[str, ...]:
    """The words of a stopword setting, as written (not yet normalized)."""
    if setting is Stopwords.EN:
        from bm25s.stopwords import STOPWORDS_EN

        return tuple(STOPWORDS_EN)
    if setting is Stopwords.NONE:
        return ()
    return setting


class Analyzer(ABC):
    """Turns a text into string tokens for BM25; identical input always gives identical tokens.

    Subclasses set :attr:`name`, may override :meth:`normalize` and :attr:`default_stopwords`,
    and implement :meth:`_analyze` on normalized text that holds no protected term.
    Configuration is validated in the constructor; anything expensive is loaded by
    :meth:`warm_up`, which the first call runs when nobody did before.
    """

    name: ClassVar[AnalyzerName]
    default_stopwords: ClassVar[Stopwords] = Stopwords.NONE

    def __init__(self, *, protected_terms: Iterable[str] = (), stopwords: Any = None):
        self.protected_terms = validate_protected_terms(protected_terms)
        self.stopwords: StopwordsSetting = resolve_stopwords(stopwords, default=self.default_stopwords)
        self._protected = ProtectedTerms(self.protected_terms, self.normalize)
        self._stopword_set = frozenset(self.normalize(w) for w in stopword_list(self.stopwords))

    # ----------------------------------------------------------------- the interface
    def __call__(self, text: str) -> list[str]:
        """Tokens of ``text``: protected terms verbatim (lowercased), the rest analyzed."""
        if not isinstance(text, str):
            raise BadInputError(f"the analyzer takes a str, got {type(text).__name__}: {text!r:.80}")
        text = self.normalize(text)
        if not self._protected:
            return self._analyze(text)
        tokens: list[str] = []
        for segment, protected in self._protected.split(text):
            if segment:
                tokens += self._analyze(segment)
            if protected is not None:
                tokens.append(protected)
        return tokens

    def analyze_many(self, texts: Iterable[str], show_progress: bool = False) -> list[list[str]]:
        """``[self(t) for t in texts]``, with an optional tqdm progress bar."""
        if show_progress:
            from tqdm.auto import tqdm

            texts = tqdm(texts, desc=f"analyze ({self.name.value})", unit="doc")
        return [self(t) for t in texts]

    def to_config(self) -> dict[str, Any]:
        """A JSON-serializable dict that :func:`build_analyzer` turns back into this analyzer."""
        stopwords = self.stopwords.value if isinstance(self.stopwords, Stopwords) else list(self.stopwords)
        return {
            "name": self.name.value,
            "protected_terms": list(self.protected_terms),
            "stopwords": stopwords,
            **self._extra_config(),
        }

    def warm_up(self) -> None:
        """Load whatever is expensive (dictionaries); a no-op for the pure-Python analyzers."""

    # ----------------------------------------------------------------- for subclasses
    def normalize(self, text: str) -> str:
        """Text normalization applied to documents, queries, protected terms and stopwords."""
        return text.lower()

    @abstractmethod
    def _analyze(self, text: str) -> list[str]:
        """Tokens of normalized ``text``, which holds no protected term."""

    def _extra_config(self) -> dict[str, Any]:
        return {}

    # ----------------------------------------------------------------- conveniences
    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Analyzer):
            return NotImplemented
        return self.to_config() == other.to_config()

    def __hash__(self) -> int:
        return hash(repr(self))

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.to_config().items() if k != "name")
        return f"{type(self).__name__}({args})"

