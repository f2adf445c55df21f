"""Embeddings: OpenAI-compatible ``POST /v1/embeddings`` and TEI's ``POST /embed``.

The vectors come from the served collection's embedder, the one its vectors were made with
(so a client embeds text exactly as the collection does), else from the service's ``embedder``
setting (``RAGSIFT_EMBEDDER``; default: the bundled all-MiniLM-L6-v2), loaded on the first
request. Either may be local or hosted (a hosted one is called through :mod:`ragsift.http`).

``POST /v1/embeddings`` (https://platform.openai.com/docs/api-reference/embeddings/create)::

    {"model": "...", "input": "text" | ["text", ...], "encoding_format": "float" | "base64",
     "dimensions"?: int, "user"?: str,
     "input_type"?: "query" | "passage",      # NVIDIA NIM's extension (also search_query,
                                               # search_document, document)
     "truncate"?: "NONE" | "END"}             # NIM's; default NONE

    → {"object": "list", "model": "...",
       "data": [{"object": "embedding", "index": 0, "embedding": [float] | "base64"}],
       "usage": {"prompt_tokens": n, "total_tokens": n}}

``base64`` is the little-endian float32 bytes of each vector (what the ``openai`` SDK asks for
by default). ``model`` must name the served embedder (its id is in every answer's ``model``)
unless ``strict_model`` is off.

``POST /embed`` (text-embeddings-inference)::

    {"inputs": "text" | ["text", ...], "normalize": true, "truncate": false,
     "truncation_direction": "Right", "prompt_name"?: "query" | "passage", "dimensions"?: int}
    → [[float], ...]

Query or document: ``input_type`` / ``prompt_name`` ``query`` (or ``search_query``) embeds with
the embedder's query side (its query prefix and input type), anything else or nothing with its
document side. Truncation: a local model reads at most ``max_seq_length`` tokens; an input
over that is a 400 naming it unless truncation is asked for (``truncate: "END"`` / ``true``), as
NIM and TEI refuse it (TEI answers 413; ragsift keeps one status per error type). A hosted
embedder truncates as its spec says. ``dimensions`` other than the embedder's own is a 400:
vectors are never cut. ``normalize: false`` is a 400 when the embedder normalizes (its vectors
are unit length, as the collection's are). Limits: ``max_passages`` inputs of
``max_chars_per_passage`` characters; an empty input is a 400.
"""

from __future__ import annotations

import asyncio
import base64
import os
import threading
from collections.abc import Callable
from typing import Any, Literal

import numpy as np
from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, StrictBool, StrictInt, StrictStr, field_validator

from ragsift.config import EmbedderSpec
from ragsift.errors import BadInputError, PassageTooLongError
from ragsift.service.errors import ModelNotServedError, error_responses
from ragsift.service.middleware import note_passages
from ragsift.service.routes._common import get_state
from ragsift.service.state import ServiceState

__all__ = ["router", "served_embedder"]

router = APIRouter(tags=["Embeddings"])

EMBEDDING_ERRORS = (400, 401, 404, 413, 422, 500, 502, 503, 504)
QUERY_TYPES = frozenset({"query", "search_query"})
DOCUMENT_TYPES = frozenset({"passage", "document", "search_document"})
_LOADING = threading.Lock()


class OpenAIEmbeddingRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")
    model: StrictStr
    input: StrictStr | list[StrictStr]
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: StrictInt | None = None
    user: StrictStr | None = None
    input_type: StrictStr | None = None
    truncate: Literal["NONE", "END"] = "NONE"

    @field_validator("truncate", mode="before")
    @classmethod
    def _upper(cls, v: object) -> object:
        return v.strip().upper() if isinstance(v, str) else v


class Embedding(BaseModel):
    object: Literal["embedding"] = "embedding"
    index: int
    embedding: list[float] | str


class Usage(BaseModel):
    prompt_tokens: int
    total_tokens: int


class OpenAIEmbeddingResponse(BaseModel):
    object: Literal["list"] = "list"
    data: list[Embedding]
    model: str
    usage: Usage


class TEIEmbedRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")
    inputs: StrictStr | list[StrictStr]
    normalize: StrictBool = True
    truncate: StrictBool | None = None
    truncation_direction: StrictStr = "Right"
    prompt_name: StrictStr | None = None
    dimensions: StrictInt | None = None


# ---------------------------------------------------------------------------- the served embedder


class ServedEmbedder:
    """The embedder a request uses, with its public id and its token counter."""

    def __init__(self, embedder: Any):
        self.embedder = embedder
        spec = getattr(embedder, "spec", None)
        self.spec: EmbedderSpec | None = spec if isinstance(spec, EmbedderSpec) else None
        name = str(self.spec) if self.spec is not None else str(getattr(embedder, "name", type(embedder).__name__))
        model = self.spec.model if self.spec is not None else name
        self.id = _public(model)
        self.names = frozenset({self.id, name, model, _public(model)})
        self._count: Callable[[str], int] | None = None

    @property
    def local(self) -> bool:
        """True for a local model: its tokenizer is at hand and its limit is checked here."""
        return self.spec is not None and not self.spec.type.hosted

    def token_counts(self, texts: list[str], query: bool) -> list[int]:
        """Tokens of each text with its prefix (the local model's tokenizer; else the default model's, an estimate)."""
        if self._count is None:
            from ragsift.index.embedder import tokenizer_source
            from ragsift.ingest import token_length_function

            self._count = token_length_function(tokenizer_source(self.spec) if self.local else None)
        prefix = "" if self.spec is None else self.spec.query_prefix if query else self.spec.document_prefix
        return [self._count(prefix + text) for text in texts]


def _public(name: str) -> str:
    """A model id fit to show clients: a local path becomes its folder name."""
    if name.startswith(("/", "./", "../", "~")) or os.path.isdir(name):
        return os.path.basename(os.path.normpath(os.path.expanduser(name))) or name
    return name


def _default_embedder(request: Request, state: ServiceState) -> ServedEmbedder:
    """The service's own embedder (``embedder`` setting), built and loaded once per app."""
    with _LOADING:
        served = getattr(request.app.state, "ragsift_embedder", None)
        if served is None:
            from ragsift.index.embedder import get_embedder

            embedder = get_embedder(EmbedderSpec.parse(state.settings.embedder, "service setting embedder"))
            embedder.load()
            served = request.app.state.ragsift_embedder = ServedEmbedder(embedder)
    return served


def _collection_embedder(request: Request, state: ServiceState) -> ServedEmbedder:
    collection = state.collection
    if collection is None or not collection.config.dense:
        return _default_embedder(request, state)
    embedder = collection.embedder  # loads on first use; shared by the collection's forks
    served = getattr(request.app.state, "ragsift_collection_embedder", None)
    if served is None or served.embedder is not embedder:
        served = request.app.state.ragsift_collection_embedder = ServedEmbedder(embedder)
    return served


async def served_embedder(request: Request) -> ServedEmbedder:
    """The served collection's embedder (dense collections), else the service's own; loaded off the event loop."""
    state = get_state(request)
    state.require_ready()
    return await asyncio.to_thread(_collection_embedder, request, state)


# ---------------------------------------------------------------------------- shared checks


def _texts(value: str | list[str], field: str, state: ServiceState) -> list[str]:
    texts = [value] if isinstance(value, str) else value
    limits = state.settings
    if not texts:
        raise BadInputError(f"{field} is empty; send at least one text")
    if len(texts) > limits.max_passages:
        raise BadInputError(
            f"{field} has {len(texts)} texts, more than max_passages={limits.max_passages}; split the request"
        )
    for i, text in enumerate(texts):
        where = field if isinstance(value, str) else f"{field}[{i}]"
        if not text.strip():
            raise BadInputError(f"{where} is empty; send text to embed")
        if len(text) > limits.max_chars_per_passage:
            raise BadInputError(
                f"{where} has {len(text)} characters, more than max_chars_per_passage={limits.max_chars_per_passage}; "
                "chunk it"
            )
    return texts


def _is_query(input_type: str | None, field: str) -> bool:
    if input_type is None:
        return False
    kind = input_type.strip().lower()
    if kind in QUERY_TYPES:
        return True
    if kind in DOCUMENT_TYPES:
        return False
    valid = ", ".join(sorted(QUERY_TYPES | DOCUMENT_TYPES))
    raise BadInputError(f"{field}={input_type!r} is not valid; choose one of {valid} (or leave it out: a document)")


async def _token_counts(served: ServedEmbedder, texts: list[str], query: bool, truncate: bool, field: str,
                        fix: str) -> list[int]:
    """Tokens of each input; PassageTooLongError (400) for one over a local model's limit when truncation is off."""
    counts = await asyncio.to_thread(served.token_counts, texts, query)
    if truncate or not served.local:
        return counts
    limit = served.embedder.max_seq_length - 2  # [CLS] and [SEP]
    for i, tokens in enumerate(counts):
        if tokens > limit:
            raise PassageTooLongError(
                f"{field}[{i}] has {tokens} tokens, more than the {limit} the model {served.id!r} reads, and "
                f"truncation is off. Fix: {fix}, or shorten or chunk the text",
                index=i, tokens=tokens, limit=limit,
            )
    return counts


async def _embed(served: ServedEmbedder, texts: list[str], query: bool) -> np.ndarray:
    encode = served.embedder.encode_queries if query else served.embedder.encode_documents
    return np.asarray(await asyncio.to_thread(encode, texts), dtype=np.float32)


def _check_dimensions(dimensions: int | None, vectors: np.ndarray, served: ServedEmbedder) -> None:
    if dimensions is not None and dimensions != vectors.shape[1]:
        raise BadInputError(
            f"dimensions={dimensions} is not available: {served.id!r} gives {vectors.shape[1]}-dimensional vectors "
            f"and this service does not cut them. Fix: leave dimensions out or send {vectors.shape[1]}"
        )


# ---------------------------------------------------------------------------- routes


@router.post("/v1/embeddings", response_model=OpenAIEmbeddingResponse, responses=error_responses(*EMBEDDING_ERRORS))
async def openai_embeddings(body: OpenAIEmbeddingRequest, request: Request) -> dict:
    state = get_state(request)
    state.require_ready()
    texts = _texts(body.input, "input", state)
    query = _is_query(body.input_type, "input_type")
    served = await served_embedder(request)
    if state.settings.strict_model and body.model not in served.names:
        raise ModelNotServedError(
            f"model={body.model!r} is not served here; /v1/embeddings serves {served.id!r}. Fix: send that id, "
            "or start the service with strict_model=false"
        )
    note_passages(request, len(texts))
    counts = await _token_counts(served, texts, query, body.truncate == "END", "input", "send truncate='END'")
    vectors = await _embed(served, texts, query)
    _check_dimensions(body.dimensions, vectors, served)
    tokens = sum(counts)
    data = [
        {"object": "embedding", "index": i, "embedding": _encoded(row, body.encoding_format)}
        for i, row in enumerate(vectors)
    ]
    usage = {"prompt_tokens": tokens, "total_tokens": tokens}
    return {"object": "list", "data": data, "model": served.id, "usage": usage}


def _encoded(row: np.ndarray, encoding_format: str) -> list[float] | str:
    if encoding_format == "base64":
        return base64.b64encode(np.ascontiguousarray(row, dtype="<f4").tobytes()).decode("ascii")
    return row.tolist()


@router.post(
    "/embed",
    response_model=list[list[float]],
    responses=error_responses(*(status for status in EMBEDDING_ERRORS if status != 404)),  # no model field
)
async def tei_embed(body: TEIEmbedRequest, request: Request) -> list[list[float]]:
    state = get_state(request)
    state.require_ready()
    texts = _texts(body.inputs, "inputs", state)
    if body.truncation_direction.strip().lower() != "right":
        raise BadInputError(
            f"truncation_direction={body.truncation_direction!r} is not supported: the model cuts the end of the "
            "text; send 'Right' (or leave it out)"
        )
    query = _is_query(body.prompt_name, "prompt_name")
    served = await served_embedder(request)
    normalizes = served.spec.normalize if served.spec is not None else True
    if not body.normalize and normalizes:
        raise BadInputError(
            f"normalize=false is not available: {served.id!r} gives unit-length vectors (as the collection stores "
            "them). Fix: leave normalize out (true)"
        )
    note_passages(request, len(texts))
    await _token_counts(served, texts, query, bool(body.truncate), "inputs", "send truncate=true")
    vectors = await _embed(served, texts, query)
    _check_dimensions(body.dimensions, vectors, served)
    if body.normalize and not normalizes:
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        vectors = vectors / np.where(norms == 0.0, 1.0, norms)
    return vectors.tolist()
