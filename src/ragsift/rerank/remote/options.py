"""The constructor options the hosted rerankers share, declared once for the registry.

Each hosted reranker declares ``options = HTTP_OPTIONS | {its own}`` (see
:class:`ragsift.rerank.base.Reranker`): the registry passes only declared options, it never
inspects constructor signatures.
"""

from __future__ import annotations

__all__ = ["HTTP_CLIENT_OPTIONS", "HTTP_OPTIONS"]

#: Keywords a hosted reranker forwards to its :class:`ragsift.http.HttpClient`.
HTTP_CLIENT_OPTIONS = frozenset({
    "timeout", "connect_timeout", "max_retries", "backoff_base", "backoff_max", "retry_after_max",
    "transport", "async_transport", "verify",
})

#: Keywords of every :class:`~ragsift.rerank.remote.http.HttpReranker`: batching, concurrency and the client's.
HTTP_OPTIONS = HTTP_CLIENT_OPTIONS | {"max_batch", "max_concurrency"}
