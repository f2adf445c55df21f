"""Local stub servers that play the hosted embedding APIs' published wire contracts.

Both run on :class:`rerank.remote.stubs.StubServer` (127.0.0.1, ephemeral port, every request
recorded, faults queued with ``fail``/``stall``/``malform``). Their vectors are a hashed bag of
words of each text as received (prefix included), so a query shares dimensions with the passages
that share its words, and a test can compute the expected vector with :func:`stub_vector`.

``OpenAIEmbeddingsStub`` — ``POST /v1/embeddings``, in two flavours:

* ``openai`` (https://platform.openai.com/docs/api-reference/embeddings/create): body
  ``{"model", "input": str | [str], "encoding_format"?: "float"|"base64", "dimensions"?, "user"?}``;
  any other field is refused ("Unrecognized request argument supplied"), as OpenAI does; an
  unknown model is a 404 ``model_not_found``; empty strings, more than 2048 inputs, a
  non-positive ``dimensions`` are 400. Errors are ``{"error": {"message", "type", "param", "code"}}``.
* ``nim`` (NVIDIA NIM text embedding): the same plus ``input_type`` (``query``/``passage``;
  required: the served model is asymmetric) and ``truncate`` (``NONE``/``START``/``END``, default
  ``NONE``: an input over ``max_tokens`` words is a 400). Errors are NIM's
  ``{"object": "error", "message", "detail", "type"}``; schema errors 422 ``{"detail": [...]}``.

The answer is ``{"object": "list", "data": [{"object": "embedding", "index", "embedding"}],
"model", "usage"}``; ``shuffle=True`` returns ``data`` in reverse order (clients must place rows
by ``index``); ``force_base64=True`` answers base64 whatever was asked (a server that ignores
``encoding_format``).

``CohereEmbedStub`` — ``POST /v2/embed`` (https://docs.cohere.com/reference/embed): bearer key
(401 ``{"message"}``), ``model`` (required, known), ``texts`` (1..96 non-empty strings),
``input_type`` (required for the v3+ models: search_document, search_query, classification,
clustering), ``embedding_types`` (subset of float, int8, uint8, binary, ubinary; default float),
``truncate`` (NONE/START/END, default END), ``output_dimension`` (one the model offers). Errors
are 400 ``{"message": "invalid request: ..."}``. Answer ``{"id", "embeddings": {"float": [[...]]},
"texts", "meta", "response_type": "embeddings_by_type"}``.
"""

from __future__ import annotations

import base64
import re
import zlib
from typing import Any

import numpy as np
from rerank.remote.stubs.base import NOT_JSON, Invalid, Reply, Request

__all__ = ["OpenAIEmbeddingsStub", "CohereEmbedStub", "stub_vector", "unit"]

_WORD = re.compile(r"\w+")


def stub_vector(text: str, dim: int) -> list[float]:
    """Each word adds 1 to dimension ``crc32(word) % dim`` (a text without words: dimension 0)."""
    out = [0.0] * dim
    for word in _WORD.findall(text.lower()):
        out[zlib.crc32(word.encode("utf-8")) % dim] += 1.0
    if not any(out):
        out[0] = 1.0
    return out


def unit(rows: list[list[float]]) -> np.ndarray:
    """Rows L2-normalized, as the client returns them."""
    arr = np.asarray(rows, dtype=np.float32)
    return arr / np.linalg.norm(arr, axis=1, keepdims=True)


_OPENAI_FIELDS = {"model", "input", "encoding_format", "dimensions", "user"}
_NIM_FIELDS = _OPENAI_FIELDS | {"input_type", "truncate"}
_OPENAI_ERRORS = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    404: ("invalid_request_error", "model_not_found"),
    429: ("requests", "rate_limit_exceeded"),
}


class OpenAIEmbeddingsStub:
    def __init__(self, *, flavor: str = "openai", model: str = "stub-embed", api_key: str | None = None,
                 dim: int = 32, max_inputs: int = 2048, max_tokens: int = 512, shuffle: bool = False,
                 force_base64: bool = False):
        if flavor not in ("openai", "nim"):
            raise ValueError(f"flavor={flavor!r}: choose openai or nim")
        self.flavor = flavor
        self.model = model
        self.api_key = api_key
        self.dim = dim
        self.max_inputs = max_inputs
        self.max_tokens = max_tokens
        self.shuffle = shuffle
        self.force_base64 = force_base64

    # -- errors in the vendor's shape --------------------------------------------------------------

    def error(self, status: int, message: str | None = None, **extra: Any) -> Reply:
        if "detail" in extra:
            return Reply.json(status, {"detail": extra["detail"]})
        message = message or {429: "Rate limit reached for requests", 500: "The server had an error"}.get(
            status, f"HTTP {status}")
        if self.flavor == "nim":
            return Reply.json(status, {"object": "error", "message": message, "detail": {}, "type": "invalid_request_error"})
        kind, code = _OPENAI_ERRORS.get(status, ("server_error" if status >= 500 else "invalid_request_error", None))
        return Reply.json(status, {"error": {"message": message, "type": kind, "param": extra.get("param"), "code": code}})

    def malform(self, kind: str, reply: Reply) -> Reply:
        if kind == "not_json":
            return NOT_JSON
        payload = reply.payload()
        if kind == "missing_field":
            del payload["data"][0]["embedding"]
        elif kind == "wrong_index":
            payload["data"][0]["index"] = len(payload["data"]) + 7
        elif kind == "wrong_count":
            payload["data"].pop()
        return Reply.json(reply.status, payload)

    # -- the endpoint --------------------------------------------------------------------------------

    def __call__(self, request: Request) -> Reply:
        try:
            return self._embed(request)
        except Invalid as exc:
            return self.error(exc.status, exc.message, **exc.extra)

    def _embed(self, request: Request) -> Reply:
        if request.path != "/v1/embeddings":
            raise Invalid(404, f"Invalid URL (POST {request.path})")
        if request.method != "POST":
            raise Invalid(405, "Method Not Allowed")
        if self.api_key is not None and request.bearer() != self.api_key:
            raise Invalid(401, "Incorrect API key provided")
        try:
            body = request.json()
        except ValueError:
            raise Invalid(400, "We could not parse the JSON body of your request")
        if not isinstance(body, dict):
            raise Invalid(400, "The body must be a JSON object")
        allowed = _NIM_FIELDS if self.flavor == "nim" else _OPENAI_FIELDS
        unknown = sorted(set(body) - allowed)
        if unknown:
            if self.flavor == "nim":
                raise Invalid(422, "", detail=[{"loc": ["body", unknown[0]], "msg": "Extra inputs are not permitted",
                                                "type": "extra_forbidden"}])
            raise Invalid(400, f"Unrecognized request argument supplied: {unknown[0]}")
        model = body.get("model")
        if not isinstance(model, str):
            raise Invalid(400, "you must provide a model parameter", param="model")
        texts = body.get("input")
        texts = [texts] if isinstance(texts, str) else texts
        if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
            raise Invalid(400, "'$.input' is invalid. Please check the API reference", param="input")
        if any(not t for t in texts):
            raise Invalid(400, "'$.input' is invalid: empty strings are not accepted", param="input")
        if len(texts) > self.max_inputs:
            raise Invalid(400, f"'$.input' has {len(texts)} items, the maximum is {self.max_inputs}", param="input")
        fmt = body.get("encoding_format", "float")
        if fmt not in ("float", "base64"):
            raise Invalid(400, f"'{fmt}' is not one of ['float', 'base64'] - 'encoding_format'", param="encoding_format")
        dim = body.get("dimensions", self.dim)
        if isinstance(dim, bool) or not isinstance(dim, int) or not 1 <= dim <= self.dim:
            raise Invalid(400, f"dimensions must be an integer between 1 and {self.dim}", param="dimensions")
        if model != self.model:
            raise Invalid(404, f"The model `{model}` does not exist or you do not have access to it.")
        if self.flavor == "nim":
            self._nim_checks(body, texts)
        rows = [stub_vector(t, self.dim)[:dim] for t in texts]
        data = [{"object": "embedding", "index": i, "embedding": self._encoded(row, fmt)} for i, row in enumerate(rows)]
        if self.shuffle:
            data.reverse()
        used = sum(len(t.split()) for t in texts)
        return Reply.json(200, {"object": "list", "data": data, "model": model,
                                "usage": {"prompt_tokens": used, "total_tokens": used}})

    def _nim_checks(self, body: dict, texts: list[str]) -> None:
        input_type = body.get("input_type")
        if input_type is None:
            raise Invalid(400, "'input_type' parameter is required for asymmetric models")
        if input_type not in ("query", "passage"):
            raise Invalid(422, "", detail=[{"loc": ["body", "input_type"], "msg": "Input should be 'query' or 'passage'",
                                            "type": "enum"}])
        truncate = body.get("truncate", "NONE")
        if truncate not in ("NONE", "START", "END"):
            raise Invalid(422, "", detail=[{"loc": ["body", "truncate"], "msg": "Input should be 'NONE', 'START' or "
                                            "'END'", "type": "enum"}])
        if truncate == "NONE":
            for i, text in enumerate(texts):
                if len(text.split()) > self.max_tokens:
                    raise Invalid(400, f"Input length {len(text.split())} exceeds maximum allowed token size "
                                       f"{self.max_tokens} (input {i}); set truncate to END or START")

    def _encoded(self, row: list[float], fmt: str) -> Any:
        if fmt == "base64" or self.force_base64:
            return base64.b64encode(np.asarray(row, dtype="<f4").tobytes()).decode("ascii")
        return row


_COHERE_MODELS = {"embed-v4.0": (256, 512, 1024, 1536), "embed-english-v3.0": (), "embed-multilingual-v3.0": ()}
_COHERE_INPUT_TYPES = ("search_document", "search_query", "classification", "clustering")
_COHERE_EMBEDDING_TYPES = ("float", "int8", "uint8", "binary", "ubinary")


class CohereEmbedStub:
    def __init__(self, *, api_key: str, dim: int = 32, max_texts: int = 96):
        self.api_key = api_key
        self.dim = dim
        self.max_texts = max_texts
        self.calls = 0

    def error(self, status: int, message: str | None = None, **extra: Any) -> Reply:
        default = {429: "You are using a Trial key, which is limited to 100 API calls / minute.",
                   500: "internal server error, this has been reported to our developers"}
        return Reply.json(status, {"message": message or default.get(status, f"HTTP {status}")})

    def malform(self, kind: str, reply: Reply) -> Reply:
        if kind == "not_json":
            return NOT_JSON
        payload = reply.payload()
        if kind == "missing_field":
            del payload["embeddings"]["float"]
        elif kind in ("wrong_count", "wrong_index"):
            payload["embeddings"]["float"].pop()
        return Reply.json(reply.status, payload)

    def __call__(self, request: Request) -> Reply:
        try:
            return self._embed(request)
        except Invalid as exc:
            return self.error(exc.status, exc.message)

    def _embed(self, request: Request) -> Reply:
        if request.method != "POST" or request.path != "/v2/embed":
            raise Invalid(404, f"route {request.path} not found")
        token = request.bearer()
        if token is None:
            raise Invalid(401, "no api key supplied")
        if token != self.api_key:
            raise Invalid(401, "invalid api token")
        try:
            body = request.json()
        except ValueError:
            raise Invalid(400, "invalid request: body is not valid JSON")
        if not isinstance(body, dict):
            raise Invalid(400, "invalid request: body must be a JSON object")
        model = body.get("model")
        if model is None:
            raise Invalid(400, "invalid request: model is required")
        if model not in _COHERE_MODELS:
            raise Invalid(404, f"model '{model}' not found, make sure the correct model ID was used and that you "
                               "have access to the model.")
        texts = body.get("texts")
        if not isinstance(texts, list) or not texts or not all(isinstance(t, str) and t for t in texts):
            raise Invalid(400, "invalid request: texts must be a non-empty list of non-empty strings")
        if len(texts) > self.max_texts:
            raise Invalid(400, f"invalid request: total number of texts must be at most {self.max_texts} - "
                               f"received {len(texts)}")
        input_type = body.get("input_type")
        if input_type is None:
            raise Invalid(400, "invalid request: valid input_type must be provided with the provided model")
        if input_type not in _COHERE_INPUT_TYPES:
            raise Invalid(400, f"invalid request: input_type must be one of {', '.join(_COHERE_INPUT_TYPES)}")
        types = body.get("embedding_types", ["float"])
        if not isinstance(types, list) or not types or any(t not in _COHERE_EMBEDDING_TYPES for t in types):
            raise Invalid(400, f"invalid request: embedding_types must be a list of {', '.join(_COHERE_EMBEDDING_TYPES)}")
        if body.get("truncate", "END") not in ("NONE", "START", "END"):
            raise Invalid(400, "invalid request: truncate must be one of NONE, START, END")
        dim = self.dim
        if "output_dimension" in body:
            offered = _COHERE_MODELS[model]
            if body["output_dimension"] not in offered:
                raise Invalid(400, f"invalid request: output_dimension must be one of {list(offered)} for {model}")
            dim = min(self.dim, body["output_dimension"])
        self.calls += 1
        rows = [stub_vector(t, self.dim)[:dim] for t in texts]
        embeddings: dict[str, Any] = {}
        if "float" in types:
            embeddings["float"] = rows
        if "int8" in types:
            embeddings["int8"] = [[int(min(127, x)) for x in row] for row in rows]
        billed = sum(len(t.split()) for t in texts)
        return Reply.json(200, {
            "id": f"stub-{self.calls:04d}", "embeddings": embeddings, "texts": texts,
            "meta": {"api_version": {"version": "2"}, "billed_units": {"input_tokens": billed}},
            "response_type": "embeddings_by_type",
        })
