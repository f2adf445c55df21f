"""The app the search page's tests serve: a small real collection, no model to load.

Like :mod:`service.fuzz_kit`: the collection's embedder is :class:`HashingEmbedder` (no torch) and
the reranker is the suite's word-overlap reranker, which counts distinct shared words where BM25
rewards repeated ones, so the reranked list differs from the first stage.
"""

from __future__ import annotations

from pathlib import Path

from _filtering import HashingEmbedder
from fastapi import FastAPI
from service.service_kit import OverlapReranker

from ragsift.index.collection import Collection, CollectionConfig
from ragsift.ingest import ChunkingConfig
from ragsift.service import ServiceSettings, create_app
from ragsift.types import Document

DOCS = [
    Document("d-sun", "Vitamin D vitamin D vitamin D: the sunshine vitamin, made in the skin.", "Sunshine vitamin",
             {"topic": "vitamins", "year": 2019}),
    Document("d-bones", "Low vitamin D causes weak bones and fractures in older adults.", "Weak bones",
             {"topic": "bones", "year": 2021}),
    Document("d-calcium", "Calcium and vitamin D together keep bones strong; deficiency hurts bones.",
             "Calcium and bones", {"topic": "bones", "year": 2022}),
    Document("d-food", "Oily fish, eggs and fortified milk are food sources of vitamin D.", "Food sources",
             {"topic": "vitamins", "year": 2020}),
    Document("d-kids", "Rickets in children: soft bones from a deficiency of vitamin D or calcium.", "Rickets",
             {"topic": "bones", "year": 2018}),
    Document("fin", "Quarterly earnings rose while the price ratio fell sharply.", "Finance",
             {"topic": "money", "year": 2023}),
]
QUERY = "vitamin D deficiency bones"
SETTINGS = {"served_model_name": "ragsift/page", "max_passages": 16, "log_json": False}


def build_app(folder: Path, **settings) -> FastAPI:
    """The service over a new collection of :data:`DOCS` in ``folder``."""
    config = CollectionConfig(embed_model="hashing", vector_index="flat", chunking=ChunkingConfig(mode="none"))
    collection = Collection.create(folder / "collection", config, embedder=HashingEmbedder())
    collection.add(DOCS)
    return create_app(ServiceSettings(**{**SETTINGS, **settings}), reranker=OverlapReranker(), collection=collection)
