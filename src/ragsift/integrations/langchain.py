"""LangChain adapters: a retriever over a ragsift collection and a reranking document compressor.

``pip install 'ragsift[langchain]'`` (langchain-core). The NVIDIA-blog shape, with ragsift's hybrid
first stage and any ragsift reranker::

    from langchain_classic.retrievers import ContextualCompressionRetriever
    from ragsift.integrations.langchain import RagsiftRerank, RagsiftRetriever

    retriever = ContextualCompressionRetriever(
        base_compressor=RagsiftRerank(reranker="cross-encoder=models/scifact-ce", top_n=5),
        base_retriever=RagsiftRetriever(collection="my-coll", mode="hybrid", k=45),
    )
    docs = retriever.invoke("what is the P/E ratio?")

Each returned ``Document`` has ``id`` = the hit's id and ``metadata`` = the document's metadata plus
``id``, ``doc_id``, ``title``, ``score`` and ``source_scores`` (and ``relevance_score`` once
reranked; :func:`ragsift.integrations._common.hit_metadata`). Both classes have async paths
(``ainvoke``, ``acompress_documents``), which run the search or the reranking in a worker thread.
"""

from __future__ import annotations

import asyncio
from typing import Any, Sequence

from ragsift._lazy import require

require("langchain_core", extra="langchain")

from langchain_core.callbacks import (  # noqa: E402
    AsyncCallbackManagerForRetrieverRun,
    CallbackManagerForRetrieverRun,
    Callbacks,
)
from langchain_core.documents import BaseDocumentCompressor, Document  # noqa: E402
from langchain_core.retrievers import BaseRetriever  # noqa: E402
from pydantic import ConfigDict, Field, PrivateAttr  # noqa: E402

from ragsift.errors import ConfigError  # noqa: E402
from ragsift.integrations._common import (  # noqa: E402
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
from ragsift.pipeline.rerank import RerankOptions  # noqa: E402
from ragsift.pipeline.search import Searcher  # noqa: E402
from ragsift.rerank.base import Reranker  # noqa: E402
from ragsift.types import Hit  # noqa: E402

__all__ = ["RagsiftRerank", "RagsiftRetriever"]


class RagsiftRetriever(BaseRetriever):
    """A LangChain retriever over a ragsift collection: BM25, dense, hybrid or routed (``auto``).

    ``collection``: a directory, a ``milvus://HOST:PORT/NAME`` URI or a ``Collection``. ``mode``,
    ``k`` and ``filters`` (a ragsift ``Filter``, ``{"year": {"$gte": 2020}}`` or ``["year>=2020"]``)
    are the :class:`~ragsift.pipeline.search.SearchOptions` of the same name; ``options`` holds its
    other fields (``{"fusion": "weighted", "weights": {"bm25": 0.4, "dense": 0.6}, "bm25_depth": 500}``).

    ``reranker`` (a CLI spec such as ``"cross-encoder=PATH"`` or ``"cohere"``, or a ``Reranker``;
    ``reranker_options`` are the spec's constructor options, e.g. ``{"backend": "torch"}``) adds
    ragsift's second stage inside the retriever: ``rerank`` (a
    :class:`~ragsift.pipeline.rerank.RerankOptions` or a dict of its fields; default
    ``top_n=k``) says how many candidates are reranked and how many come back.

    Per call, ``invoke(query, k=3, filters=[...], mode="bm25")`` overrides ``k`` (the hits
    returned: ``top_n`` when reranking) and any ``SearchOptions`` field for that call only.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    collection: Any
    mode: Any = "hybrid"
    k: int = 10
    filters: Any = None
    options: dict[str, Any] = Field(default_factory=dict)
    reranker: Any = None
    reranker_options: dict[str, Any] | None = None
    rerank: Any = None

    _plan: SearchPlan = PrivateAttr()
    _searcher: Searcher = PrivateAttr()

    def __init__(self, **data: Any) -> None:
        super().__init__(**data)
        # Built after pydantic's validation, so a ragsift error reaches the caller as itself.
        options = search_options(mode=self.mode, k=self.k, filters=self.filters, options=self.options)
        rerank = rerank_options(self.rerank, reranker=self.reranker, k=options.k)
        collection = open_collection(self.collection)
        reranker = build_reranker(self.reranker, collection=collection, options=self.reranker_options)
        self._searcher = Searcher(collection, reranker)
        self._plan = SearchPlan(options, rerank)

    @property
    def searcher(self) -> Searcher:
        """The :class:`~ragsift.pipeline.search.Searcher` this retriever runs (its collection and reranker)."""
        return self._searcher

    def warm_up(self) -> None:
        """Load the embedding model, vector index and reranker now rather than on the first query."""
        self._searcher.warm_up()

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun, **kwargs: Any
    ) -> list[Document]:
        return [_document(hit) for hit in self._plan.run(self._searcher, query, **kwargs)]

    async def _aget_relevant_documents(
        self, query: str, *, run_manager: AsyncCallbackManagerForRetrieverRun, **kwargs: Any
    ) -> list[Document]:
        hits = await asyncio.to_thread(self._plan.run, self._searcher, query, **kwargs)
        return [_document(hit) for hit in hits]


class RagsiftRerank(BaseDocumentCompressor):
    """A LangChain document compressor that reranks with any ragsift reranker and keeps ``top_n``.

    ``reranker``: a CLI spec (``"cross-encoder=PATH"``, ``"cohere=rerank-v3.5"``,
    ``"nim,cross-encoder=PATH,none"`` for a fallback chain; ``RERANKER_*`` variables fill the
    rest, as in the CLI) or a :class:`~ragsift.rerank.base.Reranker`; ``reranker_options`` are the
    spec's constructor options (``{"backend": "torch"}``). ``top_n`` None keeps every document; ``threshold`` drops documents whose normalized relevance is below it;
    ``interpolate`` blends in the first-stage score (``metadata["score"]``; a weight the reranker
    model recorded applies unless ``"none"``); ``text_fields`` is what the reranker reads
    (default: ``metadata["title"]`` and ``page_content``, as ragsift's first stage indexed them).

    Documents come back best first with ``metadata`` updated: ``score`` (the reranked score),
    ``source_scores`` (plus ``first_stage``, ``rerank``, ``rerank_relevance``) and
    ``relevance_score`` (normalized, in [0, 1]).
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    reranker: Any
    reranker_options: dict[str, Any] | None = None
    top_n: int | None = 5
    threshold: float | None = None
    interpolate: float | str | None = None
    text_fields: tuple[str, ...] | None = None

    _reranker: Reranker = PrivateAttr()
    _options: RerankOptions = PrivateAttr()

    def __init__(self, **data: Any) -> None:
        super().__init__(**data)
        self._options = compress_options(self.top_n, self.threshold, self.interpolate, self.text_fields)
        self._reranker = build_reranker(self.reranker, options=self.reranker_options)  # type: ignore[assignment]
        if self._reranker is None:
            raise ConfigError("reranker=None: give a spec such as 'cross-encoder=PATH' or a ragsift.rerank.Reranker")

    def warm_up(self) -> None:
        """Load the reranker's model now rather than on the first call."""
        self._reranker.warm_up()

    def compress_documents(
        self, documents: Sequence[Document], query: str, callbacks: Callbacks | None = None
    ) -> list[Document]:
        hits = [passage_hit(i, d.page_content, d.metadata) for i, d in enumerate(documents)]
        ranked = rerank_passages(self._reranker, query, hits, self._options, self.top_n)
        return [_reranked(documents[i], hit) for i, hit in ranked]

    async def acompress_documents(
        self, documents: Sequence[Document], query: str, callbacks: Callbacks | None = None
    ) -> list[Document]:
        return await asyncio.to_thread(self.compress_documents, documents, query, callbacks)


def _document(hit: Hit) -> Document:
    return Document(page_content=hit.text, metadata=hit_metadata(hit), id=hit.id)


def _reranked(doc: Document, hit: Hit) -> Document:
    return Document(page_content=doc.page_content, metadata={**doc.metadata, **rerank_metadata(hit)}, id=doc.id)
