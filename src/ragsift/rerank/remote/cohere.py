"""Cohere Rerank client.

Contract (https://docs.cohere.com/reference/rerank, v1: https://docs.cohere.com/v1/reference/rerank):
``POST {base_url}/v2/rerank`` (or ``/v1/rerank``) with ``Authorization: Bearer <key>`` and body
``{"model", "query", "documents": [str], "top_n", "max_tokens_per_doc"?}`` (v1: ``return_documents``
instead of ``max_tokens_per_doc``); answer ``{"id", "results": [{"index", "relevance_score"}],
"meta"}`` sorted by score. Errors carry ``{"message"}``.

``top_n`` is always the batch size so that every document gets a score; ``rerank(top_n=…)`` cuts
afterwards. At most ``max_batch`` documents (Cohere's limit: 1000) go in one request.

Scores: ``relevance_score`` is already in [0, 1]: ``raw`` is it, ``relevance`` is it clipped.
"""

from __future__ import annotations

from enum import Enum
from typing import Any, Sequence

from ragsift import config
from ragsift._enums import parse_enum
from ragsift.errors import ConfigError
from ragsift.http import HttpClient, field_of, list_field
from ragsift.rerank.remote.http import HttpReranker, check_max_batch, clip01, ordered_scores
from ragsift.rerank.remote.options import HTTP_OPTIONS

__all__ = ["CohereReranker", "CohereApiVersion"]

ENV_KEYS = config.variables("credentials.cohere")  # COHERE_API_KEY, then CO_API_KEY
MAX_DOCUMENTS = 1000


class CohereApiVersion(str, Enum):
    V1 = "v1"
    V2 = "v2"


class CohereReranker(HttpReranker):
    """Rerank with Cohere's hosted Rerank API (``rerank-v3.5``, ``rerank-multilingual-v3.0``, …).

    HTTP options (``timeout``, ``connect_timeout``, ``max_retries``, ``backoff_base``, ``backoff_max``,
    ``retry_after_max``, ``transport``, ``async_transport``) go to
    :class:`~ragsift.http.HttpClient`.
    """

    provider = "cohere"
    batch_cap = MAX_DOCUMENTS
    model_option = "model"
    options = HTTP_OPTIONS | {"base_url", "api_key", "api_version", "max_tokens_per_doc"}

    def __init__(
        self,
        model: str = "rerank-v3.5",
        *,
        base_url: str = "https://api.cohere.com",
        api_key: str | None = None,
        api_version: CohereApiVersion | str = CohereApiVersion.V2,
        max_tokens_per_doc: int | None = None,
        max_batch: int = MAX_DOCUMENTS,
        max_concurrency: int = 4,
        **http_options: Any,
    ):
        if not isinstance(model, str) or not model.strip():
            raise ConfigError(f"model={model!r} must be a Cohere rerank model name such as 'rerank-v3.5'")
        self.model = model
        self.api_version = parse_enum(CohereApiVersion, api_version, param="api_version")
        if max_tokens_per_doc is not None:
            if isinstance(max_tokens_per_doc, bool) or not isinstance(max_tokens_per_doc, int) or max_tokens_per_doc < 1:
                raise ConfigError(f"max_tokens_per_doc={max_tokens_per_doc!r} must be a positive integer or None")
            if self.api_version is CohereApiVersion.V1:
                raise ConfigError("max_tokens_per_doc is a v2 parameter; use api_version='v2' or leave it None")
        self.max_tokens_per_doc = max_tokens_per_doc
        key = api_key if api_key is not None else config.get("credentials.cohere")
        if not key:
            raise ConfigError(f"CohereReranker needs an API key: pass api_key= or set {' or '.join(ENV_KEYS)}")
        http = HttpClient(
            self.provider,
            base_url,
            auth=lambda: {"Authorization": f"Bearer {key}"},
            auth_hint=f"Check the Cohere API key (api_key= or env {ENV_KEYS[0]})",
            **http_options,
        )
        super().__init__(http, max_batch=check_max_batch(max_batch, cap=self.batch_cap), max_concurrency=max_concurrency)
        self.name = f"cohere:{model}"

    def _request(self, query: str, batch: Sequence[str]) -> tuple[str, dict[str, Any]]:
        body: dict[str, Any] = {"model": self.model, "query": query, "documents": list(batch), "top_n": len(batch)}
        if self.api_version is CohereApiVersion.V1:
            body["return_documents"] = False
        elif self.max_tokens_per_doc is not None:
            body["max_tokens_per_doc"] = self.max_tokens_per_doc
        return f"/{self.api_version.value}/rerank", body

    def _parse(self, payload: Any, n: int) -> list[float]:
        results = list_field(payload, "results")
        pairs = (
            (field_of(r, "index", f"results[{k}]"), field_of(r, "relevance_score", f"results[{k}]"))
            for k, r in enumerate(results)
        )
        return ordered_scores(pairs, n)

    def _relevance(self, raw: float) -> float:
        return clip01(raw)
