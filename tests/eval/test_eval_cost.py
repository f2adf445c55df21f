"""Context precision/recall from qrels (hand-computed) and the cost–accuracy N_reranked (seed 004)."""

from __future__ import annotations

import pytest

from ragsift.errors import ConfigError
from ragsift.eval.cost import cost_accuracy, mean_tokens, smallest_matching_n, token_counter
from ragsift.eval.rag_metrics import context_metrics, context_precision, context_recall, context_recall_curve


def test_context_precision_by_hand():
    relevant = {"a", "b"}
    # relevant at ranks 1 and 3: (1/1 + 2/3) / 2
    assert context_precision(relevant, ["a", "x", "b", "y"], 4) == pytest.approx((1 + 2 / 3) / 2)
    # only ranks <= N count: relevant at rank 2 within N=2 -> (1/2) / 1
    assert context_precision(relevant, ["x", "a", "b"], 2) == pytest.approx(0.5)
    assert context_precision(relevant, ["x", "y"], 2) == 0.0
    # a repeated relevant document (two chunks of it) counts as a relevant passage each time
    assert context_precision({"a"}, ["a", "a", "x"], 3) == pytest.approx(1.0)


def test_context_recall_by_hand():
    assert context_recall({"a", "b", "c"}, ["a", "x", "b"], 3) == pytest.approx(2 / 3)
    assert context_recall({"a", "b", "c"}, ["a", "a", "a"], 3) == pytest.approx(1 / 3)  # passages, not documents
    assert context_recall({"a"}, ["x", "a"], 1) == 0.0
    with pytest.raises(ConfigError, match="n="):
        context_recall({"a"}, ["a"], 0)


def test_context_metrics_average_over_judged_queries():
    qrels = {"q1": {"a": 1, "b": 0}, "q2": {"c": 2}, "q3": {"z": 0}}  # q3: no relevant document, ignored
    rankings = {"q1": ["b", "a"], "q3": ["z"]}  # q2 missing: scores 0
    assert context_metrics(qrels, rankings, 2) == {
        "context_precision@2": pytest.approx((0.5 + 0) / 2),
        "context_recall@2": pytest.approx((1 + 0) / 2),
    }
    assert context_recall_curve(qrels, rankings, 3) == pytest.approx([0.0, 0.5, 0.5])


def test_smallest_matching_n():
    base = [0.2, 0.4, 0.5, 0.6, 0.7]
    reranked = [0.5, 0.65, 0.7, 0.8, 0.8]
    assert smallest_matching_n(base, reranked, 5) == 3  # 0.7 reached at N=3
    assert smallest_matching_n(base, reranked, 4) == 2  # 0.6 -> 0.65 at N=2
    assert smallest_matching_n(base, [0.1] * 5, 5) is None
    with pytest.raises(ConfigError, match="n_base"):
        smallest_matching_n(base, reranked, 6)


def test_cost_accuracy_on_a_constructed_case():
    # Two queries, one relevant document each. The first stage finds them at ranks 4 and 5,
    # reranking moves both to rank 1: N_base = 5 is matched with N_reranked = 1.
    qrels = {"q1": {"r1": 1}, "q2": {"r2": 1}}
    base = {"q1": ["a", "b", "c", "r1", "d", "e"], "q2": ["a", "b", "c", "d", "r2", "e"]}
    reranked = {"q1": ["r1", "a", "b", "c", "d", "e"], "q2": ["r2", "a", "b", "c", "d", "e"]}
    study = cost_accuracy(qrels, base, reranked, retriever="bm25", reranker="ce", n_base=5, max_n=6,
                          tokens_per_passage=120.0, token_counter="test")
    assert study.base == pytest.approx([0, 0, 0, 0.5, 1, 1])
    assert study.reranked == pytest.approx([1] * 6)
    assert study.n_reranked == 1 and study.passages_saved == 4
    out = study.to_dict()
    assert out["tokens_saved_per_query"] == pytest.approx(480.0) and out["passages_saved_pct"] == pytest.approx(80.0)
    with pytest.raises(ConfigError, match="n_base"):
        cost_accuracy(qrels, base, reranked, retriever="b", reranker="c", n_base=7, max_n=6, tokens_per_passage=1, token_counter="t")


def test_a_harmful_reranker_on_a_flat_first_stage_curve_saves_nothing():
    """Regression: the first stage reaches its recall@N_base already at N=1; a reranker that pushes the
    relevant documents down must not be credited with N_base - N_reranked passages."""
    qrels = {"q1": {"r1": 1}, "q2": {"r2": 1}}
    base = {"q1": ["r1", "a", "b", "c", "d"], "q2": ["r2", "a", "b", "c", "d"]}  # recall@1 = recall@5 = 1
    worse = {"q1": ["a", "r1", "b", "c", "d"], "q2": ["a", "b", "r2", "c", "d"]}  # needs N = 3
    study = cost_accuracy(qrels, base, worse, retriever="bm25", reranker="bad", n_base=5, max_n=5,
                          tokens_per_passage=100.0, token_counter="test")
    assert study.n_first == 1 and study.n_reranked == 3
    assert study.passages_saved == -2  # never positive: it needs more passages than the first stage
    out = study.to_dict()
    assert out["n_first_stage"] == 1 and out["tokens_saved_per_query"] == pytest.approx(-200.0)
    same = cost_accuracy(qrels, base, base, retriever="bm25", reranker="id", n_base=5, max_n=5,
                         tokens_per_passage=100.0, token_counter="test")
    assert same.passages_saved == 0
    never = cost_accuracy(qrels, base, {"q1": ["a"] * 5, "q2": ["b"] * 5}, retriever="bm25", reranker="x", n_base=5,
                          max_n=5, tokens_per_passage=1.0, token_counter="t")
    assert never.passages_saved is None and never.to_dict()["passages_saved_pct"] is None


def test_token_counter_uses_the_embedding_tokenizer_or_says_chars():
    count, name = token_counter("all-MiniLM-L6-v2")
    assert "tokenizer" in name and count("hello world") == 2
    count, name = token_counter("/no/such/model/dir")
    assert name == "characters / 4" and count("x" * 40) == 10
    assert mean_tokens(["a b", "c"], lambda t: len(t.split())) == pytest.approx(1.5)
    assert mean_tokens([], len) == 0.0
