"""Vertex AI ranking API stub: ``POST /v1/projects/{p}/locations/{l}/rankingConfigs/{c}:rank``.

Validates like Google's JSON front end: ``Authorization: Bearer <token>`` (401 UNAUTHENTICATED
otherwise); the JSON body may only hold ``model``, ``query``, ``records``, ``topN``,
``ignoreRecordDetailsInResponse``, ``userLabels`` (an unknown name → 400 'Invalid JSON payload
received. Unknown name …'); ``records`` is required, 1..200, each with a string ``id`` (unique)
and a non-empty ``content`` or ``title``; ``model`` must be a known ranker. Errors are
``{"error": {"code", "message", "status"}}``. Answer ``{"records": [{"id", "score"}]}`` sorted by
score, cut to ``topN`` (> 0), with record details unless ``ignoreRecordDetailsInResponse``. As
proto3 JSON does, a ``score`` of exactly 0 is omitted from its record, and an empty ``records``
list is omitted from the answer.
"""

from __future__ import annotations

import re
from typing import Any

from .base import Invalid, ListShapedApp, Reply, Request
from .scoring import probability

MODELS = ("semantic-ranker-default@latest", "semantic-ranker-512@latest", "semantic-ranker-default-004",
          "semantic-ranker-fast-004")
STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
          429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED"}
FIELDS = ("model", "query", "records", "topN", "ignoreRecordDetailsInResponse", "userLabels")
RECORD_FIELDS = ("id", "title", "content", "score")
PATH = re.compile(r"^/v1/projects/([^/]+)/locations/([^/]+)/rankingConfigs/([^/:]+):rank$")


class VertexStub(ListShapedApp):
    ITEMS = "records"
    INDEX = "id"
    REQUIRED = "id"

    def __init__(self, *, access_token: str, project: str = "my-project", max_records: int = 200,
                 leaky: bool = False):
        self.access_token = access_token
        self.project = project
        self.max_records = max_records
        self.leaky = leaky

    def bad_index(self, n: int) -> Any:
        return str(n + 7)

    def error(self, status: int, message: str | None = None, **extra: Any) -> Reply:
        default = {429: "Quota exceeded for quota metric 'Rank requests' and limit 'Rank requests per minute'.",
                   500: "Internal error encountered.", 503: "The service is currently unavailable."}
        body = {"code": status, "message": message or default.get(status, f"HTTP {status}"),
                "status": STATUS.get(status, "UNKNOWN")}
        return Reply.json(status, {"error": body})

    def __call__(self, request: Request) -> Reply:
        try:
            return self._rank(request)
        except Invalid as exc:
            return self.error(exc.status, exc.message)

    def _rank(self, request: Request) -> Reply:
        m = PATH.match(request.path)
        if request.method != "POST" or not m:
            raise Invalid(404, f"Method not found: {request.path}")
        if request.bearer() != self.access_token:
            raise Invalid(401, "Request had invalid authentication credentials. Expected OAuth 2 access token, "
                               "login cookie or other valid authentication credential."
                               + (f" Got: {request.bearer()}" if self.leaky else ""))
        if m.group(1) != self.project:
            raise Invalid(403, f"Permission 'discoveryengine.rankingConfigs.rank' denied on resource "
                               f"'projects/{m.group(1)}' (or it may not exist).")
        try:
            body = request.json()
        except ValueError:
            raise Invalid(400, "Invalid JSON payload received. Unexpected token.")
        if not isinstance(body, dict):
            raise Invalid(400, "Invalid JSON payload received. Expected an object.")
        for key in body:
            if key not in FIELDS:
                raise Invalid(400, f'Invalid JSON payload received. Unknown name "{key}": Cannot find field.')
        records = body.get("records")
        if not isinstance(records, list) or not records:
            raise Invalid(400, "records must not be empty.")
        if len(records) > self.max_records:
            raise Invalid(400, f"Number of records {len(records)} exceeds the limit of {self.max_records}.")
        seen = set()
        for i, r in enumerate(records):
            if not isinstance(r, dict):
                raise Invalid(400, f"Invalid value at 'records[{i}]': expected an object.")
            for key in r:
                if key not in RECORD_FIELDS:
                    raise Invalid(400, f'Invalid JSON payload received. Unknown name "{key}" at '
                                       f"'records[{i}]': Cannot find field.")
            if not isinstance(r.get("id"), str) or not r["id"] or r["id"] in seen:
                raise Invalid(400, f"records[{i}].id must be a unique non-empty string.")
            seen.add(r["id"])
            if not (r.get("content") or r.get("title")):
                raise Invalid(400, f"records[{i}] must have a non-empty content or title.")
        model = body.get("model", MODELS[0])
        if model not in MODELS:
            raise Invalid(400, f"Unsupported model: {model}.")
        query = body.get("query", "")
        if not isinstance(query, str) or not query:
            raise Invalid(400, "query must be a non-empty string.")
        top_n = body.get("topN", 0)
        if isinstance(top_n, bool) or not isinstance(top_n, int):
            raise Invalid(400, f"Invalid value at 'top_n' (TYPE_INT32), {top_n!r}")
        details = not body.get("ignoreRecordDetailsInResponse", False)
        scored = []
        for r in records:
            text = " ".join(x for x in (r.get("title"), r.get("content")) if x)
            out = {"id": r["id"], "score": probability(query, text)}
            if details:
                out.update({k: r[k] for k in ("title", "content") if r.get(k)})
            scored.append(out)
        scored.sort(key=lambda r: -r["score"])
        if top_n > 0:
            scored = scored[:top_n]
        for r in scored:
            if r["score"] == 0.0:
                del r["score"]  # proto3 JSON omits default values
        return Reply.json(200, {"records": scored} if scored else {})
