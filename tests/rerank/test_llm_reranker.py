"""LLMReranker against a real local OpenAI-compatible server (tests/rerank/stubs_openai.py).

The stub grades a passage by the number of distinct query words it contains, so expected grades
and orders below are computed by hand. Parsers and window planning are tested as pure functions.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import socket
import time

import httpx
import pytest
from stubs_openai import Fault, OpenAIStub

from ragsift.errors import (
    AuthenticationError,
    ConfigError,
    MalformedResponseError,
    RateLimitedError,
    RemoteClientError,
    RemoteServerError,
    RemoteTimeoutError,
)
from ragsift.rerank.base import Reranker
from ragsift.rerank.llm import (
    LISTWISE_USER_TEMPLATE,
    POINTWISE_SYSTEM_PROMPT,
    LLMReranker,
    UnparseableAnswer,
    parse_grade,
    parse_permutation,
    plan_windows,
)

MODEL = "stub-llm"
QUERY = "how does cold weather change solar panel efficiency"
DOCS = [
    "Recipes for banana bread",  # 0 query words
    "Solar panel efficiency improves in cold weather, which can change output.",  # 6
    "Cold weather and snow",  # 2
    "A solar panel guide on efficiency",  # 3
    "How does cold weather change solar panel efficiency? It does.",  # 8
]
GRADES = [0, 6, 2, 3, 8]
ORDER = [4, 1, 3, 2, 0]


@pytest.fixture(autouse=True)
def _no_ambient_key(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)


@pytest.fixture
def stub():
    with OpenAIStub(model=MODEL) as server:
        yield server


def make(stub: OpenAIStub, **options) -> LLMReranker:
    options.setdefault("backoff", 0.01)
    options.setdefault("timeout", 5)
    return LLMReranker(MODEL, base_url=stub.base_url, **options)


def words_doc(count: int, vocabulary: list[str]) -> str:
    """A passage containing exactly ``count`` words of ``vocabulary`` (plus filler)."""
    return " ".join(["filler", *vocabulary[:count], "text"])


# -- pointwise ---------------------------------------------------------------------------------


def test_pointwise_ranks_by_grade_with_scores_in_both_scales(stub):
    reranker = make(stub)
    results = reranker.rerank(QUERY, DOCS, return_documents=True)

    assert isinstance(reranker, Reranker)
    assert [r.index for r in results] == ORDER
    assert [r.score for r in results] == [float(GRADES[i]) for i in ORDER]
    assert [r.relevance for r in results] == [GRADES[i] / 10 for i in ORDER]
    assert results[0].document == DOCS[4]
    assert len(stub.requests) == len(DOCS)
    assert reranker.stats == {"requests": 5, "retries": 0, "malformed": 0}


def test_pointwise_request_follows_the_wire_contract(stub):
    make(stub, temperature=0.3).score(QUERY, DOCS[:1])

    (request,) = stub.requests
    body = request["json"]
    assert request["path"] == "/v1/chat/completions"
    assert set(body) == {"model", "messages", "temperature", "max_tokens"}
    assert body["model"] == MODEL and body["temperature"] == 0.3 and body["max_tokens"] > 0
    assert [m["role"] for m in body["messages"]] == ["system", "user"]
    assert body["messages"][0]["content"] == POINTWISE_SYSTEM_PROMPT
    assert f"Query: {QUERY}\nPassage: {DOCS[0]}\n" in body["messages"][1]["content"]
    assert "authorization" not in {k.lower() for k in request["headers"]}


def test_top_n_and_threshold_apply_to_llm_scores(stub):
    results = make(stub).rerank(QUERY, DOCS, top_n=3, threshold=0.25)
    assert [r.index for r in results] == [4, 1, 3]


@pytest.mark.parametrize(
    ("style", "expected"),
    [
        ("json", GRADES),
        ("fenced", GRADES),
        ("prose_json", GRADES),
        ("prose", GRADES),
        ("bare", GRADES),
        ("fraction", GRADES),
        ("float", [min(g + 0.25, 10) for g in GRADES]),
    ],
)
def test_every_answer_style_is_parsed(stub, style, expected):
    stub.style = style
    reranker = make(stub, on_malformed="raise")
    scores = reranker.score(QUERY, DOCS)
    assert scores.raw == [float(g) for g in expected]
    assert scores.relevance == pytest.approx([g / 10 for g in expected])
    assert reranker.stats["malformed"] == 0


def test_grades_above_ten_are_clamped(stub):
    vocabulary = [f"w{i}" for i in range(12)]
    scores = make(stub).score(" ".join(vocabulary), [words_doc(12, vocabulary)])
    assert scores.raw == [10.0] and scores.relevance == [1.0]


def garbage_for_snow(query: str, passage: str) -> str:
    return "garbage" if "snow" in passage else "json"


def test_malformed_answer_degrades_to_zero_counts_and_warns(stub, caplog):
    stub.style = garbage_for_snow
    reranker = make(stub)
    with caplog.at_level(logging.WARNING, logger="ragsift.rerank.llm"):
        scores = reranker.score(QUERY, DOCS)

    assert scores.raw == [0.0, 6.0, 0.0, 3.0, 8.0]  # passage 2 ("snow") got garbage: grade 0
    assert reranker.stats["malformed"] == 1
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 1 and "passage 2" in messages[0] and "not able to judge" in messages[0]


def test_malformed_answer_raises_with_index_and_snippet(stub):
    stub.style = garbage_for_snow
    with pytest.raises(MalformedResponseError) as info:
        make(stub, on_malformed="raise").score(QUERY, DOCS)
    assert "passage 2" in str(info.value)
    assert "I am not able to judge this passage." in str(info.value)


@pytest.mark.parametrize(
    "fault",
    [
        Fault(body={"id": "x", "object": "chat.completion", "model": MODEL}),
        Fault(body={"id": "x", "object": "chat.completion", "choices": []}),
        Fault(body={"choices": [{"index": 0, "message": {"role": "assistant", "content": None}}]}),
        Fault(raw="<html>not json</html>"),
    ],
    ids=["no-choices", "empty-choices", "null-content", "not-json"],
)
def test_broken_wire_contract_always_raises(stub, fault):
    stub.fail(fault)
    reranker = make(stub, on_malformed="zero")
    with pytest.raises(MalformedResponseError) as info:
        reranker.score(QUERY, DOCS[:1])
    assert info.value.status == 200
    assert len(stub.requests) == 1  # not retried
    assert reranker.stats["malformed"] == 0


# -- concurrency and async ---------------------------------------------------------------------


@pytest.mark.parametrize("concurrency", [1, 3])
def test_sync_score_respects_the_concurrency_bound(stub, concurrency):
    stub.latency = 0.05
    make(stub, concurrency=concurrency).score(QUERY, DOCS * 2)
    assert len(stub.requests) == 10
    assert stub.max_in_flight <= concurrency
    if concurrency > 1:
        assert stub.max_in_flight > 1


def test_arerank_runs_inside_a_running_event_loop(stub):
    stub.latency = 0.05
    reranker = make(stub, concurrency=2)

    async def main():
        other = asyncio.create_task(asyncio.sleep(0.01))  # the loop stays usable meanwhile
        results = await reranker.arerank(QUERY, DOCS, top_n=2)
        await other
        return results

    results = asyncio.run(main())
    assert [r.index for r in results] == ORDER[:2]
    assert 1 < stub.max_in_flight <= 2


def test_sync_rerank_works_when_called_from_a_running_loop(stub):
    async def main():
        return make(stub).rerank(QUERY, DOCS)

    assert [r.index for r in asyncio.run(main())] == ORDER


def test_arerank_validates_input(stub):
    reranker = make(stub)
    with pytest.raises(ConfigError):
        asyncio.run(reranker.arerank(QUERY, DOCS, top_n=0))
    assert asyncio.run(reranker.arerank(QUERY, [])) == []
    assert stub.requests == []


# -- listwise ----------------------------------------------------------------------------------


def test_listwise_single_window_gives_rank_based_scores(stub):
    reranker = make(stub, mode="listwise")
    scores = reranker.score(QUERY, DOCS)
    ranks = {doc: r for r, doc in enumerate(ORDER)}

    assert len(stub.requests) == 1
    assert scores.raw == [float(5 - ranks[i]) for i in range(5)]
    assert scores.relevance == pytest.approx([1 - ranks[i] / 5 for i in range(5)])
    assert [r.index for r in reranker.rerank(QUERY, DOCS)] == ORDER
    prompt = stub.user_prompts()[0]
    assert "[1] Recipes for banana bread\n[2] Solar panel" in prompt
    assert f"Search Query: {QUERY}" in prompt


def test_listwise_slides_windows_from_the_back_to_a_full_order(stub):
    vocabulary = [f"term{i}" for i in range(11)]
    overlaps = [8, 7, 6, 5, 4, 3, 2, 1, 0, 11, 10, 9]  # the best three come last
    docs = [words_doc(k, vocabulary) for k in overlaps]
    reranker = make(stub, mode="listwise", window=6, step=3)

    results = reranker.rerank(" ".join(vocabulary), docs)

    assert [overlaps[r.index] for r in results] == list(range(11, -1, -1))
    assert [r.score for r in results] == [float(12 - r) for r in range(12)]
    # windows [6, 12), [3, 9), [0, 6): three requests of six passages each
    prompts = stub.user_prompts()
    assert len(prompts) == 3 == reranker.stats["requests"]
    assert [p.count("\n[") + p.startswith("[") for p in prompts] == [6, 6, 6]
    assert f"[1] {docs[6]}\n" in prompts[0]


def test_listwise_on_a_shuffled_list_gets_the_top_exactly_and_keeps_everyone(stub):
    vocabulary = [f"v{i}" for i in range(24)]
    overlaps = list(range(25))
    random.Random(7).shuffle(overlaps)
    docs = [words_doc(k, vocabulary) for k in overlaps]

    results = make(stub, mode="listwise", window=10, step=5).rerank(" ".join(vocabulary), docs)

    assert len(stub.requests) == 4  # [15, 25), [10, 20), [5, 15), [0, 10)
    assert sorted(r.index for r in results) == list(range(25))
    assert [overlaps[r.index] for r in results[:5]] == [24, 23, 22, 21, 20]  # window - step exact


def test_listwise_prose_answer_is_parsed(stub):
    stub.style = "prose"
    assert [r.index for r in make(stub, mode="listwise", on_malformed="raise").rerank(QUERY, DOCS)] == ORDER


def test_listwise_malformed_window_keeps_previous_order(stub, caplog):
    stub.style = "garbage"
    reranker = make(stub, mode="listwise")
    with caplog.at_level(logging.WARNING, logger="ragsift.rerank.llm"):
        results = reranker.rerank(QUERY, DOCS)
    assert [r.index for r in results] == [0, 1, 2, 3, 4]
    assert reranker.stats["malformed"] == 1
    assert "passages [0, 1, 2, 3, 4]" in caplog.records[0].getMessage()


def test_listwise_malformed_window_raises_when_asked(stub):
    stub.style = "garbage"
    with pytest.raises(MalformedResponseError, match=r"passages \[0, 1, 2, 3, 4\].*cannot rank"):
        make(stub, mode="listwise", on_malformed="raise").rerank(QUERY, DOCS)


def test_listwise_single_passage_needs_no_request(stub):
    scores = make(stub, mode="listwise").score(QUERY, ["only one"])
    assert scores.raw == [1.0] and scores.relevance == [1.0]
    assert stub.requests == []


@pytest.mark.parametrize(
    ("answer", "n", "expected"),
    [
        ("[3] > [1] > [2]", 3, [2, 0, 1]),
        ("[2] > [2] > [1] > [2]", 3, [1, 0, 2]),  # duplicates keep the first; missing [3] appended
        ("[5] > [0] > [2]", 4, [1, 0, 2, 3]),  # out of range ignored; missing appended in order
        ("[4]", 4, [3, 0, 1, 2]),
        ("3 > 1 > 2", 3, [2, 0, 1]),  # bare numbers when there are no brackets
        ("Ranking of the 3 passages: [2] > [3] > [1]", 3, [1, 2, 0]),  # brackets win over prose numbers
        ("[ 2 ]>[1]", 2, [1, 0]),
        ("<think>maybe [1] > [2]</think>[2] > [1]", 2, [1, 0]),
        ("[10] > [1] > [12]", 12, [9, 0, 11, 1, 2, 3, 4, 5, 6, 7, 8, 10]),
    ],
)
def test_parse_permutation_repairs_answers(answer, n, expected):
    assert parse_permutation(answer, n) == expected


@pytest.mark.parametrize("answer", ["", "I cannot rank these.", "[7] > [9]", "[0]", "<think>[1] > [2]"])
def test_parse_permutation_rejects_answers_without_a_valid_id(answer):
    with pytest.raises(UnparseableAnswer):
        parse_permutation(answer, 3)


@pytest.mark.parametrize(
    ("answer", "grade"),
    [
        ('{"relevance": 8}', 8.0),
        ('```json\n{"relevance": 7}\n```', 7.0),
        ('```\n{"relevance": 7}\n```', 7.0),
        ('Sure. {"relevance": 6} is my answer because the passage matches 2 terms.', 6.0),
        ('{"Score": "4"}', 4.0),
        ("9", 9.0),
        ("8/10", 8.0),
        ("7.5 / 10", 7.5),
        ("8 out of 10", 8.0),
        ("6.5", 6.5),
        ("Relevance: 5", 5.0),
        ("I would give it a 3.", 3.0),
        ('{"relevance": 14}', 10.0),
        ("-2", 0.0),
        ("relevance = -3", 0.0),
        ("12/10", 10.0),
        ("<think>between 2 and 9</think>\n7", 7.0),
    ],
)
def test_parse_grade_accepts_loose_answers(answer, grade):
    assert parse_grade(answer) == grade


@pytest.mark.parametrize(
    "answer",
    ["", "   ", "banana", "Passages 2 and 3 both look fine", "NaN", '{"relevance": NaN}', '{"relevance": true}',
     "It was written in 2023.", "<think>7"],
)
def test_parse_grade_rejects_unusable_answers(answer):
    with pytest.raises(UnparseableAnswer):
        parse_grade(answer)


@pytest.mark.parametrize(
    ("n", "window", "step", "spans"),
    [
        (100, 20, 10, [(80, 100), (70, 90), (60, 80), (50, 70), (40, 60), (30, 50), (20, 40), (10, 30), (0, 20)]),
        (25, 20, 10, [(5, 25), (0, 15)]),
        (5, 20, 10, [(0, 5)]),
        (20, 20, 10, [(0, 20)]),
        (12, 6, 3, [(6, 12), (3, 9), (0, 6)]),
        (7, 3, 3, [(4, 7), (1, 4), (0, 1)]),
        (0, 20, 10, []),
    ],
)
def test_plan_windows_moves_from_the_back_like_rankgpt(n, window, step, spans):
    assert plan_windows(n, window, step) == spans


# -- HTTP failures -----------------------------------------------------------------------------


def test_429_then_success_honours_retry_after(stub):
    stub.fail(Fault(status=429, headers={"Retry-After": "0.3"}))
    reranker = make(stub, concurrency=1, backoff=0.001)
    start = time.monotonic()
    scores = reranker.score(QUERY, DOCS[:2])
    assert time.monotonic() - start >= 0.25  # waited Retry-After, not the 1 ms backoff
    assert scores.raw == [0.0, 6.0]
    assert len(stub.requests) == 3
    assert reranker.stats["retries"] == 1


def test_429_exhausted_raises_rate_limited(stub):
    stub.fail(*[Fault(status=429, headers={"Retry-After": "0"})] * 3)
    with pytest.raises(RateLimitedError) as info:
        make(stub, max_retries=2).score(QUERY, DOCS[:1])
    assert info.value.status == 429 and "after 3 attempts" in str(info.value)
    assert len(stub.requests) == 3


def test_5xx_is_retried_then_succeeds(stub):
    stub.fail(Fault(status=500), Fault(status=503))
    reranker = make(stub, max_retries=2)
    assert reranker.score(QUERY, DOCS[1:2]).raw == [6.0]
    assert reranker.stats["retries"] == 2


def test_5xx_exhausted_raises_remote_server_error(stub):
    stub.fail(*[Fault(status=502)] * 3)
    with pytest.raises(RemoteServerError) as info:
        make(stub, max_retries=2).score(QUERY, DOCS[:1])
    assert info.value.status == 502 and "stub fault 502" in str(info.value)
    assert len(stub.requests) == 3


def test_timeout_raises_remote_timeout_error(stub):
    stub.fail(Fault(delay=3), Fault(delay=3))
    start = time.monotonic()
    with pytest.raises(RemoteTimeoutError, match="timeout=0.2s"):
        make(stub, timeout=0.2, max_retries=1).score(QUERY, DOCS[:1])
    assert time.monotonic() - start < 2.5
    assert len(stub.requests) == 2


def test_a_failure_cancels_the_other_pointwise_requests(stub):
    stub.latency = 0.2
    stub.fail(Fault(status=400))
    with pytest.raises(RemoteClientError):
        make(stub, concurrency=2).score(QUERY, DOCS * 4)
    assert len(stub.requests) < 20


def test_401_raises_authentication_error_without_leaking_the_key():
    with OpenAIStub(model=MODEL, api_key="sk-right") as server:
        with pytest.raises(AuthenticationError) as info:
            make(server, api_key="sk-wrong-secret-123").score(QUERY, DOCS[:1])
        assert len(server.requests) == 1  # not retried
    assert info.value.status == 401
    assert "Incorrect API key" in str(info.value)
    assert "sk-wrong-secret-123" not in str(info.value)


def test_api_key_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-right")
    with OpenAIStub(model=MODEL, api_key="sk-right") as server:
        reranker = make(server)
        assert reranker.score(QUERY, DOCS[4:]).raw == [8.0]
        assert server.requests[0]["headers"]["Authorization"] == "Bearer sk-right"
    assert "sk-right" not in repr(reranker)


def test_unknown_model_raises_remote_client_error(stub):
    reranker = LLMReranker("no-such-model", base_url=stub.base_url, backoff=0.01)
    with pytest.raises(RemoteClientError) as info:
        reranker.score(QUERY, DOCS[:1])
    assert not isinstance(info.value, AuthenticationError)
    assert info.value.status == 404 and "no-such-model" in str(info.value)


def test_connection_refused_raises_remote_server_error():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    reranker = LLMReranker(MODEL, base_url=f"http://127.0.0.1:{port}/v1", max_retries=1, backoff=0.01, timeout=2)
    with pytest.raises(RemoteServerError, match="failed to connect"):
        reranker.score(QUERY, DOCS[:1])
    assert reranker.stats["retries"] == 1


def test_transport_is_injectable():
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append((str(request.url), json.loads(request.content)))
        return httpx.Response(200, json={"choices": [{"index": 0, "message": {"role": "assistant", "content": "7"}}]})

    reranker = LLMReranker(MODEL, base_url="https://llm.example/v1", transport=httpx.MockTransport(handler))
    assert reranker.score(QUERY, ["a"]).raw == [7.0]
    assert seen[0][0] == "https://llm.example/v1/chat/completions"
    assert seen[0][1]["model"] == MODEL


def test_passages_are_truncated_and_flattened(stub):
    make(stub, max_passage_chars=12).score(QUERY, ["Solar   panel\nefficiency is great"])
    assert "Passage: Solar panel " in stub.user_prompts()[0]
    assert "efficiency" not in stub.user_prompts()[0].split("Passage:")[1].split("\n")[0]


# -- configuration and helpers -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"mode": "pairwise"}, "mode='pairwise' is not valid; choose one of 'pointwise', 'listwise'"),
        ({"on_malformed": "ignore"}, "on_malformed='ignore' is not valid; choose one of 'zero', 'raise'"),
        ({"concurrency": 0}, "concurrency=0 must be an integer >= 1"),
        ({"window": 10, "step": 11}, "step=11 must be <= window=10"),
        ({"timeout": 0}, "timeout=0 must be a finite number > 0.0"),
        ({"max_retries": -1}, "max_retries=-1"),
        ({"temperature": 3}, "temperature=3"),
        ({"base_url": "localhost:8000"}, "base_url='localhost:8000' must be an http(s) URL"),
        ({"transport": httpx.HTTPTransport()}, "must be an httpx.AsyncBaseTransport"),
    ],
)
def test_invalid_options_raise_config_error_naming_them(options, message):
    with pytest.raises(ConfigError) as info:
        LLMReranker(MODEL, **options)
    assert message in str(info.value)


def test_only_pointwise_scores_are_cacheable():
    assert LLMReranker(MODEL).cacheable is True
    assert LLMReranker(MODEL, mode="listwise").cacheable is False
    assert LLMReranker(MODEL, mode="listwise").name == f"llm-listwise:{MODEL}"


def test_listwise_prompt_is_documented_rankgpt_format():
    assert "[] > []" in LISTWISE_USER_TEMPLATE and "Search Query: {query}" in LISTWISE_USER_TEMPLATE
