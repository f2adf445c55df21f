"""Shared constants and client factories of the remote-reranker suite (imported by conftest and tests)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from rerank.remote.stubs import StubServer
from rerank.remote.stubs.cohere import CohereStub
from rerank.remote.stubs.jina import JinaStub
from rerank.remote.stubs.nim import NimStub
from rerank.remote.stubs.tei import TeiStub
from rerank.remote.stubs.vertex import VertexStub

from ragsift.rerank.remote import CohereReranker, JinaReranker, NIMReranker, TEIReranker, VertexReranker

API_KEY = "sk-ragsift-TEST-9f8e7d6c5b4a3210"
WRONG_KEY = "sk-ragsift-WRONG-0123456789abcdef"
#: Client options that keep retries fast.
FAST: dict[str, Any] = {"backoff_base": 0.001, "backoff_max": 0.005, "timeout": 5.0}

QUERY = "gpu memory bandwidth"
DOCS = [
    "the cafeteria menu for tuesday",  # 0 shared words
    "memory prices fell this quarter",  # 1: memory
    "h100 gpu memory bandwidth is 3 tb/s",  # 3: gpu memory bandwidth
    "gpu clusters and memory",  # 2: gpu memory
]
EXPECTED_ORDER = [2, 3, 1, 0]


@dataclass
class Vendor:
    """One vendor's stub plus a factory of clients pointed at it (valid key unless told otherwise)."""

    name: str
    server: StubServer
    make: Callable[..., Any]


def _nim(serve, leaky: bool) -> Vendor:
    server = serve(NimStub(api_key=API_KEY, leaky=leaky))
    return Vendor("nim", server, lambda key=API_KEY, **kw: NIMReranker(base_url=server.url, api_key=key, **{**FAST, **kw}))


def _cohere(serve, leaky: bool) -> Vendor:
    server = serve(CohereStub(api_key=API_KEY, leaky=leaky))
    return Vendor("cohere", server, lambda key=API_KEY, **kw: CohereReranker(base_url=server.url, api_key=key, **{**FAST, **kw}))


def _jina(serve, leaky: bool) -> Vendor:
    server = serve(JinaStub(api_key=API_KEY, leaky=leaky))
    return Vendor("jina", server, lambda key=API_KEY, **kw: JinaReranker(base_url=server.url, api_key=key, **{**FAST, **kw}))


def _tei(serve, leaky: bool) -> Vendor:
    server = serve(TeiStub(api_key=API_KEY, leaky=leaky))
    return Vendor("tei", server, lambda key=API_KEY, **kw: TEIReranker(base_url=server.url, api_key=key, **{**FAST, **kw}))


def _vertex(serve, leaky: bool) -> Vendor:
    server = serve(VertexStub(access_token=API_KEY, project="my-project", leaky=leaky))
    return Vendor(
        "vertex",
        server,
        lambda key=API_KEY, **kw: VertexReranker(project="my-project", base_url=server.url, access_token=key, **{**FAST, **kw}),
    )


VENDORS = {"nim": _nim, "cohere": _cohere, "jina": _jina, "tei": _tei, "vertex": _vertex}
