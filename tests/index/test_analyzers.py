"""Text analyzers for BM25: en/simple/cjk-bigram/ja, protected terms, config round-trip."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest

from ragsift.errors import BadInputError, ConfigError
from ragsift.index.analyzers import (
    Analyzer,
    AnalyzerName,
    Stopwords,
    build_analyzer,
    get_analyzer,
)

# ---------------------------------------------------------------------------- en / simple


def test_en_lowercases_removes_stopwords_and_stems():
    assert get_analyzer("en")("The Cats are RUNNING quickly to the studies") == [
        "cat",
        "run",
        "quick",
        "studi",
    ]


def test_en_keeps_words_of_two_or_more_word_characters_only():
    # "a" is one character; "P/E" splits into one-character pieces; digits are word characters.
    assert get_analyzer("en")("a P/E of 12 x") == ["12"]


def test_en_default_is_the_bm25s_english_stopword_list():
    from bm25s.stopwords import STOPWORDS_EN

    analyzer = get_analyzer("en")
    assert analyzer.stopwords is Stopwords.EN
    assert analyzer(" ".join(STOPWORDS_EN)) == []


def test_en_without_stopwords_keeps_them_and_still_stems():
    assert get_analyzer("en", stopwords="none")("the cats") == ["the", "cat"]


def test_custom_stopwords_are_lowercased_and_applied_before_stemming():
    analyzer = get_analyzer("en", stopwords=["Cats", "the"])
    assert analyzer("The cats chase the cat") == ["chase", "cat"]


def test_simple_lowercases_without_stopwords_or_stemming():
    assert get_analyzer("simple")("The Cats are RUNNING, a b") == ["the", "cats", "are", "running"]


def test_simple_accepts_stopwords():
    assert get_analyzer("simple", stopwords="en")("The cats are running") == ["cats", "running"]


def test_en_memo_restarts_when_full_without_changing_tokens(monkeypatch):
    from ragsift.index.analysis import words

    text = "studies of running cats and dogs in the studies of rats"
    expected = get_analyzer("en")(text)
    monkeypatch.setattr(words, "_MAX_CACHE", 3)
    analyzer = get_analyzer("en")
    assert [analyzer(text) for _ in range(3)] == [expected] * 3
    assert analyzer("the") == []  # stopwords survive the restart


def test_en_is_consistent_across_threads():
    texts = [f"document {i} about running studies of cell biology number{i % 7}" for i in range(400)]
    expected = get_analyzer("en").analyze_many(texts)
    analyzer = get_analyzer("en")
    with ThreadPoolExecutor(max_workers=4) as pool:
        assert list(pool.map(analyzer, texts)) == expected


# ---------------------------------------------------------------------------- parity with bm25s


@pytest.mark.scifact
def test_en_reproduces_bm25s_tokenize_on_scifact(scifact_dir):
    bm25s = pytest.importorskip("bm25s")
    import Stemmer

    texts = []
    with open(scifact_dir / "corpus.jsonl", encoding="utf-8") as f:
        for i, line in enumerate(f):
            if i % 5 == 0:  # a deterministic ~1,000-document sample
                doc = json.loads(line)
                texts.append(f"{doc.get('title', '')} {doc['text']}")
    reference = bm25s.tokenize(
        texts,
        stopwords="en",
        stemmer=Stemmer.Stemmer("english"),
        return_ids=False,
        show_progress=False,
    )
    ours = get_analyzer("en").analyze_many(texts)
    same = sum(a == b for a, b in zip(ours, reference))
    assert same / len(texts) >= 0.99, f"only {same}/{len(texts)} documents tokenize like bm25s"


# ---------------------------------------------------------------------------- protected terms

FINANCE = ["P/E", "EBITDA", "COVID-19", "C++", "U.S."]


def test_without_protection_p_e_disappears_and_covid_splits():
    tokens = get_analyzer("en")("P/E fell after COVID-19 in the U.S.")
    assert "p/e" not in tokens and "p" not in tokens and "e" not in tokens
    assert tokens == ["fell", "after", "covid", "19"]


@pytest.mark.parametrize("name", ["en", "simple", "cjk-bigram"])
def test_protected_terms_are_single_lowercased_tokens(name):
    analyzer = get_analyzer(name, protected_terms=FINANCE)
    text = "P/E and EBITDA fell after COVID-19; C++ jobs in the U.S. grew."
    tokens = analyzer(text)
    for term in ("p/e", "ebitda", "covid-19", "c++", "u.s."):
        assert tokens.count(term) == 1, (term, tokens)
    assert "covid" not in tokens and "19" not in tokens


def test_protected_terms_keep_their_position_among_other_tokens():
    analyzer = get_analyzer("en", protected_terms=FINANCE)
    assert analyzer("Ratios: P/E, EBITDA margins (U.S.)") == ["ratio", "p/e", "ebitda", "margin", "u.s."]


def test_protected_terms_are_not_stemmed_or_stopword_filtered():
    analyzer = get_analyzer("en", protected_terms=["Sales", "The Who"])
    assert analyzer("sales of The Who records") == ["sales", "the who", "record"]
    assert get_analyzer("en")("sales of The Who records") == ["sale", "who", "record"]


def test_protected_terms_match_case_insensitively():
    analyzer = get_analyzer("en", protected_terms=["P/E", "covid-19"])
    assert analyzer("p/e P/e COVID-19 Covid-19") == ["p/e", "p/e", "covid-19", "covid-19"]


def test_protected_terms_do_not_match_inside_longer_words():
    analyzer = get_analyzer("en", protected_terms=["C++", "EBITDA", "U.S."])
    # "U.S.A" is not "U.S." followed by a boundary; its pieces are one character each.
    assert analyzer("ABC++ EBITDAR U.S.A") == ["abc", "ebitdar"]


def test_protected_terms_with_symbol_edges_match_before_punctuation_and_at_ends():
    analyzer = get_analyzer("simple", protected_terms=["C++"])
    assert analyzer("C++") == ["c++"]
    assert analyzer("(C++), c++.") == ["c++", "c++"]


def test_overlapping_protected_terms_prefer_the_longest():
    analyzer = get_analyzer("en", protected_terms=["COVID", "COVID-19", "New York", "York Times"])
    assert analyzer("COVID-19 and COVID") == ["covid-19", "covid"]
    # Leftmost match first, then the longest at that position.
    assert analyzer("new york times") == ["new york", "time"]


def test_protected_multiword_terms_match_any_whitespace():
    analyzer = get_analyzer("en", protected_terms=["New  York"])
    assert analyzer("new\nYORK\tcity") == ["new york", "citi"]


def test_query_and_document_share_protected_tokens():
    analyzer = get_analyzer("en", protected_terms=FINANCE)
    query = analyzer("what is the p/e and ebitda of u.s. firms")
    doc = analyzer("The P/E ratio and EBITDA of U.S. firms after COVID-19.")
    assert {"p/e", "ebitda", "u.s."} <= set(query) & set(doc)


def test_protected_cjk_terms_match_without_spaces():
    analyzer = get_analyzer("cjk-bigram", protected_terms=["東京都"])
    assert analyzer("私は東京都に住む") == ["私は", "東京都", "に住", "住む"]


@pytest.mark.parametrize("bad", [[""], ["  "], ["ok", "\t"], [None], "P/E"])
def test_bad_protected_terms_raise_config_error(bad):
    with pytest.raises(ConfigError, match="protected_terms"):
        get_analyzer("en", protected_terms=bad)


# ---------------------------------------------------------------------------- cjk-bigram


def test_cjk_bigram_japanese_query_shares_bigrams_with_document():
    analyzer = get_analyzer("cjk-bigram")
    query = analyzer("東京都の人口")
    doc = analyzer("東京都の人口は約1400万人です。")
    assert query == ["東京", "京都", "都の", "の人", "人口"]
    assert set(query) <= set(doc)
    assert get_analyzer("en")("東京都の人口") == ["東京都の人口"]  # why en gives zero hits


def test_cjk_bigram_chinese():
    analyzer = get_analyzer("cjk-bigram")
    assert analyzer("北京大学") == ["北京", "京大", "大学"]
    assert set(analyzer("北京大学")) <= set(analyzer("他是北京大学的学生。"))


def test_cjk_bigram_single_characters_punctuation_and_mixed_scripts():
    analyzer = get_analyzer("cjk-bigram")
    assert analyzer("猫") == ["猫"]
    assert analyzer("東京、大阪・京都") == ["東京", "大阪", "京都"]
    assert analyzer("iPhone15を買った Big Sale") == ["iphone15", "を買", "買っ", "った", "big", "sale"]
    assert analyzer("한국어 텍스트") == ["한국", "국어", "텍스", "스트"]


def test_cjk_bigram_normalizes_full_width_and_half_width_with_nfkc():
    analyzer = get_analyzer("cjk-bigram")
    assert analyzer("ＡＢＣ１２３") == ["abc123"]
    assert analyzer("ｶﾀｶﾅ") == analyzer("カタカナ") == ["カタ", "タカ", "カナ"]


# ---------------------------------------------------------------------------- ja (SudachiPy)


@pytest.fixture(scope="module")
def ja():
    pytest.importorskip("sudachipy")
    pytest.importorskip("sudachidict_core")
    analyzer = get_analyzer("ja")
    analyzer.warm_up()
    return analyzer


def test_ja_emits_content_morphemes_without_particles(ja):
    tokens = ja("東京都に住んでいます")
    assert tokens[:2] == ["東京都", "住む"]
    assert not {"に", "で", "ます"} & set(tokens)


def test_ja_normalizes_forms_and_passes_other_words_through_lowercased(ja):
    tokens = ja("AppleのiPhoneは２０２３年に発売された。")
    assert tokens[:4] == ["apple", "iphone", "2023", "年"]
    assert "発売" in tokens and not {"の", "は", "た", "。"} & set(tokens)


def test_ja_query_matches_document(ja):
    assert set(ja("東京都の人口")) <= set(ja("東京都の人口は約1400万人です。"))


def test_ja_protected_terms_and_stopwords(ja):
    analyzer = get_analyzer("ja", protected_terms=["COVID-19"], stopwords=["人口"])
    assert analyzer("COVID-19と東京都の人口") == ["covid-19", "東京都"]


def test_ja_split_modes(ja):
    a = get_analyzer("ja", split_mode="A")("東京都に住んでいます")
    c = get_analyzer("ja", split_mode="c")("東京都に住んでいます")
    assert a[:2] == ["東京", "都"] and c[0] == "東京都"


def test_ja_handles_text_longer_than_sudachis_input_limit(ja):
    text = "東京都に住んでいます。" * 6000  # about 200 KB of UTF-8; Sudachi takes at most 49,149 bytes
    tokens = ja(text)
    assert tokens.count("東京都") == 6000


def test_ja_is_consistent_across_threads(ja):
    texts = [f"東京都に住んでいます。番号{i}" for i in range(40)]
    expected = [ja(t) for t in texts]
    with ThreadPoolExecutor(max_workers=4) as pool:
        assert list(pool.map(ja, texts)) == expected


def test_ja_bad_split_mode_lists_valid_values():
    pytest.importorskip("sudachipy")
    with pytest.raises(ConfigError, match="split_mode='D'.*'A', 'B', 'C'"):
        get_analyzer("ja", split_mode="D")


# ---------------------------------------------------------------------------- config and errors


def _ja_available() -> bool:
    try:
        import sudachidict_core  # noqa: F401
        import sudachipy  # noqa: F401
    except ImportError:
        return False
    return True


CONFIGS = [
    {"name": "en"},
    {"name": "en", "protected_terms": FINANCE, "stopwords": "none"},
    {"name": "simple", "stopwords": ["the", "of"]},
    {"name": "cjk-bigram", "protected_terms": ["東京都", "C++"]},
    pytest.param(
        {"name": "ja", "protected_terms": ["P/E"], "split_mode": "C"},
        marks=pytest.mark.skipif(not _ja_available(), reason="sudachipy not installed"),
    ),
]
SAMPLE = "The P/E of C++ firms in the U.S. — 東京都の人口は１４００万人 — studies of cats."


@pytest.mark.parametrize("options", CONFIGS)
def test_config_round_trip_gives_identical_output(options):
    config = dict(options)
    analyzer = get_analyzer(config.pop("name"), **config)
    stored = json.loads(json.dumps(analyzer.to_config(), ensure_ascii=False))
    rebuilt = build_analyzer(stored)
    assert rebuilt == analyzer and rebuilt.to_config() == stored
    assert rebuilt(SAMPLE) == analyzer(SAMPLE)
    assert isinstance(rebuilt, Analyzer) and rebuilt.name == options["name"]


def test_to_config_records_resolved_defaults():
    assert get_analyzer().to_config() == {"name": "en", "protected_terms": [], "stopwords": "en"}
    assert get_analyzer("simple").to_config()["stopwords"] == "none"
    assert get_analyzer("simple", stopwords=["of", "The", "of"]).to_config()["stopwords"] == ["The", "of"]


def test_names_parse_case_insensitively_and_from_the_enum():
    assert get_analyzer("CJK-Bigram").name is AnalyzerName.CJK_BIGRAM
    assert get_analyzer(AnalyzerName.SIMPLE).name is AnalyzerName.SIMPLE


def test_bad_analyzer_name_lists_valid_names():
    with pytest.raises(ConfigError) as info:
        get_analyzer("english")
    message = str(info.value)
    assert "analyzer='english'" in message
    for name in ("'en'", "'ja'", "'cjk-bigram'", "'simple'"):
        assert name in message


def test_bad_stopwords_setting_lists_valid_values():
    with pytest.raises(ConfigError, match="stopwords='fr'.*'en', 'none'"):
        get_analyzer("en", stopwords="fr")
    with pytest.raises(ConfigError, match="stopwords"):
        get_analyzer("en", stopwords=["ok", ""])
    with pytest.raises(ConfigError, match="stopwords"):
        get_analyzer("en", stopwords=3)


def test_split_mode_is_rejected_for_other_analyzers():
    with pytest.raises(ConfigError, match="split_mode='A' applies only to analyzer='ja'"):
        get_analyzer("en", split_mode="A")


def test_build_analyzer_rejects_unknown_keys_and_missing_name():
    with pytest.raises(ConfigError, match="unknown keys \\['stemmer'\\]"):
        build_analyzer({"name": "en", "stemmer": "porter"})
    with pytest.raises(ConfigError, match="'name'"):
        build_analyzer({"protected_terms": []})
    with pytest.raises(ConfigError, match="unknown keys \\['split_mode'\\]"):
        build_analyzer({"name": "simple", "split_mode": "A"})


def test_non_string_input_raises_bad_input_error():
    with pytest.raises(BadInputError, match="takes a str, got NoneType"):
        get_analyzer("en")(None)


def test_analyze_many_matches_single_calls_with_and_without_progress():
    analyzer = get_analyzer("en", protected_terms=["P/E"])
    texts = ["P/E ratios", "", "running cats"]
    expected = [analyzer(t) for t in texts]
    assert analyzer.analyze_many(texts) == expected == [["p/e", "ratio"], [], ["run", "cat"]]
    assert analyzer.analyze_many(iter(texts), show_progress=True) == expected
