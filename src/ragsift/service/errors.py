"""One table from exception types to HTTP statuses, and the one error body every route answers with.

:data:`ERROR_TABLE` is the only place where an error gets its status (like TEI's ``server.rs``):
an exception is looked up along its class hierarchy (most specific class first), so
``PassageTooLongError`` finds its own row before ``BadInputError``'s, and anything not listed
falls to ``Exception`` → 500. Status policy:

* **400** the request is understood but its values are not acceptable: empty query, no
  passages, too many passages or characters, a passage over the token limit with
  ``truncate=NONE`` (as NIM does), malformed JSON, bad ``top_n``;
* **422** the JSON does not fit the endpoint's schema (a missing field, a number where a string
  is expected): FastAPI's validation errors, whose list is kept under ``"detail"``;
* **401** missing or wrong API key of *this* service (a remote reranker rejecting *our* key is a
  :class:`~ragsift.errors.RemoteError`, i.e. 502: the client cannot fix it);
* **404** unknown route, or a ``model`` this service does not serve; **405** wrong method;
* **413** body over ``max_body_bytes``, rejected before it is parsed;
* **404** also a document id to delete that the collection does not hold;
* **429** the request queue is full (with ``Retry-After``); **503** not ready yet or shutting
  down, or another writer held the collection's lock past ``write_lock_timeout_s`` (with
  ``Retry-After``); **504** the request ran past ``request_timeout_s``;
* **502/504** a remote reranker failed / timed out; **500** anything else (no traceback in the
  body; the server log has it).

Body, for every 4xx/5xx::

    {"error": {"type": "<snake_case type>", "message": "<what, and how to fix it>"},
     "message": "<the same message>",            # read by Cohere-style and NIM/LangChain clients
     "detail": [...]}                            # only for 422: FastAPI's validation errors

The top-level ``message`` duplicates ``error.message`` because Cohere's API answers errors as
``{"message": ...}`` and LangChain's NVIDIA client prints ``message`` before ``error``.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from ragsift.errors import (
    BadInputError,
    CollectionBusyError,
    ConfigError,
    PassageTooLongError,
    RagsiftError,
    RemoteError,
    RemoteTimeoutError,
    UnknownDocumentError,
)

__all__ = [
    "ERROR_TABLE",
    "ServiceError",
    "UnauthorizedError",
    "ModelNotServedError",
    "MalformedJSONError",
    "PayloadTooLargeError",
    "QueueFullError",
    "NotReadyError",
    "ShuttingDownError",
    "RequestTimeoutError",
    "ErrorRule",
    "rule_for",
    "error_body",
    "error_response",
    "install_error_handlers",
    "ErrorBody",
    "error_responses",
    "describe_validation_errors",
    "SCORING_ERRORS",
]

logger = logging.getLogger("ragsift.service")


# ---------------------------------------------------------------------------- service errors


class ServiceError(RagsiftError):
    """Base of the errors the service raises about a request (all in :data:`ERROR_TABLE`)."""


class UnauthorizedError(ServiceError):
    """No API key, or not one of the configured keys."""


class ModelNotServedError(ServiceError):
    """The request names a ``model`` this service does not serve."""


class MalformedJSONError(ServiceError):
    """The body is not valid JSON."""


class PayloadTooLargeError(ServiceError):
    """The body is larger than ``max_body_bytes``."""


class QueueFullError(ServiceError):
    """``queue_max`` requests are already waiting for the model; retry after ``retry_after`` seconds."""

    def __init__(self, message: str, *, retry_after: float = 1.0):
        self.retry_after = retry_after
        super().__init__(message)


class NotReadyError(ServiceError):
    """The model (or collection) is still loading or warming up, or failed to load."""


class ShuttingDownError(ServiceError):
    """The service is draining its queue before exit and takes no new work."""


class RequestTimeoutError(ServiceError):
    """The request did not finish within ``request_timeout_s``."""


# ---------------------------------------------------------------------------- the body, for OpenAPI


class ErrorDetail(BaseModel):
    type: str
    message: str


class ErrorBody(BaseModel):
    """The JSON body of every 4xx/5xx answer (``detail`` only on 422)."""

    error: ErrorDetail
    message: str
    detail: list[dict[str, Any]] | None = None


_STATUS_TEXT = {
    400: "The request's values are not acceptable (the message names the field and the fix).",
    401: "Missing or wrong API key (only when the service is configured with keys).",
    404: "Unknown model, document or collection.",
    413: "The body is larger than max_body_bytes.",
    422: "The JSON does not fit the endpoint's schema.",
    429: "The request queue is full; retry after Retry-After seconds.",
    500: "Unexpected server error (the server log has the details).",
    502: "An upstream service (the LLM, a remote reranker) failed or rejected the request.",
    503: "Not ready, shutting down, or the collection is locked by another writer (Retry-After).",
    504: "The request ran past request_timeout_s, or an upstream service (the LLM) timed out.",
}


_RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait before retrying.", "schema": {"type": "integer"}}}
_STATUS_HEADERS = {
    401: {"WWW-Authenticate": {"description": "Always 'Bearer'.", "schema": {"type": "string"}}},
    429: _RETRY_AFTER,
    503: _RETRY_AFTER,
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` declaring ``statuses`` with the error body schema (for route decorators)."""
    responses: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        responses[status] = {"model": ErrorBody, "description": _STATUS_TEXT[status]}
        if status in _STATUS_HEADERS:
            responses[status]["headers"] = _STATUS_HEADERS[status]
    return responses


def describe_validation_errors(app: FastAPI) -> None:
    """Make ``app.openapi()`` describe FastAPI's own 422 answers with :class:`ErrorBody`.

    FastAPI declares a 422 with its ``HTTPValidationError`` schema for every route with parameters
    that does not declare one; the answer is really an :class:`ErrorBody` (see :func:`error_body`).
    """
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = _error_body_for_422(generate())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _error_body_for_422(spec: dict[str, Any]) -> dict[str, Any]:
    """``spec`` with FastAPI's default 422 responses pointing at ErrorBody, and its unused schemas dropped."""
    schemas = spec.get("components", {}).get("schemas", {})
    if "ErrorBody" not in schemas:
        return spec  # no route declares errors, so no schema to point to
    fastapi_422 = "#/components/schemas/HTTPValidationError"
    for item in spec.get("paths", {}).values():
        for operation in item.values():
            responses = operation.get("responses", {})
            schema = responses.get("422", {}).get("content", {}).get("application/json", {}).get("schema", {})
            if schema.get("$ref") == fastapi_422:
                responses["422"] = {
                    "description": _STATUS_TEXT[422],
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
                }
    if fastapi_422 not in json.dumps(spec):
        schemas.pop("HTTPValidationError", None)
        if "#/components/schemas/ValidationError" not in json.dumps(spec):
            schemas.pop("ValidationError", None)
    return spec


#: Statuses a POST route that scores passages can answer besides 200.
SCORING_ERRORS = (400, 401, 404, 413, 422, 429, 500, 503, 504)


# ---------------------------------------------------------------------------- the table


@dataclass(frozen=True)
class ErrorRule:
    status: int
    type: str


#: Exception class -> (status, error type). Looked up along the exception's MRO.
ERROR_TABLE: dict[type[BaseException], ErrorRule] = {
    MalformedJSONError: ErrorRule(400, "malformed_json"),
    PassageTooLongError: ErrorRule(400, "passage_too_long"),
    UnknownDocumentError: ErrorRule(404, "not_found"),
    BadInputError: ErrorRule(400, "bad_request"),
    ConfigError: ErrorRule(400, "bad_request"),  # request options: top_n, threshold, truncation
    RequestValidationError: ErrorRule(422, "validation_error"),
    UnauthorizedError: ErrorRule(401, "unauthorized"),
    ModelNotServedError: ErrorRule(404, "model_not_found"),
    PayloadTooLargeError: ErrorRule(413, "payload_too_large"),
    QueueFullError: ErrorRule(429, "queue_full"),
    NotReadyError: ErrorRule(503, "not_ready"),
    ShuttingDownError: ErrorRule(503, "shutting_down"),
    CollectionBusyError: ErrorRule(503, "collection_busy"),  # another writer holds the lock: retry
    RequestTimeoutError: ErrorRule(504, "timeout"),
    RemoteTimeoutError: ErrorRule(504, "upstream_timeout"),
    RemoteError: ErrorRule(502, "upstream_error"),
    StarletteHTTPException: ErrorRule(500, "http_error"),  # status taken from the exception
    Exception: ErrorRule(500, "internal_error"),
}

_HTTP_TYPES = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large", 415: "unsupported_media_type"}


def rule_for(exc: BaseException) -> ErrorRule:
    """The row of :data:`ERROR_TABLE` for ``exc`` (its most specific listed class)."""
    for cls in type(exc).__mro__:
        rule = ERROR_TABLE.get(cls)
        if rule is not None:
            if cls is StarletteHTTPException:
                status = exc.status_code  # type: ignore[attr-defined]
                return ErrorRule(status, _HTTP_TYPES.get(status, "http_error"))
            return rule
    return ERROR_TABLE[Exception]


def _message(exc: BaseException, rule: ErrorRule) -> str:
    if rule.status >= 500 and rule.type == "internal_error":
        return "internal server error; the server log has the details"
    if isinstance(exc, StarletteHTTPException):
        return str(exc.detail)
    if isinstance(exc, RequestValidationError):
        return "; ".join(_describe(e) for e in exc.errors()) or "request does not match the schema"
    return str(exc) or type(exc).__name__


def _describe(err: dict[str, Any]) -> str:
    loc = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
    return f"{loc or 'body'}: {err.get('msg', 'invalid')}"


def _headers(exc: BaseException, rule: ErrorRule) -> dict[str, str]:
    if isinstance(exc, (QueueFullError, CollectionBusyError)):
        return {"Retry-After": str(max(1, math.ceil(exc.retry_after)))}
    if isinstance(exc, UnauthorizedError):
        return {"WWW-Authenticate": "Bearer"}
    if isinstance(exc, NotReadyError):
        return {"Retry-After": "1"}
    if isinstance(exc, StarletteHTTPException) and exc.headers:
        return dict(exc.headers)
    return {}


def error_body(exc: BaseException) -> tuple[int, dict[str, Any], dict[str, str]]:
    """``(status, JSON body, headers)`` for ``exc``."""
    syntax = _json_syntax_error(exc) if isinstance(exc, RequestValidationError) else _unreadable_body(exc)
    if syntax is not None:
        exc = MalformedJSONError(syntax)
    rule = rule_for(exc)
    message = _message(exc, rule)
    body: dict[str, Any] = {"error": {"type": rule.type, "message": message}, "message": message}
    if isinstance(exc, RequestValidationError):
        body["detail"] = _jsonable_errors(exc.errors())
    return rule.status, body, _headers(exc, rule)


def error_response(exc: BaseException) -> JSONResponse:
    """The JSON response for ``exc``; 5xx errors other than the expected ones are logged with a traceback."""
    status, body, headers = error_body(exc)
    if status == 500:
        logger.error("unhandled %s: %s", type(exc).__name__, exc, exc_info=exc)
    return JSONResponse(body, status_code=status, headers=headers)


_UNREADABLE = "There was an error parsing the body"  # FastAPI's 400 when its JSON parser raised


def _unreadable_body(exc: BaseException) -> str | None:
    """A message for FastAPI's 400 on a body its JSON parser could not read, else None."""
    if not (isinstance(exc, StarletteHTTPException) and exc.status_code == 400 and exc.detail == _UNREADABLE):
        return None
    cause = exc.__cause__
    if isinstance(cause, RecursionError):
        reason = "it is nested too deeply"
    elif isinstance(cause, UnicodeDecodeError):
        reason = f"it is not valid UTF-8 ({cause.reason} at byte {cause.start})"
    elif isinstance(cause, ValueError) and "digits" in str(cause):
        reason = "it holds a number with thousands of digits"
    else:
        reason = "it could not be decoded"
    return f"the body is not valid JSON: {reason}; send a UTF-8 JSON object"


def _json_syntax_error(exc: RequestValidationError) -> str | None:
    """A message for FastAPI's ``json_invalid`` error (malformed JSON), else None."""
    for err in exc.errors():
        if err.get("type") == "json_invalid":
            loc = err.get("loc", ())
            where = f" at character {loc[1]}" if len(loc) > 1 else ""
            reason = (err.get("ctx") or {}).get("error", "JSON decode error")
            return f"the body is not valid JSON ({reason}{where}); send a JSON object"
    return None


def _jsonable_errors(errors: Any) -> list[dict[str, Any]]:
    out = []
    for err in errors:
        item = {k: err[k] for k in ("type", "loc", "msg") if k in err}
        item["loc"] = list(item.get("loc", ()))
        out.append(item)
    return out


async def _handle(request: Request, exc: Exception) -> JSONResponse:
    return error_response(exc)


def install_error_handlers(app: FastAPI) -> None:
    """Route every listed exception type (and FastAPI's own) through :func:`error_response`."""
    for cls in ERROR_TABLE:
        if cls is not Exception:  # unexpected errors are rendered by the outermost middleware
            app.add_exception_handler(cls, _handle)
