"""Cohere embed v2: ``POST {base_url}/v2/embed``.

Contract (https://docs.cohere.com/reference/embed): body ``{"model", "texts": [str],
"input_type": "search_document" | "search_query" | "classification" | "clustering",
"embedding_types": ["float"], "truncate"?: "NONE" | "START" | "END", "output_dimension"?}``;
answer ``{"id", "embeddings": {"float": [[float]]}, "texts", "meta", "response_type":
"embeddings_by_type"}``, one row per text in input order. At most 96 texts per request.
``input_type`` is required by the v3+ models: the spec's ``document_input_type`` when indexing
(default ``search_document``), ``query_input_type`` when searching (default ``search_query``).

URL: ``base_url`` (default ``https://api.cohere.com``) ending in ``/v2/embed`` is used as is,
ending in ``/v2`` gets ``/embed``, anything else gets ``/v2/embed``. The key is sent as
``Authorization: Bearer KEY``: ``RAGSIFT_EMBED_API_KEY``, else ``COHERE_API_KEY`` (or ``CO_API_KEY``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ragsift.http import ContractViolation, field_of
from ragsift.index.hosted_embedder import HostedEmbedder, matrix

__all__ = ["CohereEmbedder", "embed_url"]


def embed_url(base_url: str) -> str:
    """The endpoint to POST to: ``…/v2/embed`` as given, ``…/v2`` + ``/embed``, else + ``/v2/embed``."""
    base = base_url.rstrip("/")
    if base.endswith("/v2/embed"):
        return base
    if base.endswith("/v2"):
        return base + "/embed"
    return base + "/v2/embed"


class CohereEmbedder(HostedEmbedder):
    """Embed with Cohere's ``/v2/embed`` (float embeddings)."""

    provider = "cohere"
    key_settings = ("embedder.api_key", "credentials.cohere")
    key_required_hosts = ("cohere.com", "cohere.ai")
    default_batch_size = 96
    batch_cap = 96

    def endpoint(self, base_url: str) -> str:
        return embed_url(base_url)

    def _request(self, texts: Sequence[str], input_type: str | None) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.spec.model, "texts": list(texts), "embedding_types": ["float"]}
        if input_type is not None:
            body["input_type"] = input_type
        if self.spec.truncate is not None:
            body["truncate"] = self.spec.truncate
        if self.spec.dimensions is not None:
            body["output_dimension"] = self.spec.dimensions
        return body

    def _parse(self, payload: Any, n: int) -> np.ndarray:
        by_type = field_of(payload, "embeddings", "the response")
        rows = field_of(by_type, "float", "embeddings")
        if not isinstance(rows, list):
            raise ContractViolation(f"embeddings.float is a {type(rows).__name__}, expected a list")
        return matrix(rows, n, "embeddings.float")
