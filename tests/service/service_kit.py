"""Helpers of the service suite: small real rerankers, readiness polling, a real uvicorn server.

The rerankers here are real :class:`Reranker` subclasses (collaborators of the service, not mocks
of it): a deterministic word-overlap scorer with a token limit and NIM-style ``truncate`` option,
and variants that block on an event so tests can hold the model thread busy.
"""

from __future__ import annotations

import contextlib
import math
import socket
import threading
import time
from collections.abc import Iterator, Sequence

import httpx

from ragsift.errors import PassageTooLongError
from ragsift.rerank.base import Reranker, Scores, Truncate, sigmoid

WAIT_S = 10.0  # upper bound for anything a test waits on; never reached when the code works
MODEL = "ragsift/tiny-ce"
#: Small limits so the tests can cross them cheaply; the tiny model reads at most 128 tokens.
CE_SETTINGS = dict(
    served_model_name=MODEL,
    max_passages=8,
    max_chars_per_passage=5000,
    max_query_chars=200,
    max_body_bytes=64 * 1024,
)
LONG = "word " * 200  # ~200 tokens: over the tiny model's 128, under max_chars_per_passage


class OverlapReranker(Reranker):
    """raw = shared words with the query − 0.01 × passage words (deterministic, pointwise).

    ``limit`` is a word limit per passage; over it, ``truncate=NONE`` raises PassageTooLongError and
    ``END`` cuts the passage. ``calls`` records ``(query, n_passages)`` of every ``score`` call.
    ``gate``, when given, is waited on at the start of each call (hold the model thread busy).
    """

    truncation_modes = frozenset(Truncate)  # declared: the service switches it per request

    def __init__(self, *, limit: int = 50, gate: threading.Event | None = None, delay: float = 0.0):
        self.name = "overlap"
        self.limit = limit
        self.truncate = Truncate.END
        self.gate = gate
        self.delay = delay
        self.calls: list[tuple[str, int]] = []
        self.warmed = False

    def warm_up(self) -> None:
        self.warmed = True

    def score(self, query: str, documents: Sequence[str]) -> Scores:
        if self.gate is not None:
            assert self.gate.wait(WAIT_S), "test gate was never opened"
        if self.delay:
            time.sleep(self.delay)
        self.calls.append((query, len(documents)))
        q = set(query.lower().split())
        raw = []
        for i, doc in enumerate(documents):
            words = doc.lower().split()
            if len(words) > self.limit:
                if self.truncate is Truncate.NONE:
                    raise PassageTooLongError(
                        f"documents[{i}] is too long", index=i, tokens=len(words), limit=self.limit
                    )
                words = words[: self.limit]
            raw.append(len(q & set(words)) - 0.01 * len(words))
        return Scores(raw=raw, relevance=[sigmoid(x) for x in raw])


class GatedWarmUpReranker(OverlapReranker):
    """Its ``warm_up`` blocks until ``loaded`` is set (or raises ``fail`` if given)."""

    def __init__(self, loaded: threading.Event, fail: BaseException | None = None):
        super().__init__()
        self.loaded = loaded
        self.fail = fail

    def warm_up(self) -> None:
        assert self.loaded.wait(WAIT_S), "test never released warm-up"
        if self.fail is not None:
            raise self.fail
        super().warm_up()


class BrokenReranker(OverlapReranker):
    """Fails every request (after a successful warm-up) with an unexpected error."""

    def score(self, query: str, documents: Sequence[str]) -> Scores:
        if query.startswith("warm-up"):
            return super().score(query, documents)
        raise RuntimeError("internal detail that must not reach the client: /secret/path")


def wait_ready(client, timeout: float = 60.0) -> None:
    """Poll ``/v1/health/ready`` (TestClient or httpx.Client) until it answers 200."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if client.get("/v1/health/ready").status_code == 200:
            return
        time.sleep(0.02)
    raise AssertionError(f"service not ready after {timeout} s: {client.get('/v1/health/ready').json()}")


def wait_until(predicate, timeout: float = WAIT_S, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.005)


@contextlib.contextmanager
def serve(app) -> Iterator[str]:
    """Run ``app`` under a real uvicorn server on 127.0.0.1 (ephemeral port); yield its base URL."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        wait_until(lambda: server.started, timeout=30, what="uvicorn start")
        base = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=base, timeout=WAIT_S) as client:
            wait_ready(client)
        yield base
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()


def ranks(results: Sequence[dict], key: str = "index") -> list[int]:
    return [r[key] for r in results]


def close(a: float, b: float, tol: float = 1e-5) -> bool:
    return math.isclose(a, b, rel_tol=0, abs_tol=tol)


class SlowOverlapReranker(OverlapReranker):
    """Takes ``delay`` seconds per call (for graceful-shutdown tests in a subprocess)."""

    def __init__(self, delay: float = 0.6):
        super().__init__(delay=delay)


class FailingWarmUpReranker(OverlapReranker):
    """Its warm-up fails as a missing model would."""

    def warm_up(self) -> None:
        from ragsift.errors import ModelNotFoundError

        raise ModelNotFoundError("model folder /models/nowhere does not exist")


def hold_model_thread(app, gate: threading.Event):
    """Occupy the app's single model thread until ``gate`` is set (the real executor, not a mock)."""
    return app.state.ragsift.runner.executor.submit(gate.wait, WAIT_S)


def wait_submitted(app, jobs: int) -> None:
    """Wait until ``jobs`` requests (besides the warm-up) have been handed to the model thread."""
    wait_until(
        lambda: metric(app, "ragsift_stage_seconds_count", {"stage": "queue"}) >= jobs + 1,
        what=f"{jobs} request(s) handed to the model thread",
    )


def metric(app, name: str, labels: dict | None = None) -> float:
    value = app.state.ragsift.metrics.registry.get_sample_value(name, labels or {})
    return 0.0 if value is None else value
