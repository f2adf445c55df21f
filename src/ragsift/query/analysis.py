"""Query analysis: domain terms, numbers, codes and quoted phrases, and a fact / concept / complex kind.

Seed 001 routes queries by kind: a *fact* lookup goes to BM25, a *concept* question to dense
retrieval, a *complex* one to hybrid. Seed 002 extracts domain terms to decide how much work a
query deserves. :func:`analyze_query` computes both from the text, the collection's analyzer and,
when given, its term statistics. The rules below are the defaults (a router learned from a
training split, ``ragsift train-router``, replaces the kind → mode table: :mod:`ragsift.query.policy`):

Features
    ``quoted``   phrases in straight or curly double quotes;
    ``codes``    identifiers that mix letters and digits or join parts with ``-`` ``/`` ``+``
                 (``BRCA1``, ``COVID-19``, ``IL-6``, ``P/E``, ``10-K``), and acronyms of two or more
                 capitals (``DNA``, ``HbA1c``);
    ``numbers``  stand-alone numbers (``2019``, ``3.5``, ``40%``) that are not part of a code;
    ``protected``  the collection's protected terms found in the query;
    ``rare``     analyzed query terms whose BM25 IDF in the collection is at least
                 :data:`RARE_IDF` (about 1 row in 400 or fewer holds them);
    ``domain_terms``  all of the above that name something (quoted, codes, protected, rare), plus
                 runs of adjacent rare terms as multi-word terms, in query order, without repeats;
    ``tokens``   the analyzed terms (what BM25 sees).

Kind
    ``complex``  :data:`COMPLEX_TOKENS` or more analyzed terms, or two or more clauses joined by
                 "and", "or", "versus"/"vs", "compared", ";" with at least 6 terms;
    ``fact``     at most :data:`FACT_MAX_TOKENS` terms and at least one exact anchor (a quoted
                 phrase, a code, a number, a protected or a rare term): lexical matching wins;
    ``concept``  everything else: a short natural-language question without anchors.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from enum import Enum

__all__ = [
    "COMPLEX_TOKENS",
    "FACT_MAX_TOKENS",
    "RARE_IDF",
    "ROUTES",
    "QueryAnalysis",
    "QueryKind",
    "analyze_query",
]

RARE_IDF = 6.0
"""A term with this BM25 IDF or more is rare: ``log(1 + N/df) >= 6`` means df/N below about 1/400."""
FACT_MAX_TOKENS = 6
COMPLEX_TOKENS = 12


class QueryKind(str, Enum):
    FACT = "fact"
    CONCEPT = "concept"
    COMPLEX = "complex"


ROUTES = {QueryKind.FACT: "bm25", QueryKind.CONCEPT: "dense", QueryKind.COMPLEX: "hybrid"}
"""Seed 001's routing: the first-stage mode for each kind of query."""

_QUOTED = re.compile(r'"([^"]+)"|“([^”]+)”')
_CODE = re.compile(
    r"(?<![\w/+-])(?:"
    r"(?=[\w/+-]*\d)(?=[\w/+-]*[A-Za-z])[A-Za-z0-9]+(?:[-/+.][A-Za-z0-9]+)*\+?"  # letters and digits
    r"|[A-Za-z]+(?:[-/+][A-Za-z0-9]+)+\+?"  # parts joined by - / +
    r"|[A-Z][a-z]?[A-Z][A-Za-z0-9]*"  # acronyms: DNA, HbA1c, mRNA-like capitals
    r")(?![\w/+-])"
)
_NUMBER = re.compile(r"(?<![\w.])\d+(?:[.,]\d+)*%?(?![\w])")
_CLAUSE = re.compile(r"\b(?:and|or|versus|vs\.?|compared(?: to| with)?)\b|;", re.IGNORECASE)
_LOWER_WORDS = re.compile(r"[a-z]+(?:-[a-z]+)+")  # plain hyphenated words ("long-term") are not codes


@dataclass
class QueryAnalysis:
    """What :func:`analyze_query` found; ``to_dict()`` is what ``--json`` and the HTTP API show."""

    query: str
    kind: QueryKind
    route: str
    tokens: list[str] = field(default_factory=list)
    domain_terms: list[str] = field(default_factory=list)
    quoted: list[str] = field(default_factory=list)
    codes: list[str] = field(default_factory=list)
    numbers: list[str] = field(default_factory=list)
    protected: list[str] = field(default_factory=list)
    rare: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        out = asdict(self)
        out["kind"] = self.kind.value
        return out


def analyze_query(
    query: str,
    analyzer: Callable[[str], list[str]],
    *,
    protected_terms: Iterable[str] = (),
    idf: Callable[[str], float | None] | None = None,
) -> QueryAnalysis:
    """Analyze ``query`` with the collection's ``analyzer``; ``idf(term)`` gives a term's BM25 IDF
    (e.g. :meth:`ragsift.index.sparse.SparseIndex.idf`), or None when the term is absent."""
    quoted = [a or b for a, b in _QUOTED.findall(query)]
    codes = [m.group(0) for m in _CODE.finditer(query) if not _LOWER_WORDS.fullmatch(m.group(0))]
    numbers = [n for n in _NUMBER.findall(query) if not any(n in c for c in codes)]
    lowered = query.lower()
    protected = [t for t in protected_terms if re.search(rf"(?<!\w){re.escape(t.lower())}(?!\w)", lowered)]
    tokens = analyzer(query)
    rare, runs, run = [], [], []
    for token in tokens:
        value = idf(token) if idf is not None else None
        if value is not None and value >= RARE_IDF:
            if token not in rare:
                rare.append(token)
            run.append(token)
            continue
        if len(run) > 1:
            runs.append(" ".join(run))
        run = []
    if len(run) > 1:
        runs.append(" ".join(run))
    domain = list(dict.fromkeys([*quoted, *codes, *protected, *runs, *rare]))
    kind, reasons = _kind(query, tokens, quoted, codes, numbers, protected, rare)
    return QueryAnalysis(query, kind, ROUTES[kind], tokens, domain, quoted, codes, numbers, protected, rare, reasons)


def _kind(query, tokens, quoted, codes, numbers, protected, rare) -> tuple[QueryKind, list[str]]:
    n = len(tokens)
    clauses = len(_CLAUSE.findall(query)) + 1
    if n >= COMPLEX_TOKENS:
        return QueryKind.COMPLEX, [f"{n} terms (>= {COMPLEX_TOKENS})"]
    if clauses >= 2 and n >= 6:
        return QueryKind.COMPLEX, [f"{clauses} clauses and {n} terms"]
    anchors = [name for name, found in (("quoted phrase", quoted), ("code", codes), ("number", numbers),
                                        ("protected term", protected), ("rare term", rare)) if found]
    if anchors and n <= FACT_MAX_TOKENS:
        return QueryKind.FACT, [f"{n} terms (<= {FACT_MAX_TOKENS}) with an exact anchor: " + ", ".join(anchors)]
    if anchors:
        return QueryKind.CONCEPT, [f"{n} terms (> {FACT_MAX_TOKENS}); anchors ({', '.join(anchors)}) do not make it a lookup"]
    return QueryKind.CONCEPT, [f"{n} terms, no exact anchor"]
