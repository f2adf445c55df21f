"""RecursiveSplitter: sizes, overlap, separator order, Japanese sentences, nothing lost."""

from __future__ import annotations

import re

import pytest

from ragsift.errors import ConfigError
from ragsift.ingest import DEFAULT_SEPARATORS, RecursiveSplitter

ENGLISH = (
    "Hybrid retrieval combines BM25 with dense vectors. Fusion merges both rankings. "
    "A reranker then reads each candidate with the query.\n\n"
    "Chunking decides what the index sees. Small chunks are precise but lose context; "
    "large chunks keep context but dilute the embedding.\n"
    "Overlap repeats a little text so a sentence cut at a boundary still appears whole somewhere.\n\n"
    "Supercalifragilisticexpialidociousandevenlongerwordthatnoseparatorcanbreak ends it."
)

JAPANESE = (
    "リランキングは検索精度を高める。第1段階ではBM25と密ベクトルで候補を集める。"
    "第2段階ではクロスエンコーダが各候補を読み直す。チャンクの大きさは精度に影響する。"
    "小さすぎると文脈が失われ、大きすぎると埋め込みが薄まる。"
)


def assert_nothing_lost(text: str, chunks: list[str]) -> None:
    """Each chunk occurs in order in ``text`` and, overlaps aside, they cover every non-space character."""
    covered = [False] * len(text)
    cursor = 0
    for chunk in chunks:
        start = text.find(chunk, max(0, cursor - len(chunk)))
        assert start >= 0, f"chunk not found verbatim in order: {chunk!r}"
        for i in range(start, start + len(chunk)):
            covered[i] = True
        cursor = start + len(chunk)
    missing = "".join(ch for ch, seen in zip(text, covered) if not seen)
    assert missing.strip() == "", f"lost text: {missing!r}"


def test_default_separators():
    assert DEFAULT_SEPARATORS == ("\n\n", "\n", "。", ". ", " ", "")


@pytest.mark.parametrize("size,overlap", [(40, 0), (40, 10), (80, 20), (200, 50), (13, 4)])
def test_char_sizes_respected_and_nothing_lost(size, overlap):
    chunks = RecursiveSplitter(size, overlap).split(ENGLISH)
    assert all(0 < len(c) <= size for c in chunks)
    assert all(c == c.strip() for c in chunks)
    assert_nothing_lost(ENGLISH, chunks)


def test_whole_text_fits_in_one_chunk():
    assert RecursiveSplitter(10_000, 0).split(ENGLISH) == [ENGLISH]
    assert RecursiveSplitter(10, 2).split("   \n\n  ") == []


def test_overlap_repeats_trailing_words():
    text = " ".join(f"w{i:02d}" for i in range(40))  # 40 four-char words
    chunks = RecursiveSplitter(size=24, overlap=8).split(text)
    assert len(chunks) > 1
    for prev, nxt in zip(chunks, chunks[1:]):
        shared = prev.split()[-2:]
        assert nxt.split()[:2] == shared
    no_overlap = RecursiveSplitter(size=24, overlap=0).split(text)
    assert " ".join(no_overlap) == text


def test_paragraphs_are_preferred_over_lines_and_sentences():
    text = "Para one line one.\nPara one line two.\n\nPara two. Still para two."
    assert RecursiveSplitter(size=40, overlap=0).split(text) == [
        "Para one line one.\nPara one line two.",
        "Para two. Still para two.",
    ]


def test_separator_order_is_followed():
    text = "a-b-c|d-e-f"
    assert RecursiveSplitter(size=6, overlap=0, separators=("|", "-")).split(text) == ["a-b-c|", "d-e-f"]
    assert RecursiveSplitter(size=6, overlap=0, separators=("-", "|")).split(text) == ["a-b-", "c|d-e-", "f"]


def test_separators_stay_attached_to_the_text_before_them():
    chunks = RecursiveSplitter(size=10, overlap=0, separators=(". ",)).split("One. Two. Three. Four.")
    assert chunks == ["One. Two.", "Three.", "Four."]


def test_japanese_sentences_split_at_kuten():
    chunks = RecursiveSplitter(size=40, overlap=0).split(JAPANESE)
    assert len(chunks) > 1
    assert all(len(c) <= 40 for c in chunks)
    assert all(c.endswith("。") for c in chunks)  # whole sentences, the 。 kept
    assert "".join(chunks) == JAPANESE


def test_unbreakable_text_is_cut_into_characters():
    chunks = RecursiveSplitter(size=10, overlap=3).split("x" * 35)
    assert all(len(c) <= 10 for c in chunks)
    assert chunks[0] == "x" * 10 and len(chunks) == 5


def test_without_empty_separator_a_long_piece_stays_whole():
    chunks = RecursiveSplitter(size=5, overlap=0, separators=(" ",)).split("tiny enormousword ok")
    assert chunks == ["tiny", "enormousword", "ok"]


def test_custom_length_function():
    words = lambda s: len(s.split())  # noqa: E731
    chunks = RecursiveSplitter(size=5, overlap=1, length_function=words).split(" ".join(map(str, range(20))))
    assert all(words(c) <= 5 for c in chunks)
    assert chunks[1].split()[0] == chunks[0].split()[-1]


def test_non_additive_length_is_rechecked():
    """A measure that charges for joins inside words (like subword tokenizers) is still respected."""

    def cost(s: str) -> int:
        return len(s) + 3 * len(re.findall(r"\S{6,}", s))

    chunks = RecursiveSplitter(size=8, overlap=0, separators=("",), length_function=cost).split("abcdefghijkl")
    assert all(cost(c) <= 8 for c in chunks) and "".join(chunks) == "abcdefghijkl"


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"size": 0}, "size=0 must be > 0"),
        ({"size": -5}, "size=-5 must be > 0"),
        ({"size": 10, "overlap": 10}, "overlap=10 must be >= 0 and < size=10"),
        ({"size": 10, "overlap": -1}, "overlap=-1 must be >= 0"),
        ({"size": 10.5}, "size=10.5 must be an integer"),
        ({"size": True}, "size=True must be an integer"),
        ({"separators": ()}, "separators=() must be a non-empty list"),
        ({"separators": "\n"}, "must be a non-empty list of strings"),
        ({"separators": ("\n", 3)}, "must contain only strings"),
        ({"length_function": 3}, "length_function=3 is not callable"),
    ],
)
def test_validation(kwargs, fragment):
    with pytest.raises(ConfigError) as info:
        RecursiveSplitter(**kwargs)
    assert fragment in str(info.value)


def test_split_rejects_non_text():
    with pytest.raises(ConfigError, match="text must be a str"):
        RecursiveSplitter().split(None)  # type: ignore[arg-type]
