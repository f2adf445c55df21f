"""One exception hierarchy for ragsift.

Every error raised on purpose by ragsift derives from :class:`RagsiftError`, so callers can
catch one type. Messages name the parameter or input, the bad value, what is allowed, and the fix.
"""

from __future__ import annotations

__all__ = [
    "RagsiftError",
    "ConfigError",
    "BadInputError",
    "MissingDependencyError",
    "ModelNotFoundError",
    "CollectionError",
    "CollectionBusyError",
    "UnknownDocumentError",
    "PassageTooLongError",
    "QueryTooLongError",
    "RemoteError",
    "RemoteTimeoutError",
    "RateLimitedError",
    "RemoteServerError",
    "RemoteClientError",
    "AuthenticationError",
    "MalformedResponseError",
]


class RagsiftError(Exception):
    """Base class of every error ragsift raises on purpose."""


class ConfigError(RagsiftError, ValueError):
    """A parameter or setting has a value that is not allowed."""


class BadInputError(RagsiftError, ValueError):
    """Input data is malformed. Carries the file and line when known."""

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None):
        self.path = path
        self.line = line
        where = ""
        if path is not None:
            where = f"{path}:{line}: " if line is not None else f"{path}: "
        super().__init__(f"{where}{message}")


class MissingDependencyError(RagsiftError, ImportError):
    """An optional dependency is not installed; the message gives the pip command."""


class ModelNotFoundError(RagsiftError, OSError):
    """A model name or path could not be loaded; the message says how to fix it."""


class CollectionError(RagsiftError):
    """A collection directory is missing, unreadable, or of an unsupported version."""


class CollectionBusyError(CollectionError):
    """Another writer held the collection's lock for longer than the lock timeout; retry later."""

    def __init__(self, message: str, *, retry_after: float = 1.0):
        self.retry_after = retry_after
        super().__init__(message)


class UnknownDocumentError(BadInputError):
    """A document id to delete is not in the collection (``ids`` lists the unknown ones)."""

    def __init__(self, message: str, *, ids: list[str] | None = None):
        self.ids = list(ids or [])
        super().__init__(message)


class PassageTooLongError(BadInputError):
    """A (query, passage) pair exceeds the model's limit and truncation is ``NONE``."""

    def __init__(self, message: str, *, index: int, tokens: int, limit: int):
        self.index = index
        self.tokens = tokens
        self.limit = limit
        super().__init__(message)


class QueryTooLongError(BadInputError):
    """A query leaves no room for any passage within the model's limit and truncation is ``NONE``."""

    def __init__(self, message: str, *, tokens: int, limit: int):
        self.tokens = tokens
        self.limit = limit
        super().__init__(message)


class RemoteError(RagsiftError):
    """A remote service (hosted reranker, LLM endpoint) failed. ``status`` is the HTTP status if any."""

    def __init__(self, message: str, *, status: int | None = None, provider: str | None = None):
        self.status = status
        self.provider = provider
        super().__init__(message)


class RemoteTimeoutError(RemoteError):
    """The remote service did not answer within the configured timeout."""


class RateLimitedError(RemoteError):
    """HTTP 429 after all retries."""


class RemoteServerError(RemoteError):
    """HTTP 5xx after all retries, or the connection failed."""


class RemoteClientError(RemoteError):
    """HTTP 4xx other than 429: the request was rejected (bad input, model name, quota)."""


class AuthenticationError(RemoteClientError):
    """HTTP 401/403: the API key is missing or wrong."""


class MalformedResponseError(RemoteError):
    """The remote answered 2xx with a body that does not follow its documented contract."""
