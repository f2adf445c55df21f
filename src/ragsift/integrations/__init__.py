"""Adapters that put ragsift inside LangChain, LlamaIndex and Haystack pipelines.

One module per framework, each imported on its own and needing its extra:

- :mod:`ragsift.integrations.langchain` (``pip install 'ragsift[langchain]'``): ``RagsiftRetriever``
  (a ``BaseRetriever``) and ``RagsiftRerank`` (a ``BaseDocumentCompressor``, for
  ``ContextualCompressionRetriever``);
- :mod:`ragsift.integrations.llamaindex` (``pip install 'ragsift[llamaindex]'``): ``RagsiftRetriever``
  (a ``BaseRetriever`` of ``NodeWithScore``) and ``RagsiftRerank`` (a ``BaseNodePostprocessor``);
- :mod:`ragsift.integrations.haystack` (``pip install 'ragsift[haystack]'``): the components
  ``RagsiftRetriever`` and ``RagsiftRanker``, serializable with the pipeline.

Importing this package imports no framework; a framework's module raises
:class:`~ragsift.errors.MissingDependencyError` naming its extra when the framework is missing.
Every adapter takes what the CLI takes: a collection path or Milvus URI (or a ``Collection``), the
search options of :class:`~ragsift.pipeline.search.SearchOptions`, and a reranker as a spec in
the CLI's ``TYPE[=MODEL]`` grammar (a comma-separated chain for fallbacks) or a
:class:`~ragsift.rerank.base.Reranker` object.
"""

__all__: list[str] = []  # the framework modules are the API
