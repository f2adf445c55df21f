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
from ragsift.errors import BadInputError, CollectionError, ConfigError
from ragsift.files import atomic_write

__all__ = [
    "AUTO_HNSW_THRESHOLD",
    "FILTER_EXACT_FRACTION",
    "MAX_SHARDS",
    "REBUILD_DEAD_FRACTION",
    "VectorIndex",
    "VectorIndexKind",
    "exact_search",
    "read_graph",
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

    The rows live in one or more *shards* (FAISS indexes, rows in order). :meth:`build` makes
    one; :meth:`extended` and :meth:`kept` return new indexes that share every shard they do not
    change, so a write to a large collection never copies its vectors (a 100k × 384 matrix is
    150 MB). Searches merge the shards' top-k exactly. More than :data:`MAX_SHARDS` shards and
    the next :meth:`extended` merges every shard after the first into one.
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
        self._shards: list[Any] | None = None  # FAISS indexes; None until built

    def __len__(self) -> int:
        return 0 if self._shards is None else sum(s.size for s in self._shards)

    def __repr__(self) -> str:
        return f"VectorIndex(dim={self.dim}, kind={self.kind.value!r}, size={len(self)})"

    @property
    def shards(self) -> int:
        """How many FAISS indexes hold the rows (0 before :meth:`build`)."""
        return 0 if self._shards is None else len(self._shards)

    @property
    def effective_kind(self) -> VectorIndexKind | None:
        """``FLAT`` or ``HNSW`` once built (what ``auto`` chose for the first shard); ``None`` before."""
        if self._shards is None:
            return None
        return _kind_of(self._shards[0].index)

    def build(self, vectors: np.ndarray, *, show_progress: bool = False) -> VectorIndex:
        """Index ``vectors`` (``(n, dim)``), replacing any previous contents. Returns ``self``.

        ``show_progress``: a progress bar while an HNSW graph is built (minutes at 1M vectors).
        """
        vectors = _as_matrix(vectors, self.dim, "vectors")
        self._shards = [self._new_shard(vectors, show_progress=show_progress)]
        return self

    @classmethod
    def from_shards(cls, dim: int, shards: list[tuple[Any, np.ndarray | None]], **options) -> VectorIndex:
        """An index over ready shards: ``(FAISS index, live mask or None)`` each, rows in order.

        A shard's ``live`` mask (one entry per row it stores) hides rows deleted since it was
        built, so a saved HNSW graph serves a collection whose rows were partly deleted. Use
        :meth:`shard` to make the FAISS indexes. ``options`` as for the constructor.
        """
        index = cls(dim, **options)
        made = []
        for faiss_index, live in shards:
            if faiss_index.d != index.dim:
                raise CollectionError(f"a shard holds {faiss_index.d}-d vectors, the index {index.dim}-d")
            made.append(_Shard(faiss_index, live))
        index._shards = [s for s in made if s.size] or made[:1] or [index._new_shard(np.zeros((0, dim), np.float32))]
        return index

    def shard(self, vectors: np.ndarray, *, kind: VectorIndexKind | str | None = None) -> Any:
        """A FAISS index over ``vectors`` as this index builds its shards (``kind``: override, e.g. ``hnsw``)."""
        return self._new_shard(_as_matrix(vectors, self.dim, "vectors"), kind=kind).index

    def _new_shard(
        self, vectors: np.ndarray, kind: VectorIndexKind | str | None = None, *, show_progress: bool = False
    ) -> _Shard:
        faiss = _faiss()
        kind = self.kind if kind is None else parse_enum(VectorIndexKind, kind, param="kind")
        if kind is VectorIndexKind.AUTO:
            kind = VectorIndexKind.HNSW if len(vectors) >= AUTO_HNSW_THRESHOLD else VectorIndexKind.FLAT
        if kind is VectorIndexKind.HNSW:
            index = faiss.IndexHNSWFlat(self.dim, self.hnsw_m, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = self.ef_construction
            index.hnsw.efSearch = self.ef_search
        else:
            index = faiss.IndexFlatIP(self.dim)
        if show_progress and kind is VectorIndexKind.HNSW and len(vectors) > GRAPH_BATCH:
            from tqdm.auto import tqdm

            with tqdm(total=len(vectors), desc="HNSW graph", unit="vec") as bar:
                for start in range(0, len(vectors), GRAPH_BATCH):  # adds are incremental: same graph
                    index.add(vectors[start: start + GRAPH_BATCH])
                    bar.update(min(GRAPH_BATCH, len(vectors) - start))
        elif len(vectors):
            index.add(vectors)
        return _Shard(index)

    def _twin(self, shards: list[Any]) -> VectorIndex:
        twin = VectorIndex(
            self.dim, kind=self.kind, hnsw_m=self.hnsw_m, ef_construction=self.ef_construction, ef_search=self.ef_search
        )
        twin._shards = [s for s in shards if s.size] or shards[:1]
        return twin

    def extended(self, vectors: np.ndarray) -> VectorIndex:
        """A new index holding this one's rows followed by ``vectors``; this one is left unchanged.

        The existing shards are shared, not copied; ``vectors`` become a new shard. When that
        makes more than :data:`MAX_SHARDS`, every shard after the first (the small, recent ones)
        is merged with them into one. So a writer can extend the index that searches are reading.
        """
        vectors = _as_matrix(vectors, self.dim, "vectors")
        if self._shards is None:
            return self._twin([]).build(vectors)
        if not len(vectors):
            return self._twin(list(self._shards))
        shards = list(self._shards)
        if len(shards) >= MAX_SHARDS:
            tail = [s.rows() for s in shards[1:]]
            shards = shards[:1] + [self._new_shard(np.concatenate(tail + [vectors]))]
        else:
            shards.append(self._new_shard(vectors))
        return self._twin(shards)

    def kept(self, mask: np.ndarray) -> VectorIndex:
        """A new index of the rows where ``mask`` is True (one entry per row); this one is unchanged.

        Shards whose rows are all kept are shared. A flat shard that loses rows is rebuilt from the
        rows it keeps; an HNSW shard hides them behind its live mask (a graph rebuild takes minutes
        at scale) until more than :data:`REBUILD_DEAD_FRACTION` of its rows are hidden.
        """
        if self._shards is None:
            raise CollectionError("cannot filter an index that was never built. Fix: call build() first")
        mask = _check_allowed(mask, len(self))
        shards, at = [], 0
        for shard in self._shards:
            part = mask[at: at + shard.size]
            at += shard.size
            if part.all():
                shards.append(shard)
            elif part.any():
                shards.append(shard.without(part) or self._new_shard(shard.rows()[part]))
        if not shards:
            return self._twin([]).build(np.zeros((0, self.dim), np.float32))
        return self._twin(shards)

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
            allowed = _check_allowed(allowed, n)
            if not allowed.any():
                return _empty(len(queries))
        per_shard, at = [], 0
        for shard in self._shards:
            size = shard.size
            part = None if allowed is None else allowed[at: at + size]
            if size and (part is None or part.any()):
                results = shard.search(queries, k, part, self.ef_search)
                per_shard.append([(positions + at, scores) for positions, scores in results])
            at += size
        if len(per_shard) == 1:
            return per_shard[0]
        return [_merge([shard[i] for shard in per_shard], k) for i in range(len(queries))]

    def save(self, path: str | os.PathLike[str]) -> Path | None:
        """Write an HNSW index to ``path`` in FAISS's native format, atomically; return the path.

        Flat indexes are not written (returns ``None``): rebuilding one from the stored
        embeddings with :meth:`build` is as fast as reading it back, and avoids a second copy.
        """
        if self._shards is None:
            raise CollectionError("cannot save an index that was never built. Fix: call build() first")
        if self.effective_kind is not VectorIndexKind.HNSW:
            return None
        if len(self._shards) > 1 or self._shards[0].live is not None:
            raise CollectionError(
                f"this index holds its rows in {len(self._shards)} shard(s) (it was extended or rows were "
                "deleted); only a single HNSW graph is saved. Fix: build() a new index from all the vectors and save that"
            )
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, lambda tmp: _faiss().write_index(self._shards[0].index, str(tmp)))
        return path

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, dim: int, ef_search: int = 64) -> VectorIndex:
        """Read an HNSW index written by :meth:`save` and check it matches ``dim``."""
        index = read_graph(path, dim=dim, ef_search=ef_search)
        loaded = cls(dim, kind=VectorIndexKind.HNSW, ef_search=ef_search)
        loaded.hnsw_m = int(index.hnsw.nb_neighbors(1))
        loaded.ef_construction = int(index.hnsw.efConstruction)
        loaded._shards = [_Shard(index)]
        return loaded


def read_graph(path: str | os.PathLike[str], *, dim: int, ef_search: int = 64) -> Any:
    """The FAISS HNSW index :meth:`VectorIndex.save` wrote at ``path``, checked (inner product, ``dim``)."""
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
    index.hnsw.efSearch = ef_search
    return index


MAX_SHARDS = 8
"""At most this many FAISS indexes hold one :class:`VectorIndex`'s rows (see :meth:`VectorIndex.extended`)."""


def _kind_of(index: Any) -> VectorIndexKind:
    return VectorIndexKind.HNSW if isinstance(index, _faiss().IndexHNSW) else VectorIndexKind.FLAT


GRAPH_BATCH = 20_000
"""Vectors added to an HNSW graph per step when a progress bar is shown."""

REBUILD_DEAD_FRACTION = 1 / 3
"""An HNSW shard whose live mask hides more than this fraction of its rows is rebuilt (:meth:`VectorIndex.kept`)."""


class _Shard:
    """One FAISS index and which of its stored rows are live (``None``: all)."""

    def __init__(self, index: Any, live: np.ndarray | None = None):
        self.index = index
        if live is not None:
            live = np.asarray(live, dtype=bool)
            if live.shape != (index.ntotal,):
                raise CollectionError(f"a live mask of {live.shape} for a shard of {index.ntotal} rows")
            if live.all():
                live = None
        self.live = live
        self.size = int(index.ntotal if live is None else live.sum())
        self._stored = None if live is None else np.flatnonzero(live)  # live position → stored row
        self._rank = None if live is None else np.cumsum(live) - 1  # stored row → live position

    def rows(self) -> np.ndarray:
        """The live vectors, as an ``(n, dim)`` copy."""
        index = self.index
        if not index.ntotal:
            return np.zeros((0, index.d), np.float32)
        rows = index.reconstruct_n(0, index.ntotal)
        return rows if self.live is None else rows[self.live]

    def without(self, keep: np.ndarray) -> _Shard | None:
        """This HNSW shard with the live rows where ``keep`` is False hidden; None for a flat shard or too many hidden."""
        if not isinstance(self.index, _faiss().IndexHNSW):
            return None
        live = np.ones(self.index.ntotal, dtype=bool) if self.live is None else self.live.copy()
        live[np.flatnonzero(live)[~keep]] = False
        if 1 - live.sum() / len(live) > REBUILD_DEAD_FRACTION:
            return None
        return _Shard(self.index, live)

    def search(self, queries: np.ndarray, k: int, allowed: np.ndarray | None, ef_search: int) -> list[Ranked]:
        """Top-``k`` live rows (``allowed``: a mask over them, or None), positions over the live rows."""
        if self.live is None:
            return _search_shard(self.index, queries, k, allowed, ef_search)
        stored_allowed = self.live
        if allowed is not None:
            stored_allowed = np.zeros(self.index.ntotal, dtype=bool)
            stored_allowed[self._stored[allowed]] = True
        results = _search_shard(self.index, queries, k, stored_allowed, ef_search)
        return [(self._rank[positions], scores) for positions, scores in results]


def _merge(results: list[Ranked], k: int) -> Ranked:
    """One query's results from several shards (positions already global) → the top ``k``.

    Shards are in row order and each is sorted best first; a stable sort keeps that order, so
    among equal scores an earlier shard's rows come first.
    """
    positions = np.concatenate([p for p, _ in results])
    scores = np.concatenate([s for _, s in results])
    order = np.argsort(-scores, kind="stable")[:k]
    return positions[order], scores[order]


def _search_shard(index: Any, queries: np.ndarray, k: int, allowed: np.ndarray | None, ef_search: int) -> list[Ranked]:
    """Top-``k`` of one FAISS index (``allowed``: its rows' mask, or None for all)."""
    faiss = _faiss()
    hnsw = isinstance(index, faiss.IndexHNSW)
    if allowed is None or allowed.all():
        k = min(k, int(index.ntotal))
        params = faiss.SearchParametersHNSW(efSearch=max(ef_search, k)) if hnsw else None
        return _pairs(*index.search(queries, k, params=params))
    n, matches = len(allowed), int(allowed.sum())
    k = min(k, matches)
    bits = np.packbits(allowed, bitorder="little")  # must outlive the searches below
    selector = faiss.IDSelectorBitmap(n, faiss.swig_ptr(bits))
    fraction = matches / n
    if not hnsw or fraction < FILTER_EXACT_FRACTION:
        return _exact(index, queries, k, selector)
    beam = math.ceil(max(ef_search, k) / fraction)
    params = faiss.SearchParametersHNSW(sel=selector, efSearch=beam)
    results = _pairs(*index.search(queries, k, params=params))
    short = [i for i, (positions, _) in enumerate(results) if len(positions) < k]
    if short:
        for i, pair in zip(short, _exact(index, queries[short], k, selector)):
            results[i] = pair
    return results


def _exact(index: Any, queries: np.ndarray, k: int, selector: Any) -> list[Ranked]:
    """Exact search of the rows ``selector`` allows, over the flat vectors (HNSW's storage)."""
    faiss = _faiss()
    if isinstance(index, faiss.IndexHNSW):
        index = faiss.downcast_index(index.storage)
    return _pairs(*index.search(queries, k, params=faiss.SearchParameters(sel=selector)))
