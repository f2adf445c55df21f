"""Fixtures of the service suite: one tiny real cross-encoder, loaded once, and apps around it."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from service.service_kit import CE_SETTINGS, wait_ready

from ragsift.service import ServiceSettings, create_app


@pytest.fixture(scope="session")
def ce_reranker(tiny_cross_encoder):
    """The tiny cross-encoder, warmed up once and shared by the apps of the suite."""
    from ragsift.rerank.cross_encoder import CrossEncoderReranker

    reranker = CrossEncoderReranker(tiny_cross_encoder, batch_size=16, backend="torch")
    reranker.warm_up()
    return reranker


@pytest.fixture(scope="module")
def ce_client(ce_reranker):
    """A ready TestClient over the tiny cross-encoder with CE_SETTINGS."""
    app = create_app(ServiceSettings(**CE_SETTINGS), reranker=ce_reranker)
    with TestClient(app) as client:
        wait_ready(client)
        yield client
