"""Cohere Rerank stub: ``POST /v1/rerank`` and ``POST /v2/rerank``.

Validates like Cohere: ``Authorization: Bearer <key>`` (401 ``{"message"}`` otherwise); JSON body;
``model`` (required in v2, one of the known models, else 404), ``query`` (non-empty string),
``documents`` (1..max_documents; v2: strings only, v1: strings or ``{"text"}``), ``top_n``
(integer >= 1), ``max_tokens_per_doc`` (v2 only, integer >= 1), ``return_documents`` (v1, bool).
Errors are 400 ``{"message": "invalid request: ..."}``. Answer ``{"id", "results": [{"index",
"relevance_score", "document"?}], "meta"}``, sorted by score, cut to ``top_n``.
"""

from __future__ import annotations

from typing import Any

from .base import Invalid, ListShapedApp, Reply, Request
from .scoring import probability

MODELS = ("rerank-v3.5", "rerank-english-v3.0", "rerank-multilingual-v3.0")


def _int(body: dict, key: str) -> None:
    if key in body and (isinstance(body[key], bool) or not isinstance(body[key], int) or body[key] < 1):
        raise Invalid(400, f"invalid request: {key} must be a positive integer")


class CohereStub(ListShapedApp):
    ITEMS = "results"
    REQUIRED = "relevance_score"

    def __init__(self, *, api_key: str, max_documents: int = 1000, leaky: bool = False):
        self.api_key = api_key
        self.max_documents = max_documents
        self.leaky = leaky
        self.calls = 0

    def error(self, status: int, message: str | None = None, **extra: Any) -> Reply:
        default = {429: "You are using a Trial key, which is limited to 10 API calls / minute.",
                   500: "internal server error, this has been reported to our developers"}
        return Reply.json(status, {"message": message or default.get(status, f"HTTP {status}")})

    def __call__(self, request: Request) -> Reply:
        try:
            return self._rerank(request)
        except Invalid as exc:
            return self.error(exc.status, exc.message)

    def _rerank(self, request: Request) -> Reply:
        if request.method != "POST" or request.path not in ("/v1/rerank", "/v2/rerank"):
            raise Invalid(404, f"route {request.path} not found")
        version = request.path.split("/")[1]
        token = request.bearer()
        if token is None:
            raise Invalid(401, "no api key supplied")
        if token != self.api_key:
            raise Invalid(401, "invalid api token" + (f" {token}" if self.leaky else ""))
        try:
            body = request.json()
        except ValueError:
            raise Invalid(400, "invalid request: body is not valid JSON")
        if not isinstance(body, dict):
            raise Invalid(400, "invalid request: body must be a JSON object")
        model = body.get("model")
        if model is None and version == "v2":
            raise Invalid(400, "invalid request: model is required")
        if model is not None and model not in MODELS:
            raise Invalid(404, f"model '{model}' not found, make sure the correct model ID was used "
                               "and that you have access to the model.")
        query = body.get("query")
        if not isinstance(query, str) or not query.strip():
            raise Invalid(400, "invalid request: query must be a non-empty string")
        docs = body.get("documents")
        if not isinstance(docs, list) or not docs:
            raise Invalid(400, "invalid request: documents must be a non-empty list")
        if len(docs) > self.max_documents:
            raise Invalid(400, f"invalid request: too many documents, got {len(docs)}, "
                               f"the maximum is {self.max_documents}")
        texts = []
        for i, d in enumerate(docs):
            if isinstance(d, dict) and version == "v1" and isinstance(d.get("text"), str):
                texts.append(d["text"])
            elif isinstance(d, str):
                texts.append(d)
            else:
                raise Invalid(400, f"invalid request: documents[{i}] must be a string")
        _int(body, "top_n")
        if "max_tokens_per_doc" in body:
            if version == "v1":
                raise Invalid(400, "invalid request: max_tokens_per_doc is not a valid v1 parameter")
            _int(body, "max_tokens_per_doc")
        if "return_documents" in body and not isinstance(body["return_documents"], bool):
            raise Invalid(400, "invalid request: return_documents must be a boolean")
        self.calls += 1
        results = [{"index": i, "relevance_score": probability(query, t)} for i, t in enumerate(texts)]
        results.sort(key=lambda r: -r["relevance_score"])
        results = results[: body.get("top_n", len(results))]
        if body.get("return_documents"):
            for r in results:
                r["document"] = {"text": texts[r["index"]]}
        meta = {"api_version": {"version": version[1:]}, "billed_units": {"search_units": 1}}
        return Reply.json(200, {"id": f"stub-{self.calls:04d}", "results": results, "meta": meta})
