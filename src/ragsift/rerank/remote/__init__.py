"""Hosted and self-hosted reranking APIs, each a :class:`~ragsift.rerank.base.Reranker`.

- :class:`NIMReranker` — NVIDIA NIM ``/v1/ranking`` (self-hosted or the hosted API catalog)
- :class:`CohereReranker` — Cohere ``/v2/rerank`` (or ``/v1``)
- :class:`JinaReranker` — Jina AI ``/v1/rerank``
- :class:`TEIReranker` — Hugging Face text-embeddings-inference ``/rerank``
- :class:`VertexReranker` — Google Vertex AI ranking API (``rankingConfigs/*:rank``)
- :class:`BedrockReranker` — Amazon Bedrock Rerank (boto3, imported lazily)

The HTTP clients are :class:`~ragsift.rerank.remote.http.HttpReranker` s (batch splitting and
merging) over :class:`ragsift.http.HttpClient`, the one HTTP stack of ragsift: explicit timeouts,
retries with jittered backoff on 408/429/500/502/503/504 honouring ``Retry-After``, one typed
error map and an injectable httpx transport. Importing this package does not import boto3.
"""

from __future__ import annotations

from ragsift.rerank.remote.bedrock import BedrockReranker
from ragsift.rerank.remote.cohere import CohereReranker
from ragsift.rerank.remote.http import HttpReranker
from ragsift.rerank.remote.jina import JinaReranker
from ragsift.rerank.remote.nim import NIMReranker
from ragsift.rerank.remote.tei import TEIReranker
from ragsift.rerank.remote.vertex import VertexReranker

__all__ = [
    "BedrockReranker",
    "CohereReranker",
    "HttpReranker",
    "JinaReranker",
    "NIMReranker",
    "TEIReranker",
    "VertexReranker",
]
