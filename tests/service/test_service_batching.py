"""Cross-query micro-batching on a real uvicorn server with the tiny real cross-encoder.

Requests with different queries pile up behind the model thread (held busy with a real task on
the app's own executor, ``hold_model_thread``), then run as one batch. Forward passes are read
from the service's own metric ``ragsift_model_forward_passes_total`` (the reranker's counter of
the padded batches it runs), so nothing under test is patched.
"""

from __future__ import annotations

import threading

from service.service_kit import (
    CE_SETTINGS,
    LONG,
    MODEL,
    close,
    hold_model_thread,
    metric,
    serve,
    wait_submitted,
    wait_until,
)
from service.test_service_load import post_all

from ragsift.rerank.base import Truncate
from ragsift.service import ServiceSettings, create_app

QUERIES = ["what do cats eat", "stock market news", "loyal dogs", "rivers and stones", "the sun", "fish", "books"]
PASSAGES = [[f"{w} passage {i} about cats, fish and {w}" for i in range(3 + k % 3)] for k, w in enumerate(QUERIES)]
BAD = 3  # this request carries a passage over the model's 128 tokens with truncate=NONE
LONG_END = 5  # this one too, with truncate=END: it is cut, not rejected


def _bodies() -> list[dict]:
    bodies = []
    for k, (query, passages) in enumerate(zip(QUERIES, PASSAGES)):
        texts = passages + [LONG] if k in (BAD, LONG_END) else passages
        truncate = "END" if k == LONG_END else "NONE"
        passages_json = [{"text": t} for t in texts]
        bodies.append({"model": MODEL, "query": {"text": query}, "passages": passages_json, "truncate": truncate})
    return bodies


def _serve_burst(reranker, batching: bool) -> tuple[list, float, float]:
    """POST every body while the model thread is held; return responses, forward passes and turns."""
    settings = ServiceSettings(**CE_SETTINGS, micro_batching=batching, batch_max_wait_ms=0)
    app = create_app(settings, reranker=reranker)
    state = app.state.ragsift
    bodies = _bodies()
    with serve(app) as base:
        gate = threading.Event()
        hold_model_thread(app, gate)
        first = post_all(base, "/v1/ranking", bodies[:1])
        wait_submitted(app, 1)  # the first request is with the held model thread
        rest = post_all(base, "/v1/ranking", bodies[1:])
        wait_until(lambda: state.batcher.depth == len(bodies) - 1, what="the other requests queued")
        passes = metric(app, "ragsift_model_forward_passes_total")
        turns = metric(app, "ragsift_batch_requests_count")
        gate.set()
        responses = [f.result() for f in first + rest]
        passes = metric(app, "ragsift_model_forward_passes_total") - passes
        turns = metric(app, "ragsift_batch_requests_count") - turns
    return responses, passes, turns


def _expected(reranker, k: int) -> list[float]:
    reranker.set_truncate(Truncate.END)  # scored alone, as the library would; END cuts LONG
    texts = PASSAGES[k] + [LONG] if k == LONG_END else PASSAGES[k]
    return reranker.score(QUERIES[k], texts).raw


def test_batching_scores_different_queries_in_fewer_forward_passes_with_equal_results(ce_reranker):
    on, on_passes, on_turns = _serve_burst(ce_reranker, batching=True)
    off, off_passes, off_turns = _serve_burst(ce_reranker, batching=False)
    assert (on_turns, off_turns) == (2, len(QUERIES))  # the first alone, then the six queued in one turn
    # Off runs exactly the passes of scoring each request alone (the rejected one never reaches the
    # model); on, the six queued requests share passes.
    before = ce_reranker.forward_passes
    for k in range(len(QUERIES)):
        if k != BAD:
            _expected(ce_reranker, k)
    alone = ce_reranker.forward_passes - before
    assert off_passes == alone == 7  # five requests in one pass each, LONG_END's long pair apart
    # On: the first request (1 pass), then the six queued ones together: their long pair (1) and
    # their ~20 short pairs, whatever the query, in batches of at most batch_size=16 (2).
    assert on_passes == 4
    for k, (a, b) in enumerate(zip(on, off)):
        if k == BAD:
            continue
        assert a.status_code == b.status_code == 200, (a.text, b.text)
        expected = _expected(ce_reranker, k)
        for ranked_on, ranked_off in zip(a.json()["rankings"], b.json()["rankings"]):
            assert ranked_on["index"] == ranked_off["index"]
            assert close(ranked_on["logit"], expected[ranked_on["index"]])
            assert close(ranked_off["logit"], expected[ranked_off["index"]])


def test_a_bad_request_in_a_cross_query_batch_fails_alone(ce_reranker):
    responses, _, turns = _serve_burst(ce_reranker, batching=True)
    assert turns == 2
    statuses = [r.status_code for r in responses]
    assert statuses == [400 if k == BAD else 200 for k in range(len(QUERIES))], [r.text for r in responses]
    error = responses[BAD].json()
    assert error["error"]["type"] == "passage_too_long"
    assert f"passages[{len(PASSAGES[BAD])}]" in error["message"]  # its own index within its own request
    assert len(responses[LONG_END].json()["rankings"]) == len(PASSAGES[LONG_END]) + 1  # END cut it instead
