"""The grounded-answer prompt and the citation parser, against hand-written expectations."""

from __future__ import annotations

import pytest

from ragsift.answer import SYSTEM_PROMPT, build_messages, cited_numbers, parse_citations
from ragsift.answer.citations import Citation, InvalidCitation
from ragsift.errors import ConfigError
from ragsift.types import Hit

HITS = [
    Hit("dogs#0", "dogs", 0.9, "Dogs bark at strangers.", "Dogs"),
    Hit("cats#0", "cats", 0.8, "Cats purr when they are content.", "Cats"),
    Hit("fin#1", "fin", 0.7, "Quarterly earnings rose.", ""),
]


def test_the_prompt_numbers_the_passages_in_order_and_asks_for_citations():
    system, user = build_messages("  why do\ndogs bark? ", HITS)
    assert system == {"role": "system", "content": SYSTEM_PROMPT}
    assert "[1]" in SYSTEM_PROMPT and "only the numbers of the passages given" in SYSTEM_PROMPT
    assert user["role"] == "user"
    assert user["content"] == (
        "Passages:\n\n"
        "[1]\nTitle: Dogs\nDogs bark at strangers.\n\n"
        "[2]\nTitle: Cats\nCats purr when they are content.\n\n"
        "[3]\nQuarterly earnings rose.\n\n"
        "Question: why do dogs bark?\n\n"
        "Answer from passages [1] to [3] only, citing them by number."
    )


def test_long_passages_are_cut():
    long = Hit("x", "x", 1.0, "word " * 100)
    content = build_messages("q", [long], max_passage_chars=20)[1]["content"]
    assert "[1]\nword word word word …\n\nQuestion: q" in content


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"question": " "}, "question"), ({"question": "q", "max_passage_chars": 0}, "max_passage_chars")],
)
def test_bad_prompt_arguments_name_the_parameter(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        build_messages(hits=HITS, **kwargs)


@pytest.mark.parametrize(
    ("text", "numbers"),
    [
        ("Dogs bark [1].", [1]),
        ("A [2][1] and again [1].", [2, 1]),
        ("Both [1, 3] say so; see [2-3].", [1, 3, 2]),
        ("Ranges [1–2] with an en dash.", [1, 2]),
        ("Written out [Passage 2] and [source 3].", [2, 3]),
        ("Out of range [4] and [0] and [2020].", [4, 0, 2020]),
        ("A wide range [2-40] is not expanded.", [2, 40]),
        ("No citation [a] or (1) or [ ] here.", []),
    ],
)
def test_cited_numbers(text, numbers):
    assert cited_numbers(text, limit=3) == numbers


def test_citations_map_to_the_hits_by_position_and_bad_numbers_are_reported():
    valid, invalid = parse_citations("Dogs bark [1]. Earnings rose [3][7]. Cats [2]. Again [1].", HITS)
    assert valid == [
        Citation(1, "dogs", "dogs#0", "Dogs"),
        Citation(3, "fin", "fin#1", ""),
        Citation(2, "cats", "cats#0", "Cats"),
    ]
    assert invalid == [InvalidCitation(7, "no passage [7]: the model was given passages [1] to [3]")]
    assert valid[0].to_dict() == {"number": 1, "doc_id": "dogs", "id": "dogs#0", "title": "Dogs"}


def test_no_hits_makes_every_citation_invalid():
    valid, invalid = parse_citations("See [1].", [])
    assert valid == [] and invalid == [InvalidCitation(1, "no passage [1]: the model was given no passages")]
