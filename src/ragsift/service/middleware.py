"""ASGI middleware, outermost first: access log + metrics + last-resort 500, timeout, API keys, body limit.

All four are plain ASGI (no ``BaseHTTPMiddleware``), and every error they produce goes through
:func:`ragsift.service.errors.error_response`, so it has the one JSON body and the table's status.

* :class:`AccessLogMiddleware` — one log line per request (JSON with ``log_json``) with the request
  id, method, route template, status, duration and number of passages; never headers, keys or
  texts. Health and metrics requests log at DEBUG. Counts ``ragsift_requests_total`` and observes
  the ``total`` stage. An exception nothing else handled becomes a 500 JSON body here.
* :class:`TimeoutMiddleware` — a request still running after ``request_timeout_s`` answers 504.
  Its handler is not cancelled (it may be finishing a write); its late answer is dropped, and its
  rerank job, if still queued, is dropped before it reaches the model (:func:`request_deadline`).
* :class:`APIKeyMiddleware` — with keys configured, ``Authorization: Bearer <key>`` must match one
  of them (``hmac.compare_digest``); health endpoints stay open.
* :class:`BodyLimitMiddleware` — a body over ``max_body_bytes`` is a 413 before anything parses
  it (from ``Content-Length`` when sent, else while reading); a body holding a lone surrogate or
  an out-of-range number is a 400 naming the field (:mod:`ragsift.service.body_checks`).
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import re
import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from starlette.requests import Request
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ragsift.errors import BadInputError
from ragsift.service.body_checks import check_json_body
from ragsift.service.errors import PayloadTooLargeError, RequestTimeoutError, UnauthorizedError, error_response
from ragsift.service.metrics import ServiceMetrics

__all__ = [
    "OPEN_PATHS",
    "OPS_PATHS",
    "AccessLogMiddleware",
    "TimeoutMiddleware",
    "APIKeyMiddleware",
    "BodyLimitMiddleware",
    "note_passages",
    "request_deadline",
]

access_logger = logging.getLogger("ragsift.service.access")
logger = logging.getLogger("ragsift.service")

#: Paths that never need an API key.
OPEN_PATHS = frozenset({"/v1/health/live", "/v1/health/ready", "/health"})
#: Operational paths: no timeout, DEBUG-level access log, not in the ``total`` stage histogram.
OPS_PATHS = OPEN_PATHS | {"/v1/metrics", "/metrics"}
_SCOPE_KEY = "ragsift"
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def note_passages(request: Request, n: int) -> None:
    """Record how many passages/documents this request handled, for its access-log line."""
    request.scope.setdefault(_SCOPE_KEY, {})["passages"] = n


def _route_label(scope: Scope, routes: Callable[[], Iterable[Any]] | None) -> str:
    """The path template of the route (``/v1/ranking``), also for requests stopped before routing."""
    route = scope.get("route")
    if route is None and routes is not None:
        route = next((r for r in routes() if r.matches(scope)[0] is Match.FULL), None)
    return getattr(route, "path", None) or "<unmatched>"


class AccessLogMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        metrics: ServiceMetrics,
        log_json: bool = True,
        routes: Callable[[], Iterable[Any]] | None = None,
    ):
        self.app = app
        self.metrics = metrics
        self.log_json = log_json
        self.routes = routes  # the app's routes, to label requests rejected before routing

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        request_id = _request_id(scope)
        status = 500
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                started = True
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception as exc:  # nothing below handled it: log it, answer a clean 500
            if started:
                logger.error("error after the response started (%s): %s", request_id, exc, exc_info=exc)
            else:
                await error_response(exc)(scope, receive, send_with_id)
        finally:
            self._record(scope, request_id, status, time.perf_counter() - start)

    def _record(self, scope: Scope, request_id: str, status: int, seconds: float) -> None:
        route = _route_label(scope, self.routes)
        method = scope.get("method", "")
        self.metrics.count_request(route, method, status)
        ops = scope.get("path") in OPS_PATHS
        if not ops:
            self.metrics.observe_stage("total", seconds)
        fields: dict[str, Any] = {
            "event": "request",
            "request_id": request_id,
            "method": method,
            "route": route,
            "status": status,
            "duration_ms": round(seconds * 1000, 2),
        }
        passages = scope.get(_SCOPE_KEY, {}).get("passages")
        if passages is not None:
            fields["passages"] = passages
        level = logging.DEBUG if ops else logging.INFO
        if access_logger.isEnabledFor(level):
            access_logger.log(level, self._format(fields))

    def _format(self, fields: dict[str, Any]) -> str:
        if self.log_json:
            return json.dumps(fields, separators=(",", ":"))
        return " ".join(f"{k}={v}" for k, v in fields.items())


def _request_id(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            candidate = value.decode("latin-1")
            if _REQUEST_ID.match(candidate):
                return candidate
    return uuid.uuid4().hex


class TimeoutMiddleware:
    def __init__(self, app: ASGIApp, *, timeout_s: float, exempt: Iterable[str] = OPS_PATHS):
        self.app = app
        self.timeout_s = timeout_s
        self.exempt = frozenset(exempt)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") in self.exempt:
            await self.app(scope, receive, send)
            return
        state = {"started": False, "timed_out": False}
        scope.setdefault(_SCOPE_KEY, {})["deadline"] = time.monotonic() + self.timeout_s

        async def guarded_send(message: Message) -> None:
            if state["timed_out"]:
                return  # the 504 went out; the abandoned handler's late response is dropped
            if message["type"] == "http.response.start":
                state["started"] = True
            await send(message)

        task = asyncio.ensure_future(self.app(scope, receive, guarded_send))
        try:
            done, _ = await asyncio.wait({task}, timeout=self.timeout_s)
        except asyncio.CancelledError:
            task.cancel()
            raise
        if task in done or state["started"]:
            await task  # finished (or answering already): its result or exception
            return
        state["timed_out"] = True
        # Not cancelled: a handler may be half-way through a change it must finish (a collection
        # write). Work that only produces the answer expires instead: the batcher drops a job whose
        # deadline has passed before it reaches the model (see request_deadline).
        task.add_done_callback(_swallow)
        exc = RequestTimeoutError(
            f"the request did not finish within request_timeout_s={self.timeout_s:g} s; the service may be "
            "overloaded. Fix: retry later, send fewer passages, or raise request_timeout_s"
        )
        await error_response(exc)(scope, receive, send)


def _swallow(task: asyncio.Task) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.debug("timed-out request ended with %r", task.exception())


def request_deadline(request: Request) -> float | None:
    """``time.monotonic()`` value after which this request's answer is no longer wanted (504 sent)."""
    return request.scope.get(_SCOPE_KEY, {}).get("deadline")


class APIKeyMiddleware:
    def __init__(self, app: ASGIApp, *, keys: Iterable[str], open_paths: Iterable[str] = OPEN_PATHS):
        self.app = app
        self.keys = [k.encode("utf-8") for k in keys]
        self.open_paths = frozenset(open_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.keys or scope.get("path") in self.open_paths:
            await self.app(scope, receive, send)
            return
        problem = self._check(scope)
        if problem is None:
            await self.app(scope, receive, send)
        else:
            await error_response(UnauthorizedError(problem))(scope, receive, send)

    def _check(self, scope: Scope) -> str | None:
        header = next((v for k, v in scope.get("headers", ()) if k == b"authorization"), None)
        if header is None:
            return "missing API key; send the header 'Authorization: Bearer <key>'"
        scheme, _, token = header.decode("latin-1").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return "malformed Authorization header; send 'Authorization: Bearer <key>'"
        given = token.strip().encode("latin-1")
        match = False
        for key in self.keys:  # every key is compared, so timing does not tell which one is close
            match |= hmac.compare_digest(given, key)
        return None if match else "invalid API key"


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, *, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        try:
            self._check_declared(scope)
            body = await self._read(receive)
            check_json_body(body)
        except (PayloadTooLargeError, BadInputError) as exc:
            await error_response(exc)(scope, receive, send)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    def _too_large(self, size: int | str) -> PayloadTooLargeError:
        return PayloadTooLargeError(
            f"the request body ({size} bytes) is larger than max_body_bytes={self.max_bytes}; "
            "send fewer or shorter passages per request"
        )

    def _check_declared(self, scope: Scope) -> None:
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    size = int(value)
                except ValueError:
                    raise BadInputError(f"Content-Length={value.decode('latin-1')!r} is not an integer") from None
                if size > self.max_bytes:
                    raise self._too_large(size)

    async def _read(self, receive: Receive) -> bytes:
        chunks = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                raise self._too_large(f"more than {self.max_bytes}")
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)
