"""OpenAI-compatible embeddings, ``POST …/v1/embeddings``: OpenAI, NVIDIA NIM, vLLM, TEI, Ollama, LiteLLM.

Contract (https://platform.openai.com/docs/api-reference/embeddings/create): body
``{"model", "input": [str], "encoding_format": "float", "dimensions"?}``; answer
``{"object": "list", "data": [{"object": "embedding", "index", "embedding": [float]}], "model",
"usage"}``. ``data`` may come in any order: each row is placed by its ``index``, which must name
every input once. A server that answers base64 anyway (little-endian float32, the format
``encoding_format="base64"`` asks for) is understood too.

NVIDIA NIM text embedding
(https://docs.nvidia.com/nim/nemo-retriever/text-embedding/latest/reference.html) speaks the
same format plus ``"input_type": "query" | "passage"`` (asymmetric models need it) and
``"truncate": "NONE" | "START" | "END"``; they are sent whenever the spec has them (type ``nim``
sets them by default; an ``openai`` spec may set them for a self-hosted NIM).

URL: ``base_url`` ending in ``/embeddings`` is used as is, ending in ``/v1`` gets
``/embeddings``, anything else gets ``/v1/embeddings`` (``http://localhost:8080`` reaches TEI's
OpenAI route). A key, when one is set, is sent as ``Authorization: Bearer KEY``: for ``openai``
``RAGSIFT_EMBED_API_KEY``, else ``OPENAI_API_KEY``; for ``nim`` ``RAGSIFT_EMBED_API_KEY``, else
``NVIDIA_API_KEY``. api.openai.com and NVIDIA's hosted catalog refuse to start without one.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from typing import Any

import numpy as np

from ragsift.http import ContractViolation, field_of, list_field
from ragsift.index.hosted_embedder import HostedEmbedder, matrix

__all__ = ["NIMEmbedder", "OpenAIEmbedder", "embeddings_url"]


def embeddings_url(base_url: str) -> str:
    """The endpoint to POST to: ``…/embeddings`` as given, ``…/v1`` + ``/embeddings``, else + ``/v1/embeddings``."""
    base = base_url.rstrip("/")
    if base.endswith("/embeddings"):
        return base
    if base.endswith("/v1"):
        return base + "/embeddings"
    return base + "/v1/embeddings"


class OpenAIEmbedder(HostedEmbedder):
    """Embed through an OpenAI-compatible ``/v1/embeddings`` endpoint (types ``openai`` and ``nim``)."""

    provider = "openai"
    key_settings = ("embedder.api_key", "credentials.openai")
    key_required_hosts = ("api.openai.com",)
    default_batch_size = 128

    def endpoint(self, base_url: str) -> str:
        return embeddings_url(base_url)

    def _request(self, texts: Sequence[str], input_type: str | None) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.spec.model, "input": list(texts), "encoding_format": "float"}
        if self.spec.dimensions is not None:
            body["dimensions"] = self.spec.dimensions
        if input_type is not None:
            body["input_type"] = input_type
        if self.spec.truncate is not None:
            body["truncate"] = self.spec.truncate
        return body

    def _parse(self, payload: Any, n: int) -> np.ndarray:
        rows: list[Any] = [None] * n
        for k, item in enumerate(list_field(payload, "data")):
            index = field_of(item, "index", f"data[{k}]")
            if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < n:
                raise ContractViolation(f"data[{k}].index={index!r} is not an input position (0..{n - 1})")
            if rows[index] is not None:
                raise ContractViolation(f"data[{k}].index={index} appears twice")
            rows[index] = _row(field_of(item, "embedding", f"data[{k}]"), k)
        missing = [i for i, row in enumerate(rows) if row is None]
        if missing:
            raise ContractViolation(f"data has no embedding for input(s) {missing[:5]}; expected one per input")
        return matrix(rows, n, "embeddings")


class NIMEmbedder(OpenAIEmbedder):
    """The same wire format with NVIDIA's key, hosted catalog and batch size (type ``nim``)."""

    provider = "nim"
    key_settings = ("embedder.api_key", "credentials.nvidia")
    key_required_hosts = ("api.nvidia.com",)
    default_batch_size = 50


def _row(embedding: Any, k: int) -> Any:
    """A list of numbers, or a base64 string of little-endian float32 decoded into one."""
    if not isinstance(embedding, str):
        return embedding
    try:
        raw = base64.b64decode(embedding, validate=True)
    except (binascii.Error, ValueError):
        raise ContractViolation(f"data[{k}].embedding is a string that is not base64") from None
    if len(raw) % 4:
        raise ContractViolation(f"data[{k}].embedding holds {len(raw)} bytes, not float32 values")
    return np.frombuffer(raw, dtype="<f4").tolist()
