"""Reranking: one interface, a registry of implementations, a score cache and explicit fallback.

- :class:`Reranker` — ``score(query, documents) -> Scores`` in input order, and the inherited
  ``rerank(query, documents, top_n, *, threshold, return_documents) -> list[RerankResult]``; each
  subclass declares its capabilities (``cacheable``, ``truncation_modes``, ``batch_cap``) and the
  options its constructor takes (``model_option``, ``options``, ``required_options``).
- :func:`get_reranker` — builds the reranker named by ``RERANKER_TYPE``/``RERANKER_MODEL`` (or by
  its arguments; :mod:`ragsift.config` reads them), importing its module only then, optionally
  cached and with a fallback chain.
- :class:`FirstStageReranker` (``none``) keeps the first-stage order.
- :class:`CachedReranker` with :class:`MemoryCache`, :class:`SQLiteCache` or :class:`RedisCache`
  (shared by replicas; ``ragsift[redis]``) skips pairs already scored.
- :class:`FallbackReranker` / :func:`fallback_chain` try rerankers in order on remote failure.

Importing this package is light: no torch, no vendor SDK. The concrete rerankers
(``ragsift.rerank.cross_encoder``, ``.late_interaction``, ``.llm``,
``.remote.*``) load when first built.
"""

from ragsift.rerank.base import Reranker, RerankResult, Scores
from ragsift.rerank.cache import CachedReranker, MemoryCache, SQLiteCache
from ragsift.rerank.fallback import FallbackReranker
from ragsift.rerank.identity import FirstStageReranker
from ragsift.rerank.redis_cache import RedisCache
from ragsift.rerank.registry import RerankerType, fallback_chain, get_reranker

__all__ = [
    "Reranker",
    "RerankResult",
    "Scores",
    "FirstStageReranker",
    "CachedReranker",
    "MemoryCache",
    "SQLiteCache",
    "RedisCache",
    "FallbackReranker",
    "RerankerType",
    "get_reranker",
    "fallback_chain",
]
