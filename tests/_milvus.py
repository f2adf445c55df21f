"""The tests' Milvus (the ``milvus`` fixture in conftest.py): ``RAGSIFT_MILVUS_URI`` when set, else a
:class:`~ragsift.index.milvus_local.LocalMilvus` (milvus-lite on 127.0.0.1 at a free port).

``RAGSIFT_MILVUS_URI=milvus://HOST:PORT`` runs the same tests against any Milvus (standalone or a
cluster); each test creates and drops its own uniquely named collections there.
"""

from __future__ import annotations

import uuid

from ragsift.index.milvus_local import free_port

__all__ = ["MilvusServer", "free_port"]


class MilvusServer:
    """Where the tests' Milvus is (``base``: ``milvus://HOST:PORT``) and a fresh collection URI per call."""

    def __init__(self, base: str):
        self.base = base.rstrip("/")

    def uri(self, prefix: str = "t") -> str:
        return f"{self.base}/{prefix}_{uuid.uuid4().hex[:12]}"
