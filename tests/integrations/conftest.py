"""A small hybrid collection (tiny real embedder) and a tiny real cross-encoder for the adapter tests."""

from __future__ import annotations

import pytest
from _frameworks import DOCS

from ragsift.index.collection import Collection, CollectionConfig
from ragsift.ingest import ChunkingConfig


@pytest.fixture(scope="session")
def collection_path(tmp_path_factory, tiny_st_model):
    """A collection directory with BM25 and dense vectors over ``_frameworks.DOCS``."""
    path = tmp_path_factory.mktemp("integrations") / "coll"
    config = CollectionConfig(embed_model=str(tiny_st_model), chunking=ChunkingConfig(mode="none"))
    Collection.create(path, config).add(DOCS)
    return path


@pytest.fixture(scope="session")
def collection(collection_path):
    return Collection.open(collection_path)


@pytest.fixture(scope="session")
def cross_encoder(tiny_cross_encoder):
    from ragsift.rerank.cross_encoder import CrossEncoderReranker

    reranker = CrossEncoderReranker(str(tiny_cross_encoder), backend="torch")
    reranker.warm_up()
    return reranker
