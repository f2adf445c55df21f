"""Google Vertex AI Search ranking API (Discovery Engine ``rankingConfigs.rank``) client.

Contract (https://cloud.google.com/generative-ai-app-builder/docs/reference/rest/v1/projects.locations.rankingConfigs/rank,
guide: https://cloud.google.com/generative-ai-app-builder/docs/ranking):
``POST {base_url}/v1/projects/{project}/locations/{location}/rankingConfigs/{ranking_config}:rank``
with ``Authorization: Bearer <OAuth access token>`` and body ``{"model", "query", "records":
[{"id", "content", "title"?}], "topN", "ignoreRecordDetailsInResponse": true}``; answer
``{"records": [{"id", "score"}]}`` sorted by score, descending. At most 200 records per request
(longer lists are split here); about 1024 tokens per record. Errors are
``{"error": {"code", "message", "status"}}``.

Authentication: an OAuth 2 access token, ``access_token=`` (a string, or a callable returning a
fresh one for long-lived processes) or env ``GOOGLE_ACCESS_TOKEN``. Get one with
``gcloud auth print-access-token`` (tokens last about an hour). No google-auth dependency; with
google-auth installed, ``access_token=lambda: creds.token`` after ``creds.refresh(...)`` works too.
The project is also sent as ``X-Goog-User-Project`` (quota project for user credentials).

Missing data, decided here: the response is proto3 JSON, which omits fields equal to their default,
so a record whose ``score`` is absent scored exactly 0.0 and is read as 0.0. A *record* that is
absent (an id we sent that does not come back, or an id we did not send) breaks the contract —
we ask for ``topN`` = every record — and raises MalformedResponseError rather than silently
ranking the document last.

Scores: ``score`` is in [0, 1]: ``raw`` is it, ``relevance`` is it clipped.
"""

from __future__ import annotations

import re
from typing import Any, Callable, Sequence

from ragsift import config
from ragsift.errors import ConfigError
from ragsift.http import ContractViolation, HttpClient, field_of
from ragsift.rerank.remote.http import HttpReranker, check_max_batch, clip01, ordered_scores
from ragsift.rerank.remote.options import HTTP_OPTIONS

__all__ = ["VertexReranker"]

ENV_TOKEN = config.variables("credentials.google")[0]  # GOOGLE_ACCESS_TOKEN
MAX_RECORDS = 200
_SEGMENT = re.compile(r"^[A-Za-z0-9_.@-]+$")


def _segment(name: str, value: object) -> str:
    if not isinstance(value, str) or not _SEGMENT.match(value):
        raise ConfigError(f"{name}={value!r} must be a non-empty resource id (letters, digits, '-', '_', '.')")
    return value


class VertexReranker(HttpReranker):
    """Rerank with Google's Vertex AI ranking API (``semantic-ranker-default@latest``, …).

    HTTP options (``timeout``, ``connect_timeout``, ``max_retries``, ``backoff_base``, ``backoff_max``,
    ``retry_after_max``, ``transport``, ``async_transport``) go to
    :class:`~ragsift.http.HttpClient`.
    """

    provider = "vertex"
    batch_cap = MAX_RECORDS
    model_option = "model"
    options = HTTP_OPTIONS | {"project", "location", "ranking_config", "access_token", "base_url"}
    required_options = frozenset({"project"})

    def __init__(
        self,
        *,
        project: str,
        location: str = "global",
        ranking_config: str = "default_ranking_config",
        model: str = "semantic-ranker-default@latest",
        access_token: str | Callable[[], str] | None = None,
        base_url: str = "https://discoveryengine.googleapis.com",
        max_batch: int = MAX_RECORDS,
        max_concurrency: int = 4,
        **http_options: Any,
    ):
        self.project = _segment("project", project)
        self.location = _segment("location", location)
        self.ranking_config = _segment("ranking_config", ranking_config)
        if not isinstance(model, str) or not model.strip():
            raise ConfigError(f"model={model!r} must be a ranking model such as 'semantic-ranker-default@latest'")
        self.model = model
        token = access_token if access_token is not None else config.get("credentials.google")
        if not token:
            raise ConfigError(
                f"VertexReranker needs an OAuth access token: pass access_token= or set {ENV_TOKEN} "
                "(e.g. export GOOGLE_ACCESS_TOKEN=$(gcloud auth print-access-token))"
            )
        if not (isinstance(token, str) or callable(token)):
            raise ConfigError(f"access_token must be a string or a callable returning one, got {type(token).__name__}")
        fetch = token if callable(token) else (lambda: token)
        http = HttpClient(
            self.provider,
            base_url,
            auth=lambda: {"Authorization": f"Bearer {fetch()}"},
            headers={"X-Goog-User-Project": self.project},
            auth_hint="The access token may have expired: refresh it with `gcloud auth print-access-token`",
            **http_options,
        )
        super().__init__(http, max_batch=check_max_batch(max_batch, cap=self.batch_cap), max_concurrency=max_concurrency)
        self.name = f"vertex:{model}"

    @property
    def path(self) -> str:
        return (
            f"/v1/projects/{self.project}/locations/{self.location}"
            f"/rankingConfigs/{self.ranking_config}:rank"
        )

    def _request(self, query: str, batch: Sequence[str]) -> tuple[str, dict[str, Any]]:
        body = {
            "model": self.model,
            "query": query,
            "records": [{"id": str(i), "content": text} for i, text in enumerate(batch)],
            "topN": len(batch),
            "ignoreRecordDetailsInResponse": True,
        }
        return self.path, body

    def _parse(self, payload: Any, n: int) -> list[float]:
        if not isinstance(payload, dict):
            raise ContractViolation(f"the response is a {type(payload).__name__}, expected an object")
        records = payload.get("records", [])  # proto3 JSON omits an empty list
        if not isinstance(records, list):
            raise ContractViolation(f"'records' is a {type(records).__name__}, expected a list")
        pairs = []
        for k, record in enumerate(records):
            rid = field_of(record, "id", f"records[{k}]")
            if not isinstance(rid, str) or not rid.isdigit():
                raise ContractViolation(f"records[{k}].id={rid!r} is not one of the ids sent ('0'..'{n - 1}')")
            pairs.append((int(rid), record.get("score", 0.0)))  # proto3: absent score == 0.0
        return ordered_scores(pairs, n, field="records")

    def _relevance(self, raw: float) -> float:
        return clip01(raw)
