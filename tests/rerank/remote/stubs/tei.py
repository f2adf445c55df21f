"""text-embeddings-inference stub: ``POST /rerank``, validating like TEI's axum router.

- ``Content-Type`` must be JSON (415 text otherwise); a body that is not JSON → 400 text, a body
  that does not fit ``RerankRequest`` (missing ``query``/``texts``, wrong types) → 422 text
  ("Failed to deserialize the JSON body into the target type: …"), as axum's ``Json`` extractor does;
- with ``api_key`` set (TEI's ``--api-key``), a wrong or missing bearer token → 401, empty body;
- ``texts`` empty → 400 ``{"error", "error_type": "empty"}``; more than ``max_client_batch_size``
  (default 32) → 413 ``validation``; with ``truncate`` false (or absent and ``auto_truncate`` off)
  a pair longer than ``max_input_length`` → 413 ``validation``;
- answer ``[{"index", "score", "text"?}]`` sorted by score; ``score`` is ``sigmoid(logit)`` unless
  ``raw_scores``.
"""

from __future__ import annotations

from typing import Any

from .base import Invalid, ListShapedApp, Reply, Request
from .scoring import logit, sigmoid, tokens

ERROR_TYPES = {400: "empty", 413: "validation", 422: "tokenizer", 424: "backend", 429: "overloaded", 503: "unhealthy"}
_FIELDS = {"query": str, "texts": list, "truncate": (bool, type(None)), "raw_scores": bool, "return_text": bool,
           "truncation_direction": str}


def _deserialize(message: str) -> Invalid:
    return Invalid(422, f"Failed to deserialize the JSON body into the target type: {message}", plain=True)


class TeiStub(ListShapedApp):
    ITEMS = None
    REQUIRED = "score"

    def __init__(self, *, api_key: str | None = None, max_client_batch_size: int = 32,
                 max_input_length: int = 512, auto_truncate: bool = False, leaky: bool = False):
        self.api_key = api_key
        self.max_client_batch_size = max_client_batch_size
        self.max_input_length = max_input_length
        self.auto_truncate = auto_truncate
        self.leaky = leaky

    def error(self, status: int, message: str | None = None, **extra: Any) -> Reply:
        if extra.get("plain"):
            return Reply.text(status, message or "")
        if status == 401:
            return Reply(401, message.encode() if message else b"")
        kind = extra.get("error_type") or ERROR_TYPES.get(status, "backend")
        return Reply.json(status, {"error": message or {"overloaded": "Model is overloaded"}.get(kind, kind),
                                   "error_type": kind})

    def __call__(self, request: Request) -> Reply:
        try:
            return self._rerank(request)
        except Invalid as exc:
            return self.error(exc.status, exc.message, **exc.extra)

    def _rerank(self, request: Request) -> Reply:
        if request.path != "/rerank":
            raise Invalid(404, "", plain=True)
        if request.method != "POST":
            raise Invalid(405, "", plain=True)
        if self.api_key is not None and request.bearer() != self.api_key:
            raise Invalid(401, f"bad token {request.bearer()}" if self.leaky else "")
        if not request.headers.get("content-type", "").startswith("application/json"):
            raise Invalid(415, "Expected request with `Content-Type: application/json`", plain=True)
        try:
            body = request.json()
        except ValueError as exc:
            raise Invalid(400, f"Failed to parse the request body as JSON: {exc}", plain=True)
        if not isinstance(body, dict):
            raise _deserialize("invalid type: expected struct RerankRequest")
        for key in ("query", "texts"):
            if key not in body:
                raise _deserialize(f"missing field `{key}`")
        for key, kind in _FIELDS.items():
            if key in body and not isinstance(body[key], kind):
                raise _deserialize(f"{key}: invalid type: {type(body[key]).__name__}")
        if not all(isinstance(t, str) for t in body["texts"]):
            raise _deserialize("texts: invalid type, expected a string")
        query, texts = body["query"], body["texts"]
        if not texts:
            raise Invalid(400, "`texts` cannot be empty")
        if len(texts) > self.max_client_batch_size:
            raise Invalid(413, f"batch size {len(texts)} > maximum allowed batch size {self.max_client_batch_size}")
        truncate = body.get("truncate")
        truncate = self.auto_truncate if truncate is None else truncate
        if not truncate:
            for t in texts:
                n = tokens(query, t)
                if n > self.max_input_length:
                    raise Invalid(413, f"`inputs` must have less than {self.max_input_length} tokens. Given: {n}")
        raw = body.get("raw_scores", False)
        ranks = []
        for i, t in enumerate(texts):
            x = logit(query, t)
            rank = {"index": i, "score": x if raw else sigmoid(x)}
            if body.get("return_text", False):
                rank["text"] = t
            ranks.append(rank)
        ranks.sort(key=lambda r: -r["score"])
        return Reply.json(200, ranks)
