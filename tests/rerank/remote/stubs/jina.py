"""Jina AI reranker stub: ``POST /v1/rerank``.

Validates like the Jina API (FastAPI): ``Authorization: Bearer <key>`` (401 ``{"detail"}``
otherwise); ``query`` (string, required), ``documents`` (list of strings or ``{"text"}``,
required, non-empty, at most ``max_documents`` when set), ``model`` (known model, else 400),
``top_n`` (integer >= 1), ``return_documents`` (bool, default true). Schema errors → 422
``{"detail": [{"loc", "msg", "type"}]}``. Answer ``{"model", "usage": {"total_tokens"},
"results": [{"index", "relevance_score", "document"?}]}`` sorted by score, cut to ``top_n``.
"""

from __future__ import annotations

from typing import Any

from .base import Invalid, ListShapedApp, Reply, Request
from .scoring import probability, tokens

MODELS = ("jina-reranker-v2-base-multilingual", "jina-reranker-v1-base-en", "jina-reranker-m0")


def _schema(loc: list, msg: str, kind: str) -> Invalid:
    return Invalid(422, "", detail=[{"loc": ["body", *loc], "msg": msg, "type": kind}])


class JinaStub(ListShapedApp):
    ITEMS = "results"
    REQUIRED = "relevance_score"

    def __init__(self, *, api_key: str, max_documents: int | None = None, leaky: bool = False):
        self.api_key = api_key
        self.max_documents = max_documents
        self.leaky = leaky

    def error(self, status: int, message: str | None = None, **extra: Any) -> Reply:
        if "detail" in extra:
            return Reply.json(status, {"detail": extra["detail"]})
        return Reply.json(status, {"detail": message or f"HTTP {status}"})

    def __call__(self, request: Request) -> Reply:
        try:
            return self._rerank(request)
        except Invalid as exc:
            return self.error(exc.status, exc.message, **exc.extra)

    def _rerank(self, request: Request) -> Reply:
        if request.method != "POST" or request.path != "/v1/rerank":
            raise Invalid(404, "Not Found")
        token = request.bearer()
        if token != self.api_key:
            shown = f" ({token})" if self.leaky else ""
            raise Invalid(401, f"Invalid API key{shown}. Please get your free API key at https://jina.ai")
        try:
            body = request.json()
        except ValueError:
            raise _schema([], "JSON decode error", "value_error.jsondecode")
        if not isinstance(body, dict):
            raise _schema([], "value is not a valid dict", "type_error.dict")
        for key in ("query", "documents"):
            if key not in body:
                raise _schema([key], "field required", "value_error.missing")
        query = body["query"]
        if not isinstance(query, str):
            raise _schema(["query"], "str type expected", "type_error.str")
        docs = body["documents"]
        if not isinstance(docs, list):
            raise _schema(["documents"], "value is not a valid list", "type_error.list")
        texts = []
        for i, d in enumerate(docs):
            text = d.get("text") if isinstance(d, dict) else d
            if not isinstance(text, str):
                raise _schema(["documents", i], "str type expected", "type_error.str")
            texts.append(text)
        top_n = body.get("top_n")
        if top_n is not None and (isinstance(top_n, bool) or not isinstance(top_n, int) or top_n < 1):
            raise _schema(["top_n"], "ensure this value is greater than or equal to 1", "value_error.number")
        if not isinstance(body.get("return_documents", True), bool):
            raise _schema(["return_documents"], "value could not be parsed to a boolean", "type_error.bool")
        model = body.get("model", MODELS[0])
        if model not in MODELS:
            raise Invalid(400, f"Model '{model}' not found or not supported for reranking")
        if not texts:
            raise Invalid(400, "No documents provided")
        if self.max_documents is not None and len(texts) > self.max_documents:
            raise Invalid(400, f"Too many documents: {len(texts)} > {self.max_documents}")
        results = [{"index": i, "relevance_score": probability(query, t)} for i, t in enumerate(texts)]
        results.sort(key=lambda r: -r["relevance_score"])
        results = results[: top_n or len(results)]
        if body.get("return_documents", True):
            for r in results:
                r["document"] = {"text": texts[r["index"]]}
        used = tokens(query, *texts)
        return Reply.json(200, {"model": model, "usage": {"total_tokens": used}, "results": results})
