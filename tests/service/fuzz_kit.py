"""The app the fuzz and the OpenAPI conformance run hit: a small real collection, no model to load.

The collection is dense, so hybrid search and its fusion options are reached, but its embedder is
:class:`HashingEmbedder`: a real :class:`~ragsift.index.embedder.Embedder` (hashed bag of words,
L2-normalized) that needs no torch, so these tests start in about a second. Reranking uses the
suite's word-overlap reranker. Limits are small so requests can cross them cheaply.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from fastapi import FastAPI
from service.service_kit import OverlapReranker

from ragsift.index.collection import Collection, CollectionConfig
from ragsift.ingest import ChunkingConfig
from ragsift.service import ServiceSettings, create_app
from ragsift.types import Document

MODEL = "ragsift/fuzz"
MAX_QUERY = 200
MAX_PASSAGE = 2000
MAX_BODY = 64 * 1024
MAX_DOCUMENT = 8 * 1024
SETTINGS = {
    "served_model_name": MODEL,
    "max_passages": 8,
    "max_chars_per_passage": MAX_PASSAGE,
    "max_query_chars": MAX_QUERY,
    "max_body_bytes": MAX_BODY,
    "max_document_bytes": MAX_DOCUMENT,
    "log_json": False,
}
DOCS = [
    Document("cats", "Cats purr when they are content. Cats sleep most of the day.", "Cats", {"kind": "animal"}),
    Document("dogs", "Dogs bark at strangers. Dogs love long walks in the park.", "Dogs", {"kind": "animal"}),
    Document("fin", "Quarterly earnings rose while the price ratio fell sharply.", "Finance", {"kind": "money"}),
]


class HashingEmbedder:
    """Each word adds 1 to dimension ``crc32(word) % dim``; rows are L2-normalized (a text without
    words gets a unit vector on dimension 0)."""

    name = "hashing"
    dim = 64
    max_seq_length = 128

    def load(self) -> None:
        pass

    def encode_documents(self, texts: Sequence[str], **_: object) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                out[row, zlib.crc32(word.encode("utf-8", "surrogatepass")) % self.dim] += 1.0
            norm = float(np.linalg.norm(out[row]))
            if norm == 0.0:
                out[row, 0] = 1.0
            else:
                out[row] /= norm
        return np.ascontiguousarray(out)

    encode_queries = encode_documents


def build_app(folder: Path) -> FastAPI:
    """The app over a new collection of :data:`DOCS` in ``folder``."""
    config = CollectionConfig(embed_model="hashing", vector_index="flat", chunking=ChunkingConfig(mode="none"))
    collection = Collection.create(folder / "collection", config, embedder=HashingEmbedder())
    collection.add(DOCS)
    return create_app(ServiceSettings(**SETTINGS), reranker=OverlapReranker(), collection=collection)
