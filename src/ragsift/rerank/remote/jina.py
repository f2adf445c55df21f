"""Jina AI Reranker client.

Contract (https://jina.ai/reranker/, whose "API" tab documents the request and response):
``POST {base_url}/v1/rerank`` with ``Authorization: Bearer <key>`` and body
``{"model", "query", "documents": [str], "top_n", "return_documents": false}``; answer
``{"model", "usage": {"total_tokens"}, "results": [{"index", "relevance_score", "document"?}]}``
sorted by score. Errors carry ``{"detail"}`` (FastAPI style).

``top_n`` is always the batch size so every document gets a score. Jina documents no hard cap
on documents per request; ``max_batch`` (default None: one request) splits long lists.

Scores: ``relevance_score`` is in [0, 1]: ``raw`` is it, ``relevance`` is it clipped.
"""

from __future__ import annotations

from typing import Any, Sequence

from ragsift import config
from ragsift.errors import ConfigError
from ragsift.http import HttpClient, field_of, list_field
from ragsift.rerank.remote.http import HttpReranker, check_max_batch, clip01, ordered_scores
from ragsift.rerank.remote.options import HTTP_OPTIONS

__all__ = ["JinaReranker"]

ENV_KEY = config.variables("credentials.jina")[0]  # JINA_API_KEY


class JinaReranker(HttpReranker):
    """Rerank with Jina AI's hosted reranker API (``jina-reranker-v2-base-multilingual``, …).

    HTTP options (``timeout``, ``connect_timeout``, ``max_retries``, ``backoff_base``, ``backoff_max``,
    ``retry_after_max``, ``transport``, ``async_transport``) go to
    :class:`~ragsift.http.HttpClient`.
    """

    provider = "jina"
    model_option = "model"
    options = HTTP_OPTIONS | {"base_url", "api_key"}

    def __init__(
        self,
        model: str = "jina-reranker-v2-base-multilingual",
        *,
        base_url: str = "https://api.jina.ai",
        api_key: str | None = None,
        max_batch: int | None = None,
        max_concurrency: int = 4,
        **http_options: Any,
    ):
        if not isinstance(model, str) or not model.strip():
            raise ConfigError(f"model={model!r} must be a Jina reranker model such as 'jina-reranker-v2-base-multilingual'")
        self.model = model
        key = api_key if api_key is not None else config.get("credentials.jina")
        if not key:
            raise ConfigError(f"JinaReranker needs an API key: pass api_key= or set {ENV_KEY}")
        http = HttpClient(
            self.provider,
            base_url,
            auth=lambda: {"Authorization": f"Bearer {key}"},
            auth_hint=f"Check the Jina API key (api_key= or env {ENV_KEY})",
            **http_options,
        )
        super().__init__(http, max_batch=check_max_batch(max_batch), max_concurrency=max_concurrency)
        self.name = f"jina:{model}"

    def _request(self, query: str, batch: Sequence[str]) -> tuple[str, dict[str, Any]]:
        body = {
            "model": self.model,
            "query": query,
            "documents": list(batch),
            "top_n": len(batch),
            "return_documents": False,
        }
        return "/v1/rerank", body

    def _parse(self, payload: Any, n: int) -> list[float]:
        results = list_field(payload, "results")
        pairs = (
            (field_of(r, "index", f"results[{k}]"), field_of(r, "relevance_score", f"results[{k}]"))
            for k, r in enumerate(results)
        )
        return ordered_scores(pairs, n)

    def _relevance(self, raw: float) -> float:
        return clip01(raw)
