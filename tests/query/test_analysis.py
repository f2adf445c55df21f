"""Query analysis: features found in the text, and the fact / concept / complex rules."""

from __future__ import annotations

import math

import pytest

from ragsift.index.analyzers import get_analyzer
from ragsift.index.collection import Collection, CollectionConfig
from ragsift.ingest import ChunkingConfig
from ragsift.query import ROUTES, QueryKind, analyze_query
from ragsift.query.analysis import RARE_IDF
from ragsift.types import Document

EN = get_analyzer("en", protected_terms=["P/E"])


@pytest.mark.parametrize(
    ("query", "codes", "numbers"),
    [
        ("BRCA1 mutation breast cancer risk", ["BRCA1"], []),
        ("COVID-19 and IL-6 levels", ["COVID-19", "IL-6"], []),
        ("HbA1c above 6.5% in 2019", ["HbA1c"], ["6.5%", "2019"]),
        ("the 10-K filing of a DNA company", ["10-K", "DNA"], []),
        ("long-term memory in well-known models", [], []),  # plain hyphenated words are not codes
    ],
)
def test_codes_and_numbers(query, codes, numbers):
    result = analyze_query(query, EN)
    assert result.codes == codes and result.numbers == numbers


def test_quoted_phrases_protected_terms_and_domain_terms_in_order():
    result = analyze_query('the P/E of "low-dose aspirin" makers vs “beta blockers”', EN, protected_terms=["P/E"])
    assert result.quoted == ["low-dose aspirin", "beta blockers"]
    assert result.protected == ["P/E"] and "p/e" in result.tokens
    assert result.domain_terms[:2] == ["low-dose aspirin", "beta blockers"] and "P/E" in result.domain_terms


def test_rare_terms_and_multi_word_runs_come_from_the_idf():
    idf = {"zinc": RARE_IDF + 1, "finger": RARE_IDF, "protein": 1.0}.get
    result = analyze_query("zinc finger protein binding", EN, idf=idf)
    assert result.rare == ["zinc", "finger"]
    assert result.domain_terms == ["zinc finger", "zinc", "finger"]
    assert result.kind is QueryKind.FACT and result.route == "bm25"


@pytest.mark.parametrize(
    ("query", "kind"),
    [
        ("BRCA1 mutation breast cancer risk", QueryKind.FACT),  # short, with a code
        ("how do cells respond to oxidative stress", QueryKind.CONCEPT),  # no anchor
        ("does IL-6 signalling drive chronic inflammation in ageing muscle tissue", QueryKind.CONCEPT),  # anchor but long
        ("vitamin D deficiency and fracture risk compared with calcium supplementation in older women",
         QueryKind.COMPLEX),  # clauses
        (" ".join(["protein"] + ["expression", "regulation", "cell", "tissue", "growth", "signal"] * 2), QueryKind.COMPLEX),
    ],
)
def test_kind_rules(query, kind):
    result = analyze_query(query, EN)
    assert result.kind is kind, result.reasons
    assert result.route == ROUTES[kind] and result.reasons
    assert result.to_dict()["kind"] == kind.value


def test_idf_of_a_real_collection(tmp_path):
    docs = [Document(f"d{i}", f"common words here number {i}" + (" zebra" if i == 3 else "")) for i in range(30)]
    coll = Collection.create(tmp_path / "c", CollectionConfig(dense=False, chunking=ChunkingConfig(mode="none")))
    coll.add(docs)
    n = 30
    assert coll.sparse.idf("zebra") == pytest.approx(math.log(1 + (n - 1 + 0.5) / 1.5))
    assert coll.sparse.idf("common") == pytest.approx(math.log(1 + 0.5 / 30.5))
    assert coll.sparse.idf("absent") is None
    result = analyze_query("zebra common", coll.sparse.analyzer, idf=coll.sparse.idf)
    assert result.rare == []  # IDF 2.9 in 30 rows is not rare by the default threshold
