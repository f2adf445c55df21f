"""BM25 query expansion: Solr synonyms files and RM3 feedback, against a real BM25 index."""

from __future__ import annotations

import numpy as np
import pytest

from ragsift.errors import ConfigError
from ragsift.index.collection import Collection, CollectionConfig
from ragsift.ingest import ChunkingConfig
from ragsift.pipeline.search import SearchOptions, Searcher
from ragsift.query.expansion import RM3, QueryExpansion, Synonyms, parse_solr_synonyms, rm3_weights
from ragsift.types import Document

DOCS = [
    Document("a", "The tumor grew in the lung of the patient.", "Lung tumor"),
    Document("b", "Tumor necrosis factor signalling in inflammation.", "TNF"),
    Document("c", "A myocardial infarction damages the cardiac muscle.", "Infarction"),
    Document("d", "Bone fractures in older adults with low vitamin levels.", "Fractures"),
    Document("e", "Heart rate variability during sleep.", "Sleep"),
]


@pytest.fixture
def coll(tmp_path):
    c = Collection.create(tmp_path / "c", CollectionConfig(dense=False, chunking=ChunkingConfig(mode="none")))
    c.add(DOCS)
    return Collection.open(tmp_path / "c")


def analyzer_of(coll):
    return coll.sparse.analyzer


def test_solr_format_equivalent_explicit_comments_and_escapes():
    rules = parse_solr_synonyms(
        "# a comment\n\ntumour, tumor\nheart attack => myocardial infarction, heart attack  # trailing\n"
        "a\\,b => ab\nlonely\n"
    )
    assert [(r.left, r.right, r.explicit) for r in rules] == [
        (("tumour", "tumor"), ("tumour", "tumor"), False),
        (("heart attack",), ("myocardial infarction", "heart attack"), True),
        (("a,b",), ("ab",), True),
    ]
    with pytest.raises(ConfigError, match="2: an empty side"):
        parse_solr_synonyms("ok, fine\n => x\n")
    with pytest.raises(ConfigError, match="more than one '=>'"):
        parse_solr_synonyms("a => b => c")


def test_equivalent_synonyms_add_terms_at_their_weight(coll):
    an = analyzer_of(coll)
    syn = Synonyms.parse("tumour, tumor\ntnf, tumor necrosis factor", weight=0.5)
    weights = syn.weights(an("tumour growth"), an)
    assert weights[an("tumour")[0]] == 1.0 and weights[an("growth")[0]] == 1.0
    assert weights[an("tumor")[0]] == 0.5
    weights = syn.weights(an("tnf levels"), an)  # one word expands to a multi-word phrase
    assert {t: w for t, w in weights.items() if w == 0.5} == {t: 0.5 for t in an("tumor necrosis factor")}


def test_an_explicit_rule_replaces_the_matched_words(coll):
    an = analyzer_of(coll)
    syn = Synonyms.parse("heart attack => myocardial infarction")
    weights = syn.weights(an("heart attack risk"), an)
    assert an("heart")[0] not in weights and an("attack")[0] not in weights
    assert set(weights) == {*an("myocardial infarction"), *an("risk")}


def test_weighted_search_with_unit_weights_ranks_like_search(coll):
    sparse = coll.sparse
    for query in ("tumor lung", "heart heart sleep", "vitamin fractures older"):
        weights: dict[str, float] = {}
        for t in sparse.analyzer(query):
            weights[t] = weights.get(t, 0.0) + 1.0
        pos_a, sc_a = sparse.search(query, 5)
        pos_b, sc_b = sparse.search_weighted(weights, 5)
        assert pos_a.tolist() == pos_b.tolist()
        np.testing.assert_allclose(sc_a, sc_b, rtol=1e-5)
    assert sparse.search_weighted({"zzz": 1.0}, 5)[0].size == 0


def test_synonyms_find_what_the_words_alone_miss(coll, tmp_path):
    path = tmp_path / "synonyms.txt"
    path.write_text("heart attack => myocardial infarction\n", encoding="utf-8")
    searcher = Searcher(coll)
    plain = searcher.search("heart attack", mode="bm25", k=3)
    assert plain.hits[0].doc_id == "e"  # only "heart" matches: the sleep study
    expanded = searcher.search("heart attack", SearchOptions(mode="bm25", k=3, expansion=QueryExpansion(synonyms=str(path))))
    assert expanded.hits[0].doc_id == "c"
    with pytest.raises(ConfigError, match="does not exist"):
        QueryExpansion(synonyms=tmp_path / "missing.txt")


def test_rm3_interpolates_query_and_feedback_terms():
    feedback = [(["aa", "cc", "cc", "dd"], 2.0), (["cc", "ee"], 1.0), (["x", "42"], 5.0)]
    weights = rm3_weights(["aa", "bb"], feedback, RM3(fb_docs=2, fb_terms=2, original_weight=0.5))
    # feedback: cc = 2*2/4 + 1*1/2 = 1.5, aa = dd = ee = 0.5 → the top 2 are cc and aa (first seen); one-letter
    # and numeric tokens never vote, and the third passage is beyond fb_docs anyway
    assert set(weights) == {"aa", "bb", "cc"}
    assert weights["bb"] == pytest.approx(0.25)
    assert weights["cc"] == pytest.approx(0.5 * 1.5 / 2.0)
    assert weights["aa"] == pytest.approx(0.25 + 0.5 * 0.5 / 2.0)
    assert sum(weights.values()) == pytest.approx(1.0)
    with pytest.raises(ConfigError):
        RM3(fb_docs=0)


def test_rm3_search_runs_through_the_searcher(coll):
    searcher = Searcher(coll)
    opts = SearchOptions(mode="bm25", k=5, expansion=QueryExpansion(rm3=RM3(fb_docs=1, fb_terms=5)))
    result = searcher.search("lung", opts)
    assert result.hits[0].doc_id == "a"
    # feedback from the lung passage brings in "tumor": the TNF abstract now matches too
    assert "b" in [h.doc_id for h in result.hits]
    assert "b" not in [h.doc_id for h in searcher.search("lung", mode="bm25", k=5).hits]
