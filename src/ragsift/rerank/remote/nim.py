"""NVIDIA NIM (NeMo Retriever reranking) client.

Contract (https://docs.nvidia.com/nim/nemo-retriever/text-reranking/latest/using-reranking.html):

- self-hosted NIM: ``POST {base_url}/v1/ranking`` (``base_url`` like ``http://localhost:8000``; a
  ``base_url`` ending in ``/v1`` also works);
- hosted API catalog: ``base_url`` is the full endpoint URL ending in ``/reranking``, e.g.
  ``https://ai.api.nvidia.com/v1/retrieval/nvidia/reranking``, and the request is POSTed there;
  it needs ``Authorization: Bearer nvapi-…`` (``api_key=`` or env ``NVIDIA_API_KEY``).

Body ``{"model", "query": {"text"}, "passages": [{"text"}], "truncate": "NONE"|"END"}``; answer
``{"rankings": [{"index", "logit"}], "usage"?}`` sorted by logit, descending. ``truncate`` defaults
to ``"END"`` here: with ``"NONE"`` one over-long passage fails the whole request with HTTP 400.

Scores: ``raw`` is the logit, ``relevance = sigmoid(logit)``.
"""

from __future__ import annotations

from typing import Any, Sequence

import httpx

from ragsift import config
from ragsift._enums import parse_enum
from ragsift.errors import ConfigError
from ragsift.http import HttpClient, check_base_url, field_of, list_field
from ragsift.rerank.base import Truncate, sigmoid
from ragsift.rerank.remote.http import HttpReranker, check_max_batch, ordered_scores
from ragsift.rerank.remote.options import HTTP_OPTIONS

__all__ = ["NIMReranker", "Truncate"]  # Truncate: ragsift.rerank.base's, re-exported

ENV_KEY = config.variables("credentials.nvidia")[0]  # NVIDIA_API_KEY


def ranking_url(base_url: str) -> str:
    """The endpoint to POST to: ``…/reranking`` or ``…/ranking`` as given, else ``{base}/v1/ranking``."""
    base = base_url.rstrip("/")
    if base.endswith(("/reranking", "/ranking")):
        return base
    if base.endswith("/v1"):
        return base + "/ranking"
    return base + "/v1/ranking"


class NIMReranker(HttpReranker):
    """Rerank with a NIM reranking microservice (self-hosted or NVIDIA's hosted API catalog).

    ``max_batch`` passages go in one request (NIM accepts up to 512); longer lists are split and
    merged back in input order. HTTP options (``timeout``, ``connect_timeout``, ``max_retries``,
    ``backoff_base``, ``backoff_max``, ``retry_after_max``, ``transport``, ``async_transport``) are
    passed to :class:`~ragsift.http.HttpClient`.
    """

    provider = "nim"
    truncation_modes = frozenset(Truncate)
    model_option = "model"
    options = HTTP_OPTIONS | {"base_url", "api_key", "truncate"}

    def __init__(
        self,
        model: str = "nvidia/nv-rerankqa-mistral-4b-v3",
        *,
        base_url: str = "http://localhost:8000",
        api_key: str | None = None,
        truncate: Truncate | str = Truncate.END,
        max_batch: int = 512,
        max_concurrency: int = 4,
        **http_options: Any,
    ):
        if not isinstance(model, str) or not model.strip():
            raise ConfigError(f"model={model!r} must be a NIM model id such as 'nvidia/nv-rerankqa-mistral-4b-v3'")
        self.model = model
        self.truncate = parse_enum(Truncate, truncate, param="truncate")
        key = api_key if api_key is not None else config.get("credentials.nvidia")
        http = HttpClient(
            self.provider,
            ranking_url(check_base_url(base_url)),
            auth=(lambda: {"Authorization": f"Bearer {key}"}) if key else None,
            auth_hint=f"Check the NVIDIA API key (api_key= or env {ENV_KEY})",
            **http_options,
        )
        if not key and httpx.URL(http.base_url).host.endswith("api.nvidia.com"):
            raise ConfigError(f"the hosted NIM endpoint {http.base_url} needs an API key: pass api_key= or set {ENV_KEY}")
        super().__init__(http, max_batch=check_max_batch(max_batch), max_concurrency=max_concurrency)
        self.name = f"nim:{model}"

    def _request(self, query: str, batch: Sequence[str]) -> tuple[str, dict[str, Any]]:
        body = {
            "model": self.model,
            "query": {"text": query},
            "passages": [{"text": text} for text in batch],
            "truncate": self.truncate.value,
        }
        return "", body

    def _parse(self, payload: Any, n: int) -> list[float]:
        rankings = list_field(payload, "rankings")
        pairs = (
            (field_of(r, "index", f"rankings[{k}]"), field_of(r, "logit", f"rankings[{k}]"))
            for k, r in enumerate(rankings)
        )
        return ordered_scores(pairs, n, field="rankings")

    def _relevance(self, raw: float) -> float:
        return sigmoid(raw)
