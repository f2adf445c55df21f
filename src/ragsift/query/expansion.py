"""Query expansion for BM25 at query time: a Solr ``synonyms.txt`` file and RM3 feedback.

Both turn a query into a *weighted* bag of analyzed terms that BM25 scores as
``sum(w_t * bm25(t))`` (:meth:`ragsift.index.sparse.SparseIndex.search_weighted`); the index is
never changed, so a synonyms file can be edited and reloaded without re-indexing.

**Synonyms** (:class:`Synonyms`) read Solr's format, the one search teams already maintain::

    # comments and blank lines are ignored
    tumour, tumor                       # equivalent: any of them also matches the others
    tnf, tumor necrosis factor
    heart attack => myocardial infarction, heart attack   # explicit: the left side is replaced
    a\\,b => ab                          # backslash escapes a comma, "=>" or a backslash

Each side is analyzed with the collection's analyzer, so stemming and stop words apply to the
synonyms as to the text. Matching is on analyzed token sequences, longest first. The query's own
terms keep weight 1 (counted as often as they occur, like a plain search); added terms get
``weight`` (default :data:`SYNONYM_WEIGHT`). An explicit rule drops the matched terms unless its
right side repeats them, as in Solr.

**RM3** (:func:`rm3_weights`), as in Anserini/Pyserini: the top ``fb_docs`` passages of a first
BM25 pass vote for terms (each passage's term frequencies L1-normalized and scaled by its BM25
score), the best ``fb_terms`` are kept and L1-normalized, and the result is interpolated with the
L1-normalized query, ``original_weight * q + (1 - original_weight) * feedback``. Defaults are
Pyserini's (10, 10, 0.5).
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ragsift.errors import ConfigError

__all__ = ["RM3", "SYNONYM_WEIGHT", "QueryExpansion", "Synonyms", "rm3_weights"]

SYNONYM_WEIGHT = 1.0
_ARROW = re.compile(r"(?<!\\)=>")
_COMMA = re.compile(r"(?<!\\),")
_FEEDBACK_TERM = re.compile(r"[^\W\d_][\w-]*", re.UNICODE)  # a word with a letter first: no bare numbers


@dataclass(frozen=True)
class Rule:
    """One line of a synonyms file: ``left`` phrases match, ``right`` phrases are added (or replace, ``explicit``)."""

    left: tuple[str, ...]
    right: tuple[str, ...]
    explicit: bool
    line: int


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text).strip()


def parse_solr_synonyms(text: str, source: str = "synonyms") -> list[Rule]:
    """Parse Solr ``synonyms.txt`` text into rules; a malformed line is a :class:`ConfigError` naming it."""
    rules = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = re.sub(r"(?<!\\)#.*", "", raw).strip()
        if not line:
            continue
        parts = _ARROW.split(line)
        if len(parts) > 2:
            raise ConfigError(f"{source}:{number}: more than one '=>' in {raw.strip()!r}")
        sides = [tuple(p for p in (_unescape(x) for x in _COMMA.split(part)) if p) for part in parts]
        if any(not side for side in sides):
            raise ConfigError(f"{source}:{number}: an empty side in {raw.strip()!r} (write 'a, b' or 'a => b')")
        if len(sides) == 2:
            rules.append(Rule(sides[0], sides[1], True, number))
        elif len(sides[0]) > 1:
            rules.append(Rule(sides[0], sides[0], False, number))
        # a single term without "=>" says nothing (Solr ignores it too)
    return rules


class Synonyms:
    """Solr synonym rules, analyzed with one collection's analyzer, applied to queries.

    ``Synonyms.load(path)`` reads a file; :meth:`weights` expands one query.
    """

    def __init__(self, rules: Sequence[Rule], *, weight: float = SYNONYM_WEIGHT, source: str = "synonyms"):
        if not 0.0 < float(weight) <= 1.0:
            raise ConfigError(f"synonym weight={weight!r} must be in (0, 1]")
        self.rules = list(rules)
        self.weight = float(weight)
        self.source = source
        self._analyzed: tuple[int, dict] | None = None  # (id(analyzer), table)

    @classmethod
    def load(cls, path: str | os.PathLike, *, weight: float = SYNONYM_WEIGHT) -> "Synonyms":
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ConfigError(f"synonyms file {p} does not exist") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read synonyms file {p}: {exc}") from exc
        return cls(parse_solr_synonyms(text, str(p)), weight=weight, source=str(p))

    @classmethod
    def parse(cls, text: str, *, weight: float = SYNONYM_WEIGHT) -> "Synonyms":
        return cls(parse_solr_synonyms(text), weight=weight)

    def __len__(self) -> int:
        return len(self.rules)

    def _table(self, analyzer: Callable[[str], list[str]]) -> dict[tuple[str, ...], tuple[list[tuple[str, ...]], bool]]:
        """Analyzed left phrase → (analyzed right phrases, explicit), merged over rules."""
        if self._analyzed is not None and self._analyzed[0] == id(analyzer):
            return self._analyzed[1]
        table: dict[tuple[str, ...], tuple[list[tuple[str, ...]], bool]] = {}
        for rule in self.rules:
            rights = [tuple(analyzer(p)) for p in rule.right]
            rights = [r for r in rights if r]
            for phrase in rule.left:
                key = tuple(analyzer(phrase))
                if not key:
                    continue  # a stop word alone: nothing to match
                targets, explicit = table.get(key, ([], rule.explicit))
                for r in rights:
                    if r not in targets:
                        targets.append(r)
                table[key] = (targets, explicit and rule.explicit)
        self._analyzed = (id(analyzer), table)
        return table

    def weights(self, tokens: Sequence[str], analyzer: Callable[[str], list[str]]) -> dict[str, float]:
        """The weighted terms of a query whose analyzed tokens are ``tokens``."""
        table = self._table(analyzer)
        longest = max((len(k) for k in table), default=0)
        out: Counter = Counter()
        added: dict[str, float] = {}
        i = 0
        while i < len(tokens):
            for n in range(min(longest, len(tokens) - i), 0, -1):
                key = tuple(tokens[i : i + n])
                if key in table:
                    targets, explicit = table[key]
                    if not explicit:
                        out.update(key)
                    for phrase in targets:
                        for t in phrase:
                            if explicit and phrase == key:
                                out[t] += 1
                            elif t not in key:
                                added[t] = max(added.get(t, 0.0), self.weight)
                    i += n
                    break
            else:
                out[tokens[i]] += 1
                i += 1
        weights = {t: float(c) for t, c in out.items()}
        for t, w in added.items():
            if t not in weights:
                weights[t] = w
        return weights


@dataclass(frozen=True)
class RM3:
    """RM3 pseudo-relevance feedback parameters (Pyserini's defaults)."""

    fb_docs: int = 10
    fb_terms: int = 10
    original_weight: float = 0.5

    def __post_init__(self) -> None:
        for name in ("fb_docs", "fb_terms"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ConfigError(f"rm3 {name}={value!r} must be an integer >= 1")
        if not 0.0 <= self.original_weight <= 1.0:
            raise ConfigError(f"rm3 original_weight={self.original_weight!r} must be in [0, 1]")


def rm3_weights(
    query: Sequence[str] | Mapping[str, float], feedback: Iterable[tuple[Sequence[str], float]], params: RM3 = RM3()
) -> dict[str, float]:
    """RM3: the query's terms interpolated with the terms of the feedback passages.

    ``query``: analyzed tokens, or weighted terms (a synonym-expanded query);
    ``feedback``: (analyzed tokens, BM25 score) of each of the top passages, best first.
    """
    model: Counter = Counter()
    for tokens, score in list(feedback)[: params.fb_docs]:
        counts = Counter(t for t in tokens if _FEEDBACK_TERM.fullmatch(t) and len(t) > 1)
        total = sum(counts.values())
        if not total or score <= 0:
            continue
        for t, c in counts.items():
            model[t] += float(score) * c / total
    top = model.most_common(params.fb_terms)
    mass = sum(w for _, w in top)
    query = dict(query) if isinstance(query, Mapping) else dict(Counter(query))
    qmass = sum(query.values())
    out: dict[str, float] = {}
    if qmass:
        for t, c in query.items():
            out[t] = params.original_weight * c / qmass
    if mass:
        for t, w in top:
            out[t] = out.get(t, 0.0) + (1.0 - params.original_weight) * w / mass
    return out


@dataclass
class QueryExpansion:
    """What to expand a BM25 query with: ``synonyms`` (a :class:`Synonyms` or a file path) and/or ``rm3``."""

    synonyms: Synonyms | str | os.PathLike | None = None
    rm3: RM3 | bool | None = None

    def __post_init__(self) -> None:
        if isinstance(self.synonyms, (str, os.PathLike)):
            self.synonyms = Synonyms.load(self.synonyms)
        if self.rm3 is True:
            self.rm3 = RM3()
        elif self.rm3 is False:
            self.rm3 = None

    def __bool__(self) -> bool:
        return self.synonyms is not None or self.rm3 is not None

    def describe(self) -> dict:
        out: dict = {}
        if isinstance(self.synonyms, Synonyms):
            out["synonyms"] = {"source": self.synonyms.source, "rules": len(self.synonyms), "weight": self.synonyms.weight}
        if isinstance(self.rm3, RM3):
            out["rm3"] = {"fb_docs": self.rm3.fb_docs, "fb_terms": self.rm3.fb_terms, "original_weight": self.rm3.original_weight}
        return out
