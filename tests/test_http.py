"""The one HTTP client stack: retry policy, Retry-After, the one error map, the client over MockTransport.

How the hosted rerankers, the LLM reranker and the judge agree through it: tests/test_http_agreement.py.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import httpx
import pytest

import ragsift.http as http_module
from ragsift.errors import (
    AuthenticationError,
    ConfigError,
    MalformedResponseError,
    RateLimitedError,
    RemoteClientError,
    RemoteServerError,
    RemoteTimeoutError,
)
from ragsift.http import (
    ContractViolation,
    HttpClient,
    RetryPolicy,
    field_of,
    is_retryable_status,
    list_field,
    parse_retry_after,
    remote_error,
    vendor_message,
)

FAST = {"backoff_base": 0.001, "backoff_max": 0.002}


# -- retry policy -------------------------------------------------------------------------------


def test_backoff_is_exponential_with_equal_jitter_and_capped():
    policy = RetryPolicy(max_retries=5, backoff_base=0.5, backoff_max=3.0)
    lows = [policy.delay(k, rand=lambda: 0.0) for k in range(5)]
    highs = [policy.delay(k, rand=lambda: 1.0) for k in range(5)]
    assert lows == [0.25, 0.5, 1.0, 1.5, 1.5]
    assert highs == [0.5, 1.0, 2.0, 3.0, 3.0]
    assert all(lo <= policy.delay(k) <= hi for k, (lo, hi) in enumerate(zip(lows, highs)))


def test_retry_after_replaces_backoff_and_is_capped():
    policy = RetryPolicy(retry_after_max=10.0)
    assert policy.delay(0, retry_after=2.0) == 2.0
    assert policy.delay(3, retry_after=120.0) == 10.0


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"max_retries": -1}, "max_retries=-1"),
        ({"max_retries": True}, "max_retries=True"),
        ({"backoff_base": -0.1}, "backoff_base=-0.1"),
        ({"retry_after_max": float("inf")}, "retry_after_max=inf"),
    ],
)
def test_retry_policy_rejects_bad_values(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        RetryPolicy(**kwargs)


def test_parse_retry_after_seconds_and_dates():
    now = datetime(2025, 1, 1, 12, 0, 0, tzinfo=timezone.utc)
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(" 0.25 ") == 0.25
    assert parse_retry_after("-4") == 0.0
    assert parse_retry_after(format_datetime(now + timedelta(seconds=10), usegmt=True), now=now) == 10.0
    assert parse_retry_after("Wed, 01 Jan 2025 11:59:00 GMT", now=now) == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after("") is None
    assert parse_retry_after(None) is None


@pytest.mark.parametrize("status, retry", [(408, True), (429, True), (500, True), (502, True), (503, True),
                                           (504, True), (501, False), (505, False), (400, False), (401, False),
                                           (404, False), (413, False), (424, False), (507, False)])
def test_retryable_statuses(status, retry):
    assert is_retryable_status(status) is retry


def test_the_retried_statuses_are_one_documented_set():
    assert http_module.RETRIED_STATUSES == {408, 429, 500, 502, 503, 504}
    for status in sorted(http_module.RETRIED_STATUSES):
        assert str(status) in http_module.__doc__


# -- the one error map --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, cls",
    [
        ({"timeout": True}, RemoteTimeoutError),
        ({"status": None}, RemoteServerError),
        ({"status": 200}, MalformedResponseError),
        ({"status": 408}, RemoteTimeoutError),
        ({"status": 429}, RateLimitedError),
        ({"status": 401}, AuthenticationError),
        ({"status": 403}, AuthenticationError),
        ({"status": 400}, RemoteClientError),
        ({"status": 404}, RemoteClientError),
        ({"status": 422}, RemoteClientError),
        ({"status": 500}, RemoteServerError),
        ({"status": 503}, RemoteServerError),
        ({"status": 501}, RemoteServerError),
        ({"status": 302}, RemoteClientError),
    ],
)
def test_remote_error_maps_outcomes_to_the_typed_tree(kwargs, cls):
    err = remote_error("acme", "POST /v1/rank", detail="boom", **kwargs)
    assert type(err) is cls
    assert err.provider == "acme" and err.status == kwargs.get("status")
    assert str(err).startswith("acme: POST /v1/rank")
    assert "boom" in str(err)


def test_remote_error_overrides_hint_and_redaction():
    err = remote_error("tei", "POST /rerank", status=424, status_errors={424: RemoteServerError})
    assert type(err) is RemoteServerError
    err = remote_error("x", "POST /a", status=401, detail="bad key sk-123456", auth_hint="Check X_KEY",
                       secrets=["sk-123456"])
    assert str(err) == "x: POST /a failed with HTTP 401 after 1 attempt: bad key ***. Check X_KEY"


@pytest.mark.parametrize(
    "body, expected",
    [
        ({"message": "invalid api token"}, "invalid api token"),
        ({"error": "Model is overloaded", "error_type": "overloaded"}, "Model is overloaded [overloaded]"),
        ({"error": {"code": 400, "message": "Bad records", "status": "INVALID_ARGUMENT"}},
         "Bad records [INVALID_ARGUMENT]"),
        ({"detail": "Not Found"}, "Not Found"),
        ({"detail": [{"loc": ["body", "query"], "msg": "field required"}]}, "query: field required"),
        ({"title": "Unauthorized", "status": 401, "detail": "Bad key"}, "Unauthorized: Bad key"),
        ({"unexpected": 1}, '{"unexpected": 1}'),
        (["a list"], '["a list"]'),
    ],
)
def test_vendor_message_understands_each_error_shape(body, expected):
    assert vendor_message(json.dumps(body).encode()) == expected


def test_vendor_message_plain_text_and_empty():
    assert vendor_message(b"Failed to deserialize the JSON body") == "Failed to deserialize the JSON body"
    assert vendor_message(b"") is None
    assert len(vendor_message(b"x" * 5000)) == 500


# -- the client, offline through MockTransport -------------------------------------------------


class Script:
    """A MockTransport handler that plays a list of responses (or exceptions) in order."""

    def __init__(self, *steps):
        self.steps = list(steps)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        step = self.steps.pop(0) if len(self.steps) > 1 else self.steps[0]
        if isinstance(step, Exception):
            raise step
        # a fresh copy each time: httpx binds a response's stream to the client that received it
        return httpx.Response(step.status_code, headers=step.headers, content=step.content)


def client(script, **kw):
    return HttpClient("acme", "https://api.acme.test", transport=httpx.MockTransport(script), **{**FAST, **kw})


OK = httpx.Response(200, json={"ok": True})


def test_post_json_retries_5xx_then_returns_the_body():
    script = Script(httpx.Response(503), httpx.Response(502), OK)
    assert client(script).post_json("/v1/rank", {"q": 1}) == {"ok": True}
    assert len(script.requests) == 3
    assert json.loads(script.requests[0].content) == {"q": 1}
    assert script.requests[0].url == "https://api.acme.test/v1/rank"


def test_retry_after_header_is_honoured():
    script = Script(httpx.Response(429, headers={"Retry-After": "0.2"}, json={"message": "slow down"}), OK)
    start = time.monotonic()
    client(script).post_json("/x", {})
    assert 0.2 <= time.monotonic() - start < 2.0


def test_retry_after_date_is_capped():
    far = format_datetime(datetime.now(timezone.utc) + timedelta(hours=1), usegmt=True)
    script = Script(httpx.Response(503, headers={"Retry-After": far}), OK)
    start = time.monotonic()
    client(script, retry_after_max=0.05).post_json("/x", {})
    assert time.monotonic() - start < 1.0


def test_429_exhausted_is_rate_limited_with_the_vendor_message():
    script = Script(httpx.Response(429, json={"message": "quota"}))
    with pytest.raises(RateLimitedError, match=r"acme: POST /x failed with HTTP 429 after 3 attempts: quota"):
        client(script, max_retries=2).post_json("/x", {})
    assert len(script.requests) == 3


def test_read_timeouts_are_retried_then_raised_as_timeout_errors():
    script = Script(httpx.ReadTimeout("timed out"))
    with pytest.raises(RemoteTimeoutError, match="timed out after 2 attempts") as info:
        client(script, max_retries=1).post_json("/x", {})
    assert isinstance(info.value.__cause__, httpx.ReadTimeout)
    assert len(script.requests) == 2


def test_connection_errors_become_server_errors():
    script = Script(httpx.ConnectError("refused"), httpx.ConnectError("refused"), OK)
    assert client(script, max_retries=2).post_json("/x", {}) == {"ok": True}
    with pytest.raises(RemoteServerError, match="failed to connect"):
        client(Script(httpx.ConnectError("refused")), max_retries=1).post_json("/x", {})


def test_real_refused_connection_is_a_server_error():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    http = HttpClient("acme", f"http://127.0.0.1:{port}", max_retries=1, **FAST)
    with pytest.raises(RemoteServerError, match="ConnectError"):
        http.post_json("/x", {})


def test_4xx_and_redirects_are_final():
    script = Script(httpx.Response(404, json={"detail": "no such route"}))
    with pytest.raises(RemoteClientError, match="HTTP 404 after 1 attempt: no such route"):
        client(script).post_json("/x", {})
    script = Script(httpx.Response(301, headers={"Location": "https://elsewhere"}))
    with pytest.raises(RemoteClientError, match="check base_url"):
        client(script).post_json("/x", {})
    assert len(script.requests) == 1


def test_non_json_2xx_is_malformed():
    script = Script(httpx.Response(200, text="<html>proxy login</html>", headers={"content-type": "text/html"}))
    with pytest.raises(MalformedResponseError, match=r"body is not JSON \(text/html\)"):
        client(script).post_json("/x", {})


def test_credentials_are_sent_but_redacted_from_errors():
    secret = "sk-live-abcdef0123456789"

    def echo(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, json={"message": f"bad header {request.headers['authorization']}"})

    http = HttpClient("acme", "https://api.acme.test", auth=lambda: {"Authorization": f"Bearer {secret}"},
                            transport=httpx.MockTransport(echo), auth_hint="Check ACME_KEY")
    with pytest.raises(AuthenticationError) as info:
        http.post_json("/x", {})
    assert secret not in str(info.value)
    assert str(info.value) == "acme: POST /x failed with HTTP 401 after 1 attempt: bad header ***. Check ACME_KEY"
    assert secret not in repr(http)


def test_async_path_uses_the_same_transport_and_retries():
    script = Script(httpx.Response(500), OK)
    assert asyncio.run(client(script).apost_json("/x", {"a": 1})) == {"ok": True}
    assert len(script.requests) == 2
    with pytest.raises(RemoteTimeoutError):
        asyncio.run(client(Script(httpx.ConnectTimeout("slow")), max_retries=0).apost_json("/x", {}))


def test_timeouts_are_explicit():
    http = HttpClient("acme", "https://api.acme.test")
    assert http.timeout == httpx.Timeout(30.0, connect=5.0)
    assert http.retry == RetryPolicy(max_retries=3)
    custom = httpx.Timeout(1.0, read=9.0)
    assert HttpClient("acme", "https://a.test", timeout=custom).timeout is custom
    assert HttpClient("acme", "https://a.test", timeout=2.0).timeout == httpx.Timeout(2.0, connect=2.0)


@pytest.mark.parametrize("base_url", ["api.acme.test", "ftp://api.acme.test", None, ""])
def test_base_url_must_be_http(base_url):
    with pytest.raises(ConfigError, match="base_url="):
        HttpClient("acme", base_url)


def test_public_api_is_pinned():
    assert set(http_module.__all__) == {
        "RETRIED_STATUSES", "ContractViolation", "HttpClient", "RetryPolicy", "check_base_url", "check_seconds",
        "field_of", "is_retryable_status", "list_field", "parse_retry_after", "remote_error", "vendor_message",
    }
    for name in http_module.__all__:
        assert hasattr(http_module, name), name


# -- the unified policy, end to end through the client --------------------------------------------


@pytest.mark.parametrize("status", [501, 505, 507])
def test_other_5xx_are_final(status):
    script = Script(httpx.Response(status, json={"message": "never"}), OK)
    with pytest.raises(RemoteServerError, match=f"HTTP {status} after 1 attempt: never") as info:
        client(script).post_json("/x", {})
    assert info.value.status == status
    assert len(script.requests) == 1


def test_408_is_retried_then_raised_as_a_timeout():
    script = Script(httpx.Response(408))
    with pytest.raises(RemoteTimeoutError, match="HTTP 408 after 3 attempts") as info:
        client(script, max_retries=2).post_json("/x", {})
    assert info.value.status == 408
    assert len(script.requests) == 3
    assert client(Script(httpx.Response(408), OK)).post_json("/x", {}) == {"ok": True}


def test_timeout_errors_name_the_phase_and_the_limit():
    http = HttpClient("acme", "https://api.acme.test", timeout=0.25, max_retries=0,
                      transport=httpx.MockTransport(Script(httpx.ReadTimeout("timed out"))))
    with pytest.raises(RemoteTimeoutError, match=r"ReadTimeout: timed out \(read timeout=0.25s\)"):
        http.post_json("/x", {})


def test_parse_turns_a_contract_violation_into_a_malformed_response_without_retry():
    def parse(payload):
        return list_field(payload, "results")

    script = Script(httpx.Response(200, json={"results": {"not": "a list"}}))
    with pytest.raises(MalformedResponseError, match="'results' is a dict, expected a list") as info:
        client(script).post_json("/v1/rank", {}, parse=parse)
    assert info.value.status == 200 and str(info.value).startswith("acme: POST /v1/rank returned HTTP 200")
    assert len(script.requests) == 1
    assert client(Script(httpx.Response(200, json={"results": [1]}))).post_json("/x", {}, parse=parse) == [1]
    with pytest.raises(MalformedResponseError):
        asyncio.run(client(script).apost_json("/x", {}, parse=parse))


def test_field_of_names_what_is_missing():
    assert field_of({"a": 1}, "a", "results[0]") == 1
    with pytest.raises(ContractViolation, match="results\\[0\\] has no 'index' field"):
        field_of({"a": 1}, "index", "results[0]")
    with pytest.raises(ContractViolation, match="results\\[0\\] is a list, expected an object"):
        field_of([], "index", "results[0]")


def test_on_retry_is_called_once_per_retry_sync_and_async():
    calls = []
    script = Script(httpx.Response(503), httpx.Response(429, headers={"Retry-After": "0"}), OK)
    assert client(script, on_retry=lambda: calls.append(1)).post_json("/x", {}) == {"ok": True}
    assert len(calls) == 2
    script = Script(httpx.Response(503), httpx.Response(429, headers={"Retry-After": "0"}), OK)
    assert asyncio.run(client(script, on_retry=lambda: calls.append(1)).apost_json("/x", {})) == {"ok": True}
    assert len(calls) == 4


def test_sync_and_async_waits_follow_the_same_backoff():
    """Both paths sleep the policy's jittered waits: 3 retries with base 0.05 s take 0.175–0.35 s."""
    for run in (
        lambda c: c.post_json("/x", {}),
        lambda c: asyncio.run(c.apost_json("/x", {})),
    ):
        script = Script(httpx.Response(503), httpx.Response(503), httpx.Response(503), OK)
        start = time.monotonic()
        assert run(client(script, backoff_base=0.05, backoff_max=1.0)) == {"ok": True}
        assert 0.17 <= time.monotonic() - start < 1.5
        assert len(script.requests) == 4
