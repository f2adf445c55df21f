"""LlamaIndex adapters: a retriever over a ragsift collection and a reranking node postprocessor.

``pip install 'ragsift[llamaindex]'`` (llama-index-core)::

    from llama_index.core.query_engine import RetrieverQueryEngine
    from ragsift.integrations.llamaindex import RagsiftRerank, RagsiftRetriever

    engine = RetrieverQueryEngine.from_args(
        RagsiftRetriever("my-coll", mode="hybrid", k=45),
        node_postprocessors=[RagsiftRerank("cross-encoder=models/scifact-ce", top_n=5)],
        llm=my_llm,
    )

Each node is a ``TextNode`` whose ``id_`` is the hit's id, whose source (``ref_doc_id``) is its
document, and whose ``metadata`` is the document's metadata plus ``id``, ``doc_id``, ``title``,
``score`` and ``source_scores`` (and ``relevance_score`` once reranked); the ids and scores are
kept out of the text an LLM or an embedder reads (``excluded_*_metadata_keys``). ``aretrieve`` and
``apostprocess_nodes`` run the search or the reranking in a worker thread.
"""

from __future__ import annotations

import asyncio
from typing import Any, Mapping

from ragsift._lazy import require

require("llama_index.core", extra="llamaindex", package="llama-index-core")

from llama_index.core.bridge.pydantic import Field, PrivateAttr  # noqa: E402
from llama_index.core.callbacks import CallbackManager  # noqa: E402
from llama_index.core.postprocessor.types import BaseNodePostprocessor  # noqa: E402
from llama_index.core.retrievers import BaseRetriever  # noqa: E402
from llama_index.core.schema import (  # noqa: E402
    MetadataMode,
    NodeRelationship,
    NodeWithScore,
    QueryBundle,
    RelatedNodeInfo,
    TextNode,
)
from llama_index.core.vector_stores.types import FilterCondition, MetadataFilter, MetadataFilters  # noqa: E402

from ragsift.errors import ConfigError  # noqa: E402
from ragsift.index.filters import Condition, Filter  # noqa: E402
from ragsift.integrations._common import (  # noqa: E402
    HIT_KEYS,
    SearchPlan,
    build_reranker,
    compress_options,
    hit_metadata,
    open_collection,
    passage_hit,
    rerank_metadata,
    rerank_options,
    rerank_passages,
    search_options,
)
from ragsift.pipeline.search import Searcher  # noqa: E402
from ragsift.types import Hit  # noqa: E402

__all__ = ["RagsiftRerank", "RagsiftRetriever", "metadata_filters"]

#: LlamaIndex operators and their ragsift equivalents (the others have none: ConfigError).
_OPS = {"==": "=", "!=": "!=", ">": ">", ">=": ">=", "<": "<", "<=": "<=", "in": "in", "nin": "not in"}


class RagsiftRetriever(BaseRetriever):
    """A LlamaIndex retriever over a ragsift collection: BM25, dense, hybrid or routed (``auto``).

    ``collection``: a directory, a ``milvus://HOST:PORT/NAME`` URI or a ``Collection``. ``mode``,
    ``k`` and ``filters`` are the :class:`~ragsift.pipeline.search.SearchOptions` of the same name
    (``filters`` also takes LlamaIndex ``MetadataFilters``, ANDed: :func:`metadata_filters`);
    ``options`` holds its other fields. ``reranker`` (a CLI spec such as ``"cross-encoder=PATH"``,
    or a ``Reranker``; ``reranker_options`` are its constructor options, e.g. ``{"backend": "onnx"}``)
    adds ragsift's second stage inside the retriever, with ``rerank`` (a
    :class:`~ragsift.pipeline.rerank.RerankOptions` or a dict of its fields; default ``top_n=k``).
    Nodes come back best first with ``score`` = the hit's final score.
    """

    def __init__(
        self,
        collection: Any,
        *,
        mode: Any = "hybrid",
        k: int = 10,
        filters: Any = None,
        options: Mapping[str, Any] | None = None,
        reranker: Any = None,
        reranker_options: Mapping[str, Any] | None = None,
        rerank: Any = None,
        callback_manager: CallbackManager | None = None,
        verbose: bool = False,
    ) -> None:
        search = search_options(mode=mode, k=k, filters=metadata_filters(filters), options=options)
        plan = SearchPlan(search, rerank_options(rerank, reranker=reranker, k=search.k))
        coll = open_collection(collection)
        self._searcher = Searcher(coll, build_reranker(reranker, collection=coll, options=reranker_options))
        self._plan = plan
        super().__init__(callback_manager=callback_manager, verbose=verbose)

    @property
    def searcher(self) -> Searcher:
        """The :class:`~ragsift.pipeline.search.Searcher` this retriever runs (its collection and reranker)."""
        return self._searcher

    def warm_up(self) -> None:
        """Load the embedding model, vector index and reranker now rather than on the first query."""
        self._searcher.warm_up()

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        return [_node(hit) for hit in self._plan.run(self._searcher, query_bundle.query_str)]

    async def _aretrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        hits = await asyncio.to_thread(self._plan.run, self._searcher, query_bundle.query_str)
        return [_node(hit) for hit in hits]


class RagsiftRerank(BaseNodePostprocessor):
    """A LlamaIndex node postprocessor that reranks with any ragsift reranker and keeps ``top_n``.

    ``reranker``: a CLI spec (``"cross-encoder=PATH"``, ``"cohere=rerank-v3.5"``,
    ``"nim,cross-encoder=PATH,none"`` for a fallback chain; ``RERANKER_*`` variables fill the
    rest, as in the CLI) or a :class:`~ragsift.rerank.base.Reranker`; ``reranker_options`` are its
    constructor options. ``top_n`` None keeps every node; ``threshold`` drops nodes whose
    normalized relevance is below it; ``interpolate`` blends in the first-stage score (the node's
    ``score``; a weight the reranker model recorded applies unless ``"none"``); ``text_fields`` is
    what the reranker reads (default: ``metadata["title"]`` and the node's text).

    Nodes come back best first; ``score`` is the reranked score and the node's metadata gains
    ``source_scores`` (``first_stage``, ``rerank``, ``rerank_relevance``) and ``relevance_score``.
    """

    reranker: Any = Field(description="a reranker spec in the CLI grammar, or a ragsift Reranker")
    reranker_options: dict[str, Any] | None = Field(default=None, description="the reranker's constructor options")
    top_n: int | None = Field(default=5, description="nodes kept (None: all)")
    threshold: float | None = Field(default=None, description="minimum normalized relevance")
    interpolate: float | str | None = Field(default=None, description="weight of the reranker against the first stage")
    text_fields: tuple[str, ...] | None = Field(default=None, description="what the reranker reads: title, text")

    _reranker: Any = PrivateAttr()
    _options: Any = PrivateAttr()

    def __init__(
        self,
        reranker: Any,
        *,
        reranker_options: Mapping[str, Any] | None = None,
        top_n: int | None = 5,
        threshold: float | None = None,
        interpolate: float | str | None = None,
        text_fields: tuple[str, ...] | None = None,
        callback_manager: CallbackManager | None = None,
    ) -> None:
        options = compress_options(top_n, threshold, interpolate, text_fields)
        built = build_reranker(reranker, options=reranker_options)
        if built is None:
            raise ConfigError("reranker=None: give a spec such as 'cross-encoder=PATH' or a ragsift.rerank.Reranker")
        super().__init__(
            reranker=reranker,
            reranker_options=dict(reranker_options) if reranker_options else None,
            top_n=top_n,
            threshold=threshold,
            interpolate=interpolate,
            text_fields=text_fields,
            callback_manager=callback_manager or CallbackManager(),
        )
        self._reranker = built
        self._options = options

    @classmethod
    def class_name(cls) -> str:
        return "RagsiftRerank"

    def warm_up(self) -> None:
        """Load the reranker's model now rather than on the first call."""
        self._reranker.warm_up()

    def _postprocess_nodes(
        self, nodes: list[NodeWithScore], query_bundle: QueryBundle | None = None
    ) -> list[NodeWithScore]:
        if query_bundle is None:
            raise ConfigError("RagsiftRerank needs the query: pass query_bundle or query_str")
        hits = [
            passage_hit(i, n.node.get_content(metadata_mode=MetadataMode.NONE), n.node.metadata, n.score)
            for i, n in enumerate(nodes)
        ]
        ranked = rerank_passages(self._reranker, query_bundle.query_str, hits, self._options, self.top_n)
        return [_reranked(nodes[i], hit) for i, hit in ranked]

    async def _apostprocess_nodes(
        self, nodes: list[NodeWithScore], query_bundle: QueryBundle | None = None
    ) -> list[NodeWithScore]:
        return await asyncio.to_thread(self._postprocess_nodes, nodes, query_bundle)


def metadata_filters(filters: Any) -> Any:
    """LlamaIndex ``MetadataFilters`` → a ragsift :class:`~ragsift.index.filters.Filter`; other forms as given.

    Supported: ``AND`` of ``==``, ``!=``, ``>``, ``>=``, ``<``, ``<=``, ``in`` and ``nin``
    (nested ``AND`` groups too); ``OR``, ``NOT`` and the other operators raise ConfigError.
    """
    if not isinstance(filters, MetadataFilters):
        return filters
    return Filter(tuple(_conditions(filters)))


def _conditions(filters: MetadataFilters) -> list[Condition]:
    condition = filters.condition or FilterCondition.AND
    if condition is FilterCondition.NOT:
        raise ConfigError("MetadataFilters with condition='not' cannot be applied; negate the operator instead (!=, nin)")
    if condition is not FilterCondition.AND and len(filters.filters) > 1:
        raise ConfigError(
            f"MetadataFilters with condition={condition.value!r} cannot be applied by ragsift, whose filters are "
            "an AND of conditions; use condition='and' (or one filter)"
        )
    out: list[Condition] = []
    for item in filters.filters:
        if isinstance(item, MetadataFilters):
            out.extend(_conditions(item))
            continue
        op = item.operator.value if isinstance(item, MetadataFilter) else "=="
        if op not in _OPS:
            raise ConfigError(
                f"MetadataFilter {item.key!r} uses operator {op!r}, which ragsift filters do not have; "
                f"use one of {', '.join(_OPS)}"
            )
        out.append(Condition(item.key, _OPS[op], item.value))
    return out


def _node(hit: Hit) -> NodeWithScore:
    node = TextNode(
        id_=hit.id,
        text=hit.text,
        metadata=hit_metadata(hit),
        relationships={NodeRelationship.SOURCE: RelatedNodeInfo(node_id=hit.doc_id)},
        excluded_llm_metadata_keys=[k for k in HIT_KEYS if k != "title"],
        excluded_embed_metadata_keys=[k for k in HIT_KEYS if k != "title"],
    )
    return NodeWithScore(node=node, score=float(hit.score))


def _reranked(item: NodeWithScore, hit: Hit) -> NodeWithScore:
    changed = rerank_metadata(hit)
    if not changed:
        return NodeWithScore(node=item.node, score=item.score)
    node = item.node.model_copy(update={"metadata": {**item.node.metadata, **changed}})
    return NodeWithScore(node=node, score=changed["score"])
