"""Build rerankers from configuration: :func:`build`, :func:`get_reranker` and :func:`fallback_chain`.

:func:`build` turns a :class:`~ragsift.config.RerankerSpec` (read by :mod:`ragsift.config`, the
only module that reads the environment) into a reranker, importing each type's module only then —
so ``import ragsift.rerank`` never imports torch or a vendor SDK. A type is a
:class:`RerankerType` value, ``"module:Class"`` of any importable :class:`Reranker` subclass, or
the class itself.

Each reranker class declares what its constructor takes (:class:`~ragsift.rerank.base.Reranker`):
``model_option`` receives the model (``model``; bedrock: ``model_arn``; none for ``tei`` and
``none``), ``options`` are the other keywords it accepts and ``required_options`` those without a
default. An explicit option must be declared by at least one link (ConfigError listing what each
accepts); a required option left unset raises ConfigError naming the variable or argument to set.

``get_reranker(type=None, model=None, **options)`` reads these variables (an explicit argument
wins over its variable):

==========================  ===============  ==================================================
Variable                    Argument         Value
==========================  ===============  ==================================================
``RERANKER_TYPE``           ``type``         ``cross-encoder`` (default), ``llm``, ``nim``,
                                             ``cohere``, ``jina``, ``tei``, ``vertex``,
                                             ``bedrock``, ``late-interaction``, ``none``, or
                                             ``module:Class``
``RERANKER_MODEL``          ``model``        model name or id (bedrock: the model ARN;
                                             late-interaction: the token store folder built
                                             by ``ragsift late-index``) of the type
                                             ``RERANKER_TYPE`` names; a cross-encoder
                                             without one: trained model, then hub default
``RERANKER_BASE_URL``       ``base_url``     str: endpoint of a remote or self-hosted service
``RERANKER_API_KEY``        ``api_key``      str
``RERANKER_TIMEOUT``        ``timeout``      float, seconds per request
``RERANKER_MAX_RETRIES``    ``max_retries``  int, retries on 429/5xx
``RERANKER_MAX_LENGTH``     ``max_length``   int, tokens per (query, passage) pair
``RERANKER_BATCH_SIZE``     ``batch_size``   int, pairs per forward pass or request
``RERANKER_DEVICE``         ``device``       str: ``cpu``, ``cuda``, ``cuda:1``...
``RERANKER_BACKEND``        ``backend``      str: ``torch`` or ``onnx`` (local cross-encoder)
``RERANKER_PROJECT``        ``project``      str: Google Cloud project (vertex)
``RERANKER_LOCATION``       ``location``     str: Google Cloud location (vertex)
``RERANKER_REGION``         ``region``       str: AWS region (bedrock)
``RERANKER_FALLBACK``       ``fallback``     links tried after the primary when it fails, comma
                                             separated, each ``TYPE`` or ``TYPE=MODEL``:
                                             ``"cross-encoder,none"``; ``off`` or empty: none
``RERANKER_CACHE``          ``cache``        ``off`` (default), ``memory``, ``sqlite:PATH``,
                                             ``redis://HOST:PORT/DB`` (``ragsift[redis]``)
``RERANKER_CACHE_TTL``      ``cache_ttl``    float, seconds a cached score lives (default 3600)
``RERANKER_CACHE_MAXSIZE``  ``cache_maxsize``int, cached scores kept (default 100000 in memory,
                                             1000000 in SQLite; not for Redis)
==========================  ===============  ==================================================

The option variables (``BASE_URL`` to ``REGION``) are shared by every link of a chain: each link
receives those it declares and the others ignore them (``BATCH_SIZE`` also fills a remote
client's ``max_batch``, ``API_KEY`` Vertex's ``access_token``: :data:`ENV_ALIASES`).
``RERANKER_MODEL`` is ignored by types without a model (``none``; ``tei``: the TEI server serves
one model); an explicit ``model=`` for them is an error.

With a cache, every link whose scores are pointwise (``cacheable``) is wrapped in a
:class:`CachedReranker` (keys carry the model name, so links never share scores); with a
fallback, the links are tried in order by a :class:`FallbackReranker`, so degraded service is
explicit configuration.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Mapping, Sequence
from typing import Any

from ragsift import config
from ragsift.config import CacheSpec, RerankerRef, RerankerSpec, RerankerType, TypeRef
from ragsift.errors import ConfigError, MissingDependencyError
from ragsift.rerank.base import Reranker
from ragsift.rerank.cache import CachedReranker, open_cache
from ragsift.rerank.fallback import DEFAULT_CATCH, FallbackReranker

__all__ = ["RerankerType", "build", "get_reranker", "fallback_chain", "available_types", "ENV_OPTIONS", "ENV_ALIASES"]

_REMOTE = "ragsift.rerank.remote"
#: Where each built-in type lives (``module:Class``), imported only when it is built.
TARGETS: dict[RerankerType, str] = {
    RerankerType.CROSS_ENCODER: "ragsift.rerank.cross_encoder:CrossEncoderReranker",
    RerankerType.LLM: "ragsift.rerank.llm:LLMReranker",
    RerankerType.NIM: f"{_REMOTE}.nim:NIMReranker",
    RerankerType.COHERE: f"{_REMOTE}.cohere:CohereReranker",
    RerankerType.JINA: f"{_REMOTE}.jina:JinaReranker",
    RerankerType.TEI: f"{_REMOTE}.tei:TEIReranker",
    RerankerType.VERTEX: f"{_REMOTE}.vertex:VertexReranker",
    RerankerType.BEDROCK: f"{_REMOTE}.bedrock:BedrockReranker",
    RerankerType.LATE_INTERACTION: "ragsift.rerank.late_interaction:LateInteractionReranker",
    RerankerType.NONE: "ragsift.rerank.identity:FirstStageReranker",
}
#: The ragsift extra that installs a type's third-party dependencies.
EXTRAS: dict[RerankerType, str] = {RerankerType.BEDROCK: "bedrock"}

#: Reranker options read from the environment: option -> (variable, type).
ENV_OPTIONS: dict[str, tuple[str, type]] = {
    option: (config.variables(f"reranker.{option}")[0], config.SETTINGS[f"reranker.{option}"].kind)
    for option in config.SHARED_OPTIONS
}

#: Declared options an environment option also fills when a type does not declare the option itself.
ENV_ALIASES: dict[str, tuple[str, ...]] = {"batch_size": ("max_batch",), "api_key": ("access_token",)}


# --------------------------------------------------------------------------- public functions


def get_reranker(
    type: TypeRef | None = None,  # noqa: A002 - the documented argument name
    model: str | None = None,
    *,
    fallback: str | Sequence[TypeRef] | None = None,
    cache: object = None,
    cache_ttl: float | None = None,
    cache_maxsize: int | None = None,
    **options: Any,
) -> Reranker:
    """Build the configured reranker; see the module docstring for every variable and argument.

    ``fallback`` lists the links tried after this one (``"cross-encoder,none"``); ``cache`` is
    ``"off"``, ``"memory"``, ``"sqlite:PATH"``, ``"redis://HOST:PORT/DB"`` or a cache object.
    Returns the reranker itself, a :class:`CachedReranker` around it, or a
    :class:`FallbackReranker` over the chain.
    """
    spec = config.reranker_spec(
        type, model, fallback=fallback, cache=cache, cache_ttl=cache_ttl, cache_maxsize=cache_maxsize, options=options
    )
    return build(spec)


def fallback_chain(
    spec: str | Sequence[TypeRef],
    *,
    catch: tuple[type[BaseException], ...] = DEFAULT_CATCH,
    cache: object = None,
    **options: Any,
) -> FallbackReranker:
    """A :class:`FallbackReranker` over ``spec``, e.g. ``"cohere=rerank-v3.5,cross-encoder,none"``.

    Each link is ``TYPE`` or ``TYPE=MODEL``; ``options`` go to every link that declares them (each
    must be declared by one at least). Only the arguments count here: no ``RERANKER_*`` variable is read.
    """
    refs = config.parse_reranker_list(spec, "spec")
    if not refs:
        raise ConfigError(f"spec={spec!r} names no reranker; write e.g. 'cohere,cross-encoder,none'")
    if "model" in options:
        raise ConfigError(
            "fallback_chain() takes no model= (each link has its own); write it in the chain: 'cohere=MODEL,none'"
        )
    first = refs[0]
    chain = config.reranker_spec(
        first.type, first.model, fallback=refs[1:], cache="off" if cache is None else cache, options=options,
        read_env=False, model_source=first.model_source,
    )
    rerankers = _build_links(chain)
    return FallbackReranker(_wrap_cache(rerankers, _store(chain.cache)), catch=catch)


def build(spec: RerankerSpec) -> Reranker:
    """The reranker ``spec`` describes: one link, a :class:`CachedReranker`, or a :class:`FallbackReranker`."""
    rerankers = _wrap_cache(_build_links(spec), _store(spec.cache))
    return rerankers[0] if len(rerankers) == 1 else FallbackReranker(rerankers)


def available_types() -> list[RerankerType]:
    """The built-in types whose module is present (found without importing it)."""
    found = []
    for rtype, target in TARGETS.items():
        try:
            present = importlib.util.find_spec(target.partition(":")[0]) is not None
        except ImportError:
            present = False
        if present:
            found.append(rtype)
    return found


# --------------------------------------------------------------------------- building


def _build_links(spec: RerankerSpec) -> list[Reranker]:
    classes = [_load_class(ref) for ref in spec.links]
    _check_explicit(spec.links, classes, spec.options)
    return [_construct(ref, cls, spec) for ref, cls in zip(spec.links, classes)]


def _accepted(cls: "type[Reranker]") -> set[str]:
    return set(cls.options) | ({cls.model_option} if cls.model_option else set())


def _check_explicit(
    refs: Sequence[RerankerRef], classes: Sequence["type[Reranker]"], explicit: Mapping[str, Any]
) -> None:
    """Every explicit option must be declared by at least one link."""
    accepted = set().union(*(_accepted(cls) for cls in classes))
    unknown = sorted(set(explicit) - accepted)
    if not unknown:
        return
    where = "; ".join(
        f"{ref.label}: {', '.join(sorted(_accepted(cls))) or '(none)'}" for ref, cls in zip(refs, classes)
    )
    who = f"reranker {refs[0].label!r}" if len(refs) == 1 else "any reranker in the chain"
    raise ConfigError(f"option(s) {', '.join(map(repr, unknown))} not accepted by {who}; accepted options — {where}")


def _construct(ref: RerankerRef, cls: "type[Reranker]", spec: RerankerSpec) -> Reranker:
    kwargs: dict[str, Any] = {}
    sources: dict[str, str] = {}
    taken = _place_model(ref, cls, spec.options, kwargs)
    for option, (value, var) in spec.shared_options.items():
        name = _declared_name(cls, option)
        if name is not None and name != taken and name not in spec.options:
            kwargs[name], sources[name] = value, var
    kwargs.update({name: value for name, value in spec.options.items() if name in _accepted(cls)})
    sources.update({name: "option" for name in spec.options if name in _accepted(cls)})
    for name in sorted(cls.required_options):
        if name not in kwargs:
            raise ConfigError(f"reranker {ref.label!r} ({cls.__name__}) needs {name!r}: {_how_to_set(cls, name)}")
    reranker = cls(**kwargs)
    try:
        reranker.option_sources = sources  # where each option came from, for the rerank_settings report
    except AttributeError:  # a plugin class with __slots__
        pass
    return reranker


def _declared_name(cls: "type[Reranker]", option: str) -> str | None:
    """``option`` when ``cls`` declares it, else the first declared alias (:data:`ENV_ALIASES`)."""
    if option in cls.options:
        return option
    return next((alias for alias in ENV_ALIASES.get(option, ()) if alias in cls.options), None)


def _place_model(ref: RerankerRef, cls: "type[Reranker]", explicit: Mapping[str, Any], kwargs: dict) -> str | None:
    """Put the link's model where the class declares it; return that option's name."""
    if ref.model is None:
        return None
    name = cls.model_option
    if name is None:
        if ref.shared_model:
            return None  # RERANKER_MODEL is shared configuration; a type without a model ignores it
        raise ConfigError(
            f"reranker {ref.label!r} ({cls.__name__}) takes no model, but {ref.model_source} gives "
            f"{ref.model!r}; drop it"
        )
    if name in explicit:
        if ref.shared_model:
            return None  # the explicit option wins over RERANKER_MODEL
        raise ConfigError(f"the model of {ref.label!r} is given twice ({ref.model_source} and {name}=); give it once")
    kwargs[name] = ref.model
    return name


def _how_to_set(cls: "type[Reranker]", name: str) -> str:
    if name == cls.model_option:
        return "set RERANKER_MODEL or pass model=..."
    if name in ENV_OPTIONS:
        return f"set {ENV_OPTIONS[name][0]} or pass {name}=..."
    return f"pass {name}=... to get_reranker()"


# --------------------------------------------------------------------------- classes


def _load_class(ref: RerankerRef) -> "type[Reranker]":
    if isinstance(ref.type, type):
        cls: object = ref.type
    else:
        target = TARGETS[ref.type] if isinstance(ref.type, RerankerType) else ref.type
        module_name, _, attr = target.partition(":")
        module = _import(ref, module_name)
        cls = getattr(module, attr, None)
        if cls is None:
            raise ConfigError(f"reranker {ref.label!r}: module {module_name!r} has no attribute {attr!r}")
    if not (isinstance(cls, type) and issubclass(cls, Reranker)):
        raise ConfigError(f"reranker {ref.label!r} is {cls!r}, not a subclass of ragsift.rerank.Reranker")
    return cls


def _import(ref: RerankerRef, module_name: str):
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        missing = exc.name or ""
        if missing and (module_name == missing or module_name.startswith(missing + ".")):
            raise ConfigError(_not_available(ref, module_name)) from exc
        top = missing.split(".")[0] or module_name
        extra = EXTRAS.get(ref.type) if isinstance(ref.type, RerankerType) else None
        fix = f"pip install 'ragsift[{extra}]'" if extra else f"pip install {top.replace('_', '-')}"
        raise MissingDependencyError(
            f"reranker {ref.label!r} needs the package {top!r}, which is not installed. Fix: {fix}"
        ) from exc


def _not_available(ref: RerankerRef, module_name: str) -> str:
    if not isinstance(ref.type, RerankerType):
        return f"reranker {ref.label!r}: module {module_name!r} not found; give 'module:Class' of an importable module"
    return (
        f"reranker type {ref.label!r} is not available in this installation (module {module_name!r} not found); "
        f"available types: {', '.join(repr(t.value) for t in available_types())}"
    )


# --------------------------------------------------------------------------- cache


def _store(cache: object) -> object:
    return open_cache(cache) if isinstance(cache, CacheSpec) else cache


def _wrap_cache(rerankers: list[Reranker], store: object) -> list[Reranker]:
    """Cache each link whose scores are pointwise (never the first-stage identity)."""
    if store is None:
        return rerankers
    return [CachedReranker(r, store) if r.cacheable else r for r in rerankers]  # type: ignore[arg-type]
