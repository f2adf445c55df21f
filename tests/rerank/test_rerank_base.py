"""The Reranker contract: rerank() sorting, ties, top_n, threshold, documents, validation, async.

Also pins the public API of ``ragsift.rerank`` and checks that importing it stays light.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from typing import Sequence

import pytest

import ragsift.rerank
from ragsift.errors import BadInputError, ConfigError, PassageTooLongError
from ragsift.rerank import FirstStageReranker, Reranker, RerankResult, Scores
from ragsift.rerank.base import sigmoid


class Overlap(Reranker):
    """Raw score = words shared with the query; relevance = that over the query's word count."""

    name = "overlap"

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def score(self, query: str, documents: Sequence[str]) -> Scores:
        self.calls.append(list(documents))
        q = set(query.lower().split())
        raw = [float(len(q & set(d.lower().split()))) for d in documents]
        return Scores(raw=raw, relevance=[r / len(q) for r in raw])


DOCS = ["red apple pie", "green apple", "blue sky", "apple", "red green apple"]
QUERY = "red green apple"  # overlaps: 2, 2, 0, 1, 3


def test_rerank_sorts_by_raw_score_best_first():
    results = Overlap().rerank(QUERY, DOCS)
    assert [r.index for r in results] == [4, 0, 1, 3, 2]
    assert [r.score for r in results] == [3.0, 2.0, 2.0, 1.0, 0.0]
    assert all(isinstance(r, RerankResult) and r.document is None for r in results)


def test_ties_keep_input_order():
    results = Overlap().rerank("x", ["a", "b", "c"])
    assert [r.index for r in results] == [0, 1, 2]


def test_top_n_cuts_after_sorting():
    assert [r.index for r in Overlap().rerank(QUERY, DOCS, top_n=2)] == [4, 0]
    assert len(Overlap().rerank(QUERY, DOCS, top_n=50)) == len(DOCS)


def test_threshold_applies_to_relevance_not_raw():
    results = Overlap().rerank(QUERY, DOCS, threshold=2 / 3)
    assert [r.index for r in results] == [4, 0, 1]
    assert all(r.relevance >= 2 / 3 for r in results)


def test_threshold_and_top_n_together():
    assert [r.index for r in Overlap().rerank(QUERY, DOCS, top_n=1, threshold=0.5)] == [4]


def test_return_documents():
    results = Overlap().rerank(QUERY, DOCS, top_n=2, return_documents=True)
    assert [r.document for r in results] == ["red green apple", "red apple pie"]
    assert results[0].to_dict() == {"index": 4, "score": 3.0, "relevance": 1.0, "document": "red green apple"}
    assert "document" not in Overlap().rerank(QUERY, DOCS)[0].to_dict()


def test_empty_documents_give_empty_list_without_scoring():
    reranker = Overlap()
    assert reranker.rerank(QUERY, []) == []
    assert reranker.calls == []


@pytest.mark.parametrize("query", ["", "   ", None, 3])
def test_bad_query_is_bad_input(query):
    with pytest.raises(BadInputError, match="query"):
        Overlap().rerank(query, DOCS)


@pytest.mark.parametrize("documents", [["ok", 3], ["ok", None], "a string", b"bytes", 42])
def test_bad_documents_are_bad_input(documents):
    with pytest.raises(BadInputError, match="documents"):
        Overlap().rerank(QUERY, documents)


@pytest.mark.parametrize("top_n", [0, -1, 1.5, True, "3"])
def test_bad_top_n_is_config_error(top_n):
    with pytest.raises(ConfigError, match="top_n"):
        Overlap().rerank(QUERY, DOCS, top_n=top_n)


@pytest.mark.parametrize("threshold", [-0.1, 1.5, "0.5"])
def test_bad_threshold_is_config_error(threshold):
    with pytest.raises(ConfigError, match="threshold"):
        Overlap().rerank(QUERY, DOCS, threshold=threshold)


def test_validation_happens_before_scoring():
    reranker = Overlap()
    with pytest.raises(BadInputError):
        reranker.rerank("", DOCS)
    assert reranker.calls == []


def test_arerank_matches_rerank():
    reranker = Overlap()
    got = asyncio.run(reranker.arerank(QUERY, DOCS, 3, threshold=0.1, return_documents=True))
    assert got == reranker.rerank(QUERY, DOCS, 3, threshold=0.1, return_documents=True)


def test_arerank_validates():
    with pytest.raises(BadInputError):
        asyncio.run(Overlap().arerank("", DOCS))


class Strict(Overlap):
    """Overlap that rejects a document containing "TOO-LONG" with its index, as a model with a limit."""

    def score(self, query: str, documents: Sequence[str]) -> Scores:
        for i, d in enumerate(documents):
            if "TOO-LONG" in d:
                raise PassageTooLongError(f"documents[{i}] is too long", index=i, tokens=999, limit=10)
        return super().score(query, documents)


def test_score_many_default_merges_requests_sharing_a_query():
    reranker = Overlap()
    requests = [(QUERY, DOCS[:2]), ("blue sky", DOCS[2:]), (QUERY, DOCS[2:]), ("empty", [])]
    got = reranker.score_many(requests)
    assert got == [reranker.score(q, d) if d else Scores([], []) for q, d in requests]
    reranker.calls.clear()
    reranker.score_many(requests)
    assert reranker.calls == [DOCS[:2] + DOCS[2:], DOCS[2:]]  # one call per distinct query


def test_score_many_default_isolates_a_bad_request():
    reranker = Strict()
    ok, bad = (QUERY, DOCS[:2]), (QUERY, ["fine", "TOO-LONG text"])
    got = reranker.score_many([ok, bad, ("blue sky", DOCS)], return_exceptions=True)
    assert got[0] == reranker.score(*ok) and got[2] == reranker.score("blue sky", DOCS)
    assert isinstance(got[1], PassageTooLongError) and got[1].index == 1  # its own index, not the merged one
    with pytest.raises(PassageTooLongError, match=r"documents\[1\]"):
        reranker.score_many([ok, bad])


def test_score_many_default_never_merges_a_listwise_reranker():
    reranker = Overlap()
    reranker.cacheable = False  # scores depend on the whole list: each request alone
    reranker.score_many([(QUERY, DOCS[:2]), (QUERY, DOCS[2:])])
    assert reranker.calls == [DOCS[:2], DOCS[2:]]


def test_first_stage_reranker_keeps_input_order():
    scores = FirstStageReranker().score("q", ["a", "b", "c", "d"])
    assert scores.raw == [4.0, 3.0, 2.0, 1.0]
    assert scores.relevance == [1.0, 0.75, 0.5, 0.25]
    results = FirstStageReranker().rerank("q", ["a", "b", "c", "d"], top_n=3, return_documents=True)
    assert [(r.index, r.document) for r in results] == [(0, "a"), (1, "b"), (2, "c")]
    assert FirstStageReranker.name == "none"


def test_sigmoid_is_stable_at_extremes():
    assert sigmoid(0.0) == 0.5
    assert sigmoid(1000.0) == 1.0
    assert sigmoid(-1000.0) == 0.0
    assert sigmoid(2.0) == pytest.approx(1 - sigmoid(-2.0))


def test_public_api_is_pinned():
    assert set(ragsift.rerank.__all__) == {
        "Reranker",
        "RerankResult",
        "Scores",
        "FirstStageReranker",
        "CachedReranker",
        "MemoryCache",
        "SQLiteCache",
        "RedisCache",
        "FallbackReranker",
        "RerankerType",
        "get_reranker",
        "fallback_chain",
    }
    for name in ragsift.rerank.__all__:
        assert hasattr(ragsift.rerank, name), name


def test_import_rerank_does_not_load_heavy_dependencies():
    code = (
        "import sys, ragsift.rerank;"
        "heavy = [m for m in ('torch', 'sentence_transformers', 'transformers', 'boto3') if m in sys.modules];"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.strip() == ""
