"""Hosted and self-hosted reranking APIs, each a :class:`~ragsift.rerank.base.Reranker`.

- :class:`NIMReranker` — NVIDIA NIM ``/v1/ranking`` (self-hosted or the hosted API catalog)
- :class:`CohereReranker` — Cohere ``/v2/rerank`` (or ``/v1``)
- :class:`JinaReranker` — Jina AI ``/v1/rerank``
- :class:`TEIReranker` — Hugging Face text-embeddings-inference ``/rerank``
- :class:`VertexReranker` — Google Vertex AI ranking API (``rankingConfigs/*:rank``)
- :class:`BedrockReranker` — Amazon Bedrock Rerank (boto3, imported lazily)

The HTTP clients share :mod:`ragsift.rerank.remote.http`: explicit timeouts, retries with backoff on
429/5xx honouring ``Retry-After``, one typed error map, batch splitting and an injectable httpx
transport. Importing this package does not import boto3.
"""

from __future__ import annotations

from ragsift.rerank.remote.bedrock import BedrockReranker
from ragsift.rerank.remote.cohere import CohereReranker
from ragsift.rerank.remote.http import HttpRerankClient, HttpReranker, RetryPolicy
from ragsift.rerank.remote.jina import JinaReranker
from ragsift.rerank.remote.nim import NIMReranker
from ragsift.rerank.remote.tei import TEIReranker
from ragsift.rerank.remote.vertex import VertexReranker

__all__ = [
    "BedrockReranker",
    "CohereReranker",
    "HttpRerankClient",
    "HttpReranker",
    "JinaReranker",
    "NIMReranker",
    "RetryPolicy",
    "TEIReranker",
    "VertexReranker",
]
