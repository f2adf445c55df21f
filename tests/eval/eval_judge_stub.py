"""A local judge model speaking the OpenAI chat-completions contract, for the LLM-judge tests.

``JudgeStub`` runs a stdlib ``ThreadingHTTPServer`` on 127.0.0.1 (ephemeral port) and serves
``POST /v1/chat/completions``. It validates the request (JSON body, ``model`` equal to the served
model, non-empty ``messages`` of ``{role, content}``) and answers each of ragsift's three judge
prompts deterministically, recognised by their task line:

- *answer*: the first sentence of context passage [1] (so every statement is supported);
- *faithfulness*: the answer split into sentences, each ``supported`` iff it occurs verbatim in
  the context, as ``{"statements": [...]}`` wrapped in prose and a fenced block;
- *relevancy*: ``{"questions": [<the answer itself>, <the answer itself>], "noncommittal": false}``.

``mode`` changes the behaviour: ``"malformed"`` answers the two judging prompts with text that has
no JSON; ``"slow"`` sleeps ``delay`` seconds before every answer (past the client's timeout).
Every request is recorded in ``requests``; ``max_in_flight`` is the peak concurrency.
"""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from ragsift.eval.judge import ANSWER_TASK, FAITHFULNESS_TASK, RELEVANCY_TASK

_CONTEXT_1 = re.compile(r"^\[1\] (.*)$", re.MULTILINE)
_ANSWER = re.compile(r"^Answer: (.*)$", re.MULTILINE)


def first_sentence(text: str) -> str:
    return re.split(r"(?<=\.)\s", text.strip(), maxsplit=1)[0]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def do_POST(self) -> None:  # noqa: N802
        self.server.stub.handle(self)  # type: ignore[attr-defined]

    def log_message(self, format: str, *args: object) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True


class JudgeStub:
    def __init__(self, *, model: str = "judge", mode: str = "ok", delay: float = 0.0):
        self.model, self.mode, self.delay = model, mode, delay
        self.requests: list[dict[str, Any]] = []
        self.max_in_flight = 0
        self._in_flight = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()

    def __enter__(self) -> "JudgeStub":
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.stub = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    def handle(self, h: _Handler) -> None:
        body = json.loads(h.rfile.read(int(h.headers.get("Content-Length") or 0)) or b"null")
        with self._lock:
            self.requests.append(body)
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)
        try:
            status, payload = self._answer(body)
            if self.delay:
                self._stop.wait(self.delay)
            data = json.dumps(payload).encode()
            h.send_response(status)
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Length", str(len(data)))
            h.end_headers()
            h.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass
        finally:
            with self._lock:
                self._in_flight -= 1

    def _answer(self, body: Any) -> tuple[int, dict]:
        if not isinstance(body, dict) or body.get("model") != self.model:
            return 404, {"error": {"message": "unknown model", "type": "invalid_request_error", "param": None, "code": None}}
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages or not all(isinstance(m, dict) and isinstance(m.get("content"), str) for m in messages):
            return 400, {"error": {"message": "bad messages", "type": "invalid_request_error", "param": None, "code": None}}
        prompt = [m["content"] for m in messages if m.get("role") == "user"][-1]
        return 200, {"choices": [{"index": 0, "message": {"role": "assistant", "content": self._content(prompt)}}]}

    def _content(self, prompt: str) -> str:
        if prompt.startswith(ANSWER_TASK):
            return first_sentence(_CONTEXT_1.search(prompt).group(1))
        if self.mode == "malformed":
            return "I would rather not answer in JSON today."
        answer = _ANSWER.search(prompt).group(1)
        if prompt.startswith(FAITHFULNESS_TASK):
            context = prompt.split("Context:", 1)[1].split("Question:", 1)[0]
            sentences = [s for s in re.split(r"(?<=\.)\s+", answer) if s]
            statements = [{"statement": s, "supported": s in context} for s in sentences]
            return "Here is my analysis:\n```json\n" + json.dumps({"statements": statements}) + "\n```"
        if prompt.startswith(RELEVANCY_TASK):
            return json.dumps({"questions": [answer, answer], "noncommittal": False})
        return "unknown task"
