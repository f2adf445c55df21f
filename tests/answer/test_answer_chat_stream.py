"""The chat client's streaming against a real local server, and that server checked by the official SDK.

The stub (tests/rerank/stubs_openai.py) must speak the chat-completions wire contract faithfully,
or these tests prove nothing: the ``openai`` SDK reads its answers first, whole and streamed.
Then :class:`ChatClient` streams from it: the same text as the whole answer, the model and usage
reported, retries before the stream starts (429 with Retry-After), no retry on a wrong key, and
the typed errors of a stream cut short, an error event, a silent server and a closed port.
"""

from __future__ import annotations

import asyncio
import socket

import openai
import pytest
from rerank.stubs_openai import Fault, OpenAIStub

from ragsift.errors import (
    AuthenticationError,
    MalformedResponseError,
    RemoteServerError,
    RemoteTimeoutError,
)
from ragsift.rerank.llm.client import ChatClient, ChatDelta

MODEL = "stub-answerer"
KEY = "sk-test-key-123"
MESSAGES = [
    {"role": "system", "content": "Answer from the passages."},
    {"role": "user", "content": "Passages:\n\n[1]\nDogs bark at strangers.\n\n[2]\nCats purr.\n\nQuestion: why do dogs bark?"},
]
EXPECTED = "Dogs bark at strangers [1]."


@pytest.fixture
def stub():
    with OpenAIStub(model=MODEL, api_key=KEY) as server:
        yield server


def sdk(stub: OpenAIStub, key: str = KEY) -> openai.OpenAI:
    return openai.OpenAI(base_url=stub.base_url, api_key=key, max_retries=0, timeout=10)


def client(base_url: str, *, key: str | None = KEY, timeout: float = 5.0, max_retries: int = 2) -> ChatClient:
    return ChatClient(
        model=MODEL, base_url=base_url, api_key=key, timeout=timeout, max_retries=max_retries,
        backoff=0.01, max_backoff=0.05, temperature=0.0,
    )


async def collect(chat: ChatClient) -> list[ChatDelta]:
    async with chat.open(1) as http:
        return [d async for d in chat.stream(http, MESSAGES, max_tokens=64)]


async def whole(chat: ChatClient):
    async with chat.open(1) as http:
        return await chat.chat(http, MESSAGES, max_tokens=64)


# ---------------------------------------------------------------------------- the stub, by the SDK


def test_the_sdk_reads_the_stubs_whole_answer(stub):
    completion = sdk(stub).chat.completions.create(model=MODEL, messages=MESSAGES, max_tokens=64, temperature=0)
    assert completion.choices[0].message.content == EXPECTED
    assert completion.choices[0].finish_reason == "stop"
    assert completion.model == MODEL
    assert completion.usage.completion_tokens == len(EXPECTED.split())
    assert completion.usage.total_tokens == completion.usage.prompt_tokens + completion.usage.completion_tokens


def test_the_sdk_reads_the_stubs_stream(stub):
    chunks = list(
        sdk(stub).chat.completions.create(
            model=MODEL, messages=MESSAGES, max_tokens=64, stream=True, stream_options={"include_usage": True}
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == EXPECTED
    assert len([c for c in chunks if c.choices and c.choices[0].delta.content]) == len(EXPECTED.split())
    assert chunks[0].choices[0].delta.role == "assistant"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == len(EXPECTED.split())
    assert {c.model for c in chunks} == {MODEL}


def test_the_sdk_sees_the_stubs_errors(stub):
    with pytest.raises(openai.AuthenticationError):
        sdk(stub, key="sk-wrong").chat.completions.create(model=MODEL, messages=MESSAGES)
    stub.fail(Fault(status=429, headers={"Retry-After": "0"}))
    with pytest.raises(openai.RateLimitError) as caught:
        sdk(stub).chat.completions.create(model=MODEL, messages=MESSAGES)
    assert caught.value.response.headers["retry-after"] == "0"
    with pytest.raises(openai.BadRequestError, match="stream_options"):
        sdk(stub).chat.completions.create(model=MODEL, messages=MESSAGES, stream_options={"include_usage": True})
    assert stub.calls == 3


# ---------------------------------------------------------------------------- ChatClient.stream


def test_stream_gives_the_whole_answer_token_by_token_with_model_and_usage(stub):
    chat = client(stub.base_url)
    deltas = asyncio.run(collect(chat))
    completion = asyncio.run(whole(chat))
    assert "".join(d.content for d in deltas) == completion.content == EXPECTED
    assert len([d for d in deltas if d.content]) == len(EXPECTED.split())
    assert [d.finish_reason for d in deltas if d.finish_reason] == ["stop"]
    usage = [d.usage for d in deltas if d.usage]
    assert usage == [completion.usage] and usage[0]["completion_tokens"] == len(EXPECTED.split())
    assert {d.model for d in deltas} == {MODEL} and completion.model == MODEL
    sent = stub.requests[0]["json"]
    assert sent["stream"] is True and sent["stream_options"] == {"include_usage": True}
    assert stub.requests[0]["headers"]["Accept"] == "text/event-stream"


def test_stream_retries_a_429_before_it_starts(stub):
    stub.fail(Fault(status=429, headers={"Retry-After": "0"}), Fault(status=503))
    deltas = asyncio.run(collect(client(stub.base_url)))
    assert "".join(d.content for d in deltas) == EXPECTED
    assert stub.calls == 3


def test_stream_does_not_retry_a_wrong_key(stub):
    with pytest.raises(AuthenticationError, match="HTTP 401") as caught:
        asyncio.run(collect(client(stub.base_url, key="sk-wrong-key")))
    assert "sk-wrong-key" not in str(caught.value)
    assert stub.calls == 1


def test_a_stream_cut_short_is_a_server_error_not_retried(stub):
    stub.fail(Fault(cut_after=2))
    with pytest.raises(RemoteServerError, match="lost the connection"):
        asyncio.run(collect(client(stub.base_url)))
    assert stub.calls == 1


def test_an_error_event_in_the_stream_is_a_malformed_response(stub):
    stub.fail(Fault(event={"error": {"message": "model overloaded", "type": "server_error"}}))
    with pytest.raises(MalformedResponseError, match="model overloaded"):
        asyncio.run(collect(client(stub.base_url)))


def test_a_silent_server_times_out_after_the_retries(stub):
    stub.fail(Fault(delay=2.0), Fault(delay=2.0))
    with pytest.raises(RemoteTimeoutError, match="after 2 attempts"):
        asyncio.run(collect(client(stub.base_url, timeout=0.3, max_retries=1)))


def test_a_closed_port_is_a_connection_error():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(RemoteServerError, match="failed to connect"):
        asyncio.run(collect(client(f"http://127.0.0.1:{port}/v1", max_retries=1)))
