"""Haystack components: a retriever over a ragsift collection and a ranker with any ragsift reranker.

``pip install 'ragsift[haystack]'`` (haystack-ai 2.8 or later)::

    from haystack import Pipeline
    from ragsift.integrations.haystack import RagsiftRanker, RagsiftRetriever

    pipe = Pipeline()
    pipe.add_component("retriever", RagsiftRetriever("my-coll", mode="hybrid", top_k=45))
    pipe.add_component("ranker", RagsiftRanker("cross-encoder=models/scifact-ce", top_k=5))
    pipe.connect("retriever.documents", "ranker.documents")
    out = pipe.run({"retriever": {"query": q}, "ranker": {"query": q}})

Both components serialize with the pipeline (``to_dict``/``from_dict``, ``Pipeline.dumps``/``loads``):
the retriever as its collection's path or URI and its options, the ranker as its reranker spec —
never the loaded objects. A component given a ``Reranker`` object works but cannot be serialized
(``to_dict`` raises ConfigError: give a spec string). Secrets belong in the environment
(``RERANKER_API_KEY``, ``COHERE_API_KEY``...), not in ``reranker_options``, which are serialized.
The constructors only validate; ``warm_up`` (called by the pipeline) opens the collection and
loads the models. ``run_async`` runs the search or the reranking in a worker thread.

Each document's ``id`` is the hit's id, ``score`` its final score and ``meta`` the document's
metadata plus ``id``, ``doc_id``, ``title``, ``score`` and ``source_scores`` (and
``relevance_score`` once reranked).
"""

from __future__ import annotations

import asyncio
import dataclasses
from enum import Enum
from typing import Any, Mapping

from ragsift._lazy import require

require("haystack", extra="haystack", package="haystack-ai")

from haystack import Document, component, default_from_dict, default_to_dict  # noqa: E402

from ragsift.config import parse_reranker_list  # noqa: E402
from ragsift.errors import ConfigError  # noqa: E402
from ragsift.index.filters import Condition, Filter  # noqa: E402
from ragsift.integrations._common import (  # noqa: E402
    RERANK_FIELDS,
    SearchPlan,
    build_reranker,
    collection_location,
    compress_options,
    hit_metadata,
    open_collection,
    passage_hit,
    rerank_metadata,
    rerank_options,
    rerank_passages,
    search_options,
)
from ragsift.pipeline.rerank import RerankOptions  # noqa: E402
from ragsift.pipeline.search import Searcher  # noqa: E402
from ragsift.rerank.base import Reranker  # noqa: E402
from ragsift.types import Hit  # noqa: E402

__all__ = ["RagsiftRanker", "RagsiftRetriever", "haystack_filters"]

#: Haystack comparison operators and their ragsift equivalents.
_OPS = {"==": "=", "!=": "!=", ">": ">", ">=": ">=", "<": "<", "<=": "<=", "in": "in", "not in": "not in"}


@component
class RagsiftRetriever:
    """Retrieves documents from a ragsift collection: BM25, dense, hybrid or routed (``auto``).

    ``collection``: a directory, a ``milvus://HOST:PORT/NAME`` URI or a ``Collection`` (serialized
    as its path). ``mode``, ``top_k`` (ragsift's ``k``) and ``filters`` are the
    :class:`~ragsift.pipeline.search.SearchOptions` of the same name; ``filters`` takes ragsift's
    forms (``["year>=2020"]``, ``{"year": {"$gte": 2020}}``) or Haystack's filter syntax (an AND of
    comparisons: :func:`haystack_filters`). ``options`` holds the other ``SearchOptions`` fields.
    ``reranker`` (a CLI spec such as ``"cross-encoder=PATH"``; ``reranker_options`` its
    constructor options) reranks inside the retriever with ``rerank`` (a dict of
    :class:`~ragsift.pipeline.rerank.RerankOptions` fields; default ``{"top_n": top_k}``).

    ``run(query, filters=None, top_k=None)``: ``filters`` replace the constructor's for that run;
    ``top_k`` is how many documents come back (the reranker's ``top_n`` when reranking).
    """

    def __init__(
        self,
        collection: Any,
        mode: str = "hybrid",
        top_k: int = 10,
        filters: Any = None,
        options: dict[str, Any] | None = None,
        reranker: Any = None,
        reranker_options: dict[str, Any] | None = None,
        rerank: dict[str, Any] | None = None,
    ) -> None:
        if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
            raise ConfigError(f"top_k={top_k!r} must be an integer >= 1")
        search = search_options(mode=mode, k=top_k, filters=haystack_filters(filters), options=options)
        self._plan = SearchPlan(search, rerank_options(rerank, reranker=reranker, k=search.k))
        _check_reranker(reranker, reranker_options)
        self.collection = collection
        self.mode = mode
        self.top_k = top_k
        self.filters = filters
        self.options = dict(options) if options else None
        self.reranker = reranker
        self.reranker_options = dict(reranker_options) if reranker_options else None
        self.rerank = rerank
        self._searcher: Searcher | None = None

    @property
    def searcher(self) -> Searcher | None:
        """The :class:`~ragsift.pipeline.search.Searcher` (None until :meth:`warm_up`)."""
        return self._searcher

    def warm_up(self) -> None:
        """Open the collection, build the reranker and load their models (once)."""
        self._ready()

    def _ready(self) -> Searcher:
        if self._searcher is None:
            coll = open_collection(self.collection)
            searcher = Searcher(coll, build_reranker(self.reranker, collection=coll, options=self.reranker_options))
            searcher.warm_up()
            self._searcher = searcher
        return self._searcher

    async def warm_up_async(self) -> None:
        """:meth:`warm_up` in a worker thread, so loading models does not block the event loop."""
        await asyncio.to_thread(self.warm_up)

    @component.output_types(documents=list[Document])
    def run(self, query: str, filters: Any = None, top_k: int | None = None) -> dict[str, list[Document]]:
        """The documents for ``query``, best first."""
        return {"documents": self._documents(query, filters, top_k)}

    @component.output_types(documents=list[Document])
    async def run_async(self, query: str, filters: Any = None, top_k: int | None = None) -> dict[str, list[Document]]:
        """:meth:`run` with the search in a worker thread."""
        await self.warm_up_async()
        return {"documents": await asyncio.to_thread(self._documents, query, filters, top_k)}

    def _documents(self, query: str, filters: Any, top_k: int | None) -> list[Document]:
        overrides = {} if filters is None else {"filters": haystack_filters(filters)}
        return [_document(hit) for hit in self._plan.run(self._ready(), query, k=top_k, **overrides)]

    def to_dict(self) -> dict[str, Any]:
        """The component as a dict: the collection's path or URI and every option, no loaded object."""
        return default_to_dict(
            self,
            collection=collection_location(self.collection),
            mode=_plain(self.mode),
            top_k=self.top_k,
            filters=_plain(self.filters),
            options=_plain(self.options),
            reranker=_spec(self.reranker),
            reranker_options=_plain(self.reranker_options),
            rerank=_rerank_dict(self.rerank),
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "RagsiftRetriever":
        return default_from_dict(cls, data)


@component
class RagsiftRanker:
    """Reranks documents with any ragsift reranker and keeps the best ``top_k``.

    ``reranker``: a CLI spec (``"cross-encoder=PATH"``, ``"cohere=rerank-v3.5"``,
    ``"nim,cross-encoder=PATH,none"`` for a fallback chain; ``RERANKER_*`` variables fill the
    rest, as in the CLI) or a :class:`~ragsift.rerank.base.Reranker`; ``reranker_options`` are the
    spec's constructor options (``{"backend": "torch"}``). ``top_k`` None keeps every document;
    ``threshold`` drops documents whose normalized relevance is below it; ``interpolate`` blends
    in the first-stage score (the document's ``score``; a weight the reranker model recorded
    applies unless ``"none"``); ``text_fields`` is what the reranker reads (default:
    ``meta["title"]`` and ``content``).

    Documents come back best first with ``score`` = the reranked score and ``meta`` gaining
    ``source_scores`` (``first_stage``, ``rerank``, ``rerank_relevance``) and ``relevance_score``.
    """

    def __init__(
        self,
        reranker: Any,
        top_k: int | None = 5,
        threshold: float | None = None,
        interpolate: float | str | None = None,
        text_fields: list[str] | None = None,
        reranker_options: dict[str, Any] | None = None,
    ) -> None:
        if reranker is None:
            raise ConfigError("reranker=None: give a spec such as 'cross-encoder=PATH' or a ragsift.rerank.Reranker")
        self._options = compress_options(top_k, threshold, interpolate, text_fields, param="top_k")
        _check_reranker(reranker, reranker_options)
        self.reranker = reranker
        self.top_k = top_k
        self.threshold = threshold
        self.interpolate = interpolate
        self.text_fields = list(text_fields) if text_fields is not None else None
        self.reranker_options = dict(reranker_options) if reranker_options else None
        self._reranker: Reranker | None = None

    def warm_up(self) -> None:
        """Build the reranker and load its model (once)."""
        self._ready()

    def _ready(self) -> Reranker:
        if self._reranker is None:
            built = build_reranker(self.reranker, options=self.reranker_options)
            if built is None:  # unreachable: __init__ refuses None
                raise ConfigError("reranker=None: give a spec such as 'cross-encoder=PATH'")
            built.warm_up()
            self._reranker = built
        return self._reranker

    async def warm_up_async(self) -> None:
        """:meth:`warm_up` in a worker thread, so loading a model does not block the event loop."""
        await asyncio.to_thread(self.warm_up)

    @component.output_types(documents=list[Document])
    def run(self, query: str, documents: list[Document], top_k: int | None = None) -> dict[str, list[Document]]:
        """``documents`` reranked for ``query``, best first; ``top_k`` overrides the constructor's for this run."""
        return {"documents": self._ranked(query, documents, top_k)}

    @component.output_types(documents=list[Document])
    async def run_async(
        self, query: str, documents: list[Document], top_k: int | None = None
    ) -> dict[str, list[Document]]:
        """:meth:`run` with the reranking in a worker thread."""
        await self.warm_up_async()
        return {"documents": await asyncio.to_thread(self._ranked, query, documents, top_k)}

    def _ranked(self, query: str, documents: list[Document], top_k: int | None) -> list[Document]:
        hits = [passage_hit(i, d.content or "", d.meta, d.score) for i, d in enumerate(documents)]
        ranked = rerank_passages(self._ready(), query, hits, self._options, self.top_k if top_k is None else top_k)
        return [_reranked(documents[i], hit) for i, hit in ranked]

    def to_dict(self) -> dict[str, Any]:
        """The component as a dict: the reranker spec and the options, no loaded object."""
        return default_to_dict(
            self,
            reranker=_spec(self.reranker),
            top_k=self.top_k,
            threshold=self.threshold,
            interpolate=self.interpolate,
            text_fields=self.text_fields,
            reranker_options=_plain(self.reranker_options),
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "RagsiftRanker":
        return default_from_dict(cls, data)


def haystack_filters(filters: Any) -> Any:
    """Haystack filter syntax → a ragsift :class:`~ragsift.index.filters.Filter`; ragsift's forms as given.

    A Haystack filter is a dict with ``operator`` and either ``field``/``value`` (a comparison:
    ``==``, ``!=``, ``>``, ``>=``, ``<``, ``<=``, ``in``, ``not in``) or ``conditions`` (``AND``;
    nested ``AND`` too). Fields are ``meta.KEY`` (or ``KEY``). ``OR`` and ``NOT`` raise ConfigError:
    ragsift filters are an AND of conditions.
    """
    if not _is_haystack_filter(filters):
        return filters
    return Filter(tuple(_conditions(filters)))


def _is_haystack_filter(filters: Any) -> bool:
    return isinstance(filters, Mapping) and (
        set(filters) == {"field", "operator", "value"} or set(filters) == {"operator", "conditions"}
    )


def _conditions(node: Mapping[str, Any]) -> list[Condition]:
    op = str(node["operator"])
    if "conditions" in node:
        if op.upper() != "AND":
            raise ConfigError(
                f"Haystack filter operator {op!r} cannot be applied by ragsift, whose filters are an AND of "
                "conditions; use 'AND' (negate comparisons with '!=' or 'not in')"
            )
        out: list[Condition] = []
        for child in node["conditions"]:
            if not _is_haystack_filter(child):
                raise ConfigError(f"Haystack filter condition {child!r} needs 'field', 'operator' and 'value'")
            out.extend(_conditions(child))
        return out
    if op not in _OPS:
        raise ConfigError(f"Haystack filter operator {op!r} on {node['field']!r} is not valid; use one of {', '.join(_OPS)}")
    field = str(node["field"])
    if field in ("content", "id", "score", "embedding"):
        raise ConfigError(f"Haystack filter field {field!r}: ragsift filters on metadata only; use 'meta.KEY'")
    return [Condition(field.removeprefix("meta."), _OPS[op], node["value"])]


def _check_reranker(reranker: Any, reranker_options: Mapping[str, Any] | None) -> None:
    """Validate a reranker argument without building it: the spec's grammar, or a Reranker object."""
    if isinstance(reranker, str):
        if not parse_reranker_list(reranker, "reranker"):
            raise ConfigError(f"reranker={reranker!r} names no reranker; write TYPE, TYPE=MODEL or a cross-encoder path")
    elif reranker is not None and not isinstance(reranker, Reranker):
        raise ConfigError(
            f"reranker={reranker!r} is not valid; give a spec such as 'cross-encoder=PATH' or a ragsift.rerank.Reranker"
        )
    if reranker_options and not isinstance(reranker, str):
        raise ConfigError("reranker_options configure a reranker built from a spec; pass the reranker as a spec string")


def _spec(reranker: Any) -> str | None:
    if reranker is None or isinstance(reranker, str):
        return reranker
    raise ConfigError(
        f"reranker={reranker!r} is an object and cannot be serialized; build the component with a spec string "
        "such as 'cross-encoder=PATH' (the CLI's TYPE[=MODEL] grammar) to save the pipeline"
    )


def _rerank_dict(rerank: Any) -> dict[str, Any] | None:
    if isinstance(rerank, RerankOptions):
        return {name: _plain(getattr(rerank, name)) for name in RERANK_FIELDS}
    return _plain(rerank)


def _plain(value: Any) -> Any:
    """``value`` with enums as their values, tuples as lists and filters as expressions (YAML-safe)."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Filter):
        return value.to_strings()
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _document(hit: Hit) -> Document:
    return Document(id=hit.id, content=hit.text, meta=hit_metadata(hit), score=float(hit.score))


def _reranked(doc: Document, hit: Hit) -> Document:
    changed = rerank_metadata(hit)
    if not changed:
        return doc
    return dataclasses.replace(doc, score=changed["score"], meta={**doc.meta, **changed})
