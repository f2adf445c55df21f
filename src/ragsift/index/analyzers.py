"""Text analyzers for BM25: ``analyzer(text) -> list[str]``, rebuilt from a JSON config.

>>> a = get_analyzer("en", protected_terms=["P/E"])
>>> a("The P/E ratios were rising")
['p/e', 'ratio', 'were', 'rise']
>>> build_analyzer(a.to_config())("The P/E ratios were rising") == a("The P/E ratios were rising")
True

Analyzers (:class:`AnalyzerName`):

- ``en`` — lowercase, ``(?u)\\b\\w\\w+\\b`` words, bm25s' English stopwords, Snowball English stems:
  the same tokens as ``bm25s.tokenize(texts, stopwords="en", stemmer=Stemmer.Stemmer("english"))``.
- ``simple`` — lowercase ``\\w\\w+`` words only.
- ``cjk-bigram`` — NFKC, then runs of Han/Hiragana/Katakana/Hangul as overlapping character
  bigrams, other text as ``simple``. No extra dependency; use it for Chinese, Korean, or Japanese
  without the ``ja`` extra.
- ``ja`` — NFKC, then SudachiPy morphemes as normalized forms, particles/auxiliaries/punctuation
  dropped (``pip install 'ragsift[ja]'``). Option ``split_mode``: 'A', 'B' (default) or 'C'.

Every analyzer accepts ``protected_terms`` (emitted whole, lowercased, never stemmed or removed:
"P/E" → "p/e", "COVID-19" → "covid-19") and ``stopwords``: None for the analyzer's default
('en' for ``en``, 'none' for the others), 'en', 'none', or a list of words.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ragsift._enums import parse_enum
from ragsift.errors import ConfigError
from ragsift.index.analysis.base import Analyzer
from ragsift.index.analysis.cjk import CjkBigramAnalyzer
from ragsift.index.analysis.options import AnalyzerName, SplitMode, Stopwords
from ragsift.index.analysis.words import EnglishAnalyzer, SimpleAnalyzer

__all__ = [
    "Analyzer",
    "AnalyzerName",
    "SplitMode",
    "Stopwords",
    "get_analyzer",
    "build_analyzer",
]

_COMMON_OPTIONS = ("protected_terms", "stopwords")
_EXTRA_OPTIONS: dict[AnalyzerName, tuple[str, ...]] = {AnalyzerName.JA: ("split_mode",)}


def get_analyzer(
    name: AnalyzerName | str = AnalyzerName.EN,
    *,
    protected_terms: Iterable[str] = (),
    stopwords: Stopwords | str | Iterable[str] | None = None,
    split_mode: SplitMode | str | None = None,
) -> Analyzer:
    """Build the analyzer ``name`` ('en', 'ja', 'cjk-bigram', 'simple').

    ``split_mode`` is for ``ja`` only (default 'B'). Raises ConfigError for a bad name or option,
    and MissingDependencyError for ``ja`` without ``pip install 'ragsift[ja]'``.
    """
    kind = parse_enum(AnalyzerName, name, param="analyzer")
    options: dict[str, Any] = {"protected_terms": protected_terms, "stopwords": stopwords}
    if kind is AnalyzerName.JA:
        from ragsift.index.analysis.japanese import JapaneseAnalyzer

        return JapaneseAnalyzer(**options, split_mode=split_mode or SplitMode.B)
    if split_mode is not None:
        raise ConfigError(
            f"split_mode={split_mode!r} applies only to analyzer='ja', not {kind.value!r}; remove it"
        )
    cls = {
        AnalyzerName.EN: EnglishAnalyzer,
        AnalyzerName.SIMPLE: SimpleAnalyzer,
        AnalyzerName.CJK_BIGRAM: CjkBigramAnalyzer,
    }[kind]
    return cls(**options)


def build_analyzer(config: Mapping[str, Any]) -> Analyzer:
    """Rebuild an analyzer from :meth:`Analyzer.to_config` output (e.g. read from a manifest)."""
    if not isinstance(config, Mapping) or "name" not in config:
        raise ConfigError(
            f"analyzer config {config!r} is not valid; expected a dict with a 'name' "
            "(as written by Analyzer.to_config())"
        )
    options = dict(config)
    kind = parse_enum(AnalyzerName, options.pop("name"), param="analyzer")
    allowed = _COMMON_OPTIONS + _EXTRA_OPTIONS.get(kind, ())
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ConfigError(
            f"analyzer config for {kind.value!r} has unknown keys {unknown}; "
            f"allowed keys are 'name', {', '.join(repr(k) for k in allowed)}"
        )
    return get_analyzer(kind, **options)
