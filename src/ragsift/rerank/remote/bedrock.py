"""Amazon Bedrock Rerank client (``bedrock-agent-runtime`` ``Rerank`` through boto3).

Contract (https://docs.aws.amazon.com/bedrock/latest/APIReference/API_agent-runtime_Rerank.html,
guide: https://docs.aws.amazon.com/bedrock/latest/userguide/rerank.html): REST-JSON
``POST /rerank`` with ``queries`` (exactly one ``{"type": "TEXT", "textQuery": {"text"}}``),
``sources`` (1–1000 ``{"type": "INLINE", "inlineDocumentSource": {"type": "TEXT",
"textDocument": {"text"}}}``; texts of 1–32000 characters) and ``rerankingConfiguration``
``{"type": "BEDROCK_RERANKING_MODEL", "bedrockRerankingConfiguration": {"numberOfResults",
"modelConfiguration": {"modelArn"}}}``; answer ``{"results": [{"index", "relevanceScore"}],
"nextToken"?}``. ``numberOfResults`` is the batch size so every source gets a score; should the
service still page (``nextToken``), the pages are followed.

boto3 is imported lazily (``pip install 'ragsift[bedrock]'``): importing this module does not
import it. Retries and timeouts are botocore's, set explicitly: ``Config(retries={"mode":
"standard", "total_max_attempts": max_retries + 1}, connect_timeout=…, read_timeout=…)`` — standard
mode retries throttling, 5xx and connection errors/timeouts with jittered exponential backoff.
Credentials come from the usual AWS chain (env, profile, role); they never appear in messages.

Errors (the one map of every remote call, :func:`~ragsift.http.remote_error`): ThrottlingException (429) →
RateLimitedError; AccessDeniedException / UnrecognizedClientException / ExpiredTokenException
(403) and missing credentials → AuthenticationError; ValidationException, ResourceNotFound,
Conflict and ServiceQuotaExceededException (400: a hard account quota, not a transient rate — it
needs a quota increase) → RemoteClientError; InternalServerException (500), BadGatewayException
(502) and DependencyFailedException (424) → RemoteServerError; read/connect timeouts →
RemoteTimeoutError; a response without valid ``results`` → MalformedResponseError.

Scores: ``relevanceScore`` is in [0, 1]: ``raw`` is it, ``relevance`` is it clipped.
"""

from __future__ import annotations

import re
from typing import Any, Sequence

from ragsift._lazy import require
from ragsift.errors import AuthenticationError, BadInputError, ConfigError, RemoteError, RemoteServerError
from ragsift.http import ContractViolation, check_seconds, field_of, remote_error
from ragsift.rerank.base import Reranker, Scores
from ragsift.rerank.remote.http import batches, check_max_batch, clip01, merge_batches, ordered_scores

__all__ = ["BedrockReranker"]

MAX_SOURCES = 1000
MAX_TEXT = 32000
TARGET = "POST /rerank"
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d+$")
# Statuses of the modeled errors, used when a ClientError lacks ResponseMetadata.HTTPStatusCode.
_STATUS_BY_CODE = {
    "ValidationException": 400,
    "ServiceQuotaExceededException": 400,
    "AccessDeniedException": 403,
    "UnrecognizedClientException": 403,
    "ExpiredTokenException": 403,
    "ResourceNotFoundException": 404,
    "ConflictException": 409,
    "DependencyFailedException": 424,
    "ThrottlingException": 429,
    "InternalServerException": 500,
    "BadGatewayException": 502,
}
_AUTH_HINT = "Check the AWS credentials and the IAM permission bedrock:Rerank (and bedrock:InvokeModel) for the model"


class BedrockReranker(Reranker):
    """Rerank with a reranking model on Amazon Bedrock (Cohere Rerank 3.5, Amazon Rerank 1.0).

    ``model_arn`` is the foundation-model ARN, e.g.
    ``arn:aws:bedrock:us-west-2::foundation-model/amazon.rerank-v1:0``. Pass ``client=`` to use your
    own ``boto3.client("bedrock-agent-runtime")`` (its own retry/timeout config then applies), or
    ``endpoint_url=`` to point the client ragsift builds at another endpoint (VPC, a local stub).
    """

    provider = "bedrock"
    batch_cap = MAX_SOURCES
    model_option = "model_arn"
    options = frozenset({"region", "client", "endpoint_url", "max_batch", "timeout", "connect_timeout", "max_retries"})
    required_options = frozenset({"model_arn"})

    def __init__(
        self,
        *,
        model_arn: str,
        region: str = "us-east-1",
        client: Any = None,
        endpoint_url: str | None = None,
        max_batch: int = MAX_SOURCES,
        timeout: float = 30.0,
        connect_timeout: float = 5.0,
        max_retries: int = 3,
    ):
        if not isinstance(model_arn, str) or not model_arn.strip() or len(model_arn) > 2048:
            raise ConfigError(
                f"model_arn={model_arn!r} must be a Bedrock model ARN such as "
                "'arn:aws:bedrock:us-west-2::foundation-model/amazon.rerank-v1:0'"
            )
        if not isinstance(region, str) or not _REGION.match(region):
            raise ConfigError(f"region={region!r} must be an AWS region name such as 'us-west-2'")
        if endpoint_url is not None and (
            not isinstance(endpoint_url, str) or not endpoint_url.startswith(("http://", "https://"))
        ):
            raise ConfigError(f"endpoint_url={endpoint_url!r} must be an http:// or https:// URL or None")
        if client is not None and endpoint_url is not None:
            raise ConfigError("endpoint_url applies to the client ragsift builds; configure it on your client= instead")
        if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
            raise ConfigError(f"max_retries={max_retries!r} must be an integer >= 0 (0 disables retries)")
        self.model_arn = model_arn
        self.region = region
        self.endpoint_url = endpoint_url
        self.max_batch = check_max_batch(max_batch, cap=self.batch_cap)
        self.timeout = check_seconds("timeout", timeout)
        self.connect_timeout = check_seconds("connect_timeout", connect_timeout)
        self.max_retries = max_retries
        if client is None:
            require("boto3", extra="bedrock")  # fail fast on a missing extra; the client is built lazily
        self._client = client
        self.name = f"bedrock:{model_arn.rsplit('/', 1)[-1]}"

    def __repr__(self) -> str:
        return f"BedrockReranker(name={self.name!r}, region={self.region!r})"

    def warm_up(self) -> None:
        """Build the boto3 client (no network call)."""
        self.client()

    def client(self) -> Any:
        """The ``bedrock-agent-runtime`` client (built on first use)."""
        if self._client is None:
            boto3 = require("boto3", extra="bedrock")
            from botocore.config import Config

            config = Config(
                connect_timeout=self.connect_timeout,
                read_timeout=self.timeout,
                retries={"mode": "standard", "total_max_attempts": self.max_retries + 1},
            )
            # A session of its own: boto3's default session is shared process-wide and not thread-safe.
            session = boto3.session.Session()
            self._client = session.client(
                "bedrock-agent-runtime", region_name=self.region, endpoint_url=self.endpoint_url, config=config
            )
        return self._client

    # -- request / response ----------------------------------------------------------------------

    def _request(self, query: str, batch: Sequence[str]) -> dict[str, Any]:
        return {
            "queries": [{"type": "TEXT", "textQuery": {"text": query}}],
            "sources": [
                {"type": "INLINE", "inlineDocumentSource": {"type": "TEXT", "textDocument": {"text": text}}}
                for text in batch
            ],
            "rerankingConfiguration": {
                "type": "BEDROCK_RERANKING_MODEL",
                "bedrockRerankingConfiguration": {
                    "numberOfResults": len(batch),
                    "modelConfiguration": {"modelArn": self.model_arn},
                },
            },
        }

    def _batch_scores(self, query: str, batch: Sequence[str]) -> list[float]:
        request = self._request(query, batch)
        pairs: list[tuple[object, object]] = []
        token = None
        for _page in range(len(batch) + 1):
            response = self._call({**request, "nextToken": token} if token else request)
            try:
                results = field_of(response, "results", "the response")
                if not isinstance(results, list):
                    raise ContractViolation(f"'results' is a {type(results).__name__}, expected a list")
                for k, r in enumerate(results):
                    pairs.append((field_of(r, "index", f"results[{k}]"), field_of(r, "relevanceScore", f"results[{k}]")))
                token = response.get("nextToken")
                if token and not results:
                    raise ContractViolation("a page with no results carried a nextToken")
                if not token:
                    return ordered_scores(pairs, len(batch))
            except ContractViolation as exc:
                raise remote_error(self.provider, TARGET, status=200, detail=str(exc)) from None
        raise remote_error(self.provider, TARGET, status=200, detail="nextToken kept coming after every result")

    def _call(self, request: dict[str, Any]) -> Any:
        client = self.client()
        try:
            return client.rerank(**request)
        except Exception as exc:  # botocore raises a zoo of types; map the ones we know
            mapped = self._map_error(exc)
            if mapped is None:
                raise
            raise mapped from exc

    def _map_error(self, exc: Exception) -> RemoteError | BadInputError | None:
        from botocore import exceptions as bx
        from botocore.parsers import ResponseParserError

        attempts = self.max_retries + 1
        if isinstance(exc, bx.ClientError):
            error = exc.response.get("Error", {})
            meta = exc.response.get("ResponseMetadata", {})
            code, message = error.get("Code", ""), error.get("Message", "")
            status = meta.get("HTTPStatusCode") or _STATUS_BY_CODE.get(code, 500)
            return remote_error(
                self.provider, TARGET, status=status, detail=f"{code}: {message}" if message else code,
                attempts=meta.get("RetryAttempts", 0) + 1, status_errors={424: RemoteServerError}, auth_hint=_AUTH_HINT,
            )
        if isinstance(exc, (bx.NoCredentialsError, bx.PartialCredentialsError)):
            return AuthenticationError(
                f"{self.provider}: {TARGET} was not sent: {exc}. Configure AWS credentials "
                "(env AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, a profile, or a role)",
                provider=self.provider,
            )
        if isinstance(exc, (bx.ReadTimeoutError, bx.ConnectTimeoutError)):
            return remote_error(self.provider, TARGET, timeout=True, detail=type(exc).__name__, attempts=attempts)
        if isinstance(exc, (bx.EndpointConnectionError, bx.ConnectionError, bx.HTTPClientError)):
            return remote_error(self.provider, TARGET, detail=str(exc), attempts=attempts)
        if isinstance(exc, ResponseParserError):
            return remote_error(self.provider, TARGET, status=200, detail=f"unparseable body: {exc}")
        if isinstance(exc, bx.ParamValidationError):
            return BadInputError(f"{self.provider}: the request was rejected before sending: {exc}")
        return None

    # -- Reranker --------------------------------------------------------------------------------

    def score(self, query: str, documents: Sequence[str]) -> Scores:
        if len(query) > MAX_TEXT:
            raise BadInputError(f"query has {len(query)} characters; Bedrock Rerank accepts 1..{MAX_TEXT}")
        for i, text in enumerate(documents):
            if not text or len(text) > MAX_TEXT:
                raise BadInputError(
                    f"documents[{i}] has {len(text)} characters; Bedrock Rerank accepts 1..{MAX_TEXT} per source "
                    "(drop empty documents or chunk long ones)"
                )
        parts = [(offset, self._batch_scores(query, batch)) for offset, batch in batches(documents, self.max_batch)]
        raw = merge_batches(parts, len(documents))
        return Scores(raw=raw, relevance=[clip01(r) for r in raw])
