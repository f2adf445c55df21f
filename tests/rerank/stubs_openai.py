"""A real local server speaking the OpenAI chat-completions wire contract, for reranker tests.

``OpenAIStub`` runs a stdlib ``ThreadingHTTPServer`` on 127.0.0.1 (ephemeral port) in a background
thread and serves ``POST /v1/chat/completions``:

- it validates the request like the real API (JSON body, ``model`` string equal to the served
  model, non-empty ``messages`` of ``{role, content}``, numeric ``temperature``, positive integer
  ``max_tokens``, optional ``Authorization: Bearer <key>``) and answers errors with the OpenAI
  error body ``{"error": {"message", "type", "param", "code"}}``;
- it answers deterministically by reading the last user message. A pointwise prompt
  (``Query: …`` / ``Passage: …`` lines) gets the grade *number of distinct query words found in the
  passage*, capped at 10, written in ``style`` (see :data:`POINTWISE_STYLES`; ``style`` may also be a
  callable ``(query, passage) -> style``). A listwise prompt (``[i] …`` lines and a
  ``Search Query: …`` line) gets the permutation sorting passages by the same overlap (uncapped,
  ties by id) as ``[3] > [1] > [2]``; styles ``"prose"`` and ``"garbage"`` change its wording;
- :meth:`OpenAIStub.fail` queues :class:`Fault` s, consumed one per request in arrival order
  (429 with ``Retry-After``, 5xx, a delay past the client's timeout, a body without ``choices``, a
  given content…), after which it behaves normally again;
- it records every request (``requests``) and the maximum number of requests in flight at once
  (``max_in_flight``); ``latency`` seconds of delay per answer make concurrency observable.

Use as a context manager: ``with OpenAIStub(model="m") as stub: LLMReranker("m", base_url=stub.base_url)``.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

__all__ = ["OpenAIStub", "Fault", "POINTWISE_STYLES", "overlap"]

POINTWISE_STYLES = ("json", "fenced", "prose_json", "prose", "bare", "fraction", "float", "garbage")
_ROLES = {"system", "user", "assistant", "developer", "tool"}
_ERROR_TYPES = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    404: ("invalid_request_error", "model_not_found"),
    429: ("requests", "rate_limit_exceeded"),
}
_WORD = re.compile(r"[a-z0-9]+")


def overlap(query: str, passage: str) -> int:
    """Number of distinct query words that occur in the passage (lowercased alphanumeric words)."""
    return len(set(_WORD.findall(query.lower())) & set(_WORD.findall(passage.lower())))


def pointwise_answer(grade: int, style: str) -> str:
    """The assistant content for ``grade`` written in ``style`` (one of :data:`POINTWISE_STYLES`)."""
    answers = {
        "json": f'{{"relevance": {grade}}}',
        "fenced": f'```json\n{{"relevance": {grade}}}\n```',
        "prose_json": f'Here is my judgment: {{"relevance": {grade}}} (based on the shared terms).',
        "prose": f"After reading the passage carefully, I would rate its relevance as {grade}.",
        "bare": f"{grade}",
        "fraction": f"{grade}/10",
        "float": f"{grade + 0.25}",
        "garbage": "I am not able to judge this passage.",
    }
    return answers[style]


def listwise_answer(permutation: list[int], style: str) -> str:
    ranking = " > ".join(f"[{i}]" for i in permutation)
    if style == "garbage":
        return "I'm sorry, I cannot rank these passages."
    if style == "prose":
        return f"Sure! Based on relevance, the ranking is: {ranking}. Let me know if you need more."
    return ranking


@dataclass
class Fault:
    """How to misbehave on one request. The first field set wins: ``body``/``raw``, ``status``, ``content``.

    ``delay`` (seconds) is slept first, whatever else is set (alone: a slow but correct answer).
    """

    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    body: Any = None
    raw: str | None = None
    content: str | None = None


class _BadRequest(Exception):
    def __init__(self, status: int, message: str):
        self.status = status
        super().__init__(message)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are separate writes: avoid 40 ms delayed-ACK stalls
    server: "_Server"

    def do_POST(self) -> None:  # noqa: N802 (http.server naming)
        self.server.stub._handle(self)

    def do_GET(self) -> None:  # noqa: N802
        self.server.stub._send(self, 404, _error_body(404, f"Unknown path {self.path}"))

    def log_message(self, format: str, *args: object) -> None:  # silence per-request logging
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    stub: "OpenAIStub"


def _error_body(status: int, message: str) -> dict:
    kind, code = _ERROR_TYPES.get(status, ("server_error" if status >= 500 else "invalid_request_error", None))
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


class OpenAIStub:
    """See the module docstring."""

    def __init__(
        self,
        *,
        model: str = "stub-model",
        api_key: str | None = None,
        style: str | Callable[[str, str], str] = "json",
        latency: float = 0.0,
    ):
        self.model = model
        self.api_key = api_key
        self.style = style
        self.latency = latency
        self.requests: list[dict[str, Any]] = []
        self.max_in_flight = 0
        self._in_flight = 0
        self._faults: deque[Fault] = deque()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------------------------

    def __enter__(self) -> "OpenAIStub":
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.stub = self
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="openai-stub", daemon=True
        )
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()  # wakes handlers sleeping in a delay
        assert self._server is not None and self._thread is not None
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    @property
    def base_url(self) -> str:
        assert self._server is not None, "use OpenAIStub as a context manager"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    def fail(self, *faults: Fault) -> None:
        """Queue faults for the next requests, one per request."""
        with self._lock:
            self._faults.extend(faults)

    def user_prompts(self) -> list[str]:
        """The last user message of every recorded request that had a valid body."""
        out = []
        for r in self.requests:
            body = r["json"]
            if isinstance(body, dict) and isinstance(body.get("messages"), list):
                users = [m.get("content") for m in body["messages"] if isinstance(m, dict) and m.get("role") == "user"]
                if users:
                    out.append(users[-1])
        return out

    # -- request handling ----------------------------------------------------------------------

    def _handle(self, h: _Handler) -> None:
        raw = h.rfile.read(int(h.headers.get("Content-Length") or 0))
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        with self._lock:
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)
            self.requests.append({"path": h.path, "headers": dict(h.headers), "json": body, "time": time.monotonic()})
            fault = self._faults.popleft() if self._faults else None
        try:
            self._respond(h, body, fault)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout); nothing to answer
        finally:
            with self._lock:
                self._in_flight -= 1

    def _respond(self, h: _Handler, body: Any, fault: Fault | None) -> None:
        try:
            if h.path.rstrip("/") != "/v1/chat/completions":
                raise _BadRequest(404, f"Unknown path {h.path}; this server serves POST /v1/chat/completions")
            self._check_auth(h.headers.get("Authorization"))
            messages = self._validate(body)
        except _BadRequest as exc:
            self._send(h, exc.status, _error_body(exc.status, str(exc)))
            return
        if fault is not None and fault.delay:
            self._stop.wait(fault.delay)
        if fault is not None and (fault.body is not None or fault.raw is not None):
            self._send(h, fault.status or 200, fault.raw if fault.raw is not None else fault.body, fault.headers)
            return
        if fault is not None and fault.status is not None:
            self._send(h, fault.status, _error_body(fault.status, f"stub fault {fault.status}"), fault.headers)
            return
        if self.latency:
            self._stop.wait(self.latency)
        content = fault.content if fault is not None and fault.content is not None else self._answer(messages)
        self._send(h, 200, self._completion(content))

    def _check_auth(self, header: str | None) -> None:
        if self.api_key is None:
            return
        if header != f"Bearer {self.api_key}":
            raise _BadRequest(401, "Incorrect API key provided.")

    def _validate(self, body: Any) -> list[dict]:
        if not isinstance(body, dict):
            raise _BadRequest(400, "The request body must be a JSON object.")
        if not isinstance(body.get("model"), str) or not body["model"]:
            raise _BadRequest(400, "you must provide a model parameter")
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise _BadRequest(400, "'messages' must be a non-empty array")
        for i, m in enumerate(messages):
            if not isinstance(m, dict) or m.get("role") not in _ROLES or not isinstance(m.get("content"), str):
                raise _BadRequest(400, f"Invalid value for 'messages[{i}]': expected {{role, content}}")
        t = body.get("temperature", 1)
        if isinstance(t, bool) or not isinstance(t, (int, float)) or not 0 <= t <= 2:
            raise _BadRequest(400, f"Invalid 'temperature': {t!r}")
        mt = body.get("max_tokens", 1)
        if isinstance(mt, bool) or not isinstance(mt, int) or mt < 1:
            raise _BadRequest(400, f"Invalid 'max_tokens': {mt!r}")
        if body["model"] != self.model:
            raise _BadRequest(404, f"The model `{body['model']}` does not exist or you do not have access to it.")
        return messages

    def _answer(self, messages: list[dict]) -> str:
        prompt = [m["content"] for m in messages if m["role"] == "user"][-1]
        search = re.search(r"^Search Query: (.*)$", prompt, re.MULTILINE)
        if search:
            passages = {int(i): text for i, text in re.findall(r"^\[(\d+)\] ?(.*)$", prompt, re.MULTILINE)}
            ids = sorted(passages, key=lambda i: (-overlap(search.group(1), passages[i]), i))
            style = self.style if isinstance(self.style, str) else self.style(search.group(1), "")
            return listwise_answer(ids, style)
        query = re.search(r"^Query: (.*)$", prompt, re.MULTILINE)
        passage = re.search(r"^Passage: ?(.*)$", prompt, re.MULTILINE)
        if not (query and passage):
            return "I do not understand the request."
        style = self.style if isinstance(self.style, str) else self.style(query.group(1), passage.group(1))
        return pointwise_answer(min(overlap(query.group(1), passage.group(1)), 10), style)

    def _completion(self, content: str) -> dict:
        return {
            "id": f"chatcmpl-stub{len(self.requests)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": self.model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 0, "completion_tokens": len(content.split()), "total_tokens": 0},
        }

    def _send(self, h: BaseHTTPRequestHandler, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
        h.send_response(status)
        h.send_header("Content-Type", "application/json" if not isinstance(payload, str) else "text/plain")
        h.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        h.end_headers()
        h.wfile.write(data)
        h.wfile.flush()
