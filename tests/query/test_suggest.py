"""Spelling suggestions against a real collection's words (symspellpy)."""

from __future__ import annotations

from ragsift.index.collection import Collection, CollectionConfig
from ragsift.ingest import ChunkingConfig
from ragsift.query.suggest import MIN_LENGTH, SpellingSuggester
from ragsift.types import Document

DOCS = [
    Document("a", "Vitamin D deficiency is associated with fractures in older adults.", "Vitamin D"),
    Document("b", "Low vitamin D levels and hip fracture risk: a cohort study.", "Fracture risk"),
    Document("c", "Iron deficiency anaemia in pregnancy.", "Iron"),
    Document("d", "Vitamins and minerals: dietary intake of deficient populations.", "Diet"),
]


def suggester(tmp_path) -> SpellingSuggester:
    coll = Collection.create(tmp_path / "c", CollectionConfig(dense=False, chunking=ChunkingConfig(mode="none")))
    coll.add(DOCS)
    return SpellingSuggester.from_collection(Collection.open(tmp_path / "c"))


def test_a_misspelled_query_gets_the_right_corrections(tmp_path):
    spell = suggester(tmp_path)
    fixes = spell.corrections("vitamn D defficiency fractres")
    assert [(c.term, c.suggestion, c.distance) for c in fixes] == [
        ("vitamn", "vitamin", 1), ("defficiency", "deficiency", 1), ("fractres", "fractures", 1)
    ]
    assert all(c.count >= 1 for c in fixes) and fixes[0].to_dict()["suggestion"] == "vitamin"
    assert spell.suggest("vitamn D defficiency fractres") == "vitamin D deficiency fractures"


def test_known_short_and_hopeless_words_are_left_alone(tmp_path):
    spell = suggester(tmp_path)
    assert spell.corrections("deficient iron intake") == []  # every word is in the collection
    assert spell.corrections("hpi") == [] and len("hpi") < MIN_LENGTH  # too short to correct
    assert spell.corrections("xylophone") == []  # nothing within two edits
    assert spell.suggest("vitamin D") is None


def test_the_most_frequent_word_wins_at_equal_distance():
    spell = SpellingSuggester({"fracture": 3, "fractures": 9})
    [fix] = spell.corrections("fractur")  # "fracture" is 1 edit away, "fractures" 2
    assert fix.suggestion == "fracture"
    [fix] = SpellingSuggester({"cast": 5, "vast": 50}).corrections("oast")
    assert fix.suggestion == "vast" and fix.distance == 1
