"""Choose a reranker by configuration: :func:`get_reranker` and :func:`fallback_chain`.

``get_reranker(type=None, model=None, **options)`` builds the reranker named by ``type`` (a
:class:`RerankerType` value, or ``"module:Class"`` of any importable :class:`Reranker` subclass, or
the class itself), importing its module only then — so ``import ragsift.rerank`` never imports
torch or a vendor SDK. ``model`` goes to the constructor's first positional argument
(cross-encoder, llm, nim, cohere, jina), or to its ``model`` keyword (vertex, custom classes),
or to ``model_arn`` (bedrock). Other options go to the constructor by keyword, after checking its
signature: an option the constructor does not take raises ConfigError listing the ones it does,
and a required option left unset raises ConfigError naming the variable or argument to set.

Environment variables, read when :func:`get_reranker` is called (an explicit argument wins over
its variable):

==========================  ===============  ==================================================
Variable                    Argument         Value
==========================  ===============  ==================================================
``RERANKER_TYPE``           ``type``         ``cross-encoder`` (default), ``llm``, ``nim``,
                                             ``cohere``, ``jina``, ``tei``, ``vertex``,
                                             ``bedrock``, ``none``, or ``module:Class``
``RERANKER_MODEL``          ``model``        model name or id (bedrock: the model ARN); used
                                             only when the type also comes from
                                             ``RERANKER_TYPE`` (or equals it)
``RERANKER_BASE_URL``       ``base_url``     str: endpoint of a remote or self-hosted service
``RERANKER_API_KEY``        ``api_key``      str
``RERANKER_TIMEOUT``        ``timeout``      float, seconds per request
``RERANKER_MAX_RETRIES``    ``max_retries``  int, retries on 429/5xx
``RERANKER_MAX_LENGTH``     ``max_length``   int, tokens per (query, passage) pair
``RERANKER_BATCH_SIZE``     ``batch_size``   int, pairs per forward pass or request
``RERANKER_DEVICE``         ``device``       str: ``cpu``, ``cuda``, ``cuda:1``...
``RERANKER_PROJECT``        ``project``      str: Google Cloud project (vertex)
``RERANKER_LOCATION``       ``location``     str: Google Cloud location (vertex)
``RERANKER_REGION``         ``region``       str: AWS region (bedrock)
``RERANKER_FALLBACK``       ``fallback``     links tried after the primary when it fails, comma
                                             separated, each ``TYPE`` or ``TYPE=MODEL``:
                                             ``"cross-encoder,none"``; ``off`` or empty: none
``RERANKER_CACHE``          ``cache``        ``off`` (default), ``memory``, ``sqlite:PATH``
``RERANKER_CACHE_TTL``      ``cache_ttl``    float, seconds a cached score lives (default 3600)
``RERANKER_CACHE_MAXSIZE``  ``cache_maxsize``int, cached scores kept (default 100000 in memory,
                                             1000000 in SQLite)
==========================  ===============  ==================================================

The option variables (``BASE_URL`` to ``REGION``) are shared by every link of a chain: each link
receives those its constructor names and the others ignore them (``BATCH_SIZE`` also fills a
remote client's ``max_batch``, ``API_KEY`` Vertex's ``access_token``); ``TIMEOUT`` and ``MAX_RETRIES``
also go to constructors that take ``**kwargs`` (the remote rerankers pass them to their HTTP
client). Explicit keyword options are strict: each must be accepted by at least one link (by name,
or by a ``**kwargs`` that does not reject it), else ConfigError. A model reaches only a constructor
that names a model parameter: ``RERANKER_MODEL`` is ignored by types without one (``none``,
``tei``: the TEI server serves one model), an explicit ``model=`` for them is an error.

With a cache, every link whose scores are pointwise is wrapped in a :class:`CachedReranker` (keys
carry the model name, so links never share scores); with a fallback, the links are tried in order
by a :class:`FallbackReranker`, so degraded service is explicit configuration.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Callable, Union

from ragsift._enums import parse_enum
from ragsift.errors import ConfigError, MissingDependencyError
from ragsift.rerank.base import Reranker
from ragsift.rerank.cache import CachedReranker, MemoryCache, SQLiteCache
from ragsift.rerank.fallback import DEFAULT_CATCH, FallbackReranker

__all__ = [
    "RerankerType",
    "get_reranker",
    "fallback_chain",
    "available_types",
    "ENV_OPTIONS",
    "PASSTHROUGH_ENV_OPTIONS",
]


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
    NONE = "none"


@dataclass(frozen=True)
class _Spec:
    target: str  # "module:Class"
    model_param: str | None  # constructor parameter that receives ``model``
    positional: bool = False  # pass ``model`` as the first positional argument
    extra: str | None = None  # ragsift extra that installs its dependencies


_REMOTE = "ragsift.rerank.remote"
_SPECS: dict[RerankerType, _Spec] = {
    RerankerType.CROSS_ENCODER: _Spec("ragsift.rerank.cross_encoder:CrossEncoderReranker", "model", True),
    RerankerType.LLM: _Spec("ragsift.rerank.llm:LLMReranker", "model", True),
    RerankerType.NIM: _Spec(f"{_REMOTE}.nim:NIMReranker", "model", True),
    RerankerType.COHERE: _Spec(f"{_REMOTE}.cohere:CohereReranker", "model", True),
    RerankerType.JINA: _Spec(f"{_REMOTE}.jina:JinaReranker", "model", True),
    RerankerType.TEI: _Spec(f"{_REMOTE}.tei:TEIReranker", "model"),
    RerankerType.VERTEX: _Spec(f"{_REMOTE}.vertex:VertexReranker", "model"),
    RerankerType.BEDROCK: _Spec(f"{_REMOTE}.bedrock:BedrockReranker", "model_arn", extra="bedrock"),
    RerankerType.NONE: _Spec("ragsift.rerank.identity:FirstStageReranker", None),
}

#: Constructor options read from the environment: option -> (variable, type).
ENV_OPTIONS: dict[str, tuple[str, type]] = {
    "base_url": ("RERANKER_BASE_URL", str),
    "api_key": ("RERANKER_API_KEY", str),
    "timeout": ("RERANKER_TIMEOUT", float),
    "max_retries": ("RERANKER_MAX_RETRIES", int),
    "max_length": ("RERANKER_MAX_LENGTH", int),
    "batch_size": ("RERANKER_BATCH_SIZE", int),
    "device": ("RERANKER_DEVICE", str),
    "project": ("RERANKER_PROJECT", str),
    "location": ("RERANKER_LOCATION", str),
    "region": ("RERANKER_REGION", str),
}

#: Environment options also given to constructors that take ``**kwargs`` without naming them (the
#: remote rerankers forward ``**http_options`` to their HTTP client, which takes these two).
PASSTHROUGH_ENV_OPTIONS = frozenset({"timeout", "max_retries"})

_OFF = ("", "off", "none")

TypeLike = Union[RerankerType, str, "type[Reranker]"]


# --------------------------------------------------------------------------- public functions


def get_reranker(
    type: TypeLike | None = None,  # noqa: A002 - the documented argument name
    model: str | None = None,
    *,
    fallback: str | Sequence[TypeLike] | None = None,
    cache: object = None,
    cache_ttl: float | None = None,
    cache_maxsize: int | None = None,
    **options: Any,
) -> Reranker:
    """Build the configured reranker; see the module docstring for every variable and argument.

    ``fallback`` lists the links tried after this one (``"cross-encoder,none"``); ``cache`` is
    ``"off"``, ``"memory"``, ``"sqlite:PATH"`` or a cache object. Returns the reranker itself, a
    :class:`CachedReranker` around it, or a :class:`FallbackReranker` over the chain.
    """
    environ = os.environ
    primary = _primary_link(type, model, environ)
    fallback_spec, fallback_param = _pick(fallback, "fallback", environ, "RERANKER_FALLBACK")
    links = [primary, *_parse_chain(fallback_spec, fallback_param)]
    rerankers = _build_chain(links, options, _env_options(environ))
    store = _cache_from(cache, cache_ttl, cache_maxsize, environ)
    rerankers = _wrap_cache(rerankers, store)
    return rerankers[0] if len(rerankers) == 1 else FallbackReranker(rerankers)


def fallback_chain(
    spec: str | Sequence[TypeLike],
    *,
    catch: tuple[type[BaseException], ...] = DEFAULT_CATCH,
    cache: object = None,
    **options: Any,
) -> FallbackReranker:
    """A :class:`FallbackReranker` over ``spec``, e.g. ``"cohere=rerank-v3.5,cross-encoder,none"``.

    Each link is ``TYPE`` or ``TYPE=MODEL``; ``options`` go to every link that accepts them (each
    must be accepted by one at least). Only the arguments count here: no ``RERANKER_*`` variable is read.
    """
    links = _parse_chain(spec, "spec")
    if not links:
        raise ConfigError(f"spec={spec!r} names no reranker; write e.g. 'cohere,cross-encoder,none'")
    if "model" in options:
        raise ConfigError(
            "fallback_chain() takes no model= (each link has its own); write it in the chain: 'cohere=MODEL,none'"
        )
    rerankers = _build_chain(links, options, {})
    return FallbackReranker(_wrap_cache(rerankers, _cache_from(cache, None, None, {})), catch=catch)


# --------------------------------------------------------------------------- chain description


@dataclass
class _Link:
    """One reranker to build: what, with which model, and where each value came from."""

    label: str
    target: Union[str, "type[Reranker]"]
    model_param: str | None
    positional: bool = False
    extra: str | None = None
    builtin: RerankerType | None = None
    model: str | None = None
    model_source: str = "model"  # the argument or variable the model came from
    model_from_env: bool = False


@dataclass
class _Plan:
    link: _Link
    cls: "type[Reranker]"
    params: dict[str, inspect.Parameter] = field(default_factory=dict)
    var_keyword: bool = False


def _link(value: TypeLike, param: str) -> _Link:
    """Describe the reranker named by ``value``: a RerankerType value, ``module:Class`` or a class."""
    if isinstance(value, type):
        return _Link(value.__qualname__, value, "model")
    if isinstance(value, str) and ":" in value:
        return _Link(value.strip(), value.strip(), "model")
    rtype = _parse_type(value, param)
    spec = _SPECS[rtype]
    return _Link(rtype.value, spec.target, spec.model_param, spec.positional, spec.extra, rtype)


def _parse_type(value: object, param: str) -> RerankerType:
    """parse_enum, also accepting ``_`` for ``-`` (``cross_encoder``); the error lists the valid values."""
    try:
        return parse_enum(RerankerType, value, param=param)  # type: ignore[arg-type]
    except ConfigError as exc:
        if isinstance(value, str) and "_" in value:
            try:
                return parse_enum(RerankerType, value.replace("_", "-"), param=param)
            except ConfigError:
                pass
        raise ConfigError(f"{exc}, or 'module:Class' of a Reranker subclass") from None


def _primary_link(rtype: TypeLike | None, model: str | None, environ: Mapping[str, str]) -> _Link:
    env_type = (environ.get("RERANKER_TYPE") or "").strip() or None
    if rtype is None:
        link = _link(env_type or RerankerType.CROSS_ENCODER, "RERANKER_TYPE")
        same_as_env = True
    else:
        link = _link(rtype, "type")
        same_as_env = env_type is not None and _same_type(link, env_type)
    if model is not None:
        link.model = model
    elif same_as_env and (environ.get("RERANKER_MODEL") or "").strip():
        link.model = environ["RERANKER_MODEL"].strip()
        link.model_source, link.model_from_env = "RERANKER_MODEL", True
    return link


def _same_type(link: _Link, env_type: str) -> bool:
    try:
        return _link(env_type, "RERANKER_TYPE").label == link.label
    except ConfigError:
        return False


def _parse_chain(spec: object, param: str) -> list[_Link]:
    """``"cohere=rerank-v3.5, cross-encoder, none"`` (or a list of types) -> links in order."""
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
    links = []
    for item in items:
        if isinstance(item, str) and not item:
            raise ConfigError(f"{param}={spec!r} has an empty entry; write e.g. 'cross-encoder,none'")
        name, model = (item.partition("=")[::2]) if isinstance(item, str) else (item, "")
        link = _link(name.strip() if isinstance(name, str) else name, param)
        if model.strip():
            link.model, link.model_source = model.strip(), param
        links.append(link)
    return links


# --------------------------------------------------------------------------- building


def _build_chain(links: list[_Link], explicit: Mapping[str, Any], env: Mapping[str, tuple[Any, str]]) -> list[Reranker]:
    plans = [_plan(link) for link in links]
    _check_explicit(plans, explicit)
    return [_construct(plan, explicit, env) for plan in plans]


def _plan(link: _Link) -> _Plan:
    cls = _load_class(link)
    try:
        signature = inspect.signature(cls)
    except (TypeError, ValueError):  # pragma: no cover - builtins without a signature
        return _Plan(link, cls, {}, True)
    params = {}
    var_keyword = False
    for name, p in signature.parameters.items():
        if p.kind is p.VAR_KEYWORD:
            var_keyword = True
        elif p.kind is not p.VAR_POSITIONAL:
            params[name] = p
    return _Plan(link, cls, params, var_keyword)


def _load_class(link: _Link) -> "type[Reranker]":
    if isinstance(link.target, type):
        cls: object = link.target
    else:
        module_name, _, attr = link.target.partition(":")
        module = _import(link, module_name)
        cls = getattr(module, attr, None)
        if cls is None:
            raise ConfigError(f"reranker {link.label!r}: module {module_name!r} has no attribute {attr!r}")
    if not (isinstance(cls, type) and issubclass(cls, Reranker)):
        raise ConfigError(f"reranker {link.label!r} is {cls!r}, not a subclass of ragsift.rerank.Reranker")
    return cls


def _import(link: _Link, module_name: str):
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        missing = exc.name or ""
        if missing and (module_name == missing or module_name.startswith(missing + ".")):
            raise ConfigError(_not_available(link, module_name)) from exc
        top = missing.split(".")[0] or module_name
        fix = f"pip install 'ragsift[{link.extra}]'" if link.extra else f"pip install {top.replace('_', '-')}"
        raise MissingDependencyError(
            f"reranker {link.label!r} needs the package {top!r}, which is not installed. Fix: {fix}"
        ) from exc


def _not_available(link: _Link, module_name: str) -> str:
    if link.builtin is None:
        return f"reranker {link.label!r}: module {module_name!r} not found; give 'module:Class' of an importable module"
    return (
        f"reranker type {link.label!r} is not available in this installation (module {module_name!r} not found); "
        f"available types: {', '.join(repr(t.value) for t in available_types())}"
    )


def available_types() -> list[RerankerType]:
    """The built-in types whose module is present (found without importing it)."""
    found = []
    for rtype, spec in _SPECS.items():
        try:
            present = importlib.util.find_spec(spec.target.partition(":")[0]) is not None
        except ImportError:
            present = False
        if present:
            found.append(rtype)
    return found


def _check_explicit(plans: list[_Plan], explicit: Mapping[str, Any]) -> None:
    """Every explicit option must be accepted by at least one link."""
    if any(plan.var_keyword for plan in plans):
        return
    accepted = set().union(*(plan.params for plan in plans))
    unknown = sorted(set(explicit) - accepted)
    if not unknown:
        return
    where = "; ".join(f"{p.link.label}: {', '.join(sorted(p.params)) or '(none)'}" for p in plans)
    who = f"reranker {plans[0].link.label!r}" if len(plans) == 1 else "any reranker in the chain"
    raise ConfigError(
        f"option(s) {', '.join(map(repr, unknown))} not accepted by {who}; accepted options — {where}"
    )


#: Constructor parameters an environment option also fills when the constructor lacks its own name.
ENV_ALIASES: dict[str, tuple[str, ...]] = {"batch_size": ("max_batch",), "api_key": ("access_token",)}


def _construct(plan: _Plan, explicit: Mapping[str, Any], env: Mapping[str, tuple[Any, str]]) -> Reranker:
    args: list[Any] = []
    kwargs: dict[str, Any] = {}
    sources: dict[str, str] = {}  # options passed through **kwargs -> where they came from
    taken = _place_model(plan, explicit, args, kwargs)
    for name, (value, var) in env.items():
        if name not in plan.params:  # e.g. RERANKER_BATCH_SIZE → max_batch of the remote clients
            name = next((alias for alias in ENV_ALIASES.get(name, ()) if alias in plan.params), name)
        if name == taken:
            continue
        if name in plan.params or (plan.var_keyword and name in PASSTHROUGH_ENV_OPTIONS):
            kwargs[name] = value
            sources[name] = var
    for name, value in explicit.items():
        if name in plan.params or plan.var_keyword:
            kwargs[name] = value
            sources[name] = f"{name}="
    _check_required(plan, kwargs, taken)
    passthrough = {name: src for name, src in sources.items() if name not in plan.params}
    try:
        return plan.cls(*args, **kwargs)
    except TypeError as exc:
        if not passthrough:
            raise
        culprits = {n: s for n, s in passthrough.items() if repr(n) in str(exc)} or passthrough
        named = ", ".join(sorted(plan.params)) or "(none)"
        raise ConfigError(
            f"reranker {plan.link.label!r} ({plan.cls.__name__}) rejected option(s) "
            f"{', '.join(f'{n!r} (from {s})' for n, s in culprits.items())}: {exc}; its named options are {named}"
        ) from exc


def _place_model(plan: _Plan, explicit: Mapping[str, Any], args: list, kwargs: dict) -> str | None:
    """Put the link's model where the constructor takes it; return that parameter's name."""
    link = plan.link
    if link.model is None:
        return None
    first = next(iter(plan.params.values()), None)
    positional = link.positional and _takes_positional(first)
    if positional:
        name = first.name
    elif link.model_param is not None and link.model_param in plan.params:
        name = link.model_param
    elif link.model_from_env:
        return None  # RERANKER_MODEL is shared configuration; a type without a model ignores it
    else:
        raise ConfigError(
            f"reranker {link.label!r} ({plan.cls.__name__}) takes no model, but {link.model_source} gives "
            f"{link.model!r}; drop it"
        )
    if name in explicit:
        if link.model_from_env:
            return None  # the explicit option wins over RERANKER_MODEL
        raise ConfigError(f"the model of {link.label!r} is given twice ({link.model_source} and {name}=); give it once")
    if positional:
        args.append(link.model)
    else:
        kwargs[name] = link.model
    return name


def _takes_positional(param: inspect.Parameter | None) -> bool:
    return param is not None and param.kind in (param.POSITIONAL_ONLY, param.POSITIONAL_OR_KEYWORD)


def _check_required(plan: _Plan, kwargs: Mapping[str, Any], taken: str | None) -> None:
    for name, p in plan.params.items():
        if p.default is p.empty and name not in kwargs and name != taken:
            raise ConfigError(
                f"reranker {plan.link.label!r} ({plan.cls.__name__}) needs {name!r}: {_how_to_set(plan.link, name)}"
            )


def _how_to_set(link: _Link, name: str) -> str:
    if name == link.model_param or (link.positional and name == "model"):
        return "set RERANKER_MODEL or pass model=..."
    if name in ENV_OPTIONS:
        return f"set {ENV_OPTIONS[name][0]} or pass {name}=..."
    return f"pass {name}=... to get_reranker()"


# --------------------------------------------------------------------------- environment


def _env_options(environ: Mapping[str, str]) -> dict[str, tuple[Any, str]]:
    """Typed constructor options present in the environment: option -> (value, variable)."""
    found = {}
    for option, (var, kind) in ENV_OPTIONS.items():
        raw = environ.get(var)
        if raw is not None and raw.strip():
            found[option] = (_convert(var, raw.strip(), kind), var)
    return found


def _convert(var: str, raw: str, kind: Callable[[str], Any]) -> Any:
    try:
        return kind(raw)
    except ValueError:
        what = "an integer" if kind is int else "a number"
        raise ConfigError(f"{var}={raw!r} is not {what}; set it to {what}, e.g. {var}=30") from None


def _pick(value: Any, param: str, environ: Mapping[str, str], var: str) -> tuple[Any, str]:
    """The explicit value when given, else the environment variable; with the name it came from."""
    if value is not None:
        return value, param
    return environ.get(var), var


# --------------------------------------------------------------------------- cache


def _cache_from(spec: object, ttl: float | None, maxsize: int | None, environ: Mapping[str, str]) -> object:
    spec, spec_src = _pick(spec, "cache", environ, "RERANKER_CACHE")
    if spec is None or (isinstance(spec, str) and spec.strip().lower() in _OFF):
        return None
    if not isinstance(spec, str):
        if ttl is not None or maxsize is not None:
            raise ConfigError(
                "cache_ttl/cache_maxsize apply to cache='memory' or 'sqlite:PATH'; set them on the cache object"
            )
        if callable(getattr(spec, "get_many", None)) and callable(getattr(spec, "put_many", None)):
            return spec
        raise ConfigError(f"cache={spec!r} must be 'off', 'memory', 'sqlite:PATH' or a MemoryCache/SQLiteCache")
    limits, sources = _cache_limits(ttl, maxsize, environ)
    kind = spec.strip()
    try:
        if kind.lower() == "memory":
            return MemoryCache(**limits)
        if kind.lower().startswith("sqlite:") and kind[len("sqlite:") :].strip():
            return SQLiteCache(kind[len("sqlite:") :].strip(), **limits)
    except ConfigError as exc:
        raise ConfigError(f"{exc} (from {', '.join([spec_src, *sources])})") from None
    raise ConfigError(f"{spec_src}={spec!r} is not valid; choose 'off', 'memory' or 'sqlite:PATH'")


def _cache_limits(ttl: object, maxsize: object, environ: Mapping[str, str]) -> tuple[dict, list[str]]:
    """``ttl``/``maxsize`` for the cache constructor (explicit, else environment), and where they came from."""
    limits: dict[str, Any] = {}
    sources = []
    for key, value, param, var, kind in (
        ("ttl", ttl, "cache_ttl", "RERANKER_CACHE_TTL", float),
        ("maxsize", maxsize, "cache_maxsize", "RERANKER_CACHE_MAXSIZE", int),
    ):
        if value is None and (environ.get(var) or "").strip():
            value, param = _convert(var, environ[var].strip(), kind), var
        if value is not None:
            limits[key] = value
            sources.append(param)
    return limits, sources


def _wrap_cache(rerankers: list[Reranker], store: object) -> list[Reranker]:
    """Cache each link whose scores are pointwise (never the first-stage identity)."""
    if store is None:
        return rerankers
    return [CachedReranker(r, store) if getattr(r, "cacheable", True) else r for r in rerankers]  # type: ignore
