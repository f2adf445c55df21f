"""ragsift's configuration: the one module that reads environment variables and the TOML file.

Nothing else in ``src/ragsift`` reads ``os.environ``. Other modules ask this one (:func:`get`,
:func:`lookup`, :func:`home`, :func:`hub_offline`) or receive values as constructor arguments
from the layer that read them here (the CLI, the service, the eval grid, the reranker registry).

Settings
    :data:`SETTINGS` is the table of everything read from outside the code: each :class:`Setting`
    has a dotted name (``section.key``; for ``service.*`` the section is the TOML table a file may
    set), its environment variables (the first non-empty one wins), its type, its default and what
    it means. To add a setting, add one row and read it with :func:`get` (the value) or
    :func:`lookup` (the value and the variable it came from, for error messages).

Home directory
    :func:`home` is ``$RAGSIFT_HOME`` (default ``~/.cache/ragsift``). Everything ragsift keeps
    between runs lives under it: ``rerankers/latest`` (the trained-model registry, see
    :func:`record_trained`), ``onnx/`` (ONNX exports of hub cross-encoders), ``mining/`` (hard
    negatives mined for training). ``RAGSIFT_CACHE_DIR`` is a deprecated alias, read only when
    ``RAGSIFT_HOME`` is unset (it used to place the ONNX exports alone).

Reranker grammar (one for ``--rerankers``, ``RERANKER_FALLBACK`` and :func:`parse_reranker_ref`)
    ``TYPE``            a reranker type alone (``cohere``, ``cross-encoder``, ``none``, …;
                        case-insensitive, ``_`` for ``-``): that type with its default model, or
                        with ``RERANKER_MODEL`` when ``RERANKER_TYPE`` names the same type;
    ``TYPE=MODEL``      that type with that model (``cohere=rerank-v3.5``, ``llm=gpt-4o-mini``);
    ``module:Class``    any importable Reranker subclass (``=MODEL`` may follow);
    ``MODEL``           anything else that is a path (contains ``/``, starts with ``.`` or ``~``,
                        or exists) or an ``org/name`` hub id: a cross-encoder model. A bare word
                        that is no type is an error listing the types; write
                        ``cross-encoder=NAME`` for a local name without a slash. A type name wins
                        over a folder of the same name: write ``./cohere`` for the folder.

Embedder grammar (``--embedder``, ``RAGSIFT_EMBEDDER``, :meth:`EmbedderSpec.parse`)
    ``TYPE`` or ``TYPE=MODEL`` with TYPE ``sentence-transformers`` (``st``, ``local``), ``openai``,
    ``nim`` or ``cohere`` (``openai=text-embedding-3-small``); anything else is a local model
    folder or hub name. :class:`EmbedderSpec` holds the rest (URL, dimensions, prefixes, input
    types, truncation, normalization) and is what a collection records; :func:`embedder_spec`
    assembles one from the CLI's flags.

Model resolution (the cross-encoder, when no model is named): the option (flag or argument) →
``RERANKER_MODEL``, when it belongs to the cross-encoder (``RERANKER_TYPE`` unset or
``cross-encoder``) → the model ``ragsift train-reranker`` trained on the corpus being searched
(its fingerprint is recorded; elsewhere a trained model must be named) → :data:`HUB_DEFAULT`.
``RERANKER_MODEL`` always belongs to the type ``RERANKER_TYPE`` names (default
``cross-encoder``): it never becomes the model of another type.
"""

from __future__ import annotations

import os
import re
import tomllib
import warnings
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import Enum
from pathlib import Path
from typing import Any, Union
from urllib.parse import urlsplit, urlunsplit

from ragsift._enums import parse_enum
from ragsift.errors import ConfigError

__all__ = [
    "SETTINGS",
    "Setting",
    "get",
    "lookup",
    "raw",
    "variables",
    "home",
    "hub_offline",
    "read_toml",
    "service_values",
    "service_row",
    "SERVICE_SHARED",
    "RerankerType",
    "RerankerRef",
    "RerankerSpec",
    "CacheKind",
    "CacheSpec",
    "EmbedderSpec",
    "EmbedderType",
    "EMBEDDER_DEFAULTS",
    "DEFAULT_EMBED_MODEL",
    "DEFAULT_EMBED_ALIASES",
    "embedder_spec",
    "parse_embedder_type",
    "parse_type",
    "type_label",
    "format_reranker_ref",
    "parse_reranker_ref",
    "parse_reranker_list",
    "reranker_spec",
    "SHARED_OPTIONS",
    "cache_spec",
    "env_model_for",
    "HUB_DEFAULT",
    "resolve_reranker_model",
    "record_trained",
    "latest_trained",
    "trained_models",
    "trained_for",
    "looks_like_path",
]

Environ = Mapping[str, str]


# ============================================================================ the settings table


@dataclass(frozen=True)
class Setting:
    """One setting read from outside the code."""

    name: str  # "section.key"
    env: tuple[str, ...]  # environment variables, highest priority first
    kind: type  # str, int, float, bool or Path
    default: Any
    doc: str

    @property
    def section(self) -> str:
        return self.name.partition(".")[0]

    @property
    def key(self) -> str:
        return self.name.partition(".")[2]


_MIB = 1024 * 1024

SETTINGS: dict[str, Setting] = {
    s.name: s
    for s in (
        # -- where ragsift keeps things -----------------------------------------------------------
        Setting("paths.home", ("RAGSIFT_HOME", "RAGSIFT_CACHE_DIR"), Path, "~/.cache/ragsift",
                "ragsift's home: trained-model registry, ONNX exports, mining caches "
                "(RAGSIFT_CACHE_DIR: deprecated alias)"),
        Setting("paths.config_file", ("RAGSIFT_CONFIG",), Path, None, "TOML file with a [service] table"),
        Setting("hub.offline", ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"), bool, False,
                "never contact the Hugging Face hub (either variable true)"),
        # -- the reranker (rerank/registry.py builds it from a RerankerSpec) ------------------------
        Setting("reranker.type", ("RERANKER_TYPE",), str, "cross-encoder",
                "reranker type (RerankerType value) or module:Class"),
        Setting("reranker.model", ("RERANKER_MODEL",), str, None,
                "model of the RERANKER_TYPE type (bedrock: the model ARN)"),
        Setting("reranker.fallback", ("RERANKER_FALLBACK",), str, None,
                "links tried after the primary when it fails: TYPE[=MODEL],... ('off': none)"),
        Setting("reranker.cache", ("RERANKER_CACHE",), str, "off",
                "score cache: off, memory, sqlite:PATH or redis://HOST:PORT/DB (rediss:// for TLS)"),
        Setting("reranker.cache_ttl", ("RERANKER_CACHE_TTL",), float, None,
                "seconds a cached score lives (default 3600)"),
        Setting("reranker.cache_maxsize", ("RERANKER_CACHE_MAXSIZE",), int, None,
                "cached scores kept (default 100000 in memory, 1000000 in SQLite; Redis: its own maxmemory)"),
        # Reranker options: each goes to every link of the chain that declares it (Reranker.options).
        Setting("reranker.base_url", ("RERANKER_BASE_URL",), str, None, "endpoint of a remote or self-hosted service"),
        Setting("reranker.api_key", ("RERANKER_API_KEY",), str, None, "API key (Vertex: the access token)"),
        Setting("reranker.timeout", ("RERANKER_TIMEOUT",), float, None, "seconds per request"),
        Setting("reranker.max_retries", ("RERANKER_MAX_RETRIES",), int, None, "retries on 429/5xx"),
        Setting("reranker.max_length", ("RERANKER_MAX_LENGTH",), int, None, "tokens per (query, passage) pair"),
        Setting("reranker.batch_size", ("RERANKER_BATCH_SIZE",), int, None,
                "pairs per forward pass, or documents per request (remote: max_batch)"),
        Setting("reranker.device", ("RERANKER_DEVICE",), str, None, "cpu, cuda, cuda:1..."),
        Setting("reranker.backend", ("RERANKER_BACKEND",), str, None,
                "local inference engine: torch, onnx or onnx-int8 (ONNX Runtime with int8 weights)"),
        Setting("reranker.project", ("RERANKER_PROJECT",), str, None, "Google Cloud project (vertex)"),
        Setting("reranker.location", ("RERANKER_LOCATION",), str, None, "Google Cloud location (vertex)"),
        Setting("reranker.region", ("RERANKER_REGION",), str, None, "AWS region (bedrock)"),
        # -- vendor credentials: the default of each client's api_key / access_token ------------------
        Setting("credentials.cohere", ("COHERE_API_KEY", "CO_API_KEY"), str, None, "Cohere API key"),
        Setting("credentials.jina", ("JINA_API_KEY",), str, None, "Jina AI API key"),
        Setting("credentials.nvidia", ("NVIDIA_API_KEY",), str, None, "NVIDIA API key (hosted NIM)"),
        Setting("credentials.google", ("GOOGLE_ACCESS_TOKEN",), str, None, "Google OAuth access token (vertex)"),
        Setting("credentials.openai", ("OPENAI_API_KEY",), str, None, "key of the OpenAI-compatible LLM endpoint"),
        Setting("credentials.judge", ("RAGSIFT_JUDGE_API_KEY", "OPENAI_API_KEY"), str, None,
                "key of the eval judge's endpoint"),
        Setting("credentials.llm", ("RAGSIFT_LLM_API_KEY", "OPENAI_API_KEY"), str, None,
                "key of the answer LLM's endpoint (ragsift ask, POST /v1/answer)"),
        # -- the answer LLM (ragsift ask and POST /v1/answer; the service reads them as llm_*) ------
        Setting("llm.url", ("RAGSIFT_LLM_URL",), str, None,
                "OpenAI-compatible endpoint that writes grounded answers, e.g. http://localhost:8001/v1"),
        Setting("llm.model", ("RAGSIFT_LLM_MODEL",), str, None, "the model that endpoint serves"),
        Setting("llm.timeout_s", ("RAGSIFT_LLM_TIMEOUT_S",), float, 60.0,
                "seconds per LLM request (streaming: between two chunks); retried on 429/5xx"),
        # -- hosted embedders (EmbedderSpec; ragsift.index.openai_embedder, cohere_embedder) ---------
        Setting("embedder.api_key", ("RAGSIFT_EMBED_API_KEY",), str, None,
                "key of the hosted embedder; default: the vendor's (OPENAI_API_KEY, NVIDIA_API_KEY, COHERE_API_KEY)"),
        Setting("embedder.batch_size", ("RAGSIFT_EMBED_BATCH_SIZE",), int, None,
                "texts per embedding request (default: openai 128, nim 50, cohere 96)"),
        Setting("embedder.timeout", ("RAGSIFT_EMBED_TIMEOUT",), float, None, "seconds per embedding request (default 30)"),
        Setting("embedder.max_retries", ("RAGSIFT_EMBED_MAX_RETRIES",), int, None,
                "retries of an embedding request on 429/5xx, after Retry-After (default 3)"),
        Setting("embedder.requests_per_minute", ("RAGSIFT_EMBED_REQUESTS_PER_MINUTE",), float, None,
                "pace embedding requests to stay under a rate limit (default: no pacing)"),
        # -- Milvus (collections named milvus://HOST:PORT/NAME; ragsift.index.milvus) ---------------
        Setting("milvus.token", ("MILVUS_TOKEN",), str, None, "Milvus token: user:password or an API key"),
        Setting("milvus.db", ("MILVUS_DB",), str, None, "Milvus database (default: the server's default)"),
        # -- the service (ServiceSettings validates these; a TOML [service] table may set them) ------
        Setting("service.host", ("RAGSIFT_HOST",), str, "127.0.0.1", "bind address"),
        Setting("service.port", ("RAGSIFT_PORT",), int, 8000, "port (0: any free port)"),
        Setting("service.collection", ("RAGSIFT_COLLECTION",), str, None,
                "collection served by /v1/search: a directory or milvus://HOST:PORT/NAME (none: rerank-only)"),
        Setting("service.reranker_type", ("RAGSIFT_RERANKER_TYPE", "RERANKER_TYPE"), str, "cross-encoder",
                "any get_reranker type"),
        Setting("service.reranker_model", ("RAGSIFT_RERANKER_MODEL", "RERANKER_MODEL"), str, None,
                "folder or hub name (RERANKER_MODEL only when it belongs to the reranker type)"),
        Setting("service.embedder", ("RAGSIFT_EMBEDDER",), str, None,
                "embedder of /v1/embeddings and /embed when the served collection has none: TYPE[=MODEL] or a "
                "model (default: the bundled all-MiniLM-L6-v2)"),
        Setting("service.served_model_name", ("RAGSIFT_SERVED_MODEL_NAME",), str, None,
                "id in /v1/models; default: the reranker's name"),
        Setting("service.strict_model", ("RAGSIFT_STRICT_MODEL",), bool, True,
                "a request naming another model is a 404"),
        Setting("service.max_length", ("RAGSIFT_MAX_LENGTH",), int, None,
                "tokens per (query, passage); default: the model's recorded max_length, else 512"),
        Setting("service.reranker_backend", ("RAGSIFT_RERANKER_BACKEND",), str, None,
                "local cross-encoder engine: torch, onnx or onnx-int8 (default: RERANKER_BACKEND, else the CPU default)"),
        Setting("service.api_keys", ("RAGSIFT_API_KEYS",), str, (), "comma-separated; empty: no authentication"),
        Setting("service.max_passages", ("RAGSIFT_MAX_PASSAGES",), int, 1000, "passages per request"),
        Setting("service.max_chars_per_passage", ("RAGSIFT_MAX_CHARS_PER_PASSAGE",), int, 50_000, "characters"),
        Setting("service.max_query_chars", ("RAGSIFT_MAX_QUERY_CHARS",), int, 10_000, "characters"),
        Setting("service.max_body_bytes", ("RAGSIFT_MAX_BODY_BYTES",), int, 10 * _MIB, "request body bytes"),
        Setting("service.max_document_bytes", ("RAGSIFT_MAX_DOCUMENT_BYTES",), int, _MIB,
                "bytes per document written (/v1/documents), as JSON"),
        Setting("service.write_lock_timeout_s", ("RAGSIFT_WRITE_LOCK_TIMEOUT_S",), float, 10.0,
                "seconds to wait for another writer of the collection, then 503"),
        Setting("service.reload_interval_s", ("RAGSIFT_RELOAD_INTERVAL_S",), float, 1.0,
                "seconds between checks for a generation written by another process; 0: never"),
        Setting("service.batch_max_size", ("RAGSIFT_BATCH_MAX_SIZE",), int, 180, "(query, passage) pairs per batch"),
        Setting("service.batch_max_wait_ms", ("RAGSIFT_BATCH_MAX_WAIT_MS",), float, 5.0, "micro-batch wait"),
        Setting("service.queue_max", ("RAGSIFT_QUEUE_MAX",), int, 64, "waiting requests, then 429"),
        Setting("service.request_timeout_s", ("RAGSIFT_REQUEST_TIMEOUT_S",), float, 30.0, "seconds, then 504"),
        Setting("service.micro_batching", ("RAGSIFT_MICRO_BATCHING",), bool, True, "batch concurrent requests"),
        Setting("service.cache", ("RAGSIFT_CACHE",), str, "off",
                "score cache: off, memory, sqlite:PATH or redis://HOST:PORT/DB (rediss:// for TLS)"),
        Setting("service.cache_ttl", ("RAGSIFT_CACHE_TTL",), float, None,
                "seconds a cached score lives (default 3600)"),
        Setting("service.log_json", ("RAGSIFT_LOG_JSON",), bool, True, "one JSON line per request"),
        Setting("service.log_level", ("RAGSIFT_LOG_LEVEL",), str, "info", "debug, info, warning or error"),
    )
}

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def variables(name: str) -> tuple[str, ...]:
    """The environment variables of setting ``name``, highest priority first."""
    return _row(name).env


def raw(name: str, environ: Environ | None = None) -> tuple[str, str] | None:
    """``(text, variable)`` of the first non-empty variable of setting ``name`` (stripped), or None."""
    env = os.environ if environ is None else environ
    for var in _row(name).env:
        text = env.get(var)
        if text is not None and text.strip():
            return text.strip(), var
    return None


def lookup(name: str, environ: Environ | None = None) -> tuple[Any, str] | None:
    """``(value, variable)`` of setting ``name`` from the environment, converted to its type; None when unset."""
    found = raw(name, environ)
    if found is None:
        return None
    text, var = found
    return _convert(_row(name).kind, text, var), var


def get(name: str, environ: Environ | None = None) -> Any:
    """The value of setting ``name``: from the environment, else its default."""
    found = lookup(name, environ)
    return _row(name).default if found is None else found[0]


def _row(name: str) -> Setting:
    try:
        return SETTINGS[name]
    except KeyError:
        raise ConfigError(f"unknown setting {name!r}; add a row to ragsift.config.SETTINGS") from None


def _convert(kind: type, text: str, var: str) -> Any:
    if kind is bool:
        if text.lower() in _TRUE | _FALSE:
            return text.lower() in _TRUE
        raise ConfigError(f"{var}={text!r} is not a boolean; set it to true or false (1/0, yes/no, on/off)")
    if kind is Path:
        return Path(text).expanduser()
    try:
        return kind(text)
    except ValueError:
        what = "an integer" if kind is int else "a number"
        raise ConfigError(f"{var}={text!r} is not {what}; set it to {what}, e.g. {var}=30") from None


# ============================================================================ home and hub


def home(environ: Environ | None = None) -> Path:
    """ragsift's home: ``$RAGSIFT_HOME``, else the deprecated ``$RAGSIFT_CACHE_DIR``, else ``~/.cache/ragsift``."""
    found = lookup("paths.home", environ)
    if found is None:
        return Path(SETTINGS["paths.home"].default).expanduser()
    path, var = found
    if var != "RAGSIFT_HOME":
        warnings.warn(f"{var} is deprecated; set RAGSIFT_HOME instead (same meaning)", DeprecationWarning, stacklevel=2)
    return path


def hub_offline(environ: Environ | None = None) -> bool:
    """True when ``HF_HUB_OFFLINE`` or ``TRANSFORMERS_OFFLINE`` is true, or huggingface_hub is offline."""
    env = os.environ if environ is None else environ
    if any(env.get(var, "").strip().lower() in _TRUE for var in variables("hub.offline")):
        return True
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE)


# ============================================================================ the TOML file


def read_toml(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The parsed TOML file; ConfigError naming the file (and ``RAGSIFT_CONFIG``) when it cannot be read."""
    path = Path(path)
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file {str(path)!r} does not exist; fix the path or unset RAGSIFT_CONFIG") from None
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"config file {str(path)!r} cannot be read as TOML: {exc}") from None


def _file_table(path: Path, table: str, keys: Collection[str]) -> dict[str, tuple[Any, str]]:
    """``{key: (value, "FILE [table]")}`` of one table; unknown keys are an error listing the valid ones."""
    section = read_toml(path).get(table, {})
    if not isinstance(section, dict):
        raise ConfigError(f"config file {str(path)!r}: [{table}] must be a table")
    unknown = sorted(set(section) - set(keys))
    if unknown:
        raise ConfigError(
            f"config file {str(path)!r} [{table}] has unknown key(s) {', '.join(unknown)}; "
            f"valid: {', '.join(sorted(keys))}"
        )
    return {k: (v, f"{path} [{table}]") for k, v in section.items()}


#: Service settings that are rows of another section, shared with the CLI: service key → row.
SERVICE_SHARED: dict[str, str] = {
    "llm_url": "llm.url",
    "llm_model": "llm.model",
    "llm_timeout_s": "llm.timeout_s",
    "llm_api_key": "credentials.llm",
}


def service_row(key: str) -> str | None:
    """The :data:`SETTINGS` row of service setting ``key`` (``service.KEY``, or a shared row), or None."""
    if f"service.{key}" in SETTINGS:
        return f"service.{key}"
    return SERVICE_SHARED.get(key)


def service_values(
    keys: Collection[str],
    config_file: str | os.PathLike[str] | None = None,
    explicit: Mapping[str, Any] | None = None,
    environ: Environ | None = None,
) -> dict[str, tuple[Any, str]]:
    """The service settings ``keys`` with their sources: file ``[service]`` < environment < explicit.

    The file is ``config_file``, else ``$RAGSIFT_CONFIG``; explicit values of ``None`` are "not
    given". Environment values stay text (``ServiceSettings`` validates them). ``RERANKER_MODEL``
    is dropped when it does not belong to the resulting ``reranker_type`` (see the module docstring).
    """
    env = os.environ if environ is None else environ
    values: dict[str, tuple[Any, str]] = {}
    if config_file is None:
        found = lookup("paths.config_file", env)
        config_file = found[0] if found is not None else None
    if config_file is not None:
        values.update(_file_table(Path(config_file), "service", keys))
    for key in keys:
        row = service_row(key)
        found = raw(row, env) if row is not None else None
        if found is not None:
            values[key] = found
    values.update({k: (v, f"argument {k}=") for k, v in (explicit or {}).items() if v is not None})
    model = values.get("reranker_model")
    if model is not None and model[1] == "RERANKER_MODEL":
        rtype = values.get("reranker_type", (SETTINGS["service.reranker_type"].default, ""))[0]
        if env_model_for(rtype, env) is None:
            del values["reranker_model"]
    return values


# ============================================================================ reranker types and grammar


class RerankerType(str, Enum):
    """The built-in rerankers, by the name ``RERANKER_TYPE`` uses."""

    CROSS_ENCODER = "cross-encoder"
    LLM = "llm"
    NIM = "nim"
    COHERE = "cohere"
    JINA = "jina"
    TEI = "tei"
    VERTEX = "vertex"
    BEDROCK = "bedrock"
    LATE_INTERACTION = "late-interaction"
    NONE = "none"


#: A reranker type: a built-in, ``"module:Class"`` of a Reranker subclass, or the class itself.
TypeRef = Union[RerankerType, str, type]

_PLUGIN = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


def parse_type(value: object, param: str) -> TypeRef:
    """A :class:`RerankerType` (case-insensitive, ``_`` for ``-``), ``"module:Class"`` or a class.

    The error names ``param`` (the flag, variable or argument the value came from) and lists the types.
    """
    if isinstance(value, type):
        return value
    if isinstance(value, str) and _PLUGIN.match(value.strip()):
        return value.strip()
    try:
        return parse_enum(RerankerType, value, param=param)  # type: ignore[arg-type]
    except ConfigError as exc:
        if isinstance(value, str) and "_" in value:
            try:
                return parse_enum(RerankerType, value.replace("_", "-"), param=param)
            except ConfigError:
                pass
        raise ConfigError(f"{exc}, or 'module:Class' of a Reranker subclass") from None


def type_label(rtype: TypeRef) -> str:
    """``cohere``, ``module:Class`` or the class's qualified name."""
    if isinstance(rtype, RerankerType):
        return rtype.value
    if isinstance(rtype, type):
        return rtype.__qualname__
    return str(rtype)


@dataclass(frozen=True)
class RerankerRef:
    """One reranker: its type, its model (None: the type's default) and where the model came from.

    ``shared_model`` marks ``RERANKER_MODEL``: shared configuration that a type without a model
    ignores, where an explicit model for such a type is an error.
    """

    type: TypeRef
    model: str | None = None
    model_source: str = "model"
    shared_model: bool = False

    @property
    def label(self) -> str:
        return type_label(self.type)

    def __str__(self) -> str:
        return format_reranker_ref(self.type, self.model)


def format_reranker_ref(rtype: TypeRef, model: str | None) -> str:
    """The text that :func:`parse_reranker_ref` reads back as ``(rtype, model)``."""
    label = type_label(rtype)
    if model is None:
        return label
    if rtype is RerankerType.CROSS_ENCODER and _looks_like_model(model) and not _is_type_name(model):
        return model
    return f"{label}={model}"


def parse_reranker_ref(text: str, param: str = "reranker") -> RerankerRef:
    """Read one ``TYPE``, ``TYPE=MODEL``, ``module:Class[=MODEL]`` or cross-encoder ``MODEL`` (module docstring)."""
    if not isinstance(text, str) or not text.strip():
        raise ConfigError(f"{param}={text!r} names no reranker; write TYPE, TYPE=MODEL or a cross-encoder path")
    text = text.strip()
    if _is_type_name(text) or _PLUGIN.match(text):
        return RerankerRef(parse_type(text, param))
    name, sep, model = text.partition("=")
    if sep and (_is_type_name(name.strip()) or _PLUGIN.match(name.strip())):
        return RerankerRef(parse_type(name.strip(), param), model.strip() or None, param)
    if _looks_like_model(text):
        return RerankerRef(RerankerType.CROSS_ENCODER, text, param)
    valid = ", ".join(repr(t.value) for t in RerankerType)
    raise ConfigError(
        f"{param}={text!r} is not valid; choose one of {valid} (alone or as TYPE=MODEL), 'module:Class' of a "
        f"Reranker subclass, or a cross-encoder model: a path or an 'org/name' hub id (cross-encoder={text} "
        "for another name)"
    )


def parse_reranker_list(spec: object, param: str) -> list[RerankerRef]:
    """A comma-separated list (or a sequence of types) in the reranker grammar; ``off`` or empty: no entry."""
    if spec is None:
        return []
    if isinstance(spec, str):
        if spec.strip().lower() in ("", "off"):
            return []
        items: list[Any] = [item.strip() for item in spec.split(",")]
    elif isinstance(spec, Sequence):
        items = list(spec)
    else:
        raise ConfigError(f"{param}={spec!r} must be a comma-separated string such as 'cross-encoder,none'")
    refs = []
    for item in items:
        if isinstance(item, str) and not item:
            raise ConfigError(f"{param}={spec!r} has an empty entry; write e.g. 'cross-encoder,none'")
        if isinstance(item, RerankerRef):
            refs.append(item)
        elif isinstance(item, str):
            refs.append(parse_reranker_ref(item, param))
        else:
            refs.append(RerankerRef(parse_type(item, param)))
    return refs


def _is_type_name(text: str) -> bool:
    key = text.strip().lower().replace("_", "-")
    return any(key == t.value for t in RerankerType)


def _looks_like_model(text: str) -> bool:
    """A path (separator, leading ``.`` or ``~``, or an existing file) or an ``org/name`` hub id."""
    text = text.strip()
    if "/" in text or os.sep in text or text.startswith((".", "~")):
        return True
    try:
        return Path(text).expanduser().exists()
    except OSError:
        return False


_REPO_ID = re.compile(r"^(?:[\w.-]{1,96}/)?[\w.-]{1,96}$")


def looks_like_path(value: str) -> bool:
    """True when a model option can only be a local path (not a valid hub repo id ``[org/]name``)."""
    return (
        value.startswith((".", "/", "~"))
        or (os.sep != "/" and os.sep in value)
        or not _REPO_ID.match(value)
        or "--" in value
        or ".." in value
    )


def _same_type(a: TypeRef, b: TypeRef) -> bool:
    return type_label(a) == type_label(b)


def env_model_for(rtype: object, environ: Environ | None = None) -> tuple[str, str] | None:
    """``(RERANKER_MODEL, "RERANKER_MODEL")`` when it belongs to ``rtype``, else None.

    It belongs to the type ``RERANKER_TYPE`` names, ``cross-encoder`` when that is unset.
    """
    model = raw("reranker.model", environ)
    if model is None:
        return None
    env_type = raw("reranker.type", environ)
    try:
        owner = parse_type(env_type[0] if env_type else RerankerType.CROSS_ENCODER, "RERANKER_TYPE")
        mine = parse_type(rtype, "type")
    except ConfigError:
        return None
    return model if _same_type(owner, mine) else None


# ============================================================================ model resolution

HUB_DEFAULT = "cross-encoder/ms-marco-MiniLM-L-6-v2"


def _latest_file() -> Path:
    return home() / "rerankers" / "latest"


def _trained_file() -> Path:
    return home() / "rerankers" / "trained"


def record_trained(model_dir: str | os.PathLike[str]) -> Path:
    """Remember ``model_dir`` as a trained reranker (atomic writes under :func:`home`).

    ``rerankers/trained`` lists every recorded model, newest last; ``rerankers/latest`` names the
    newest. A recorded model is the implicit default only for the corpus it was trained on
    (:func:`resolve_reranker_model`).
    """
    from ragsift.files import atomic_write_text

    path = _latest_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    model = str(Path(model_dir).resolve())
    known = [p for p in _read_lines(_trained_file()) if p != model]
    atomic_write_text(_trained_file(), "".join(f"{p}\n" for p in [*known, model]))
    atomic_write_text(path, model + "\n")
    return path


def _read_lines(path: Path) -> list[str]:
    try:
        return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    except OSError:
        return []


def latest_trained() -> Path | None:
    """The last model recorded by :func:`record_trained`, if it still exists."""
    try:
        recorded = Path(_latest_file().read_text(encoding="utf-8").strip())
    except OSError:
        return None
    return recorded if (recorded / "config.json").is_file() else None


def trained_models() -> list[tuple[Path, str | None, str | None]]:
    """Recorded models that still exist, newest first: ``(folder, corpus fingerprint, dataset)``.

    The fingerprint and dataset come from the model's ``ragsift_reranker.json`` (None when it has none).
    """
    from ragsift.rerank.settings import read_model_settings

    paths = [Path(p) for p in _read_lines(_trained_file())]
    latest = latest_trained()
    if latest is not None and latest not in paths:
        paths.append(latest)
    out = []
    for path in reversed(paths):
        if not (path / "config.json").is_file():
            continue
        try:
            settings = read_model_settings(path)
        except ConfigError:
            settings = None
        trained_on = settings.trained_on if settings is not None else {}
        out.append((path, trained_on.get("corpus_fingerprint"), trained_on.get("dataset")))
    return out


def trained_for(corpus: str | None) -> Path | None:
    """The newest recorded model trained on the corpus with fingerprint ``corpus`` (None: none, or no corpus given)."""
    if not corpus:
        return None
    return next((path for path, fingerprint, _ in trained_models() if fingerprint == corpus), None)


def resolve_reranker_model(
    explicit: str | None = None, *, environ: Environ | None = None, corpus: str | None = None
) -> tuple[str, str]:
    """``(model, source)`` of the cross-encoder: option → RERANKER_MODEL → trained on this corpus → hub default.

    ``source`` is ``'option'``, ``'RERANKER_MODEL'``, ``'trained'`` or ``'hub default'``.
    ``RERANKER_MODEL`` counts only when it belongs to the cross-encoder (``RERANKER_TYPE`` unset
    or ``cross-encoder``); ``environ`` (default ``os.environ``) is where it is looked up.
    ``corpus`` is the fingerprint of the collection or dataset being searched
    (:func:`ragsift.train.data.corpus_fingerprint`): a model trained by ``ragsift train-reranker``
    is the default only there; elsewhere (or without ``corpus``) it must be named explicitly
    (:func:`trained_models` lists them).
    """
    if explicit:
        return explicit, "option"
    found = env_model_for(RerankerType.CROSS_ENCODER, environ)
    if found is not None:
        return found
    trained = trained_for(corpus)
    if trained is not None:
        return str(trained), "trained"
    return HUB_DEFAULT, "hub default"


# ============================================================================ cache spec


class CacheKind(str, Enum):
    """Where rerank scores are cached."""

    OFF = "off"
    MEMORY = "memory"
    SQLITE = "sqlite"
    REDIS = "redis"


@dataclass(frozen=True)
class CacheSpec:
    """A parsed score-cache setting: ``off``, ``memory``, ``sqlite:PATH`` or a Redis URL, with optional limits.

    ``sources`` name where the values came from (``RERANKER_CACHE``, ``cache=``...) for errors
    raised when the cache is opened (:func:`ragsift.rerank.cache.open_cache`). ``url`` is the
    ``redis://`` or ``rediss://`` URL of a Redis cache (``str()`` hides its password).
    """

    kind: CacheKind = CacheKind.OFF
    path: Path | None = None
    ttl: float | None = None
    maxsize: int | None = None
    sources: tuple[str, ...] = field(default=(), compare=False)
    url: str | None = field(default=None, repr=False)  # may hold a password

    @classmethod
    def parse(cls, text: object, source: str = "cache") -> "CacheSpec":
        """``"off"`` (or ``"none"``, ``""``), ``"memory"``, ``"sqlite:PATH"`` or ``"redis://HOST:PORT/DB"``.

        The kind is case-insensitive; ``rediss://`` is Redis over TLS.
        """
        spec = text.strip() if isinstance(text, str) else None
        if spec is None:
            raise ConfigError(f"{source}={text!r} must be 'off', 'memory', 'sqlite:PATH' or 'redis://HOST:PORT/DB'")
        if spec.lower() in ("", "off", "none"):
            return cls(sources=(source,))
        if spec.lower() == "memory":
            return cls(CacheKind.MEMORY, sources=(source,))
        if spec.lower().startswith("sqlite:") and spec[len("sqlite:"):].strip():
            return cls(CacheKind.SQLITE, Path(spec[len("sqlite:"):].strip()), sources=(source,))
        if spec.lower().startswith(("redis://", "rediss://")):
            return cls(CacheKind.REDIS, url=_redis_url(spec, source), sources=(source,))
        raise ConfigError(
            f"{source}={text!r} is not valid; choose 'off', 'memory', 'sqlite:PATH' or 'redis://HOST:PORT/DB'"
        )

    @property
    def enabled(self) -> bool:
        return self.kind is not CacheKind.OFF

    def __str__(self) -> str:
        if self.kind is CacheKind.REDIS:
            return _hide_password(str(self.url))
        return f"sqlite:{self.path}" if self.kind is CacheKind.SQLITE else self.kind.value


def _redis_url(url: str, source: str) -> str:
    """``url`` checked: a host, a valid port and an integer database number (``/0`` when absent)."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = -1
    db = parts.path.strip("/")
    if not parts.hostname or port == -1 or (db and not db.isdigit()):
        raise ConfigError(
            f"{source}={_hide_password(url)!r} is not a valid Redis URL; use redis://[:PASSWORD@]HOST[:PORT][/DB] "
            "(rediss:// for TLS), e.g. redis://localhost:6379/0"
        )
    return url


def _hide_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@", 1)))


def cache_spec(
    cache: object = None,
    ttl: float | None = None,
    maxsize: int | None = None,
    environ: Environ | None = None,
) -> object:
    """The score cache to use: a :class:`CacheSpec`, or ``cache`` itself when it is a store object.

    ``cache`` is ``'off'``, ``'memory'``, ``'sqlite:PATH'``, ``'redis://HOST:PORT/DB'``, a CacheSpec or a
    store; when None, ``RERANKER_CACHE`` decides. ``ttl``/``maxsize`` default to ``RERANKER_CACHE_TTL``/``_MAXSIZE``.
    """
    if isinstance(cache, CacheSpec):
        return cache
    source = "cache"
    if cache is None:
        found = raw("reranker.cache", environ)
        cache, source = found if found is not None else ("off", "cache")
    if not isinstance(cache, str):
        if ttl is not None or maxsize is not None:
            raise ConfigError(
                "cache_ttl/cache_maxsize apply to cache='memory', 'sqlite:PATH' or 'redis://...'; "
                "set them on the cache object"
            )
        if callable(getattr(cache, "get_many", None)) and callable(getattr(cache, "put_many", None)):
            return cache
        raise ConfigError(
            f"cache={cache!r} must be 'off', 'memory', 'sqlite:PATH', 'redis://HOST:PORT/DB' or a cache object "
            "(MemoryCache, SQLiteCache, RedisCache)"
        )
    spec = CacheSpec.parse(cache, source)
    if not spec.enabled:
        return spec
    sources = [source]
    limits: dict[str, Any] = {"ttl": ttl, "maxsize": maxsize}
    for key, name in (("ttl", "reranker.cache_ttl"), ("maxsize", "reranker.cache_maxsize")):
        if limits[key] is not None:
            sources.append(f"cache_{key}")
        elif (found := lookup(name, environ)) is not None:
            limits[key] = found[0]
            sources.append(found[1])
    return replace(spec, sources=tuple(sources), **limits)


# ============================================================================ reranker spec


@dataclass(frozen=True)
class RerankerSpec:
    """Everything needed to build a reranker (``ragsift.rerank.registry.build``).

    ``options`` are explicit keyword options: each must be declared by at least one link.
    ``shared_options`` come from ``RERANKER_*`` variables (``{option: (value, variable)}``): each
    goes to the links that declare it and is ignored by the others. ``cache`` is a
    :class:`CacheSpec` or a cache object.
    """

    primary: RerankerRef
    fallback: tuple[RerankerRef, ...] = ()
    options: Mapping[str, Any] = field(default_factory=dict)
    shared_options: Mapping[str, tuple[Any, str]] = field(default_factory=dict)
    cache: object = field(default_factory=CacheSpec)

    @property
    def type(self) -> TypeRef:
        return self.primary.type

    @property
    def model(self) -> str | None:
        return self.primary.model

    @property
    def backend(self) -> str | None:
        """The local inference engine (``torch``/``onnx``), when set by option or ``RERANKER_BACKEND``."""
        if "backend" in self.options:
            return self.options["backend"]
        found = self.shared_options.get("backend")
        return found[0] if found else None

    @property
    def links(self) -> tuple[RerankerRef, ...]:
        return (self.primary, *self.fallback)


#: The reranker options read from ``RERANKER_*`` variables (rows ``reranker.<option>``).
SHARED_OPTIONS = (
    "base_url", "api_key", "timeout", "max_retries", "max_length", "batch_size",
    "device", "backend", "project", "location", "region",
)


def reranker_spec(
    type: object = None,  # noqa: A002 - the documented argument name
    model: str | None = None,
    *,
    fallback: object = None,
    cache: object = None,
    cache_ttl: float | None = None,
    cache_maxsize: int | None = None,
    options: Mapping[str, Any] | None = None,
    environ: Environ | None = None,
    type_source: str = "type",
    model_source: str = "model",
    read_env: bool = True,
    corpus: str | None = None,
) -> RerankerSpec:
    """The reranker named by the arguments, completed from the ``RERANKER_*`` variables.

    An argument wins over its variable; ``type_source``/``model_source`` name the flag or argument
    in error messages (``--reranker-type``). A cross-encoder link without a model gets one by the
    resolution order (:func:`resolve_reranker_model`). With ``read_env=False`` no ``RERANKER_*``
    variable is read (the model registry and :func:`home` still are). ``corpus``: fingerprint of the
    collection or dataset the reranker will serve; a model trained on it is the implicit default.
    """
    env: Environ = (os.environ if environ is None else environ) if read_env else {}
    primary = _primary(type, model, env, type_source, model_source)
    chain, chain_source = fallback, "fallback"
    if chain is None and (found := raw("reranker.fallback", env)) is not None:
        chain, chain_source = found
    links = [_resolved(ref, env, corpus) for ref in (primary, *parse_reranker_list(chain, chain_source))]
    shared = {}
    for option in SHARED_OPTIONS:
        found = lookup(f"reranker.{option}", env)
        if found is not None:
            shared[option] = found
    return RerankerSpec(
        primary=links[0],
        fallback=tuple(links[1:]),
        options=dict(options or {}),
        shared_options=shared,
        cache=cache_spec(cache, cache_ttl, cache_maxsize, env),
    )


def _primary(rtype: object, model: str | None, env: Environ, type_source: str, model_source: str) -> RerankerRef:
    if rtype is None:
        found = raw("reranker.type", env)
        parsed = parse_type(found[0], "RERANKER_TYPE") if found else RerankerType.CROSS_ENCODER
    else:
        parsed = parse_type(rtype, type_source)
    if model is not None:
        return RerankerRef(parsed, model, model_source)
    found = env_model_for(parsed, env)
    if found is not None:
        return RerankerRef(parsed, found[0], found[1], shared_model=True)
    return RerankerRef(parsed)


def _resolved(ref: RerankerRef, env: Environ, corpus: str | None = None) -> RerankerRef:
    """A cross-encoder without a model gets the model trained on ``corpus`` or the hub default."""
    if ref.model is not None or ref.type is not RerankerType.CROSS_ENCODER:
        return ref
    model, source = resolve_reranker_model(environ=env, corpus=corpus)
    return RerankerRef(ref.type, model, source, shared_model=source != "option")


# ============================================================================ embedder spec


DEFAULT_EMBED_MODEL = "all-MiniLM-L6-v2"
#: Names that mean the bundled all-MiniLM-L6-v2 (lower-cased).
DEFAULT_EMBED_ALIASES = frozenset({"default", "all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2"})


class EmbedderType(str, Enum):
    """Where a collection's vectors come from, by the name ``--embedder`` uses."""

    SENTENCE_TRANSFORMERS = "sentence-transformers"  # a local model: a folder or a hub name
    OPENAI = "openai"  # any OpenAI-compatible POST /v1/embeddings: OpenAI, vLLM, TEI, Ollama, LiteLLM
    NIM = "nim"  # NVIDIA NIM embedding: the OpenAI wire format plus input_type and truncate
    COHERE = "cohere"  # Cohere POST /v2/embed

    @property
    def hosted(self) -> bool:
        return self is not EmbedderType.SENTENCE_TRANSFORMERS


_EMBEDDER_ALIASES = {"st": "sentence-transformers", "local": "sentence-transformers"}


@dataclass(frozen=True)
class _EmbedderDefaults:
    model: str
    base_url: str | None = None
    query_input_type: str | None = None
    document_input_type: str | None = None
    truncate: str | None = None


#: What a type's spec holds unless told otherwise.
EMBEDDER_DEFAULTS: dict[EmbedderType, _EmbedderDefaults] = {
    EmbedderType.SENTENCE_TRANSFORMERS: _EmbedderDefaults(DEFAULT_EMBED_MODEL),
    EmbedderType.OPENAI: _EmbedderDefaults("text-embedding-3-small", "https://api.openai.com/v1"),
    EmbedderType.NIM: _EmbedderDefaults(
        "nvidia/nv-embedqa-e5-v5", "https://integrate.api.nvidia.com/v1", "query", "passage", "END"
    ),
    EmbedderType.COHERE: _EmbedderDefaults(
        "embed-v4.0", "https://api.cohere.com", "search_query", "search_document", "END"
    ),
}

_TRUNCATE_MODES = ("NONE", "START", "END")
_HOSTED_FIELDS = ("base_url", "dimensions", "query_input_type", "document_input_type", "truncate")
_SETTINGS_SHOWN = (*_HOSTED_FIELDS, "query_prefix", "document_prefix", "normalize")
_SECRET_PARAM = re.compile(r"key|token|secret|sig|password|auth", re.IGNORECASE)


def parse_embedder_type(value: object, param: str) -> EmbedderType:
    """An :class:`EmbedderType` (case-insensitive, ``_`` for ``-``; ``st``/``local`` for a local model)."""
    if isinstance(value, str):
        key = value.strip().lower().replace("_", "-")
        value = _EMBEDDER_ALIASES.get(key, key)
    return parse_enum(EmbedderType, value, param=param)  # type: ignore[arg-type]


def _embedder_type_name(text: str) -> EmbedderType | None:
    try:
        return parse_embedder_type(text, "embedder")
    except ConfigError:
        return None


@dataclass(frozen=True)
class EmbedderSpec:
    """What embeds a collection's texts; recorded with the collection (``CollectionConfig.embedder``).

    ``type``: a local sentence-transformers model or a hosted API (:class:`EmbedderType`);
    ``model``: the folder, hub name or the API's model id (None: the type's default);
    ``base_url``: a hosted API's endpoint (None: the vendor's). It holds no credential: keys come
    from the environment (``RAGSIFT_EMBED_API_KEY``, else the vendor's variable);
    ``dimensions``: the output dimension asked of the API (OpenAI ``dimensions``, Cohere
    ``output_dimension``; None: the model's own);
    ``query_prefix`` / ``document_prefix``: prepended to every query / document (E5: ``"query: "``
    and ``"passage: "``);
    ``query_input_type`` / ``document_input_type``: sent as ``input_type`` (NIM ``query`` /
    ``passage``, Cohere ``search_query`` / ``search_document``; None: not sent);
    ``truncate``: ``NONE``, ``START`` or ``END``, sent to NIM and Cohere (None: not sent);
    ``normalize``: L2-normalize the vectors (the vector index compares by inner product).

    Fields left None get the type's defaults (:data:`EMBEDDER_DEFAULTS`). Two specs embed alike
    (:meth:`same_embeddings`) when everything but ``base_url`` agrees: the URL says where a
    model is served, not which model it is. ``source`` names the option or file the spec came
    from, for error messages.
    """

    model: str | None = None
    source: str = field(default="embed_model", compare=False)
    type: EmbedderType = EmbedderType.SENTENCE_TRANSFORMERS
    base_url: str | None = None
    dimensions: int | None = None
    query_prefix: str = ""
    document_prefix: str = ""
    query_input_type: str | None = None
    document_input_type: str | None = None
    truncate: str | None = None
    normalize: bool = True

    def __post_init__(self) -> None:
        kind = parse_embedder_type(self.type, f"{self.source} type")
        defaults = EMBEDDER_DEFAULTS[kind]
        _put(self, "type", kind)
        _put(self, "model", self._checked_model(defaults.model if self.model is None else self.model))
        if not kind.hosted:
            given = [f"{n}={getattr(self, n)!r}" for n in _HOSTED_FIELDS if getattr(self, n) is not None]
            if given:
                raise ConfigError(
                    f"{', '.join(given)} given for the local model {self.model!r}: only hosted embedders (openai, "
                    "nim, cohere) take it. Fix: choose a hosted embedder (--embedder openai=MODEL --embed-url URL), "
                    "or use query_prefix / document_prefix with a local model"
                )
        else:
            _put(self, "base_url", _embed_base_url(self.base_url or defaults.base_url, self.source))
            for name in ("query_input_type", "document_input_type", "truncate"):
                value = getattr(self, name)
                _put(self, name, _optional_word(getattr(defaults, name) if value is None else value, name))
            if self.truncate is not None:
                _put(self, "truncate", _parse_choice(self.truncate, _TRUNCATE_MODES, "truncate"))
        if self.dimensions is not None and (
            isinstance(self.dimensions, bool) or not isinstance(self.dimensions, int) or self.dimensions < 1
        ):
            raise ConfigError(
                f"dimensions={self.dimensions!r} is not valid; use a positive integer or None (the model's own)"
            )
        for name in ("query_prefix", "document_prefix"):
            if not isinstance(getattr(self, name), str):
                raise ConfigError(f"{name}={getattr(self, name)!r} is not valid; use a string such as 'query: '")
        if not isinstance(self.normalize, bool):
            raise ConfigError(f"normalize={self.normalize!r} is not valid; use true or false")

    def _checked_model(self, model: object) -> str:
        if not isinstance(model, (str, os.PathLike)) or not os.fspath(model).strip():
            valid = ", ".join(t.value for t in EmbedderType)
            raise ConfigError(
                f"{self.source}={model!r} is not valid; pass a local model folder or a Hugging Face name such as "
                f"'sentence-transformers/all-MiniLM-L6-v2' (default: the bundled {DEFAULT_EMBED_MODEL!r}), "
                f"or TYPE[=MODEL] with TYPE one of {valid}"
            )
        return os.fspath(model).strip()

    # -- grammar -------------------------------------------------------------------------------

    @classmethod
    def parse(cls, value: object, source: str = "embed_model") -> "EmbedderSpec":
        """``TYPE``, ``TYPE=MODEL`` (``openai=text-embedding-3-small``) or a local model (folder / hub name).

        None is the bundled default. A type name wins over a folder of that name (``./openai``).
        """
        if isinstance(value, EmbedderSpec):
            return value
        if value is None:
            return cls(source=source)
        if not isinstance(value, (str, os.PathLike)) or not os.fspath(value).strip():
            return cls(value, source)  # type: ignore[arg-type]  # raises, naming source
        text = os.fspath(value).strip()
        kind = _embedder_type_name(text)
        if kind is not None:
            return cls(source=source, type=kind)
        name, sep, model = text.partition("=")
        kind = _embedder_type_name(name) if sep else None
        if kind is not None:
            return cls(model.strip() or None, source, type=kind)
        return cls(text, source)

    def __str__(self) -> str:
        """``TYPE=MODEL`` (a local model: its name alone), which :meth:`parse` reads back."""
        return self.model if self.type is EmbedderType.SENTENCE_TRANSFORMERS else f"{self.type.value}={self.model}"

    def describe(self) -> str:
        """``str(self)`` with the URL of a hosted API and every setting that is not the type's default."""
        plain = EmbedderSpec(self.model, type=self.type)
        shown = [
            f"{name}={getattr(self, name)!r}"
            for name in _SETTINGS_SHOWN
            if (name == "base_url" and self.type.hosted) or getattr(self, name) != getattr(plain, name)
        ]
        return f"{self}" + (f" ({', '.join(shown)})" if shown else "")

    # -- the manifest --------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Every setting, as plain JSON values (what a collection records)."""
        return {"type": self.type.value, "model": self.model, **{name: getattr(self, name) for name in _SETTINGS_SHOWN}}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "manifest") -> "EmbedderSpec":
        if not isinstance(data, Mapping):
            raise ConfigError(f"{source}: the embedder must be an object such as {{'type': 'openai', 'model': ...}}")
        known = {f for f in cls.__dataclass_fields__ if f != "source"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"{source}: unknown embedder settings {unknown}; valid: {sorted(known)}")
        return cls(**data, source=source)

    # -- identity ------------------------------------------------------------------------------

    def differences(self, other: "EmbedderSpec") -> list[str]:
        """The settings in which ``other`` embeds differently (``base_url`` is never one)."""
        out = []
        for name in ("type", "model", "dimensions", "query_prefix", "document_prefix", "query_input_type",
                     "document_input_type", "truncate", "normalize"):
            mine, theirs = getattr(self, name), getattr(other, name)
            same = _same_local_model(mine, theirs) if name == "model" and self.type is other.type else mine == theirs
            if not same:
                out.append(name)
        return out

    def same_embeddings(self, other: "EmbedderSpec") -> bool:
        """True when ``other`` gives the same vectors (it may be served at another ``base_url``)."""
        return not self.differences(other)

    def require_same(self, asked: "EmbedderSpec", where: str) -> None:
        """ConfigError naming both specs when ``asked`` (from ``asked.source``) embeds unlike this recorded one."""
        differ = self.differences(asked)
        if differ:
            raise ConfigError(
                f"{where} was built with the embedder {self.describe()}, but {asked.source} asks for "
                f"{asked.describe()} (they differ in {', '.join(differ)}); vectors of one cannot be searched with "
                f"the other. Fix: leave out {asked.source} to use the recorded embedder (`ragsift info` shows it), "
                "or index into a new collection to use another embedder"
            )


def _put(spec: "EmbedderSpec", name: str, value: Any) -> None:
    object.__setattr__(spec, name, value)  # normalizing a frozen dataclass in __post_init__


def _parse_choice(value: object, choices: Sequence[str], param: str) -> str:
    """``value`` upper-cased when it is one of ``choices``, else a ConfigError listing them."""
    if isinstance(value, str) and value.strip().upper() in choices:
        return value.strip().upper()
    raise ConfigError(f"{param}={value!r} is not valid; choose one of {', '.join(choices)}")


def _optional_word(value: object, param: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{param}={value!r} is not valid; use a non-empty string or None (not sent)")
    return value.strip()


def _embed_base_url(url: object, source: str) -> str:
    """A hosted embedder's URL: http(s), and no credential in it (keys come from the environment)."""
    if not isinstance(url, str) or not url.strip().startswith(("http://", "https://")):
        raise ConfigError(
            f"base_url={url!r} ({source}) must be an http:// or https:// URL, e.g. http://localhost:8000/v1"
        )
    url = url.strip().rstrip("/")
    parts = urlsplit(url)
    secret = parts.username is not None or parts.password is not None or any(
        _SECRET_PARAM.search(name) for name, _, _ in (p.partition("=") for p in parts.query.split("&") if p)
    )
    if secret:
        raise ConfigError(
            f"base_url of the embedder ({source}) holds a credential ({_hide_password(url).split('?')[0]}...); "
            "it is recorded in the collection, so it must not. Fix: give the URL without it and set the key in "
            "RAGSIFT_EMBED_API_KEY (or the vendor's variable: OPENAI_API_KEY, NVIDIA_API_KEY, COHERE_API_KEY)"
        )
    return url


def _same_local_model(a: str, b: str) -> bool:
    """Equal names, both the bundled default, or two paths to the same folder."""
    if a == b or (a.lower() in DEFAULT_EMBED_ALIASES and b.lower() in DEFAULT_EMBED_ALIASES):
        return True
    pa, pb = Path(a).expanduser(), Path(b).expanduser()
    try:
        return pa.exists() and pb.exists() and pa.resolve() == pb.resolve()
    except OSError:
        return False


def embedder_spec(
    embedder: object = None,
    model: object = None,
    *,
    input_types: str | None = None,
    embedder_source: str = "embedder",
    model_source: str = "embed_model",
    **fields: Any,
) -> EmbedderSpec | None:
    """The embedder a set of options names (None when none is given): the CLI's ``--embedder`` and friends.

    ``embedder`` is ``TYPE[=MODEL]`` or a model; ``model`` names the model separately (alone it is a
    local model, as ``--embed-model`` always was). ``input_types`` is ``QUERY,DOCUMENT``
    (``query,passage``). ``fields`` are :class:`EmbedderSpec` settings (``base_url``,
    ``dimensions``, ``query_prefix``, ``document_prefix``, ``truncate``, ``normalize``); None
    means not given.
    """
    fields = {k: v for k, v in fields.items() if v is not None}
    if input_types is not None:
        parts = [p.strip() for p in str(input_types).split(",")]
        if len(parts) != 2 or not all(parts):
            raise ConfigError(
                f"input_types={input_types!r} is not valid; write QUERY,DOCUMENT, e.g. 'query,passage' (NIM) or "
                "'search_query,search_document' (Cohere)"
            )
        fields.update(query_input_type=parts[0], document_input_type=parts[1])
    if embedder is None and model is None and not fields:
        return None
    if embedder is None:
        hosted = sorted(set(fields) & set(_HOSTED_FIELDS))
        if hosted:
            raise ConfigError(
                f"{', '.join(hosted)} {'needs' if len(hosted) == 1 else 'need'} a hosted embedder; name it with "
                f"{embedder_source} "
                f"({', '.join(t.value for t in EmbedderType if t.hosted)}), e.g. {embedder_source} openai=MODEL"
            )
        spec = EmbedderSpec.parse(model, model_source)
    else:
        spec = EmbedderSpec.parse(embedder, embedder_source)
        if model is not None:
            if "=" in str(embedder):
                raise ConfigError(
                    f"{embedder_source}={embedder!r} already names a model; drop {model_source}={model!r} "
                    "or the '=MODEL' part"
                )
            spec = replace(spec, model=os.fspath(model))  # type: ignore[arg-type]
    return replace(spec, **fields) if fields else spec
