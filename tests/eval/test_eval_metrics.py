"""Metrics against hand-computed values on a tiny example."""

from __future__ import annotations

import math

import pytest

from ragsift.errors import ConfigError
from ragsift.eval.metrics import (
    Metric,
    MetricName,
    evaluate,
    evaluate_per_query,
    metric_sort_key,
    parse_metric,
    parse_metrics,
)

# q1: graded judgements; d3 is judged non-relevant (0), d9 is relevant but never retrieved.
# Ranking of q1 by score: d3 (grade 0), d1 (grade 2), d4 (unjudged), d2 (grade 1).
# Relevant docs: d1, d2, d9 -> 3.
QRELS = {
    "q1": {"d1": 2, "d2": 1, "d3": 0, "d9": 1},
    "q2": {"d1": 1},  # tied scores in the run
    "q3": {"d5": 0},  # grade-0 only: not evaluated
    "q4": {"x": 1},  # absent from the run: counts 0
    "q5": {"y": 1},  # empty run: counts 0
}
RUN = {
    "q1": {"d3": 0.9, "d1": 0.8, "d4": 0.7, "d2": 0.6},
    # Tie at 1.0: trec_eval ranks by doc id descending, so d2 is rank 1 and d1 rank 2.
    "q2": {"d1": 1.0, "d2": 1.0},
    "q3": {"d5": 1.0},
    "q5": {},
    "not-in-qrels": {"d1": 1.0},
}


def per_query(metrics):
    return evaluate_per_query(QRELS, RUN, metrics)


def test_ndcg_graded_hand_computed():
    # DCG@3 of q1: only d1 (gain 2) at rank 2 -> 2 / log2(3).
    # Ideal order of all judged relevant grades (2, 1, 1), cut at 3:
    #   2/log2(2) + 1/log2(3) + 1/log2(4) = 2 + 0.6309 + 0.5 = 3.1309
    dcg = 2 / math.log2(3)
    idcg = 2 / math.log2(2) + 1 / math.log2(3) + 1 / math.log2(4)
    assert per_query(["ndcg@3"])["q1"]["ndcg@3"] == pytest.approx(dcg / idcg)  # 0.4030
    # @10 adds d2 (gain 1) at rank 4 -> 1/log2(5); the ideal is unchanged (only 3 relevant).
    dcg10 = dcg + 1 / math.log2(5)
    assert per_query(["ndcg@10"])["q1"]["ndcg@10"] == pytest.approx(dcg10 / idcg)


def test_ndcg_ideal_is_cut_at_k():
    # @1: DCG = 0 (d3 non-relevant at rank 1), so 0 whatever the ideal.
    assert per_query(["ndcg@1"])["q1"]["ndcg@1"] == 0.0
    # q2: d1 (gain 1) at rank 2 -> (1/log2(3)) / (1/log2(2)) = 0.6309
    assert per_query(["ndcg@2"])["q2"]["ndcg@2"] == pytest.approx(1 / math.log2(3))


def test_mrr_uses_first_relevant_within_k():
    values = per_query(["mrr@1", "mrr@3"])
    assert values["q1"]["mrr@1"] == 0.0  # rank 1 is d3 (grade 0)
    assert values["q1"]["mrr@3"] == 0.5  # first relevant d1 at rank 2
    assert values["q2"]["mrr@3"] == 0.5  # tie-break puts d2 first, d1 (relevant) second


def test_recall_divides_by_all_relevant():
    values = per_query(["recall@3", "recall@4", "recall@100"])["q1"]
    assert values["recall@3"] == pytest.approx(1 / 3)  # d1 of {d1, d2, d9}
    assert values["recall@4"] == pytest.approx(2 / 3)  # + d2
    assert values["recall@100"] == pytest.approx(2 / 3)  # d9 never retrieved


def test_precision_divides_by_k_not_by_retrieved():
    values = per_query(["precision@2", "precision@10"])["q1"]
    assert values["precision@2"] == pytest.approx(1 / 2)  # d3, d1 -> 1 relevant
    assert values["precision@10"] == pytest.approx(2 / 10)  # 4 retrieved, 2 relevant, / k=10


def test_map_cut_divides_by_number_relevant():
    # Relevant at ranks 2 and 4: precisions 1/2 and 2/4; sum 1.0; / 3 relevant = 0.3333
    assert per_query(["map@4"])["q1"]["map@4"] == pytest.approx((1 / 2 + 2 / 4) / 3)
    # Cut at 3: only rank 2 -> (1/2) / 3
    assert per_query(["map@3"])["q1"]["map@3"] == pytest.approx((1 / 2) / 3)


def test_hit():
    values = per_query(["hit@1", "hit@2"])
    assert values["q1"] == {"hit@1": 0.0, "hit@2": 1.0}
    assert values["q2"] == {"hit@1": 0.0, "hit@2": 1.0}


def test_missing_and_empty_run_count_zero_and_grade_zero_only_is_skipped():
    metrics = ["ndcg@10", "mrr@10", "recall@10", "precision@10", "map@10", "hit@10"]
    values = per_query(metrics)
    assert set(values) == {"q1", "q2", "q4", "q5"}  # q3 has no relevant doc; extra run query ignored
    zeros = dict.fromkeys(metrics, 0.0)
    assert values["q4"] == zeros
    assert values["q5"] == zeros


def test_evaluate_is_mean_over_evaluated_queries():
    # recall@4: q1 2/3, q2 1, q4 0, q5 0 -> (2/3 + 1) / 4
    assert evaluate(QRELS, RUN, ["recall@4"]) == {"recall@4": pytest.approx((2 / 3 + 1) / 4)}
    # mrr@10: q1 1/2, q2 1/2, q4 0, q5 0 -> 1/4
    assert evaluate(QRELS, RUN, "mrr@10") == {"mrr@10": pytest.approx(0.25)}


def test_evaluate_without_relevant_queries_raises():
    with pytest.raises(ConfigError, match="relevance grade > 0"):
        evaluate({"q": {"d": 0}}, {"q": {"d": 1.0}}, ["ndcg@10"])


def test_negative_grades_are_not_relevant_and_add_no_gain():
    # d_bad (grade -1) at rank 1 must neither count as relevant nor subtract gain.
    qrels, run = {"q": {"d_bad": -1, "d": 1}}, {"q": {"d_bad": 2.0, "d": 1.0}}
    values = evaluate_per_query(qrels, run, ["ndcg@2", "hit@1"])
    assert values["q"]["ndcg@2"] == pytest.approx(1 / math.log2(3))
    assert values["q"]["hit@1"] == 0.0


def test_metric_names_are_canonical_and_deduplicated():
    parsed = parse_metrics(["NDCG@10", " ndcg@10", "hit@1"])
    assert parsed == [Metric(MetricName.NDCG, 10), Metric(MetricName.HIT, 1)]
    assert str(parse_metric("Recall@100")) == "recall@100"
    assert set(per_query(["MRR@3"])["q1"]) == {"mrr@3"}


@pytest.mark.parametrize(
    "spec", ["ndcg", "foo@10", "ndcg10", "@10", "mrr@", "ndcg@x", "ndcg@1.5", "ndcg@0", "ndcg@-1", "ndcg@²"]
)
def test_parse_errors_name_the_value_and_valid_names(spec):
    with pytest.raises(ConfigError) as err:
        parse_metric(spec)
    assert repr(spec) in str(err.value)
    assert "positive" in str(err.value) or "ndcg@k, mrr@k, recall@k, precision@k, map@k, hit@k" in str(err.value)


def test_unknown_name_lists_valid_names():
    with pytest.raises(ConfigError, match="ndcg@k, mrr@k, recall@k, precision@k, map@k, hit@k"):
        parse_metric("bpref@10")


def test_non_string_and_empty_metrics_raise():
    with pytest.raises(ConfigError, match="must be a string"):
        parse_metric(10)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="metrics is empty"):
        evaluate(QRELS, RUN, [])


def test_metric_sort_key_orders_families_then_k():
    names = ["hit@10", "map@100", "recall@100", "ndcg@100", "precision@5", "mrr@10", "ndcg@10", "recall@10", "zzz"]
    assert sorted(names, key=metric_sort_key) == [
        "ndcg@10", "ndcg@100", "mrr@10", "recall@10", "recall@100", "precision@5", "map@100", "hit@10", "zzz",
    ]
