"""A tiny threaded HTTP server that plays one vendor's API, with faults that tests switch on.

``StubServer(app)`` runs ``app`` (a callable ``Request -> Reply``) on 127.0.0.1 on an ephemeral
port in a background thread (stdlib ``ThreadingHTTPServer``, HTTP/1.1 keep-alive). Every request
is recorded in ``server.requests``. Queued faults apply to the next requests, one per request:

- ``fail(status, times=, message=, retry_after=)``: answer with the vendor's own error body;
- ``stall(seconds, times=)``: sleep (longer than the client's timeout), then answer normally;
- ``malform(kind, times=)``: answer normally, then break the body (``not_json``, ``missing_field``,
  ``wrong_index``, ``wrong_count``) the way the vendor's app describes.

An exception inside an app is recorded in ``server.crashes`` (the fixtures assert there are none)
and answered with a bare 500, so a stub bug never passes for a client bug.
"""

from __future__ import annotations

import json
import re
import threading
import traceback
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

MALFORMATIONS = ("not_json", "missing_field", "wrong_index", "wrong_count")


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-cased names
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def bearer(self) -> str | None:
        """The token of an ``Authorization: Bearer <token>`` header, if any."""
        auth = self.headers.get("authorization", "")
        m = re.match(r"(?i)bearer\s+(.+)$", auth.strip())
        return m.group(1) if m else None


@dataclass
class Reply:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, obj: Any, headers: dict[str, str] | None = None) -> "Reply":
        return cls(status, json.dumps(obj).encode(), {"Content-Type": "application/json", **(headers or {})})

    @classmethod
    def text(cls, status: int, text: str, content_type: str = "text/plain; charset=utf-8") -> "Reply":
        return cls(status, text.encode(), {"Content-Type": content_type})

    def payload(self) -> Any:
        return json.loads(self.body)


class App(Protocol):
    def __call__(self, request: Request) -> Reply: ...
    def error(self, status: int, message: str | None = None, **extra: Any) -> Reply: ...
    def malform(self, kind: str, reply: Reply) -> Reply: ...


class Invalid(Exception):
    """Raised inside an app to answer with the vendor's error body."""

    def __init__(self, status: int, message: str, **extra: Any):
        super().__init__(message)
        self.status = status
        self.message = message
        self.extra = extra


NOT_JSON = Reply.text(200, "<html><body><h1>It works!</h1></body></html>", "text/html")


class ListShapedApp:
    """Malformations for the common shape: a list of ``{index, score}`` items under ``ITEMS``.

    ``ITEMS`` is the key of the list (None: the body is the list); ``INDEX`` the index field;
    ``REQUIRED`` the field whose absence breaks the contract.
    """

    ITEMS: str | None = "results"
    INDEX = "index"
    REQUIRED = "relevance_score"

    def bad_index(self, n: int) -> Any:
        return n + 7

    def malform(self, kind: str, reply: Reply) -> Reply:
        if kind == "not_json":
            return NOT_JSON
        payload = reply.payload()
        items = payload if self.ITEMS is None else payload[self.ITEMS]
        if kind == "missing_field":
            del items[0][self.REQUIRED]
        elif kind == "wrong_index":
            items[0][self.INDEX] = self.bad_index(len(items))
        elif kind == "wrong_count":
            items.pop()
        else:
            raise ValueError(f"unknown malformation {kind!r}; choose one of {MALFORMATIONS}")
        return Reply.json(reply.status, payload)


@dataclass
class _Fault:
    kind: str  # fail | stall | malform
    status: int = 0
    message: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    malformation: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    wbufsize = -1  # buffer headers + body into one write: no Nagle/delayed-ACK stalls on keep-alive
    server: "_Server"

    def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
        pass

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        split = urlsplit(self.path)
        request = Request(
            method=self.command,
            path=split.path,
            query=parse_qs(split.query),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
        )
        reply = self.server.stub.dispatch(request)
        if reply is None:
            return
        try:
            self.send_response(reply.status)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            self.wfile.write(reply.body)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout test)

    do_POST = do_GET = do_PUT = do_DELETE = _handle


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    stub: "StubServer"


class StubServer:
    """Serve ``app`` on 127.0.0.1:<ephemeral> until :meth:`stop`."""

    def __init__(self, app: App):
        self.app = app
        self.requests: list[Request] = []
        self.crashes: list[str] = []
        self._faults: deque[_Fault] = deque()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> "StubServer":
        self._httpd = _Server(("127.0.0.1", 0), _Handler)
        self._httpd.stub = self
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> "StubServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._httpd is not None, "start() the stub first"
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    # -- faults ----------------------------------------------------------------------------------

    def fail(self, status: int, *, times: int = 1, message: str | None = None, retry_after: str | None = None,
             **extra: Any) -> "StubServer":
        headers = {"Retry-After": retry_after} if retry_after is not None else {}
        self._queue(times, _Fault("fail", status=status, message=message, headers=headers, extra=extra))
        return self

    def stall(self, seconds: float, *, times: int = 1) -> "StubServer":
        self._queue(times, _Fault("stall", seconds=seconds))
        return self

    def malform(self, kind: str, *, times: int = 1) -> "StubServer":
        if kind not in MALFORMATIONS:
            raise ValueError(f"unknown malformation {kind!r}; choose one of {MALFORMATIONS}")
        self._queue(times, _Fault("malform", malformation=kind))
        return self

    def _queue(self, times: int, fault: _Fault) -> None:
        with self._lock:
            self._faults.extend([fault] * times)

    # -- serving ---------------------------------------------------------------------------------

    def dispatch(self, request: Request) -> Reply | None:
        with self._lock:
            self.requests.append(request)
            fault = self._faults.popleft() if self._faults else None
        try:
            if fault and fault.kind == "stall":
                if self._stopping.wait(fault.seconds):
                    return None
            if fault and fault.kind == "fail":
                reply = self.app.error(fault.status, fault.message, **fault.extra)
                reply.headers.update(fault.headers)
                return reply
            reply = self.app(request)
            if fault and fault.kind == "malform" and reply.status == 200:
                reply = self.app.malform(fault.malformation, reply)
            return reply
        except Exception:  # a bug in the stub, not in the client
            self.crashes.append(traceback.format_exc())
            return Reply.text(500, "stub crashed")

    def bodies(self) -> list[Any]:
        """The JSON bodies received so far."""
        return [r.json() for r in self.requests]

