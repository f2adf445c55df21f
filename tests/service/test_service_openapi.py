"""The API tells the truth: its OpenAPI spec declares what each route answers, and it answers that.

Two parts:

* the spec itself: every route declares the error statuses it really answers (from the error
  table, the middleware and the route), each with the one :class:`ErrorBody` schema, FastAPI's
  own ``HTTPValidationError`` included;
* a bounded schemathesis run against the app served by uvicorn (the app of
  :mod:`service.fuzz_kit`): valid and invalid requests generated from the spec, each answer
  checked for no server error and for conformance to the spec (status, content type, body
  schema, headers).

Schemathesis is driven through its Python API (``operation.as_strategy`` under Hypothesis's
``@given``) rather than its pytest plugin: the plugin's lazy schemas fail under pytest 9, and it
ends every ASGI lifespan at each test's teardown, which a module-wide app cannot survive.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from service.fuzz_kit import build_app
from service.service_kit import serve

SCORING = {400, 401, 404, 413, 422, 429, 500, 503, 504}
#: The error statuses each operation really answers, and why:
#: 400 bad values / malformed JSON (any body); 401 API keys (all but health); 404 unknown model,
#: no collection, unknown id; 413 body over max_body_bytes (any method with a body); 422 schema;
#: 429 queue full (routes that score); 500 unexpected; 503 not ready / shutting down / writer lock;
#: 504 request timeout.
ANSWERS: dict[tuple[str, str], set[int]] = {
    ("POST", "/v1/ranking"): SCORING,
    ("POST", "/v1/rerank"): SCORING,
    ("POST", "/v2/rerank"): SCORING,
    ("POST", "/rerank"): SCORING - {404},  # no model field
    ("POST", "/v1/search"): SCORING,
    ("POST", "/v1/answer"): SCORING | {502, 504},  # 502/504: the LLM failed / timed out
    ("POST", "/v1/documents"): SCORING - {429},
    ("POST", "/v1/embeddings"): SCORING - {429},  # no queue: embeddings run beside it
    ("POST", "/embed"): SCORING - {404, 429},
    ("DELETE", "/v1/documents/{doc_id}"): SCORING - {422, 429},
    ("GET", "/v1/models"): {401, 500, 504},
    ("GET", "/v1/health/live"): {500},
    ("GET", "/v1/health/ready"): {500, 503},
    ("GET", "/health"): {500, 503},
    ("GET", "/v1/metrics"): {401, 500},
    ("GET", "/metrics"): {401, 500},
}
ERROR_BODY = {"$ref": "#/components/schemas/ErrorBody"}
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]
MAX_EXAMPLES = 40
"""Hypothesis examples per operation and mode (19 runs, about 500 requests)."""


@pytest.fixture(scope="module")
def spec(tmp_path_factory) -> dict:
    return build_app(tmp_path_factory.mktemp("spec")).openapi()


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory) -> Iterator[schemathesis.BaseSchema]:
    with serve(build_app(tmp_path_factory.mktemp("openapi"))) as base:
        yield schemathesis.openapi.from_url(f"{base}/openapi.json")


def operations(spec: dict) -> dict[tuple[str, str], dict]:
    return {(method.upper(), path): op for path, item in spec["paths"].items() for method, op in item.items()}


def test_the_spec_lists_every_route(spec):
    assert sorted(operations(spec)) == sorted(ANSWERS)


@pytest.mark.parametrize("operation", sorted(ANSWERS), ids=" ".join)
def test_each_route_declares_the_errors_it_answers_with_the_error_body(spec, operation):
    responses = operations(spec)[operation]["responses"]
    declared = {int(status) for status in responses if int(status) >= 400}
    assert ANSWERS[operation] <= declared, f"undeclared: {sorted(ANSWERS[operation] - declared)}"
    for status in declared:
        assert responses[str(status)]["content"] == {"application/json": {"schema": ERROR_BODY}}, status
    for status in declared & {429, 503}:
        assert "Retry-After" in responses[str(status)]["headers"]


def test_422_is_the_error_body_not_fastapis_validation_error(spec):
    schemas = spec["components"]["schemas"]
    assert "HTTPValidationError" not in schemas and "ValidationError" not in schemas
    assert set(schemas["ErrorBody"]["required"]) == {"error", "message"}
    assert operations(spec)[("DELETE", "/v1/documents/{doc_id}")]["responses"]["422"]["content"] == {
        "application/json": {"schema": ERROR_BODY}
    }


def test_metrics_are_declared_as_text(spec):
    for path in ("/metrics", "/v1/metrics"):
        assert list(operations(spec)[("GET", path)]["responses"]["200"]["content"]) == ["text/plain"]


#: Negative (schema-violating) requests need a body to violate: the POST operations.
RUNS = [(op, GenerationMode.POSITIVE) for op in sorted(ANSWERS)] + [
    (op, GenerationMode.NEGATIVE) for op in sorted(ANSWERS) if op[0] == "POST"
]


@pytest.mark.parametrize("operation, mode", RUNS, ids=[f"{m.value} {' '.join(op)}" for op, m in RUNS])
def test_answers_conform_to_the_spec(api_schema, operation, mode):
    method, path = operation

    @given(case=api_schema[path][method].as_strategy(generation_mode=mode))
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def conforms(case):
        case.call_and_validate(checks=CHECKS)

    conforms()
