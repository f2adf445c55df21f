"""The hosted rerankers' own machinery: batching, score validation, HttpReranker over MockTransport.

The HTTP stack under it (retries, Retry-After, the error map) is tested in tests/test_http.py.
"""

from __future__ import annotations

import asyncio
import json
import math

import httpx
import pytest

from ragsift.http import ContractViolation
from ragsift.rerank.remote import NIMReranker
from ragsift.rerank.remote.http import batches, merge_batches, ordered_scores


# -- batching and response validation -----------------------------------------------------------


def test_batches_and_merge_restore_input_order():
    docs = list("abcdefg")
    parts = batches(docs, 3)
    assert [(o, list(b)) for o, b in parts] == [(0, ["a", "b", "c"]), (3, ["d", "e", "f"]), (6, ["g"])]
    assert batches(docs, None) == [(0, docs)]
    assert batches(docs, 7) == [(0, docs)]
    scored = [(offset, [float(ord(c)) for c in chunk]) for offset, chunk in reversed(parts)]
    assert merge_batches(scored, 7) == [float(ord(c)) for c in docs]


def test_merge_batches_detects_gaps_and_overlaps():
    with pytest.raises(ValueError, match="not scored"):
        merge_batches([(0, [1.0]), (2, [3.0])], 3)
    with pytest.raises(ValueError, match="scored twice"):
        merge_batches([(0, [1.0, 2.0]), (1, [3.0])], 2)


def test_ordered_scores_accepts_any_order():
    assert ordered_scores([(2, 0.1), (0, 0.9), (1, 0.5)], 3) == [0.9, 0.5, 0.1]


@pytest.mark.parametrize(
    "pairs, problem",
    [
        ([(0, 0.1), (0, 0.2)], "appears twice"),
        ([(0, 0.1), (2, 0.2)], "out of range"),
        ([(0, 0.1), (-1, 0.2)], "out of range"),
        ([(0, 0.1), ("1", 0.2)], "is not an integer"),
        ([(0, 0.1), (True, 0.2)], "is not an integer"),
        ([(0, 0.1), (1, None)], "is not a finite number"),
        ([(0, 0.1), (1, math.nan)], "is not a finite number"),
        ([(0, 0.1)], "1 results for 2 documents"),
        ([(0, 0.1), (1, 0.2), (1, 0.3)], "appears twice"),
    ],
)
def test_ordered_scores_rejects_contract_violations(pairs, problem):
    with pytest.raises(ContractViolation, match=problem):
        ordered_scores(pairs, 2)


def test_a_real_client_over_mock_transport_merges_batches():
    """NIMReranker with an injected transport: 5 passages in batches of 2, answered in reverse order."""

    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        logits = [float(len(p["text"])) for p in body["passages"]]
        ranks = sorted(range(len(logits)), key=lambda i: -logits[i])
        return httpx.Response(200, json={"rankings": [{"index": i, "logit": logits[i]} for i in ranks]})

    transport = httpx.MockTransport(handler)
    docs = ["a", "bbbb", "cc", "ddddd", "eee"]
    reranker = NIMReranker(transport=transport, max_batch=2)
    assert reranker.score("q", docs).raw == [1.0, 4.0, 2.0, 5.0, 3.0]
    assert [r.index for r in reranker.rerank("q", docs, top_n=3)] == [3, 1, 4]
    assert [r.index for r in asyncio.run(reranker.arerank("q", docs, top_n=3))] == [3, 1, 4]
