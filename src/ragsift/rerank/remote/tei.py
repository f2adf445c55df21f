"""Hugging Face text-embeddings-inference (TEI) rerank client.

Contract (https://huggingface.github.io/text-embeddings-inference/#/Text%20Embeddings%20Inference/rerank):
``POST {base_url}/rerank`` with body ``{"query", "texts": [str], "truncate", "raw_scores",
"return_text": false}``; answer ``[{"index", "score", "text"?}]`` sorted by score. The score is
``sigmoid(logit)`` unless ``raw_scores`` is true. A server started with ``--api-key`` wants
``Authorization: Bearer <key>``.

Errors are ``{"error", "error_type"}``: 413 ``validation`` (batch larger than the server's
``--max-client-batch-size``, default 32; or an input too long with ``truncate=false``), 422
``tokenizer``, 424 ``backend`` (the model failed: mapped to RemoteServerError), 429 ``overloaded``
(retried), 400 ``empty``, 503 ``unhealthy``. Keep ``max_batch`` ≤ the server's batch size.

Scores: ``raw_scores=False``: ``raw`` = ``relevance`` = the sigmoid score (clipped);
``raw_scores=True``: ``raw`` = the logit, ``relevance = sigmoid(logit)``.
"""

from __future__ import annotations

from typing import Any, Sequence

from ragsift.errors import ConfigError, RemoteServerError
from ragsift.http import ContractViolation, HttpClient, field_of
from ragsift.rerank.base import Truncate, sigmoid
from ragsift.rerank.remote.http import HttpReranker, check_max_batch, clip01, ordered_scores
from ragsift.rerank.remote.options import HTTP_OPTIONS

__all__ = ["TEIReranker"]


def _flag(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{name}={value!r} must be True or False")
    return value


class TEIReranker(HttpReranker):
    """Rerank with a self-hosted text-embeddings-inference server running a cross-encoder.

    HTTP options (``timeout``, ``connect_timeout``, ``max_retries``, ``backoff_base``, ``backoff_max``,
    ``retry_after_max``, ``transport``, ``async_transport``) go to
    :class:`~ragsift.http.HttpClient`.

    ``truncate=True`` is :attr:`Truncate.END <ragsift.rerank.base.Truncate>` (the server cuts the
    passage), ``False`` is ``Truncate.NONE`` (an over-long input is a 413); the attribute holds
    the Truncate mode, so the service can switch it per request like any other reranker's.
    """

    provider = "tei"
    truncation_modes = frozenset(Truncate)
    options = HTTP_OPTIONS | {"base_url", "api_key", "truncate", "raw_scores"}

    def __init__(
        self,
        *,
        base_url: str = "http://localhost:8080",
        api_key: str | None = None,
        truncate: bool = True,
        raw_scores: bool = False,
        max_batch: int = 32,
        max_concurrency: int = 4,
        **http_options: Any,
    ):
        self.truncate = Truncate.END if _flag("truncate", truncate) else Truncate.NONE
        self.raw_scores = _flag("raw_scores", raw_scores)
        http = HttpClient(
            self.provider,
            base_url,
            auth=(lambda: {"Authorization": f"Bearer {api_key}"}) if api_key else None,
            auth_hint="Check api_key= against the server's --api-key",
            status_errors={424: RemoteServerError},
            **http_options,
        )
        super().__init__(http, max_batch=check_max_batch(max_batch), max_concurrency=max_concurrency)
        self.name = f"tei:{http.base_url}"

    def _request(self, query: str, batch: Sequence[str]) -> tuple[str, dict[str, Any]]:
        body = {
            "query": query,
            "texts": list(batch),
            "truncate": self.truncate is Truncate.END,
            "raw_scores": self.raw_scores,
            "return_text": False,
        }
        return "/rerank", body

    def _parse(self, payload: Any, n: int) -> list[float]:
        if not isinstance(payload, list):
            raise ContractViolation(f"the response is a {type(payload).__name__}, expected a list of ranks")
        pairs = (
            (field_of(r, "index", f"ranks[{k}]"), field_of(r, "score", f"ranks[{k}]")) for k, r in enumerate(payload)
        )
        return ordered_scores(pairs, n, field="ranks")

    def _relevance(self, raw: float) -> float:
        return sigmoid(raw) if self.raw_scores else clip01(raw)
