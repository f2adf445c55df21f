"""Local stub servers that implement each reranking vendor's published wire contract."""

from rerank.remote.stubs.base import MALFORMATIONS, Reply, Request, StubServer

__all__ = ["MALFORMATIONS", "Reply", "Request", "StubServer"]
