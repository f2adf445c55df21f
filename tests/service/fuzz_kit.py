"""The app the fuzz and the OpenAPI conformance run hit: a small real collection, no model to load.

The collection is dense, so hybrid search and its fusion options are reached, but its embedder is
:class:`HashingEmbedder`: a real :class:`~ragsift.index.embedder.Embedder` (hashed bag of words,
L2-normalized) that needs no torch, so these tests start in about a second. Reranking uses the
suite's word-overlap reranker. Limits are small so requests can cross them cheaply.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from _filtering import HashingEmbedder
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


def build_app(folder: Path) -> FastAPI:
    """The app over a new collection of :data:`DOCS` in ``folder``."""
    config = CollectionConfig(embed_model="hashing", vector_index="flat", chunking=ChunkingConfig(mode="none"))
    collection = Collection.create(folder / "collection", config, embedder=HashingEmbedder())
    collection.add(DOCS)
    return create_app(ServiceSettings(**SETTINGS), reranker=OverlapReranker(), collection=collection)
