"""Result validation (seed 002): pass → answer, fail → suggest search terms.

After the final ranking, :class:`ResultValidator` decides ``pass`` or ``fail`` for a query:

- with a trained policy (``ragsift train-router``), from the validator's calibrated
  ``P(no relevant passage in the top 5)`` over the query features and the first stage's
  confidence and agreement signals (:mod:`ragsift.query.features`): ``fail`` at or above the
  threshold chosen on the training split for a target precision of "fail";
- always: ``fail`` when none of the query's terms occurs in the collection, or nothing was found.

A failed query gets suggestions:

- ``spelling``: "did you mean" corrections of query words against the collection's words
  (:class:`ragsift.query.suggest.SpellingSuggester`) and the corrected query (``did_you_mean``);
- ``related``: collection words that carry the most weight in the top passages (term frequency
  in the top 5 times IDF) and are not already in the query.

The verdict is a dict (``SearchResult.validation``), the shape ``--json`` and ``/v1/search`` show::

    {"verdict": "fail", "probability": 0.71, "threshold": 0.55, "reasons": ["..."],
     "suggestions": {"spelling": [{"term": "vitamn", "suggestion": "vitamin", ...}],
                     "did_you_mean": "vitamin d ...", "related": ["calcium", ...]}}
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from ragsift.query.analysis import QueryAnalysis
from ragsift.query.policy import Validator
from ragsift.query.suggest import WORD

__all__ = ["RELATED_TERMS", "ResultValidator", "related_terms"]

RELATED_TERMS = 8
RELATED_FROM = 5  # top passages the related terms come from


def related_terms(texts: Sequence[str], query_tokens: Sequence[str], analyzer, idf, n: int = RELATED_TERMS) -> list[str]:
    """Words of ``texts`` (the top passages) with the highest tf × IDF whose analyzed form the query lacks."""
    have = set(query_tokens)
    weight: Counter = Counter()
    surface: dict[str, Counter] = {}
    for text in texts:
        for word in WORD.findall(text):
            lowered = word.lower()
            if len(lowered) < 3:
                continue
            terms = analyzer(lowered)
            if len(terms) != 1 or terms[0] in have:
                continue  # a stop word, or already asked for
            term = terms[0]
            value = idf(term) if idf is not None else 1.0
            if not value:
                continue
            weight[term] += value
            surface.setdefault(term, Counter())[lowered] += 1
    return [surface[t].most_common(1)[0][0] for t, _ in weight.most_common(n)]


class ResultValidator:
    """Validates results for one collection (``validator`` from its policy, or None for the rules alone)."""

    def __init__(self, collection: Any, validator: Validator | None = None):
        self.collection = collection
        self.validator = validator
        self._speller = None
        self._lock = threading.Lock()

    def speller(self):
        with self._lock:
            if self._speller is None:  # reads every chunk once: built on the first failed query
                from ragsift.query.suggest import SpellingSuggester

                self._speller = SpellingSuggester.from_collection(self.collection)
            return self._speller

    def validate(self, analysis: QueryAnalysis, values: Mapping[str, float], hits: Sequence[Any]) -> dict:
        reasons: list[str] = []
        probability = None
        threshold = None
        fail = False
        if analysis.tokens and values.get("oov_frac", 0.0) >= 1.0:
            fail = True
            reasons.append("none of the query's terms occurs in the collection")
        if not hits:
            fail = True
            reasons.append("nothing was found")
        if self.validator is not None:
            probability = self.validator.model.probability(values)
            threshold = self.validator.threshold
            if probability >= threshold:
                fail = True
                reasons.append(
                    f"P(no relevant passage in the top 5) = {probability:.2f} >= {threshold:.2f} "
                    f"(threshold for {self.validator.target_precision:.0%} precision on the training split)"
                )
            else:
                reasons.append(f"P(no relevant passage in the top 5) = {probability:.2f} < {threshold:.2f}")
        elif not fail:
            reasons.append("some query terms occur in the collection (no trained validator: `ragsift train-router`)")
        out: dict = {"verdict": "fail" if fail else "pass", "probability": probability, "threshold": threshold, "reasons": reasons}
        if fail:
            out["suggestions"] = self.suggestions(analysis, hits)
        return out

    def suggestions(self, analysis: QueryAnalysis, hits: Sequence[Any]) -> dict:
        speller = self.speller()
        fixes = speller.corrections(analysis.query)
        sparse = getattr(self.collection, "sparse", None)
        analyzer = sparse.analyzer if sparse is not None else self.collection.analyzer
        idf = sparse.idf if sparse is not None and len(sparse) else None
        texts = [f"{h.title}\n{h.text}" for h in hits[:RELATED_FROM]]
        return {
            "spelling": [c.to_dict() for c in fixes],
            "did_you_mean": speller.suggest(analysis.query),
            "related": related_terms(texts, analysis.tokens, analyzer, idf),
        }
