"""NVIDIA NIM reranking stub: ``POST /v1/ranking`` (and the hosted ``…/reranking`` URL).

Validates like the NIM (a FastAPI service): JSON body with ``model`` (the served model),
``query.text`` (non-empty string), ``passages`` (1..max_passages objects with a ``text`` string),
``truncate`` in {NONE, END} (default NONE). Schema errors → 422 ``{"detail": [{"loc", "msg",
"type"}]}``; wrong model, too many passages, or an over-long pair with ``truncate=NONE`` → 400
``{"detail": "..."}``; a bad or missing bearer token when ``api_key`` is set → 401 (RFC 7807
body, as the hosted gateway answers). Answer ``{"rankings": [{"index", "logit"}], "usage"}``
sorted by logit, descending.
"""

from __future__ import annotations

from typing import Any

from .base import Invalid, ListShapedApp, Reply, Request
from .scoring import logit, tokens

MODEL = "nvidia/nv-rerankqa-mistral-4b-v3"
HOSTED_PATH = "/v1/retrieval/nvidia/reranking"


def _missing(*loc: str) -> Invalid:
    return Invalid(422, "", detail=[{"loc": ["body", *loc], "msg": "Field required", "type": "missing"}])


def _type(loc: list, expected: str) -> Invalid:
    return Invalid(422, "", detail=[{"loc": ["body", *loc], "msg": f"Input should be a valid {expected}", "type": f"{expected}_type"}])


class NimStub(ListShapedApp):
    ITEMS = "rankings"
    REQUIRED = "logit"

    def __init__(self, *, api_key: str | None = None, model: str = MODEL, max_passages: int = 512,
                 max_tokens: int = 512, leaky: bool = False):
        self.api_key = api_key
        self.model = model
        self.max_passages = max_passages
        self.max_tokens = max_tokens
        self.leaky = leaky

    def error(self, status: int, message: str | None = None, **extra: Any) -> Reply:
        if "detail" in extra:
            return Reply.json(status, {"detail": extra["detail"]})
        if status == 401:
            return Reply.json(401, {"type": "about:blank", "status": 401, "title": "Unauthorized",
                                    "detail": message or "Authentication failed"})
        return Reply.json(status, {"detail": message or f"HTTP {status}"})

    def __call__(self, request: Request) -> Reply:
        try:
            return self._rank(request)
        except Invalid as exc:
            return self.error(exc.status, exc.message, **exc.extra)

    def _rank(self, request: Request) -> Reply:
        if request.path not in ("/v1/ranking", HOSTED_PATH):
            raise Invalid(404, "Not Found")
        if request.method != "POST":
            raise Invalid(405, "Method Not Allowed")
        if self.api_key is not None and request.bearer() != self.api_key:
            shown = f": {request.bearer()}" if self.leaky else ""
            raise Invalid(401, f"Invalid or missing API key{shown}")
        try:
            body = request.json()
        except ValueError:
            raise Invalid(422, "", detail=[{"loc": ["body"], "msg": "JSON decode error", "type": "json_invalid"}])
        if not isinstance(body, dict):
            raise _type([], "dictionary")
        for key in ("model", "query", "passages"):
            if key not in body:
                raise _missing(key)
        if not isinstance(body["model"], str):
            raise _type(["model"], "string")
        query = body["query"]
        if not isinstance(query, dict) or "text" not in query:
            raise _missing("query", "text")
        if not isinstance(query["text"], str) or not query["text"]:
            raise _type(["query", "text"], "non-empty string")
        passages = body["passages"]
        if not isinstance(passages, list):
            raise _type(["passages"], "list")
        for i, p in enumerate(passages):
            if not isinstance(p, dict) or "text" not in p:
                raise _missing("passages", str(i), "text")
            if not isinstance(p["text"], str):
                raise _type(["passages", str(i), "text"], "string")
        truncate = body.get("truncate", "NONE")
        if truncate not in ("NONE", "END"):
            raise Invalid(422, "", detail=[{"loc": ["body", "truncate"], "msg": "Input should be 'NONE' or 'END'",
                                            "type": "enum"}])
        if body["model"] != self.model:
            raise Invalid(400, f"Model '{body['model']}' is not served here; available: ['{self.model}']")
        if not passages:
            raise Invalid(400, "passages must contain at least 1 item")
        if len(passages) > self.max_passages:
            raise Invalid(400, f"Number of passages {len(passages)} exceeds the maximum of {self.max_passages}")
        q = query["text"]
        if truncate == "NONE":
            for i, p in enumerate(passages):
                n = tokens(q, p["text"])
                if n > self.max_tokens:
                    raise Invalid(400, f"Input length {n} exceeds maximum allowed token size {self.max_tokens} "
                                       f"(passage {i}); set truncate to END")
        rankings = [{"index": i, "logit": logit(q, p["text"])} for i, p in enumerate(passages)]
        rankings.sort(key=lambda r: -r["logit"])
        used = sum(min(tokens(q, p["text"]), self.max_tokens) for p in passages)
        return Reply.json(200, {"rankings": rankings, "usage": {"prompt_tokens": used, "total_tokens": used}})
