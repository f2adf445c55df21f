"""BM25 sparse index: bm25s scoring over a term-frequency matrix that supports add and delete.

bm25s is the fastest BM25 scorer in Python but cannot add documents to an index: its
precomputed score matrix depends on corpus-wide statistics (document frequencies and the
average document length), so every addition changes every entry. We therefore keep the
*source of truth* as a per-document term-frequency matrix (CSR: documents × terms, plain
numpy arrays) and derive bm25s' score matrix from it with vectorized numpy whenever the
contents change. Adding or deleting documents never re-tokenizes existing text; the derived
matrix costs about a second per 100k documents to recompute (see ``docs/benchmarks.md``).
Scores are exactly bm25s' ``method="lucene"`` scores (tested against ``bm25s.BM25.index``).

Lucene BM25: ``idf(t) = ln(1 + (N - df + 0.5) / (df + 0.5))`` and
``score(t, d) = idf(t) · tf / (tf + k1 · (1 - b + b · |d| / avgdl))``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from ragsift.errors import CollectionError, ConfigError

__all__ = ["BM25Params", "SparseIndex"]

_TF_FILES = ("tf_data", "tf_indices", "tf_indptr")
_SCORE_FILES = ("bm25_data", "bm25_indices", "bm25_indptr")


@dataclass(frozen=True)
class BM25Params:
    """BM25 parameters (bm25s defaults: k1=1.5, b=0.75, Lucene variant)."""

    k1: float = 1.5
    b: float = 0.75

    def __post_init__(self) -> None:
        if not (np.isfinite(self.k1) and self.k1 >= 0):
            raise ConfigError(f"k1={self.k1!r} must be a finite number >= 0 (typical: 0.9-2.0)")
        if not (0.0 <= self.b <= 1.0):
            raise ConfigError(f"b={self.b!r} must be between 0 and 1 (typical: 0.4-0.75)")


class SparseIndex:
    """Rows are documents (collection units) in insertion order; ``search`` returns row positions.

    ``analyzer`` maps text to a list of string tokens (see :mod:`ragsift.index.analyzers`).
    """

    def __init__(self, analyzer, params: BM25Params | None = None):
        self.analyzer = analyzer
        self.params = params or BM25Params()
        self.terms: list[str] = []
        self.vocab: dict[str, int] = {}
        self._tf_data = np.zeros(0, dtype=np.float32)
        self._tf_indices = np.zeros(0, dtype=np.int32)
        self._tf_indptr = np.zeros(1, dtype=np.int64)
        self._retriever = None

    def copy(self) -> "SparseIndex":
        """An independent copy; arrays are shared because :meth:`add`/:meth:`keep` replace them, never write into them."""
        twin = SparseIndex(self.analyzer, self.params)
        twin.terms = list(self.terms)
        twin.vocab = dict(self.vocab)
        twin._tf_data, twin._tf_indices, twin._tf_indptr = self._tf_data, self._tf_indices, self._tf_indptr
        twin._retriever = self._retriever
        return twin

    # ----------------------------------------------------------------- contents
    def __len__(self) -> int:
        return len(self._tf_indptr) - 1

    def add(self, texts: Sequence[str], *, show_progress: bool = False) -> None:
        """Tokenize ``texts`` and append them as new rows, then refresh the scores."""
        self.add_tokens(self._analyze(texts, show_progress))

    def add_tokens(self, token_lists: Iterable[Sequence[str]]) -> None:
        """Append already-analyzed documents (lists of tokens) as new rows."""
        ids: list[int] = []
        lengths: list[int] = []
        vocab, terms = self.vocab, self.terms
        for tokens in token_lists:
            for tok in tokens:
                tid = vocab.get(tok)
                if tid is None:
                    tid = vocab[tok] = len(terms)
                    terms.append(tok)
                ids.append(tid)
            lengths.append(len(tokens))
        if not lengths:
            return
        data, indices, indptr = _counts_csr(np.asarray(ids, dtype=np.int64), np.asarray(lengths))
        self._tf_data = np.concatenate([self._tf_data, data])
        self._tf_indices = np.concatenate([self._tf_indices, indices])
        self._tf_indptr = np.concatenate([self._tf_indptr, indptr[1:] + self._tf_indptr[-1]])
        self._refresh()

    def keep(self, mask: np.ndarray) -> None:
        """Keep only the rows where ``mask`` is True (deletion), then refresh the scores."""
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != (len(self),):
            raise ConfigError(f"mask must have shape ({len(self)},), got {mask.shape}")
        row_nnz = np.diff(self._tf_indptr)
        nnz_mask = np.repeat(mask, row_nnz)
        self._tf_data = self._tf_data[nnz_mask]
        self._tf_indices = self._tf_indices[nnz_mask]
        self._tf_indptr = np.concatenate([[0], np.cumsum(row_nnz[mask])]).astype(np.int64)
        self._refresh()

    # ----------------------------------------------------------------- scoring
    def _refresh(self) -> None:
        import bm25s

        data, indices, indptr = bm25_score_matrix(
            self._tf_data, self._tf_indices, self._tf_indptr, len(self.terms), self.params
        )
        self._set_retriever(bm25s, data, indices, indptr)

    def _set_retriever(self, bm25s, data, indices, indptr) -> None:
        retriever = bm25s.BM25(k1=self.params.k1, b=self.params.b, method="lucene")
        retriever.scores = {"data": data, "indices": indices, "indptr": indptr, "num_docs": len(self)}
        retriever.vocab_dict = self.vocab
        retriever.unique_token_ids_set = set(range(len(self.terms)))
        retriever.nonoccurrence_array = None  # Lucene BM25 has no non-occurrence term
        self._retriever = retriever

    def query_ids(self, query: str) -> list[int]:
        """Analyze ``query`` and return the ids of its tokens that occur in the vocabulary."""
        vocab = self.vocab
        return [vocab[t] for t in self.analyzer(query) if t in vocab]

    def search(
        self, query: str, k: int = 10, *, allowed: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` rows for ``query``: ``(positions, scores)``, best first, only scores > 0.

        ``allowed`` (a boolean mask, one entry per row) restricts the search to those rows
        *before* the top-k cut: the other rows' scores are zeroed (bm25s' ``weight_mask``), so
        ``k`` allowed rows come back whenever ``k`` allowed rows match a query term.
        """
        return self.search_many([query], k, allowed=allowed)[0]

    def search_many(
        self, queries: Sequence[str], k: int = 10, *, allowed: np.ndarray | None = None
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        """Batched :meth:`search`; one ``(positions, scores)`` pair per query."""
        if k < 1:
            raise ConfigError(f"k={k} must be >= 1")
        weights = None if allowed is None else self._weight_mask(allowed)
        empty = (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32))
        token_ids = [self.query_ids(q) for q in queries]
        todo = [i for i, ids in enumerate(token_ids) if ids]
        out = [empty] * len(queries)
        if not todo or len(self) == 0 or (weights is not None and not weights.any()):
            return out
        kk = min(k, len(self))
        res = self._retriever.retrieve(
            [token_ids[i] for i in todo], k=kk, n_threads=0, show_progress=False, weight_mask=weights
        )
        for row, i in enumerate(todo):
            positions, scores = res.documents[row], res.scores[row]
            keep = scores > 0
            out[i] = (positions[keep].astype(np.int64), scores[keep])
        return out

    def _weight_mask(self, allowed: np.ndarray) -> np.ndarray:
        allowed = np.asarray(allowed)
        if allowed.dtype != bool or allowed.shape != (len(self),):
            raise ConfigError(
                f"allowed must be a boolean mask of shape ({len(self)},) (one entry per row), "
                f"got dtype {allowed.dtype} and shape {allowed.shape}"
            )
        return allowed.astype(np.float32)

    def _analyze(self, texts: Sequence[str], show_progress: bool) -> list[list[str]]:
        if show_progress:
            from tqdm.auto import tqdm

            texts = tqdm(texts, desc="BM25 tokenize", unit="doc")
        return [self.analyzer(t) for t in texts]

    # ----------------------------------------------------------------- persistence
    def save(self, directory: str | os.PathLike) -> None:
        """Write the index into ``directory`` (plain ``.npy`` arrays + JSON; no pickle).

        The caller provides atomicity by writing into a fresh directory (see Collection).
        """
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        arrays = dict(zip(_TF_FILES, (self._tf_data, self._tf_indices, self._tf_indptr)))
        scores = self._retriever.scores if self._retriever is not None else None
        if scores is not None:
            arrays.update(zip(_SCORE_FILES, (scores["data"], scores["indices"], scores["indptr"])))
        for name, arr in arrays.items():
            np.save(d / f"{name}.npy", np.ascontiguousarray(arr), allow_pickle=False)
        meta = {
            "k1": self.params.k1,
            "b": self.params.b,
            "method": "lucene",
            "num_docs": len(self),
            "has_scores": scores is not None,
        }
        (d / "sparse.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")
        (d / "vocab.json").write_text(json.dumps(self.terms, ensure_ascii=False), encoding="utf-8")

    @classmethod
    def load(cls, directory: str | os.PathLike, analyzer, *, mmap: bool = True) -> "SparseIndex":
        """Load an index written by :meth:`save`; score arrays are memory-mapped by default."""
        import bm25s

        d = Path(directory)
        try:
            meta = json.loads((d / "sparse.json").read_text(encoding="utf-8"))
            terms = json.loads((d / "vocab.json").read_text(encoding="utf-8"))
            mode = "r" if mmap else None
            tf = [np.load(d / f"{n}.npy", allow_pickle=False) for n in _TF_FILES]
            scores = None
            if meta.get("has_scores"):
                scores = [np.load(d / f"{n}.npy", mmap_mode=mode, allow_pickle=False) for n in _SCORE_FILES]
        except (OSError, ValueError, KeyError) as exc:
            raise CollectionError(f"cannot read the BM25 index in {d}: {exc}") from exc
        index = cls(analyzer, BM25Params(k1=meta["k1"], b=meta["b"]))
        index.terms = terms
        index.vocab = {t: i for i, t in enumerate(terms)}
        index._tf_data, index._tf_indices, index._tf_indptr = tf
        if scores is not None:
            index._set_retriever(bm25s, *scores)
        return index


def _counts_csr(ids: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Term counts per document as CSR arrays from a flat token-id array and per-doc lengths."""
    rows = np.repeat(np.arange(len(lengths), dtype=np.int64), lengths)
    if len(ids) == 0:
        return np.zeros(0, np.float32), np.zeros(0, np.int32), np.zeros(len(lengths) + 1, np.int64)
    width = int(ids.max()) + 1
    keys, counts = np.unique(rows * width + ids, return_counts=True)
    key_rows = keys // width
    indptr = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(np.bincount(key_rows, minlength=len(lengths)), out=indptr[1:])
    return counts.astype(np.float32), (keys % width).astype(np.int32), indptr


def bm25_score_matrix(
    tf_data: np.ndarray,
    tf_indices: np.ndarray,
    tf_indptr: np.ndarray,
    n_terms: int,
    params: BM25Params,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Lucene BM25 weights as bm25s' term-major (CSC) arrays ``(data, indices, indptr)``."""
    import scipy.sparse as sp

    n_docs = len(tf_indptr) - 1
    if n_docs == 0 or len(tf_data) == 0:
        return np.zeros(0, np.float32), np.zeros(0, np.int32), np.zeros(n_terms + 1, np.int64)
    row_nnz = np.diff(tf_indptr)
    rows = np.repeat(np.arange(n_docs), row_nnz)
    doc_len = np.bincount(rows, weights=tf_data, minlength=n_docs)
    avgdl = doc_len.mean()
    df = np.bincount(tf_indices, minlength=n_terms).astype(np.float64)
    idf = np.log(1.0 + (n_docs - df + 0.5) / (df + 0.5))
    k1, b = params.k1, params.b
    norm = k1 * (1.0 - b + b * doc_len / avgdl) if avgdl > 0 else np.full(n_docs, k1)
    tf = tf_data.astype(np.float64)
    weights = idf[tf_indices] * tf / (tf + norm[rows])
    csc = sp.csr_matrix((weights.astype(np.float32), tf_indices, tf_indptr), shape=(n_docs, n_terms)).tocsc()
    return csc.data, csc.indices.astype(np.int32), csc.indptr.astype(np.int64)
