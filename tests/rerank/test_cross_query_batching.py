"""Cross-query batching: ``score_many`` gives every request the scores it gets alone, in fewer passes.

The local cross-encoder (tiny real model, torch and ONNX) runs the pairs of several requests in
shared forward passes; each request must still be truncated, rejected, normalized and cached
exactly as if it were scored by itself. Forward passes are read from the reranker's own counters
(``forward_passes``, ``rows_scored``), which count the batches it really runs.
"""

from __future__ import annotations

import numpy as np
import pytest

from ragsift.errors import PassageTooLongError, QueryTooLongError
from ragsift.rerank import CachedReranker, MemoryCache, Scores
from ragsift.rerank.cross_encoder import CrossEncoderReranker, plan_batches

# Requests of different queries and lengths; the second has passages far over the tiny model's
# 128 tokens, the third a query longer than half the window (cut under END), the last no passages.
LONG_QUERY = "what do cats and dogs eat when they live in a house with a garden " * 8
REQUESTS = [
    ("what do cats eat", ["cats eat fish and mice", "dogs are loyal animals", "a"]),
    (
        "stock market news",
        ["the stock market fell sharply on monday " * 30, "shares rose", "quantum physics of black holes " * 60],
    ),
    (LONG_QUERY, ["kittens drink milk; adult cats are obligate carnivores", "the cat sat on the mat " * 20]),
    ("rivers and stones", ["water flows over the stone", "a river in the city", "birds on the road", "fire"]),
    ("empty", []),
]
ATOL = 1e-5  # float rounding of different batch shapes; the tiny model's logits differ by > 0.1
# ONNX int8 quantizes activations per batch tensor (dynamic range over all rows and padding), so a
# pair's int8 score depends on its batch mates — already within one request. Batching across
# requests changes the mates, not the size of that error: the suite's int8-vs-torch bound.
INT8_ATOL = 0.15


@pytest.fixture(scope="module")
def torch_ce(tiny_cross_encoder):
    reranker = CrossEncoderReranker(tiny_cross_encoder, batch_size=8, backend="torch")
    reranker.warm_up()
    return reranker


def _alone(reranker, requests):
    """Each request scored by itself, and the forward passes that took."""
    before = reranker.forward_passes
    scores = [reranker.score(q, d) if d else Scores([], []) for q, d in requests]
    return scores, reranker.forward_passes - before


def _assert_same(got: Scores, expected: Scores, atol: float = ATOL) -> None:
    assert len(got.raw) == len(expected.raw)
    np.testing.assert_allclose(got.raw, expected.raw, atol=atol, rtol=0)
    np.testing.assert_allclose(got.relevance, expected.relevance, atol=atol, rtol=0)


@pytest.mark.parametrize(
    "options",
    [
        {"backend": "torch"},
        {"backend": "torch", "long_passages": "window", "window_stride": 40},
        {"backend": "torch", "activation": "none", "max_length": 64},
        {"backend": "onnx"},
        {"backend": "onnx", "quantize": "int8"},
    ],
    ids=["torch", "torch-window", "torch-clip-64", "onnx", "onnx-int8"],
)
def test_score_many_equals_each_request_alone_in_fewer_passes(tiny_cross_encoder, tmp_path, options):
    if options["backend"] == "onnx":
        pytest.importorskip("onnxruntime")
        options = {**options, "onnx_dir": tmp_path}
    reranker = CrossEncoderReranker(tiny_cross_encoder, batch_size=8, **options)
    reranker.warm_up()
    expected, alone_passes = _alone(reranker, REQUESTS)
    truncated = reranker.queries_truncated
    before = reranker.forward_passes
    got = reranker.score_many(REQUESTS)
    together = reranker.forward_passes - before
    assert len(got) == len(REQUESTS)
    for g, e in zip(got, expected):
        _assert_same(g, e, INT8_ATOL if options.get("quantize") else ATOL)
    assert got[-1] == Scores([], [])
    assert 0 < together < alone_passes, (together, alone_passes)
    assert reranker.queries_truncated - truncated == truncated  # the long query was cut again, once
    assert truncated >= 1
    if options.get("activation") == "none":
        assert all(0.0 <= r <= 1.0 for s in got for r in s.relevance)


def test_results_come_back_in_request_order_whatever_the_lengths(torch_ce):
    shuffled = [REQUESTS[3], REQUESTS[1], REQUESTS[0]]
    got = torch_ce.score_many(shuffled)
    for g, (q, d) in zip(got, shuffled):
        _assert_same(g, torch_ce.score(q, d))


def test_a_rejected_request_fails_alone_with_its_own_index(tiny_cross_encoder):
    strict = CrossEncoderReranker(tiny_cross_encoder, batch_size=8, backend="torch", truncate="NONE")
    strict.warm_up()
    ok_a = ("what do cats eat", ["cats eat fish", "dogs"])
    bad = ("what do cats eat", ["short", "the cat sat on the mat " * 40, "also short"])
    too_long_query = (LONG_QUERY * 3, ["fine"])
    ok_b = ("rivers", ["water flows", "a river in the city"])
    got = strict.score_many([ok_a, bad, too_long_query, ok_b], return_exceptions=True)
    assert isinstance(got[1], PassageTooLongError) and got[1].index == 1 and "documents[1]" in str(got[1])
    assert isinstance(got[2], QueryTooLongError)
    _assert_same(got[0], strict.score(*ok_a))
    _assert_same(got[3], strict.score(*ok_b))
    with pytest.raises(PassageTooLongError, match=r"documents\[1\]"):
        strict.score_many([ok_a, bad, ok_b])


def test_identical_pairs_of_different_requests_run_once(torch_ce):
    docs = ["cats eat fish", "dogs are loyal", "the sun and the moon"]
    rows = torch_ce.rows_scored
    got = torch_ce.score_many([("what do cats eat", docs), ("what do cats eat", docs[::-1]), ("sun", docs)])
    assert torch_ce.rows_scored - rows == 6  # 3 distinct pairs for "what do cats eat" + 3 for "sun"
    assert got[1].raw == got[0].raw[::-1]
    _assert_same(got[2], torch_ce.score("sun", docs))


def test_token_cap_bounds_every_forward_batch():
    lengths = [100] * 10 + [20] * 30 + [500, 7]
    batches = plan_batches(lengths, batch_size=32, max_tokens=400)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    for b in batches:
        assert len(b) <= 32 and (len(b) == 1 or len(b) * max(lengths[i] for i in b) <= 400)
    assert [500] in [[lengths[i] for i in b] for b in batches]  # over the cap alone: its own batch
    assert plan_batches(lengths, batch_size=32) == plan_batches(lengths, batch_size=32, max_tokens=10**9)


def test_a_small_token_cap_changes_passes_not_scores(tiny_cross_encoder, torch_ce):
    capped = CrossEncoderReranker(tiny_cross_encoder, batch_size=8, max_batch_tokens=64, backend="torch")
    capped.warm_up()
    before, base_before = capped.forward_passes, torch_ce.forward_passes
    got = capped.score_many(REQUESTS)
    expected = torch_ce.score_many(REQUESTS)
    assert capped.forward_passes - before > torch_ce.forward_passes - base_before
    for g, e in zip(got, expected):
        _assert_same(g, e)


def test_cached_score_many_scores_only_misses_and_equals_alone(torch_ce):
    cached = CachedReranker(torch_ce, MemoryCache())
    first, second, third = REQUESTS[0], REQUESTS[3], ("what do cats eat", ["cats eat fish and mice", "new one"])
    expected = [torch_ce.score(*r) for r in (first, second, third)]
    cached.score(*first)  # now in the cache
    rows = torch_ce.rows_scored
    got = cached.score_many([first, second, third])
    assert torch_ce.rows_scored - rows == len(second[1]) + 1  # only the misses; "cats eat fish and mice" hit
    for g, e in zip(got, expected):
        _assert_same(g, e)
    rows = torch_ce.rows_scored
    again = cached.score_many([third, second])
    assert torch_ce.rows_scored == rows  # all hits
    _assert_same(again[0], expected[2])


def test_cached_score_many_keeps_a_rejected_request_apart(tiny_cross_encoder):
    strict = CrossEncoderReranker(tiny_cross_encoder, batch_size=8, backend="torch", truncate="NONE")
    cache = MemoryCache()
    cached = CachedReranker(strict, cache)
    ok, bad = ("cats", ["cats eat fish"]), ("cats", ["fine", "the cat sat on the mat " * 40])
    got = cached.score_many([bad, ok], return_exceptions=True)
    assert isinstance(got[0], PassageTooLongError) and got[0].index == 1
    _assert_same(got[1], strict.score(*ok))
    assert len(cache) == 1  # the failed request stored nothing


def test_a_cached_passage_does_not_shift_the_index_of_a_rejected_one(tiny_cross_encoder):
    strict = CrossEncoderReranker(tiny_cross_encoder, batch_size=8, backend="torch", truncate="NONE")
    cached = CachedReranker(strict, MemoryCache())
    long = "the cat sat on the mat " * 40
    cached.score("cats", ["fine"])  # passage 0 is now a cache hit; only passage 1 is sent to the model
    with pytest.raises(PassageTooLongError) as exc:
        cached.score("cats", ["fine", long])
    assert exc.value.index == 1
    [got] = cached.score_many([("cats", ["fine", long])], return_exceptions=True)
    assert isinstance(got, PassageTooLongError) and got.index == 1
