"""What the framework adapters share; imports no framework.

- :func:`open_collection` / :func:`build_reranker`: a collection and a reranker from what the CLI
  takes (a path or ``milvus://`` URI; a ``TYPE[=MODEL]`` spec, comma-separated for a fallback chain).
- :class:`SearchPlan`: validated search and rerank options, run against a :class:`Searcher`
  with per-call overrides.
- :func:`hit_metadata`: the metadata every adapter attaches to a hit (ids and scores included).
- :func:`rerank_passages`: rerank a framework's documents with ragsift's second stage
  (:func:`~ragsift.pipeline.rerank.rerank_hits`), so a compressor, postprocessor or ranker ranks
  exactly like ``Searcher.search(..., rerank=...)``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields, replace
from typing import Any, Mapping, Sequence

from ragsift.config import RerankerType, parse_reranker_list, reranker_spec
from ragsift.errors import ConfigError
from ragsift.index.filters import FilterLike
from ragsift.pipeline.rerank import RerankOptions, rerank_hits
from ragsift.pipeline.search import SearchOptions, Searcher
from ragsift.rerank.base import Reranker
from ragsift.types import Hit

__all__ = [
    "HIT_KEYS",
    "RERANK_FIELDS",
    "SEARCH_FIELDS",
    "SearchPlan",
    "build_reranker",
    "collection_location",
    "compress_options",
    "hit_metadata",
    "open_collection",
    "passage_hit",
    "rerank_metadata",
    "rerank_options",
    "rerank_passages",
    "search_options",
]

#: The :class:`SearchOptions` fields an adapter accepts as options or per-call overrides.
SEARCH_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(SearchOptions))
#: The :class:`RerankOptions` fields a ``rerank`` mapping may set.
RERANK_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(RerankOptions) if f.name != "applied")
#: The metadata keys ragsift sets on a hit (``relevance_score`` once reranked); they win over a document's own keys.
HIT_KEYS: tuple[str, ...] = ("id", "doc_id", "title", "score", "source_scores", "relevance_score")


# --------------------------------------------------------------------------- collection and reranker


def open_collection(collection: Any):
    """A collection from a directory path or ``milvus://HOST:PORT/NAME`` URI; a collection object as is."""
    if isinstance(collection, (str, os.PathLike)):
        from ragsift.index.backends import open_collection as open_spec

        return open_spec(collection)
    if hasattr(collection, "backend") and hasattr(collection, "chunk"):
        return collection
    raise ConfigError(
        f"collection={collection!r} is not valid; give a collection directory, a milvus://HOST:PORT/NAME URI, "
        "or a ragsift Collection"
    )


def collection_location(collection: Any) -> str:
    """What :func:`open_collection` reopens ``collection`` from: its path or URI as a string."""
    if isinstance(collection, (str, os.PathLike)):
        return os.fspath(collection)
    return str(collection.path)


def build_reranker(
    reranker: Any, *, collection: Any = None, options: Mapping[str, Any] | None = None, param: str = "reranker"
) -> Reranker | None:
    """The reranker ``reranker`` names, built as ``ragsift search --rerank`` builds it (not yet loaded).

    ``reranker`` is None, a :class:`Reranker` (used as is), or a spec in the CLI grammar: ``TYPE``,
    ``TYPE=MODEL``, a cross-encoder path, or several of those comma-separated (a fallback chain,
    ``"cohere,cross-encoder=PATH,none"``). ``options`` are constructor options of the spec's
    rerankers (``{"backend": "torch"}``, ``{"base_url": ...}``; each must be accepted by one link).
    Options, cache and fallback left unset come from the ``RERANKER_*`` variables, as in the CLI;
    with ``collection``, a cross-encoder named without a model is the one ``ragsift train-reranker``
    trained on that collection's corpus, if any.
    """
    if options and not isinstance(reranker, str):
        raise ConfigError(
            f"{param}_options={dict(options)!r} configure a reranker built from a spec; "
            f"{param}={reranker!r} is not a spec: configure that object itself, or pass a spec string"
        )
    if reranker is None or isinstance(reranker, Reranker):
        return reranker
    if not isinstance(reranker, str):
        raise ConfigError(
            f"{param}={reranker!r} is not valid; give a spec such as 'cross-encoder=PATH' or 'cohere', "
            "or a ragsift.rerank.Reranker"
        )
    refs = parse_reranker_list(reranker, param)
    if not refs:
        raise ConfigError(f"{param}={reranker!r} names no reranker; write TYPE, TYPE=MODEL or a cross-encoder path")
    corpus = None
    if collection is not None and any(r.type is RerankerType.CROSS_ENCODER and r.model is None for r in refs):
        from ragsift.train.data import corpus_fingerprint

        corpus = corpus_fingerprint(list(collection.documents.values()))
    spec = reranker_spec(
        refs[0].type, refs[0].model, fallback=refs[1:] or None, options=options, type_source=param,
        model_source=param, corpus=corpus,
    )
    from ragsift.rerank.registry import build

    return build(spec)


# --------------------------------------------------------------------------- options


def search_options(
    *, mode: Any = "hybrid", k: int = 10, filters: FilterLike = None, options: Mapping[str, Any] | None = None
) -> SearchOptions:
    """:class:`SearchOptions` from the adapters' common arguments plus ``options`` (its other fields)."""
    extra = dict(options or {})
    unknown = sorted(set(extra) - set(SEARCH_FIELDS))
    if unknown:
        raise ConfigError(f"options has unknown key(s) {unknown}; allowed: {', '.join(SEARCH_FIELDS)}")
    given_twice = sorted({"mode", "k", "filters"} & set(extra))
    if given_twice:
        raise ConfigError(f"options sets {given_twice}; pass them as the arguments of the same name instead")
    return SearchOptions(mode=mode, k=k, filters=filters, **extra)


def rerank_options(rerank: Any, *, reranker: Any, k: int) -> RerankOptions | None:
    """The second stage's options: ``rerank`` (a :class:`RerankOptions` or a mapping of its fields);
    with a reranker and no options, ``RerankOptions(top_n=k)``; None without a reranker."""
    if rerank is None:
        return RerankOptions(top_n=k) if reranker is not None else None
    if reranker is None:
        raise ConfigError(
            f"rerank={rerank!r} needs a reranker; pass reranker='cross-encoder=PATH' (any CLI reranker spec) "
            "or a ragsift.rerank.Reranker"
        )
    if isinstance(rerank, RerankOptions):
        return rerank
    if isinstance(rerank, Mapping):
        unknown = sorted(set(rerank) - set(RERANK_FIELDS))
        if unknown:
            raise ConfigError(f"rerank has unknown key(s) {unknown}; allowed: {', '.join(RERANK_FIELDS)}")
        return RerankOptions(**{"top_n": k, **rerank})  # as documented: top_n defaults to k
    raise ConfigError(f"rerank={rerank!r} must be a RerankOptions, a mapping of its fields, or None")


@dataclass(frozen=True)
class SearchPlan:
    """Validated search options and, with a reranker, the rerank options; :meth:`run` searches with them."""

    options: SearchOptions
    rerank: RerankOptions | None = None

    def run(self, searcher: Searcher, query: str, *, k: int | None = None, **overrides: Any) -> list[Hit]:
        """The hits of ``query``. ``k``: hits returned (the reranker's ``top_n`` when reranking);
        ``overrides``: other :class:`SearchOptions` fields for this call only (``filters``, ``mode``...)."""
        opts, rerank = self.options, self.rerank
        unknown = sorted(set(overrides) - set(SEARCH_FIELDS))
        if unknown:
            raise ConfigError(f"unknown search option(s) {unknown}; allowed: {', '.join(SEARCH_FIELDS)}")
        if overrides:
            opts = replace(opts, **overrides)
        if k is not None:
            if rerank is not None:
                rerank = replace(rerank, top_n=k)
            else:
                opts = replace(opts, k=k)
        return searcher.search(query, opts, rerank=rerank).hits


# --------------------------------------------------------------------------- hits and documents


def hit_metadata(hit: Hit) -> dict[str, Any]:
    """A hit's document metadata plus ragsift's keys (:data:`HIT_KEYS`), which win over the document's own.

    ``score`` is the hit's final score (fused, or reranked); ``source_scores`` each stage's raw
    score (``bm25``, ``dense``; after reranking also ``first_stage``, ``rerank``, ``rerank_relevance``);
    ``relevance_score`` (only when reranked) the normalized reranker score in [0, 1].
    """
    meta = dict(hit.metadata)
    meta.update(
        id=hit.id, doc_id=hit.doc_id, title=hit.title, score=float(hit.score), source_scores=dict(hit.source_scores)
    )
    meta.update(rerank_metadata(hit))
    return meta


def rerank_metadata(hit: Hit) -> dict[str, Any]:
    """The keys reranking changes: ``score``, ``source_scores`` and ``relevance_score`` (empty when the
    hit was not reranked: no reranker, or the reranker refused the query)."""
    if "rerank_relevance" not in hit.source_scores:
        return {}
    return {
        "score": float(hit.score),
        "source_scores": dict(hit.source_scores),
        "relevance_score": float(hit.source_scores["rerank_relevance"]),
    }


def passage_hit(position: int, text: str, metadata: Mapping[str, Any], score: float | None = None) -> Hit:
    """A framework document as a first-stage :class:`Hit` for reranking (its ``id`` is its position).

    The title comes from ``metadata["title"]`` (the reranker reads title and text, as the first
    stage indexed them), the first-stage score from ``score``, else ``metadata["score"]``, else 0.
    """
    title = metadata.get("title")
    if score is None:
        score = metadata.get("score")
    sources = metadata.get("source_scores")
    return Hit(
        id=str(position),
        doc_id=str(position),
        score=float(score) if isinstance(score, (int, float)) else 0.0,
        text=text,
        title=title if isinstance(title, str) else "",
        source_scores={k: float(v) for k, v in sources.items()} if isinstance(sources, Mapping) else {},
    )


def compress_options(
    top_n: int | None,
    threshold: float | None,
    interpolate: float | str | None,
    text_fields: Sequence[str] | None,
    *,
    param: str = "top_n",
) -> RerankOptions:
    """Validated options of a compressor / postprocessor / ranker (``top_n`` None: keep every document;
    :func:`rerank_passages` sets the count per call, 1 is a placeholder). ``param``: the name the
    adapter gives ``top_n`` (Haystack: ``top_k``), for the error message."""
    if top_n is not None and (isinstance(top_n, bool) or not isinstance(top_n, int) or top_n < 1):
        raise ConfigError(f"{param}={top_n!r} must be an integer >= 1, or None to keep every document")
    return RerankOptions(
        top_n=1 if top_n is None else top_n,
        threshold=threshold,
        interpolate=interpolate,
        text_fields=None if text_fields is None else tuple(text_fields),
    )


def rerank_passages(
    reranker: Reranker, query: str, hits: Sequence[Hit], opts: RerankOptions, top_n: int | None
) -> list[tuple[int, Hit]]:
    """Rerank ``hits`` (from :func:`passage_hit`) → ``(position, reranked hit)``, best first, at most ``top_n``.

    Runs :func:`~ragsift.pipeline.rerank.rerank_hits`: the reranker's order, its threshold, and the
    interpolation weight the options or the reranker model give. A reranker that refuses the
    query (too long, ``truncate="NONE"``) leaves the first ``top_n`` in their order, unscored.
    """
    if not hits:
        return []
    opts = replace(opts, top_n=len(hits) if top_n is None else top_n)
    reranked, _ = rerank_hits(reranker, query, hits, opts)
    return [(int(h.id), h) for h in reranked]
