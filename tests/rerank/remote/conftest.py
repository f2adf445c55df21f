"""Fixtures of the remote-reranker suite: stub servers on 127.0.0.1 and clients pointed at them.

``vendor`` is parametrized over the HTTP vendors so that every failure path runs against every
vendor's own stub (its error bodies, its wire shapes). Backoffs are tiny so the suite stays fast.
"""

from __future__ import annotations

import pytest
from rerank.remote.remote_kit import VENDORS, Vendor
from rerank.remote.stubs import StubServer


@pytest.fixture
def serve():
    """Start stub servers for a test; stop them after it and fail on any stub crash."""
    started: list[StubServer] = []

    def start(app) -> StubServer:
        server = StubServer(app).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
    crashes = [c for s in started for c in s.crashes]
    assert not crashes, "stub crashed:\n" + "\n".join(crashes)


@pytest.fixture(params=sorted(VENDORS))
def vendor(request, serve) -> Vendor:
    return VENDORS[request.param](serve, False)


@pytest.fixture(params=sorted(VENDORS))
def leaky_vendor(request, serve) -> Vendor:
    """A vendor whose stub echoes the presented credential in its 401 message."""
    return VENDORS[request.param](serve, True)
