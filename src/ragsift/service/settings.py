"""Settings of the reranking service: :class:`ServiceSettings` and where each value comes from.

Three sources, later ones winning: the ``[service]`` table of a TOML file (``config_file=`` or
``RAGSIFT_CONFIG``), the environment, then explicit arguments (``None`` means "not given", so a
CLI can pass every flag through); :func:`ragsift.config.service_values` reads them. A bad value
raises :class:`~ragsift.errors.ConfigError` naming the setting, the value (never an API key) and
the source it came from. ``RERANKER_MODEL`` counts only when it belongs to the ``reranker_type``
in effect (``RERANKER_TYPE`` names that type, or both are the default ``cross-encoder``).

=========================  ====================================  ===================================
Setting                    Environment                           Default / meaning
=========================  ====================================  ===================================
``host``                   ``RAGSIFT_HOST``                      ``127.0.0.1``
``port``                   ``RAGSIFT_PORT``                      ``8000`` (0: any free port)
``collection``             ``RAGSIFT_COLLECTION``                none: rerank-only service
``embedder``               ``RAGSIFT_EMBEDDER``                  embedder of ``/v1/embeddings`` and
                                                                 ``/embed`` when the collection has
                                                                 none: ``TYPE[=MODEL]`` or a local
                                                                 model (default: all-MiniLM-L6-v2)
``reranker_type``          ``RAGSIFT_RERANKER_TYPE``,            ``cross-encoder`` (any
                           ``RERANKER_TYPE``                     ``get_reranker`` type)
``reranker_model``         ``RAGSIFT_RERANKER_MODEL``,           folder or hub name (required for
                           ``RERANKER_MODEL``                    ``cross-encoder``)
``served_model_name``      ``RAGSIFT_SERVED_MODEL_NAME``         id in ``/v1/models``; default: the
                                                                 reranker's name
``strict_model``           ``RAGSIFT_STRICT_MODEL``              ``true``: a request naming another
                                                                 model is a 404
``max_length``             ``RAGSIFT_MAX_LENGTH``                tokens per (query, passage); default:
                                                                 the model's recorded one, else ``512``
``reranker_backend``       ``RAGSIFT_RERANKER_BACKEND``          ``torch``, ``onnx``, ``onnx-int8``
                                                                 (default: ``RERANKER_BACKEND``, else
                                                                 the CPU default)
``api_keys``               ``RAGSIFT_API_KEYS`` (comma list)     empty: no authentication
``max_passages``           ``RAGSIFT_MAX_PASSAGES``              ``1000`` per request
``max_chars_per_passage``  ``RAGSIFT_MAX_CHARS_PER_PASSAGE``     ``50000``
``max_query_chars``        ``RAGSIFT_MAX_QUERY_CHARS``           ``10000``
``max_body_bytes``         ``RAGSIFT_MAX_BODY_BYTES``            ``10485760`` (10 MiB)
``max_document_bytes``     ``RAGSIFT_MAX_DOCUMENT_BYTES``        ``1048576`` (1 MiB) per document
                                                                 written (``/v1/documents``), as JSON
``write_lock_timeout_s``   ``RAGSIFT_WRITE_LOCK_TIMEOUT_S``      ``10``: wait for another writer of
                                                                 the collection, then 503
``reload_interval_s``      ``RAGSIFT_RELOAD_INTERVAL_S``         ``1``: check for generations written
                                                                 by other processes (0: never)
``batch_max_size``         ``RAGSIFT_BATCH_MAX_SIZE``            ``180`` (query, passage) pairs
``batch_max_wait_ms``      ``RAGSIFT_BATCH_MAX_WAIT_MS``         ``5``
``queue_max``              ``RAGSIFT_QUEUE_MAX``                 ``64`` waiting requests, then 429
``request_timeout_s``      ``RAGSIFT_REQUEST_TIMEOUT_S``         ``30``, then 504
``micro_batching``         ``RAGSIFT_MICRO_BATCHING``            ``true``
``cache``                  ``RAGSIFT_CACHE``                     ``off``, ``memory``, ``sqlite:PATH``,
                                                                 ``redis://HOST:PORT/DB`` (shared by
                                                                 replicas; ``rediss://`` for TLS)
``cache_ttl``              ``RAGSIFT_CACHE_TTL``                 seconds a cached score lives
                                                                 (default ``3600``)
``log_json``               ``RAGSIFT_LOG_JSON``                  ``true``: one JSON line per request
``log_level``              ``RAGSIFT_LOG_LEVEL``                 ``info``
``llm_url``                ``RAGSIFT_LLM_URL``                   OpenAI-compatible endpoint of
                                                                 ``/v1/answer`` (none: 404 there)
``llm_model``              ``RAGSIFT_LLM_MODEL``                 the model it serves
``llm_api_key``            ``RAGSIFT_LLM_API_KEY``,              its key (never logged)
                           ``OPENAI_API_KEY``
``llm_timeout_s``          ``RAGSIFT_LLM_TIMEOUT_S``             ``60`` per LLM request (streaming:
                                                                 between two chunks)
=========================  ====================================  ===================================

The ``llm_*`` settings are shared with ``ragsift ask`` (rows ``llm.*`` and ``credentials.llm`` of
:data:`ragsift.config.SETTINGS`, see :data:`ragsift.config.SERVICE_SHARED`).

The reranker's own options (``RERANKER_BATCH_SIZE``, ``RERANKER_DEVICE``, ``RERANKER_FALLBACK``...)
are read by :func:`ragsift.rerank.registry.get_reranker` as usual; ``RERANKER_CACHE`` and
``RERANKER_CACHE_TTL`` are not: the service's ``cache`` and ``cache_ttl`` settings decide.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_serializer, field_validator

from ragsift import config
from ragsift.config import CacheSpec
from ragsift.errors import ConfigError

__all__ = ["ServiceSettings", "ENV_VARS"]

#: Setting -> environment variables, highest priority first (rows ``service.*`` of ragsift.config.SETTINGS).
ENV_VARS: dict[str, tuple[str, ...]] = {s.key: s.env for s in config.SETTINGS.values() if s.section == "service"}
ENV_VARS.update({key: config.SETTINGS[row].env for key, row in config.SERVICE_SHARED.items()})
_LOG_LEVELS = ("debug", "info", "warning", "error")


class ServiceSettings(BaseModel):
    """Validated, immutable service settings; build with :meth:`load` (file + env + arguments)."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    collection: str | None = None  # a directory or milvus://HOST:PORT/NAME
    embedder: str | None = None  # /v1/embeddings and /embed without a collection's embedder: TYPE[=MODEL]
    reranker_type: str = "cross-encoder"
    reranker_model: str | None = None
    served_model_name: str | None = None
    strict_model: bool = True
    max_length: int | None = Field(None, ge=8)
    reranker_backend: str | None = None
    api_keys: tuple[SecretStr, ...] = ()
    max_passages: int = Field(1000, ge=1)
    max_chars_per_passage: int = Field(50_000, ge=1)
    max_query_chars: int = Field(10_000, ge=1)
    max_body_bytes: int = Field(10 * 1024 * 1024, ge=1024)
    max_document_bytes: int = Field(1024 * 1024, ge=1)
    write_lock_timeout_s: float = Field(10.0, ge=0)
    reload_interval_s: float = Field(1.0, ge=0)
    batch_max_size: int = Field(180, ge=1)
    batch_max_wait_ms: float = Field(5.0, ge=0, le=1000)
    queue_max: int = Field(64, ge=1)
    request_timeout_s: float = Field(30.0, gt=0)
    micro_batching: bool = True
    cache: CacheSpec = CacheSpec()
    cache_ttl: float | None = Field(None, gt=0)
    log_json: bool = True
    log_level: str = "info"
    llm_url: str | None = None  # POST /v1/answer's OpenAI-compatible endpoint (none: not offered)
    llm_model: str | None = None
    llm_api_key: SecretStr | None = None
    llm_timeout_s: float = Field(60.0, gt=0)

    @field_validator("host", "reranker_type")
    @classmethod
    def _non_empty(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("must be a non-empty string")
        return v.strip()

    @field_validator("reranker_model", "served_model_name", "llm_url", "llm_model")
    @classmethod
    def _optional_name(cls, v: str | None) -> str | None:
        return v.strip() or None if v is not None else None

    @field_validator("embedder")
    @classmethod
    def _embedder(cls, v: str | None) -> str | None:
        if v is None or not v.strip():
            return None
        config.EmbedderSpec.parse(v, "embedder")  # fails the start, not the first request
        return v.strip()

    @field_validator("collection", mode="before")
    @classmethod
    def _collection(cls, v: Any) -> Any:
        return os.fspath(v) if isinstance(v, os.PathLike) else v

    @field_validator("api_keys", mode="before")
    @classmethod
    def _keys(cls, v: Any) -> Any:
        if isinstance(v, str):
            v = [k for k in (part.strip() for part in v.split(",")) if k]
        if isinstance(v, (list, tuple)):
            for key in v:
                raw = key.get_secret_value() if isinstance(key, SecretStr) else key
                if not isinstance(raw, str) or not raw.strip() or raw != raw.strip():
                    raise ValueError("every API key must be a non-empty string without surrounding spaces")
        return v

    @field_validator("cache", mode="before")
    @classmethod
    def _cache(cls, v: Any) -> Any:
        return CacheSpec.parse(v) if isinstance(v, str) else v  # parsed once, here

    @field_serializer("cache")
    def _cache_text(self, v: CacheSpec) -> str:
        return str(v)

    @property
    def effective_cache(self) -> CacheSpec:
        """``cache`` with ``cache_ttl`` applied (what the service opens)."""
        if self.cache_ttl is None or not self.cache.enabled:
            return self.cache
        return replace(self.cache, ttl=self.cache_ttl, sources=(*self.cache.sources, "cache_ttl"))

    @field_validator("log_level")
    @classmethod
    def _level(cls, v: str) -> str:
        if v.strip().lower() not in _LOG_LEVELS:
            raise ValueError(f"must be one of {', '.join(_LOG_LEVELS)}")
        return v.strip().lower()

    # ------------------------------------------------------------------ loading

    @classmethod
    def load(
        cls,
        config_file: str | os.PathLike[str] | None = None,
        *,
        environ: Mapping[str, str] | None = None,
        **explicit: Any,
    ) -> "ServiceSettings":
        """Settings from the TOML file, then the environment, then ``explicit`` (``None`` = unset)."""
        unknown = sorted(set(explicit) - set(cls.model_fields))
        if unknown:
            raise ConfigError(f"unknown service setting(s) {', '.join(unknown)}; valid: {', '.join(cls.model_fields)}")
        values = config.service_values(set(cls.model_fields), config_file, explicit, environ)
        try:
            return cls(**{k: v for k, (v, _) in values.items()})
        except ValidationError as exc:
            raise _config_error(exc, values) from None

    def describe(self) -> dict[str, Any]:
        """Settings as plain values for logs; API keys appear only as a count."""
        out = self.model_dump(mode="json")
        out["api_keys"] = f"{len(self.api_keys)} configured"
        out["llm_api_key"] = "configured" if self.llm_api_key is not None else None
        return out


def _config_error(exc: ValidationError, values: Mapping[str, tuple[Any, str]]) -> ConfigError:
    problems = []
    for err in exc.errors():
        name = str(err["loc"][0]) if err["loc"] else "?"
        value, source = values.get(name, ("<default>", "default"))
        shown = "<hidden>" if name in ("api_keys", "llm_api_key") else repr(value)
        env = f" (environment: {', '.join(ENV_VARS[name])})" if name in ENV_VARS else ""
        problems.append(f"setting {name}={shown} from {source} is not valid: {err['msg']}{env}")
    return ConfigError("; ".join(problems))
