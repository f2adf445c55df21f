"""The former two HTTP stacks now agree: one status sequence, one outcome, whoever makes the call.

The same sequence of answers is played to a hosted reranker (NIM), the LLM reranker and the LLM
judge, each called sync and async: through ``httpx.MockTransport`` for the whole matrix, and
through real local servers (the NIM stub and the OpenAI-compatible stub) for the main cases. The
outcome (error class, status, attempts, Retry-After honoured) must be the same for every caller.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from typing import Callable

import httpx
import numpy as np
import pytest
from rerank.remote.stubs import StubServer
from rerank.remote.stubs.nim import NimStub
from rerank.stubs_openai import Fault, OpenAIStub

from ragsift.errors import (
    AuthenticationError,
    RateLimitedError,
    RemoteClientError,
    RemoteError,
    RemoteServerError,
    RemoteTimeoutError,
)
from ragsift.eval.judge import JudgeConfig, JudgeItem, LLMJudge
from ragsift.rerank.llm import LLMReranker
from ragsift.rerank.remote import NIMReranker

MAX_RETRIES = 2
QUERY = "gpu memory"
PASSAGE = "gpu memory bandwidth"
LLM_MODEL = "stub-llm"
NIM_MODEL = "nvidia/nv-rerankqa-mistral-4b-v3"


@dataclass(frozen=True)
class Outcome:
    """What a caller saw: the error class (None on success), its status, and the attempts made."""

    error: type[RemoteError] | None
    status: int | None
    attempts: int


@dataclass(frozen=True)
class Scenario:
    faults: tuple[tuple[int, dict[str, str]], ...]  # (status, headers) answered before the normal answers
    expected: Outcome
    min_seconds: float = 0.0  # a Retry-After that must have been waited


def _past_date() -> str:
    return format_datetime(datetime.now(timezone.utc) - timedelta(minutes=5), usegmt=True)


SCENARIOS = {
    "503+retry-after-seconds": Scenario(((503, {"Retry-After": "0.2"}),), Outcome(None, None, 2), 0.2),
    "429+retry-after-date": Scenario(((429, {"Retry-After": _past_date()}),), Outcome(None, None, 2)),
    "408-then-ok": Scenario(((408, {}),), Outcome(None, None, 2)),
    "408-exhausted": Scenario(((408, {}),) * 3, Outcome(RemoteTimeoutError, 408, 3)),
    "500-502-504-exhausted": Scenario(((500, {}), (502, {}), (504, {})), Outcome(RemoteServerError, 504, 3)),
    "429-exhausted": Scenario(((429, {"Retry-After": "0"}),) * 3, Outcome(RateLimitedError, 429, 3)),
    "501-is-final": Scenario(((501, {}),), Outcome(RemoteServerError, 501, 1)),
    "505-is-final": Scenario(((505, {}),), Outcome(RemoteServerError, 505, 1)),
    "401-is-final": Scenario(((401, {}),), Outcome(AuthenticationError, 401, 1)),
    "400-is-final": Scenario(((400, {}),), Outcome(RemoteClientError, 400, 1)),
}


# -- the callers -------------------------------------------------------------------------------

FAST_HTTP = {"max_retries": MAX_RETRIES, "backoff_base": 0.001, "backoff_max": 0.002, "timeout": 5.0}
FAST_LLM = {"max_retries": MAX_RETRIES, "backoff": 0.001, "max_backoff": 0.002, "timeout": 5.0}


def _nim(base_url: str, transport=None) -> NIMReranker:
    return NIMReranker(NIM_MODEL, base_url=base_url, api_key="sk-test-key", transport=transport, **FAST_HTTP)


def _llm(base_url: str, transport=None) -> LLMReranker:
    return LLMReranker(LLM_MODEL, base_url=base_url, api_key="sk-test-key", transport=transport, **FAST_LLM)


def _judge(base_url: str, transport=None) -> LLMJudge:
    config = JudgeConfig(base_url=base_url, model=LLM_MODEL, api_key="sk-test-key", concurrency=1,
                         on_error="raise", **FAST_LLM)
    return LLMJudge(config, lambda texts: np.ones((len(texts), 2)), transport=transport)


def _sync(client) -> None:
    client.rerank(QUERY, [PASSAGE])


def _async(client) -> None:
    asyncio.run(client.arerank(QUERY, [PASSAGE]))


def _evaluate(judge: LLMJudge) -> None:
    judge.evaluate([JudgeItem("q1", QUERY, [PASSAGE])])


#: caller name -> (client factory, base URL for MockTransport, how it is called)
CALLERS: dict[str, tuple[Callable, str, Callable]] = {
    "nim-sync": (_nim, "https://nim.test", _sync),
    "nim-async": (_nim, "https://nim.test", _async),
    "llm-sync": (_llm, "https://llm.test/v1", _sync),
    "llm-async": (_llm, "https://llm.test/v1", _async),
    "judge": (_judge, "https://llm.test/v1", _evaluate),
}


def _observe(call: Callable[[], None], attempts: Callable[[], int]) -> tuple[Outcome, float]:
    start = time.monotonic()
    try:
        call()
    except RemoteError as exc:
        return Outcome(type(exc), exc.status, attempts()), time.monotonic() - start
    return Outcome(None, None, attempts()), time.monotonic() - start


# -- the whole matrix through MockTransport ------------------------------------------------------


class Wire:
    """A MockTransport handler: plays the faults, then answers NIM and chat-completion requests."""

    def __init__(self, faults: tuple[tuple[int, dict[str, str]], ...]):
        self.faults = list(faults)
        self.answered: list[bool] = []  # per request: True when it got a normal answer

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if self.faults:
            status, headers = self.faults.pop(0)
            self.answered.append(False)
            return httpx.Response(status, headers=headers, json={"error": {"message": f"fault {status}"}})
        self.answered.append(True)
        body = json.loads(request.content)
        if request.url.path.endswith("/chat/completions"):
            return httpx.Response(200, json={"choices": [{"index": 0, "message": {"role": "assistant", "content": "7"}}]})
        return httpx.Response(200, json={"rankings": [{"index": i, "logit": 1.0} for i in range(len(body["passages"]))]})

    def attempts(self) -> int:
        """Requests up to the first normal answer (all of them when none came)."""
        return self.answered.index(True) + 1 if True in self.answered else len(self.answered)


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_every_caller_sees_the_same_outcome_through_mock_transport(scenario):
    case = SCENARIOS[scenario]
    seen = {}
    for name, (make, base_url, call) in CALLERS.items():
        wire = Wire(case.faults)
        client = make(base_url, httpx.MockTransport(wire))
        outcome, seconds = _observe(lambda: call(client), wire.attempts)
        assert seconds >= case.min_seconds, f"{name} did not wait Retry-After"
        seen[name] = outcome
    assert seen == {name: case.expected for name in CALLERS}


# -- the main cases through real local servers ---------------------------------------------------

REAL = ["503+retry-after-seconds", "408-exhausted", "501-is-final", "429-exhausted"]


@pytest.mark.parametrize("scenario", REAL)
@pytest.mark.parametrize("caller", ["nim-sync", "nim-async"])
def test_hosted_reranker_over_a_real_server(scenario, caller):
    case = SCENARIOS[scenario]
    with StubServer(NimStub(api_key="sk-test-key", model=NIM_MODEL)) as server:
        for status, headers in case.faults:
            server.fail(status, retry_after=headers.get("Retry-After"))
        call = CALLERS[caller][2]
        outcome, seconds = _observe(lambda: call(_nim(server.url)), lambda: len(server.requests))
    assert outcome == case.expected
    assert seconds >= case.min_seconds


@pytest.mark.parametrize("scenario", REAL)
@pytest.mark.parametrize("caller", ["llm-sync", "llm-async"])
def test_llm_reranker_over_a_real_server(scenario, caller):
    case = SCENARIOS[scenario]
    with OpenAIStub(model=LLM_MODEL, api_key="sk-test-key") as stub:
        stub.fail(*(Fault(status=status, headers=headers) for status, headers in case.faults))
        call = CALLERS[caller][2]
        outcome, seconds = _observe(lambda: call(_llm(stub.base_url)), lambda: len(stub.requests))
    assert outcome == case.expected
    assert seconds >= case.min_seconds
