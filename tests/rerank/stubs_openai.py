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
  A grounded-answer prompt (a ``Question: …`` line after passages marked ``[1]``, ``[2]``…) gets
  one sentence per passage that shares words with the question (at most ``max_cited``, most
  shared words first, ties by number), each made of the first words of the passage's text (a
  ``Title:`` line is skipped) and ending with its citation, as ``Cats purr when they are content [2].``;
- ``"stream": true`` answers like the real API: ``text/event-stream``, chunked, one
  ``chat.completion.chunk`` per word (the first carries ``delta.role``), a last chunk with
  ``finish_reason``, a usage chunk (``choices: []``) when ``stream_options.include_usage`` is
  true, then ``data: [DONE]``. ``stream_options`` without ``stream`` is a 400, as upstream;
- every answer echoes the served ``model`` and reports ``usage`` (words counted as tokens);
- :meth:`OpenAIStub.fail` queues :class:`Fault` s, consumed one per request in arrival order
  (429 with ``Retry-After``, 5xx, a delay past the client's timeout, a body without ``choices``, a
  given content, a stream cut after some chunks…), after which it behaves normally again;
- it records every request (``requests``; :attr:`OpenAIStub.calls` counts those to the
  chat-completions path) and the maximum number of requests in flight at once (``max_in_flight``);
  ``latency`` seconds of delay per answer make concurrency observable.

Use as a context manager: ``with OpenAIStub(model="m") as stub: LLMReranker("m", base_url=stub.base_url)``.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

__all__ = ["OpenAIStub", "Fault", "POINTWISE_STYLES", "overlap", "grounded_answer", "numbered_passages"]

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


def numbered_passages(text: str) -> dict[int, str]:
    """``{n: passage}`` of the blocks that start with ``[n]`` on a line of their own (up to the next one)."""
    marks = list(re.finditer(r"^\[(\d+)\] ?", text, re.MULTILINE))
    ends = [m.start() for m in marks[1:]] + [len(text)]
    return {int(m.group(1)): text[m.end() : end].strip() for m, end in zip(marks, ends)}


def grounded_answer(question: str, passages: dict[int, str], max_cited: int) -> str:
    """One sentence per passage sharing words with ``question`` (most first), each citing it: ``… [n].``"""
    ranked = sorted((n for n in passages if overlap(question, passages[n])), key=lambda n: (-overlap(question, passages[n]), n))
    if not ranked:
        return "The passages do not answer this question."
    sentences = []
    for n in ranked[:max_cited]:
        body = re.sub(r"^Title:.*$", "", passages[n], flags=re.MULTILINE)  # the sentence comes from the text
        words = _WORD.findall(body.lower())
        sentences.append(f"{' '.join(words[:8]).capitalize()} [{n}].")
    return " ".join(sentences)


def _usage(messages: list[dict], content: str) -> dict:
    prompt = sum(len(m["content"].split()) for m in messages)
    completion = len(content.split())
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


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
    #: Streaming only: close the connection after this many chunks, without [DONE] nor the last chunk.
    cut_after: int | None = None
    #: Streaming only: send this JSON object as a data event (e.g. ``{"error": {...}}``) after the first chunk.
    event: Any = None


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
        max_cited: int = 2,
    ):
        self.model = model
        self.api_key = api_key
        self.style = style
        self.latency = latency
        self.max_cited = max_cited
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

    @property
    def calls(self) -> int:
        """Requests received on the chat-completions path (valid or not)."""
        with self._lock:
            return sum(1 for r in self.requests if r["path"].rstrip("/") == "/v1/chat/completions")

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
        usage = _usage(messages, content)
        if body.get("stream"):
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            self._stream(h, content, usage if include_usage else None, fault)
        else:
            self._send(h, 200, self._completion(content, usage))

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
        stream = body.get("stream", False)
        if not isinstance(stream, bool):
            raise _BadRequest(400, f"Invalid type for 'stream': expected a boolean, got {stream!r}")
        options = body.get("stream_options")
        if options is not None:
            if not stream:
                raise _BadRequest(400, "The 'stream_options' parameter is only allowed when 'stream' is enabled.")
            if not isinstance(options, dict) or not isinstance(options.get("include_usage", False), bool):
                raise _BadRequest(400, f"Invalid 'stream_options': {options!r}")
        if body["model"] != self.model:
            raise _BadRequest(404, f"The model `{body['model']}` does not exist or you do not have access to it.")
        return messages

    def _answer(self, messages: list[dict]) -> str:
        prompt = [m["content"] for m in messages if m["role"] == "user"][-1]
        question = re.search(r"^Question: (.*)$", prompt, re.MULTILINE)
        if question:
            return grounded_answer(question.group(1), numbered_passages(prompt[: question.start()]), self.max_cited)
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

    def _completion(self, content: str, usage: dict) -> dict:
        return {
            "id": f"chatcmpl-stub{len(self.requests)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": self.model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
            "usage": usage,
        }

    def _chunk(self, delta: dict, finish_reason: str | None = None, usage: dict | None = None) -> dict:
        chunk = {
            "id": f"chatcmpl-stub{len(self.requests)}",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": self.model,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}],
        }
        if usage is not None:
            chunk["choices"], chunk["usage"] = [], usage
        return chunk

    def _stream(self, h: BaseHTTPRequestHandler, content: str, usage: dict | None, fault: Fault | None) -> None:
        """Server-sent events, chunked: role + first word, one chunk per further word, finish, usage, [DONE]."""
        words = re.findall(r"\S+\s*", content) or [""]
        events: list[Any] = [self._chunk({"role": "assistant", "content": words[0]})]
        events += [self._chunk({"content": w}) for w in words[1:]]
        if fault is not None and fault.event is not None:
            events.insert(1, fault.event)
        events.append(self._chunk({}, finish_reason="stop"))
        if usage is not None:
            events.append(self._chunk({}, usage=usage))
        events.append("[DONE]")
        h.send_response(200)
        h.send_header("Content-Type", "text/event-stream; charset=utf-8")
        h.send_header("Cache-Control", "no-cache")
        h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()
        for i, event in enumerate(events):
            if fault is not None and fault.cut_after is not None and i == fault.cut_after:
                h.wfile.flush()
                h.close_connection = True
                h.connection.shutdown(socket.SHUT_RDWR)  # no terminating chunk: the body is cut short
                return
            data = event if isinstance(event, str) else json.dumps(event)
            payload = f"data: {data}\n\n".encode()
            h.wfile.write(f"{len(payload):x}\r\n".encode() + payload + b"\r\n")
            h.wfile.flush()
        h.wfile.write(b"0\r\n\r\n")
        h.wfile.flush()

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
