"""Where a collection lives: a directory (the embedded backend) or a Milvus URI (``milvus://HOST:PORT/NAME``).

Every command that takes ``--collection`` opens it through these four functions, so a new
storage backend is one module plus a line in :func:`_backend` (and its retrievers in
:data:`ragsift.index.retriever.BACKENDS`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

__all__ = ["is_remote", "collection_exists", "open_collection", "create_collection"]


def is_remote(spec: Any) -> bool:
    """True when ``spec`` names a collection in a server (Milvus), not a directory."""
    from ragsift.index.milvus import is_milvus_uri

    return is_milvus_uri(str(spec)) if isinstance(spec, (str, os.PathLike)) else False


def _backend(spec: Any):
    if is_remote(spec):
        from ragsift.index.milvus import MilvusCollection

        return MilvusCollection, str(spec)
    from ragsift.index.collection import Collection

    return Collection, Path(spec)


def collection_exists(spec: str | os.PathLike) -> bool:
    cls, where = _backend(spec)
    return cls.exists(where)


def open_collection(spec: str | os.PathLike, **options):
    """Open the collection ``spec`` names (``options``: ``embedder``, ``lock_timeout``, ``limits``)."""
    cls, where = _backend(spec)
    return cls.open(where, **options)


def create_collection(spec: str | os.PathLike, config=None, **options):
    """A new collection at ``spec`` with ``config`` (a :class:`~ragsift.index.collection.CollectionConfig`)."""
    cls, where = _backend(spec)
    return cls.create(where, config, **options)
