"""FAISS vector index: inner-product search over L2-normalized embeddings (= cosine).

``faiss`` is imported lazily by the methods that need it, so importing this module is cheap.
FAISS's global thread count is never changed here.

Results of :meth:`VectorIndex.search` are two arrays of shape ``(m, k')`` with
``k' = min(k, n)``: ``scores`` (float32, descending per row) and ``positions`` (int64 row
numbers into the array given to :meth:`VectorIndex.build`). HNSW can, rarely, find fewer than
``k'`` neighbours for a query; such rows are padded at the end with position ``-1`` and score
``-inf`` (exactly what FAISS returns), so callers must skip negative positions.
"""

from __future__ import annotations

import os
from enum import Enum
from pathlib import Path
from typing import Any

import numpy as np

from ragsift._enums import parse_enum
from ragsift._lazy import require
from ragsift.errors import BadInputError, CollectionError, ConfigError

__all__ = [
    "AUTO_HNSW_THRESHOLD",
    "VectorIndex",
    "VectorIndexKind",
    "exact_search",
]

AUTO_HNSW_THRESHOLD = 200_000
"""With ``kind="auto"``, indexes of fewer vectors are exact (flat); this many or more use HNSW.

Below it, exact search costs at most a few tens of ms per query on 384-d vectors and builds
instantly, while an HNSW build would take minutes for a small recall loss.
"""


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


def _empty_result(m: int) -> tuple[np.ndarray, np.ndarray]:
    return np.zeros((m, 0), dtype=np.float32), np.zeros((m, 0), dtype=np.int64)


def exact_search(vectors: np.ndarray, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Reference brute-force inner-product search in numpy, same result format as ``search``.

    Ties are broken by the lower position. Meant for parity tests and tiny indexes.
    """
    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.ndim != 2:
        raise BadInputError(f"vectors has shape {vectors.shape}, expected (n, dim)")
    queries = _as_matrix(queries, vectors.shape[1], "queries")
    k = _positive_int(k, "k")
    if vectors.shape[0] == 0:
        return _empty_result(queries.shape[0])
    scores = queries @ vectors.T
    order = np.argsort(-scores, axis=1, kind="stable")[:, : min(k, vectors.shape[0])]
    return np.take_along_axis(scores, order, axis=1), order.astype(np.int64)


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

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` by inner product for each query row: ``(scores, positions)``, each ``(m, k')``.

        ``k' = min(k, len(self))``; an empty or unbuilt index gives ``(m, 0)`` arrays. A 1-D
        query is treated as one row. See the module docstring for HNSW's ``-1`` padding.
        """
        queries = _as_matrix(queries, self.dim, "queries")
        k = _positive_int(k, "k")
        n = len(self)
        if n == 0 or len(queries) == 0:
            return _empty_result(len(queries))
        k = min(k, n)
        params = None
        if self.effective_kind is VectorIndexKind.HNSW:
            params = _faiss().SearchParametersHNSW(efSearch=max(self.ef_search, k))
        scores, positions = self._index.search(queries, k, params=params)
        return scores, positions.astype(np.int64, copy=False)

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
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        try:
            _faiss().write_index(self._index, str(tmp))
            with open(tmp, "rb+") as handle:
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
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
