"""The retrievers of the evaluation grid: what each one searches and how it fuses.

==========================  ===========================  ============================================
name                        collection                   first stage
==========================  ===========================  ============================================
``bm25``                    main                         BM25 only
``dense``                   main                         dense vectors only
``hybrid`` / ``hybrid-rrf`` main                         BM25 + dense, RRF (k = 60)
``hybrid-weighted``         main                         BM25 + dense, convex combination of min–max
                                                         normalized scores (equal weights)
``hybrid-rrf-tuned``        main                         RRF with k tuned on the tuning split
``hybrid-weighted-tuned``   main                         convex combination with the BM25 weight w
                                                         (dense 1 − w) tuned on the tuning split
``parent-child``            parent–child (children       BM25 + dense over the children, RRF, each
                            indexed, parents returned)   parent returned once with its best child
``auto``                    main                         each query routed as ``--mode auto``: by the
                                                         collection's learned router when it has a
                                                         query policy (``ragsift train-router``), else
                                                         by its analysis (:mod:`ragsift.query.router`):
                                                         fact → BM25, concept → dense, complex → RRF
``hybrid-server``           main (a milvus:// one)       BM25 + dense fused by Milvus' hybrid_search
                                                         (its RRF ranker, k = 60)
==========================  ===========================  ============================================
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ragsift.errors import ConfigError
from ragsift.pipeline.search import SERVER_HYBRID, SearchOptions

__all__ = [
    "RETRIEVERS",
    "GRID_RETRIEVERS",
    "RetrieverSpec",
    "retriever_spec",
    "retriever_options",
    "check_retrievers",
]


@dataclass(frozen=True)
class RetrieverSpec:
    """One named retriever: its search options, the collection it reads, and whether it is tuned."""

    name: str
    options: dict[str, Any]
    collection: str = "main"  # "main" or "parent-child"
    tuned: bool = False  # fusion parameters come from the tuning split
    description: str = field(default="", compare=False)

    @property
    def components(self) -> tuple[str, ...]:
        """The single retrievers whose ranked lists this one reads (and fuses)."""
        if self.options.get("server_fusion"):
            return (SERVER_HYBRID,)
        mode = self.options["mode"]
        return ("bm25", "dense") if mode in ("hybrid", "auto") else (mode,)


_SPECS = (
    RetrieverSpec("bm25", {"mode": "bm25"}, description="BM25"),
    RetrieverSpec("dense", {"mode": "dense"}, description="dense vectors"),
    RetrieverSpec("hybrid", {"mode": "hybrid", "fusion": "rrf"}, description="RRF k=60 (alias of hybrid-rrf)"),
    RetrieverSpec("hybrid-rrf", {"mode": "hybrid", "fusion": "rrf"}, description="RRF k=60"),
    RetrieverSpec("hybrid-weighted", {"mode": "hybrid", "fusion": "weighted"}, description="min–max, equal weights"),
    RetrieverSpec("hybrid-rrf-tuned", {"mode": "hybrid", "fusion": "rrf"}, tuned=True, description="RRF, k tuned"),
    RetrieverSpec(
        "hybrid-weighted-tuned", {"mode": "hybrid", "fusion": "weighted"}, tuned=True, description="min–max, w tuned"
    ),
    RetrieverSpec(
        "parent-child", {"mode": "hybrid", "fusion": "rrf"}, collection="parent-child", description="children → parents"
    ),
    RetrieverSpec(
        "auto", {"mode": "auto", "fusion": "rrf"},
        description="routed per query: the learned router, else fact → BM25, concept → dense, complex → RRF k=60",
    ),
    RetrieverSpec(
        "hybrid-server", {"mode": "hybrid", "fusion": "rrf", "server_fusion": True},
        description="Milvus hybrid_search, RRF k=60 (milvus:// collections)",
    ),
)

#: name → SearchOptions keyword arguments (fusion parameters of tuned retrievers are set at run time).
RETRIEVERS: dict[str, dict[str, Any]] = {s.name: dict(s.options) for s in _SPECS}
_BY_NAME = {s.name: s for s in _SPECS}

#: What ``--grid`` runs: every distinct retriever (``hybrid`` is the same run as ``hybrid-rrf``).
GRID_RETRIEVERS = ("bm25", "dense", "hybrid-rrf", "hybrid-weighted", "hybrid-rrf-tuned", "hybrid-weighted-tuned", "parent-child")


def retriever_spec(name: str) -> RetrieverSpec:
    """The :class:`RetrieverSpec` named ``name``; ConfigError listing the valid names otherwise."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise ConfigError(f"retriever={name!r} is not valid; choose one of {', '.join(RETRIEVERS)}") from None


def check_retrievers(names) -> list[str]:
    """Validate a list of retriever names (non-empty, known, no duplicates); return it as a list."""
    names = list(names)
    unknown = [r for r in names if r not in RETRIEVERS]
    if unknown or not names:
        raise ConfigError(f"retrievers={names!r}: choose from {', '.join(RETRIEVERS)}")
    dupes = sorted({r for r in names if names.count(r) > 1})
    if dupes:
        raise ConfigError(f"retrievers={names!r} names {', '.join(dupes)} twice; list each retriever once")
    return names


def retriever_options(name: str, k: int, **overrides: Any) -> SearchOptions:
    """The SearchOptions that a named retriever of the evaluation grid runs with."""
    return SearchOptions(k=k, **{**retriever_spec(name).options, **overrides})
