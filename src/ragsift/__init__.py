"""ragsift: hybrid first-stage retrieval (BM25 + dense, fused) and reranking for RAG.

``import ragsift`` is light: torch, sentence-transformers and FAISS load only when a dense
model or vector index is first used.
"""

from ragsift.errors import (
    BadInputError,
    CollectionError,
    ConfigError,
    MissingDependencyError,
    ModelNotFoundError,
    RagsiftError,
)
from ragsift.index.collection import Collection, CollectionConfig
from ragsift.index.filters import Filter
from ragsift.pipeline.search import Mode, SearchOptions, SearchResult, Searcher
from ragsift.types import Chunk, Document, Hit

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "BadInputError",
    "Chunk",
    "Collection",
    "CollectionConfig",
    "CollectionError",
    "ConfigError",
    "Document",
    "Filter",
    "Hit",
    "MissingDependencyError",
    "Mode",
    "ModelNotFoundError",
    "RagsiftError",
    "SearchOptions",
    "SearchResult",
    "Searcher",
]
