"""Every failure path, against every HTTP vendor's stub (its own error bodies and wire shapes)."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest
from rerank.remote.remote_kit import API_KEY, DOCS, EXPECTED_ORDER, QUERY, WRONG_KEY
from rerank.remote.stubs import MALFORMATIONS

from ragsift.errors import (
    AuthenticationError,
    MalformedResponseError,
    RateLimitedError,
    RemoteClientError,
    RemoteError,
    RemoteServerError,
    RemoteTimeoutError,
)


def test_timeout_raises_remote_timeout_error(vendor):
    vendor.server.stall(2.0, times=2)
    client = vendor.make(timeout=0.2, max_retries=1)
    start = time.monotonic()
    with pytest.raises(RemoteTimeoutError) as info:
        client.rerank(QUERY, DOCS)
    assert time.monotonic() - start < 1.5
    assert len(vendor.server.requests) == 2  # the timeout was retried once
    assert info.value.provider == vendor.name
    assert "timed out after 2 attempts" in str(info.value)


def test_timeout_then_success_is_retried(vendor):
    vendor.server.stall(2.0, times=1)
    results = vendor.make(timeout=0.5, max_retries=1).rerank(QUERY, DOCS)
    assert [r.index for r in results] == EXPECTED_ORDER


def test_429_then_success_honours_retry_after(vendor):
    vendor.server.fail(429, times=2, retry_after="0.1")
    start = time.monotonic()
    results = vendor.make(max_retries=3).rerank(QUERY, DOCS)
    elapsed = time.monotonic() - start
    assert [r.index for r in results] == EXPECTED_ORDER
    assert len(vendor.server.requests) == 3
    assert elapsed >= 0.19  # two waits of 0.1 s; the backoff alone would be ~0.005 s
    assert elapsed < 3.0


def test_429_exhausted_raises_rate_limited(vendor):
    vendor.server.fail(429, times=5, retry_after="0")
    with pytest.raises(RateLimitedError) as info:
        vendor.make(max_retries=2).rerank(QUERY, DOCS)
    assert info.value.status == 429
    assert len(vendor.server.requests) == 3
    assert "after 3 attempts" in str(info.value)


@pytest.mark.parametrize("status", [500, 503])
def test_5xx_exhausted_raises_server_error(vendor, status):
    vendor.server.fail(status, times=10)
    with pytest.raises(RemoteServerError) as info:
        vendor.make(max_retries=2).rerank(QUERY, DOCS)
    assert info.value.status == status
    assert len(vendor.server.requests) == 3
    assert f"HTTP {status}" in str(info.value)


def test_5xx_then_success(vendor):
    vendor.server.fail(502, times=1)
    results = vendor.make(max_retries=1).rerank(QUERY, DOCS)
    assert [r.index for r in results] == EXPECTED_ORDER


def test_wrong_key_raises_authentication_error_without_retry(vendor):
    with pytest.raises(AuthenticationError) as info:
        vendor.make(key=WRONG_KEY, max_retries=3).rerank(QUERY, DOCS)
    assert info.value.status == 401
    assert isinstance(info.value, RemoteClientError)
    assert len(vendor.server.requests) == 1  # a 401 is final


def test_api_key_never_appears_in_errors_or_logs(leaky_vendor, caplog):
    caplog.set_level(logging.DEBUG)
    leaky_vendor.server.fail(503, times=1)  # one retry is logged first
    with pytest.raises(AuthenticationError) as info:
        leaky_vendor.make(key=WRONG_KEY, max_retries=1).rerank(QUERY, DOCS)
    text = f"{info.value} {info.value!r} {info.value.args}"
    assert WRONG_KEY not in text
    assert "***" in text  # the stub echoed it; we redacted it
    assert WRONG_KEY not in caplog.text and API_KEY not in caplog.text
    assert "retry 1/1" in caplog.text


def test_4xx_carries_the_vendor_message_and_is_not_retried(vendor):
    vendor.server.fail(400, message="passages[3] is not acceptable today")
    with pytest.raises(RemoteClientError) as info:
        vendor.make(max_retries=3).rerank(QUERY, DOCS)
    err = info.value
    assert not isinstance(err, AuthenticationError)
    assert err.status == 400 and err.provider == vendor.name
    assert "passages[3] is not acceptable today" in str(err)
    assert "HTTP 400" in str(err) and "POST /" in str(err)
    assert len(vendor.server.requests) == 1


@pytest.mark.parametrize("kind", MALFORMATIONS)
def test_malformed_body_raises_malformed_response_error(vendor, kind):
    vendor.server.malform(kind, times=5)
    with pytest.raises(MalformedResponseError) as info:
        vendor.make(max_retries=3).rerank(QUERY, DOCS)
    assert info.value.provider == vendor.name
    assert "breaks the documented contract" in str(info.value)
    assert len(vendor.server.requests) == 1  # a broken 2xx is not retried


def test_connection_refused_raises_server_error(vendor):
    client = vendor.make(max_retries=1)
    vendor.server.stop()  # nothing listens on the port any more
    with pytest.raises(RemoteServerError) as info:
        client.rerank(QUERY, DOCS)
    assert info.value.status is None
    assert "failed to connect" in str(info.value)


def test_async_rerank_matches_sync(vendor):
    client = vendor.make()
    sync = client.rerank(QUERY, DOCS, top_n=3)
    result = asyncio.run(client.arerank(QUERY, DOCS, top_n=3))
    assert result == sync


def test_async_retries_429_and_maps_errors(vendor):
    vendor.server.fail(429, times=1, retry_after="0.05")
    client = vendor.make(max_retries=1)
    result = asyncio.run(client.arerank(QUERY, DOCS))
    assert [r.index for r in result] == EXPECTED_ORDER
    vendor.server.fail(500, times=2)
    with pytest.raises(RemoteServerError):
        asyncio.run(client.arerank(QUERY, DOCS))


def test_every_remote_error_is_a_remote_error(vendor):
    vendor.server.malform("not_json")
    with pytest.raises(RemoteError):
        vendor.make().rerank(QUERY, DOCS)
