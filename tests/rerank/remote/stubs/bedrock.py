"""Amazon Bedrock ``bedrock-agent-runtime`` Rerank stub, speaking REST-JSON: ``POST /rerank``.

Shapes from botocore's service model (``bedrock-agent-runtime/2023-07-26/service-2.json``):

- SigV4 ``Authorization: AWS4-HMAC-SHA256 Credential=<akid>/<date>/<region>/bedrock/aws4_request``;
  an unknown access key → 403 ``UnrecognizedClientException``; a scope for another region or
  service → 403 ``InvalidSignatureException``;
- ``queries``: exactly 1 ``{"type": "TEXT", "textQuery": {"text": 1..32000 chars}}``;
  ``sources``: 1..1000 ``{"type": "INLINE", "inlineDocumentSource": {"type": "TEXT"|"JSON",
  "textDocument": {"text"}}}``; ``rerankingConfiguration``: ``{"type": "BEDROCK_RERANKING_MODEL",
  "bedrockRerankingConfiguration": {"numberOfResults"?: 1..1000, "modelConfiguration":
  {"modelArn"}}}`` with a known rerank model; ``nextToken`` optional. Violations → 400
  ``ValidationException``;
- errors carry ``x-amzn-ErrorType: <Code>:<namespace>`` and ``{"message"}``;
- answer ``{"results": [{"index", "relevanceScore"}], "nextToken"?}`` sorted by score, cut to
  ``numberOfResults``; with ``page_size`` set, results come in pages linked by ``nextToken``.
"""

from __future__ import annotations

import re
from typing import Any

from .base import Invalid, ListShapedApp, Reply, Request
from .scoring import probability

MODELS = ("amazon.rerank-v1:0", "cohere.rerank-v3-5:0")
CODES = {400: "ValidationException", 403: "AccessDeniedException", 404: "ResourceNotFoundException",
         409: "ConflictException", 424: "DependencyFailedException", 429: "ThrottlingException",
         500: "InternalServerException", 502: "BadGatewayException", 503: "ServiceUnavailableException"}
_CREDENTIAL = re.compile(r"^AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request,")
_ARN = re.compile(r"^arn:aws(-[^:]+)?:bedrock:[a-z0-9-]{1,20}:(\d{12})?:foundation-model/(.+)$")
_TOP_LEVEL = ("queries", "sources", "rerankingConfiguration", "nextToken")


def _need(cond: bool, message: str) -> None:
    if not cond:
        raise Invalid(400, message)


class BedrockStub(ListShapedApp):
    ITEMS = "results"
    REQUIRED = "relevanceScore"

    def __init__(self, *, access_key: str, region: str = "us-east-1", page_size: int | None = None):
        self.access_key = access_key
        self.region = region
        self.page_size = page_size

    def error(self, status: int, message: str | None = None, **extra: Any) -> Reply:
        code = extra.get("code") or CODES.get(status, "InternalServerException")
        headers = {"x-amzn-ErrorType": f"{code}:http://internal.amazon.com/coral/com.amazon.bedrock/",
                   "x-amzn-RequestId": "00000000-0000-0000-0000-000000000000"}
        default = {"ThrottlingException": "Too many requests, please wait before trying again.",
                   "InternalServerException": "An internal server error occurred. Retry your request."}
        return Reply.json(status, {"message": message or default.get(code, code)}, headers)

    def __call__(self, request: Request) -> Reply:
        try:
            return self._rerank(request)
        except Invalid as exc:
            return self.error(exc.status, exc.message, **exc.extra)

    def _auth(self, request: Request) -> None:
        m = _CREDENTIAL.match(request.headers.get("authorization", ""))
        if not m:
            raise Invalid(403, "Missing Authentication Token", code="MissingAuthenticationTokenException")
        akid, _date, region, service = m.groups()
        if akid != self.access_key:
            raise Invalid(403, "The security token included in the request is invalid.",
                          code="UnrecognizedClientException")
        if region != self.region or service != "bedrock":
            raise Invalid(403, f"Credential should be scoped to a valid region/service, not '{region}/{service}'.",
                          code="InvalidSignatureException")

    def _rerank(self, request: Request) -> Reply:
        if request.method != "POST" or request.path != "/rerank":
            raise Invalid(404, f"Unknown operation {request.method} {request.path}", code="UnknownOperationException")
        self._auth(request)
        try:
            body = request.json()
        except ValueError:
            raise Invalid(400, "Invalid JSON in request body.", code="SerializationException")
        _need(isinstance(body, dict), "Request body must be a JSON object.")
        for key in body:
            _need(key in _TOP_LEVEL, f"Unknown field '{key}'.")
        queries = body.get("queries")
        _need(isinstance(queries, list) and len(queries) == 1, "queries must contain exactly 1 item.")
        q = queries[0]
        _need(isinstance(q, dict) and q.get("type") == "TEXT", "queries[0].type must be TEXT.")
        text = (q.get("textQuery") or {}).get("text")
        _need(isinstance(text, str) and 1 <= len(text) <= 32000, "queries[0].textQuery.text must have 1-32000 characters.")
        sources = body.get("sources")
        _need(isinstance(sources, list) and 1 <= len(sources) <= 1000, "sources must contain 1-1000 items.")
        texts = []
        for i, s in enumerate(sources):
            _need(isinstance(s, dict) and s.get("type") == "INLINE", f"sources[{i}].type must be INLINE.")
            doc = s.get("inlineDocumentSource")
            _need(isinstance(doc, dict) and doc.get("type") in ("TEXT", "JSON"),
                  f"sources[{i}].inlineDocumentSource.type must be TEXT or JSON.")
            t = (doc.get("textDocument") or {}).get("text")
            _need(isinstance(t, str) and 1 <= len(t) <= 32000,
                  f"sources[{i}].inlineDocumentSource.textDocument.text must have 1-32000 characters.")
            texts.append(t)
        config = body.get("rerankingConfiguration")
        _need(isinstance(config, dict) and config.get("type") == "BEDROCK_RERANKING_MODEL",
              "rerankingConfiguration.type must be BEDROCK_RERANKING_MODEL.")
        brc = config.get("bedrockRerankingConfiguration")
        _need(isinstance(brc, dict), "rerankingConfiguration.bedrockRerankingConfiguration is required.")
        arn = (brc.get("modelConfiguration") or {}).get("modelArn")
        m = _ARN.match(arn) if isinstance(arn, str) else None
        _need(m is not None and m.group(3) in MODELS, f"The provided model identifier is invalid: {arn}.")
        limit = brc.get("numberOfResults", len(texts))
        _need(isinstance(limit, int) and 1 <= limit <= 1000, "numberOfResults must be between 1 and 1000.")
        results = [{"index": i, "relevanceScore": probability(text, t)} for i, t in enumerate(texts)]
        results.sort(key=lambda r: -r["relevanceScore"])
        results = results[:limit]
        token = body.get("nextToken")
        start = int(token) if isinstance(token, str) and token.isdigit() else 0
        if self.page_size is None:
            return Reply.json(200, {"results": results[start:]})
        page = results[start : start + self.page_size]
        out: dict[str, Any] = {"results": page}
        if start + self.page_size < len(results):
            out["nextToken"] = str(start + self.page_size)
        return Reply.json(200, out)
