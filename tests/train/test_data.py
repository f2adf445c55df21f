"""Training data: judged and title queries, the dev split, hard-negative mining, groups."""

from __future__ import annotations

import random

import pytest

from ragsift.errors import BadInputError, ConfigError
from ragsift.index.collection import Collection
from ragsift.ingest import load_beir
from ragsift.pipeline.search import Searcher
from ragsift.train.data import (
    judged_queries,
    mine_candidates,
    open_or_build_collection,
    sample_negatives,
    split_dev,
    title_queries,
)
from ragsift.train.reranker import make_groups


def test_judged_queries_keep_positives_only_and_honour_exclude(tiny_beir):
    data = load_beir(tiny_beir, "train")
    queries = judged_queries(data.queries, data.qrels, exclude={"q1"})
    ids = [q.qid for q in queries]
    assert "q1" not in ids and len(ids) == 7
    q0 = next(q for q in queries if q.qid == "q0")
    assert q0.positives == ["d0"]  # n0 is judged 0: not a positive
    assert all(q.source == "judged" for q in queries)


def test_title_queries_pair_title_with_own_body(tiny_beir):
    data = load_beir(tiny_beir, "train")
    titles = title_queries(data.corpus)
    assert len(titles) == 10  # the 10 distractors have one-word titles (< min_words)
    by_id = {d.id: d for d in data.corpus}
    for q in titles:
        assert q.source == "title" and q.text == by_id[q.positives[0]].title
    assert len(title_queries(data.corpus, limit=3, seed=1)) == 3
    assert title_queries(data.corpus, limit=3, seed=1) [0].qid == title_queries(data.corpus, limit=3, seed=1)[0].qid


def test_split_dev_is_seeded_and_disjoint():
    ids = [f"q{i}" for i in range(50)]
    train, dev = split_dev(ids, 0.2, seed=3)
    assert len(dev) == 10 and not set(train) & set(dev) and set(train) | set(dev) == set(ids)
    assert split_dev(ids, 0.2, seed=3) == (train, dev)
    with pytest.raises(ConfigError, match="dev_fraction"):
        split_dev(ids, 1.0)


def test_mined_candidates_exclude_positives(tiny_beir, tiny_collection):
    data = load_beir(tiny_beir, "train")
    queries = judged_queries(data.queries, data.qrels) + title_queries(data.corpus)
    mine_candidates(Searcher(Collection.open(tiny_collection)), queries, depth=5, batch=4)
    for q in queries:
        assert 0 < len(q.candidates) <= 5
        assert not set(q.candidates) & set(q.positives)
        assert len(set(q.candidates)) == len(q.candidates)
    q0 = next(q for q in queries if q.qid == "q0")
    assert "n0" in q0.candidates or len(q0.candidates) == 5  # judged-0 documents stay available as negatives


def test_sample_negatives_draws_from_the_pool(tiny_beir):
    data = load_beir(tiny_beir, "train")
    q = judged_queries(data.queries, data.qrels)[0]
    q.candidates = ["a", "b", "c", "d", "e"]
    negs = sample_negatives(q, 2, random.Random(0), pool=3)
    assert len(negs) == 2 and set(negs) <= {"a", "b", "c"}


def test_make_groups_puts_the_positive_first(tiny_beir, tiny_collection):
    data = load_beir(tiny_beir, "train")
    judged = judged_queries(data.queries, data.qrels)
    titles = title_queries(data.corpus)
    mine_candidates(Searcher(Collection.open(tiny_collection)), judged + titles, depth=6)
    texts = {d.id: d.text for d in data.corpus}
    groups = make_groups(judged, titles, texts, epochs=2, title_ratio=0.5, negatives=3, negative_pool=6, seed=0)
    assert sum(g.source == "judged" for g in groups) == 16
    assert sum(g.source == "title" for g in groups) == 8
    by_text = {d.text: d.id for d in data.corpus}
    queries = {q.text: q for q in judged + titles}
    for g in groups:
        assert len(g.passages) == 4
        q = queries[g.query]
        assert by_text[g.passages[0]] in q.positives
        assert not {by_text[p] for p in g.passages[1:]} & set(q.positives)


def test_open_or_build_collection_refuses_another_corpus(tiny_beir, tiny_collection):
    data = load_beir(tiny_beir, "train")
    with pytest.raises(BadInputError, match="different documents"):
        open_or_build_collection(tiny_collection, data.corpus[:-1], "tiny")
    assert open_or_build_collection(tiny_collection, data.corpus, "tiny").path == tiny_collection
