"""Local stub servers that implement each reranking vendor's published wire contract."""

from .base import MALFORMATIONS, Reply, Request, StubServer

__all__ = ["MALFORMATIONS", "Reply", "Request", "StubServer"]
