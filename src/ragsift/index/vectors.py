"""FAISS vector index: inner-product search over L2-normalized embeddings (= cosine).

``faiss`` is imported lazily by the methods that need it, so importing this module is cheap.
FAISS's global thread count is never changed here.

Results have the same form as :class:`~ragsift.index.sparse.SparseIndex`'s: one
``(positions, scores)`` pair per query, best first — ``positions`` (int64 row numbers into the
array given to :meth:`VectorIndex.build`) and ``scores`` (float32, descending), at most
``min(k, n)`` of them. HNSW can, rarely, find fewer neighbours than asked; the pair is then
shorter (FAISS's ``-1`` padding is dropped here, never handed to callers).

Filtered search (``allowed``: one boolean per row) restricts the candidates *before* the top-k
cut, so ``k`` rows come back whenever ``k`` rows are allowed. A flat index scans the allowed rows
exactly (a FAISS ``IDSelectorBitmap``). An HNSW graph walked with a selector misses results when
few rows are allowed: the beam fills with rows it may not return. Measured on 100k clustered
128-d vectors (``bench/filtered_dense.py``, ``bench/results/filtered_dense.md``), with 1 % of
the rows allowed and the default beam, HNSW returned 6.9 of 10 hits (recall 0.48); with 10 %
allowed and k=100 it returned 86.5 (recall 0.54), while an exact scan of the allowed rows cost
at most about one unfiltered flat search. So below :data:`FILTER_EXACT_FRACTION` of the rows allowed the HNSW
index is bypassed for an exact scan of the allowed rows; above it the graph is searched with the
selector and a beam widened by ``1 / fraction``, and any query that still comes back short is
redone exactly.
"""

from __future__ import annotations

import math
import os
from enum import Enum
from pathlib import Path
from typing import Any

import numpy as np

from ragsift._enums import parse_enum
from ragsift._lazy import require
from ragsift.files import atomic_write
from ragsift.errors import BadInputError, CollectionError, ConfigError

__all__ = [
    "AUTO_HNSW_THRESHOLD",
    "FILTER_EXACT_FRACTION",
    "VectorIndex",
    "VectorIndexKind",
    "exact_search",
]

AUTO_HNSW_THRESHOLD = 200_000
"""With ``kind="auto"``, indexes of fewer vectors are exact (flat); this many or more use HNSW.

Below it, exact search costs at most a few tens of ms per query on 384-d vectors and builds
instantly, while an HNSW build would take minutes for a small recall loss.
"""

FILTER_EXACT_FRACTION = 0.2
"""A filtered search on an HNSW index scans the allowed rows exactly when fewer than this
fraction of the rows is allowed (see the module docstring for the measurements)."""

Ranked = tuple[np.ndarray, np.ndarray]


class VectorIndexKind(str, Enum):
    """How vectors are searched: exact (``flat``), approximate graph (``hnsw``), or ``auto``."""

    FLAT = "flat"
    HNSW = "hnsw"
    AUTO = "auto"


def _faiss() -> Any:
    return require("faiss", package="faiss-cpu")


def _positive_int(value: Any, param: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ConfigError(f"{param}={value!r} is not valid; use a positive integer")
    return int(value)


def _as_matrix(array: Any, dim: int, what: str) -> np.ndarray:
    """Return ``array`` as a float32 C-contiguous ``(n, dim)`` matrix; a 1-D vector is one row."""
    try:
        matrix = np.asarray(array, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise BadInputError(f"{what} must be a numeric array of shape (n, {dim}) ({exc})") from exc
    if matrix.ndim == 1 and what == "queries":
        matrix = matrix.reshape(1, -1)
    if matrix.ndim != 2 or matrix.shape[1] != dim:
        raise BadInputError(
            f"{what} has shape {np.shape(array)}, expected (n, {dim}); the index was created "
            f"with dim={dim}. Fix: embed with the same model that built the index"
        )
    if not np.isfinite(matrix).all():
        raise BadInputError(f"{what} contains NaN or infinite values")
    return np.ascontiguousarray(matrix)


def _empty(m: int) -> list[Ranked]:
    return [(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)) for _ in range(m)]


def _pairs(scores: np.ndarray, positions: np.ndarray) -> list[Ranked]:
    """FAISS's ``(m, k)`` result matrices → one ``(positions, scores)`` pair per query, padding dropped."""
    out = []
    for row_scores, row_positions in zip(scores, positions):
        keep = row_positions >= 0
        out.append((row_positions[keep].astype(np.int64, copy=False), row_scores[keep]))
    return out


def _check_allowed(allowed: Any, n: int) -> np.ndarray:
    allowed = np.asarray(allowed)
    if allowed.dtype != bool or allowed.shape != (n,):
        raise ConfigError(
            f"allowed must be a boolean mask of shape ({n},) (one entry per row), "
            f"got dtype {allowed.dtype} and shape {allowed.shape}"
        )
    return allowed


def exact_search(
    vectors: np.ndarray, queries: np.ndarray, k: int, *, allowed: np.ndarray | None = None
) -> list[Ranked]:
    """Reference brute-force inner-product search in numpy, same result form as ``search_many``.

    Ties are broken by the lower position. Meant for parity tests and tiny indexes.
    """
    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.ndim != 2:
        raise BadInputError(f"vectors has shape {vectors.shape}, expected (n, dim)")
    queries = _as_matrix(queries, vectors.shape[1], "queries")
    k = _positive_int(k, "k")
    rows = np.arange(len(vectors))
    if allowed is not None:
        rows = np.flatnonzero(_check_allowed(allowed, len(vectors)))
    if len(rows) == 0:
        return _empty(queries.shape[0])
    scores = queries @ vectors[rows].T
    order = np.argsort(-scores, axis=1, kind="stable")[:, : min(k, len(rows))]
    return [(rows[o].astype(np.int64), s[o]) for o, s in zip(order, scores)]


class VectorIndex:
    """Inner-product nearest-neighbour search over float32 vectors of dimension ``dim``.

    Store L2-normalized vectors (as :class:`~ragsift.index.embedder.Embedder` returns them) so
    scores are cosine similarities. ``kind="auto"`` picks flat below
    :data:`AUTO_HNSW_THRESHOLD` vectors and HNSW above. ``hnsw_m``, ``ef_construction`` and
    ``ef_search`` tune HNSW (graph degree, build beam, query beam; the query beam is raised to
    ``k`` when ``k`` is larger).
    """

    def __init__(
        self,
        dim: int,
        *,
        kind: VectorIndexKind | str = VectorIndexKind.AUTO,
        hnsw_m: int = 32,
        ef_construction: int = 200,
        ef_search: int = 64,
    ) -> None:
        self.dim = _positive_int(dim, "dim")
        self.kind = parse_enum(VectorIndexKind, kind, param="kind")
        self.hnsw_m = _positive_int(hnsw_m, "hnsw_m")
        self.ef_construction = _positive_int(ef_construction, "ef_construction")
        self.ef_search = _positive_int(ef_search, "ef_search")
        self._index: Any = None

    def __len__(self) -> int:
        return 0 if self._index is None else int(self._index.ntotal)

    def __repr__(self) -> str:
        return f"VectorIndex(dim={self.dim}, kind={self.kind.value!r}, size={len(self)})"

    @property
    def effective_kind(self) -> VectorIndexKind | None:
        """``FLAT`` or ``HNSW`` once built (what ``auto`` chose); ``None`` before."""
        if self._index is None:
            return None
        return VectorIndexKind.HNSW if isinstance(self._index, _faiss().IndexHNSW) else VectorIndexKind.FLAT

    def build(self, vectors: np.ndarray) -> VectorIndex:
        """Index ``vectors`` (``(n, dim)``), replacing any previous contents. Returns ``self``."""
        vectors = _as_matrix(vectors, self.dim, "vectors")
        faiss = _faiss()
        kind = self.kind
        if kind is VectorIndexKind.AUTO:
            kind = VectorIndexKind.HNSW if len(vectors) >= AUTO_HNSW_THRESHOLD else VectorIndexKind.FLAT
        if kind is VectorIndexKind.HNSW:
            index = faiss.IndexHNSWFlat(self.dim, self.hnsw_m, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = self.ef_construction
            index.hnsw.efSearch = self.ef_search
        else:
            index = faiss.IndexFlatIP(self.dim)
        if len(vectors):
            index.add(vectors)
        self._index = index
        return self

    def extended(self, vectors: np.ndarray) -> VectorIndex:
        """A new index holding this one's vectors followed by ``vectors``; this one is left unchanged.

        Copies the built FAISS index and adds to the copy (no graph rebuild for HNSW), so a writer
        can extend the index that searches are reading.
        """
        vectors = _as_matrix(vectors, self.dim, "vectors")
        twin = VectorIndex(
            self.dim, kind=self.kind, hnsw_m=self.hnsw_m, ef_construction=self.ef_construction, ef_search=self.ef_search
        )
        if self._index is None:
            return twin.build(vectors)
        twin._index = _faiss().clone_index(self._index)
        if len(vectors):
            twin._index.add(vectors)
        return twin

    def search(self, query: np.ndarray, k: int, *, allowed: np.ndarray | None = None) -> Ranked:
        """Top-``k`` rows by inner product for one query vector: ``(positions, scores)``, best first.

        ``allowed`` restricts the search to those rows before the top-k cut (module docstring).
        """
        query = np.asarray(query)
        if query.ndim != 1 and query.shape[:1] != (1,):
            raise BadInputError(
                f"search takes one query vector of shape ({self.dim},), got shape {query.shape}; "
                "use search_many for a matrix of queries"
            )
        return self.search_many(query.reshape(1, -1), k, allowed=allowed)[0]

    def search_many(self, queries: np.ndarray, k: int, *, allowed: np.ndarray | None = None) -> list[Ranked]:
        """:meth:`search` for each row of ``queries`` (``(m, dim)``); an empty or unbuilt index gives empty pairs."""
        queries = _as_matrix(queries, self.dim, "queries")
        k = _positive_int(k, "k")
        n = len(self)
        if n == 0 or len(queries) == 0:
            return _empty(len(queries))
        if allowed is not None:
            return self._filtered(queries, k, _check_allowed(allowed, n))
        k = min(k, n)
        params = None
        if self.effective_kind is VectorIndexKind.HNSW:
            params = _faiss().SearchParametersHNSW(efSearch=max(self.ef_search, k))
        scores, positions = self._index.search(queries, k, params=params)
        return _pairs(scores, positions)

    def _filtered(self, queries: np.ndarray, k: int, allowed: np.ndarray) -> list[Ranked]:
        faiss = _faiss()
        n, matches = len(allowed), int(allowed.sum())
        if matches == 0:
            return _empty(len(queries))
        k = min(k, matches)
        bits = np.packbits(allowed, bitorder="little")  # must outlive the searches below
        selector = faiss.IDSelectorBitmap(n, faiss.swig_ptr(bits))
        fraction = matches / n
        if self.effective_kind is not VectorIndexKind.HNSW or fraction < FILTER_EXACT_FRACTION:
            return self._exact(queries, k, selector)
        beam = math.ceil(max(self.ef_search, k) / fraction)
        params = faiss.SearchParametersHNSW(sel=selector, efSearch=beam)
        results = _pairs(*self._index.search(queries, k, params=params))
        short = [i for i, (positions, _) in enumerate(results) if len(positions) < k]
        if short:
            for i, pair in zip(short, self._exact(queries[short], k, selector)):
                results[i] = pair
        return results

    def _exact(self, queries: np.ndarray, k: int, selector: Any) -> list[Ranked]:
        """Exact search of the rows ``selector`` allows, over the flat vectors (HNSW's storage)."""
        faiss = _faiss()
        flat = self._index
        if isinstance(flat, faiss.IndexHNSW):
            flat = faiss.downcast_index(flat.storage)
        return _pairs(*flat.search(queries, k, params=faiss.SearchParameters(sel=selector)))

    def save(self, path: str | os.PathLike[str]) -> Path | None:
        """Write an HNSW index to ``path`` in FAISS's native format, atomically; return the path.

        Flat indexes are not written (returns ``None``): rebuilding one from the stored
        embeddings with :meth:`build` is as fast as reading it back, and avoids a second copy.
        """
        if self._index is None:
            raise CollectionError("cannot save an index that was never built. Fix: call build() first")
        if self.effective_kind is not VectorIndexKind.HNSW:
            return None
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, lambda tmp: _faiss().write_index(self._index, str(tmp)))
        return path

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, dim: int, ef_search: int = 64) -> VectorIndex:
        """Read an HNSW index written by :meth:`save` and check it matches ``dim``."""
        path = Path(path)
        if not path.is_file():
            raise CollectionError(
                f"no vector index file at {path}. Flat indexes are not saved: rebuild them with "
                "VectorIndex(dim, kind='flat').build(embeddings)"
            )
        faiss = _faiss()
        try:
            index = faiss.read_index(str(path))
        except RuntimeError as exc:
            raise CollectionError(f"{path} is not a readable FAISS index ({exc})") from exc
        if not isinstance(index, faiss.IndexHNSW) or index.metric_type != faiss.METRIC_INNER_PRODUCT:
            raise CollectionError(f"{path} is not an inner-product HNSW index written by VectorIndex.save")
        if index.d != dim:
            raise CollectionError(
                f"{path} holds {index.d}-d vectors but dim={dim} was expected. Fix: load it with "
                "the dimension of the embedding model that built it, or rebuild the index"
            )
        loaded = cls(dim, kind=VectorIndexKind.HNSW, ef_search=ef_search)
        loaded.hnsw_m = int(index.hnsw.nb_neighbors(1))
        loaded.ef_construction = int(index.hnsw.efConstruction)
        index.hnsw.efSearch = loaded.ef_search
        loaded._index = index
        return loaded
