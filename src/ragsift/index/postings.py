"""Term-major term counts (posting lists) that grow and shrink without a rebuild, and their BM25 weights.

bm25s scores a query by summing columns of a term-major (CSC) weight matrix. Its weights depend
on corpus-wide statistics (document count, document frequencies, average length), so any change
of the corpus changes every weight. :class:`Postings` keeps the term *counts* in the same
term-major layout: appending documents inserts their postings at the end of each term's list,
and deleting keeps a masked subset, each one pass over the arrays with no transposition. The
weights (:meth:`Postings.bm25`) are then one vectorized pass as well. Objects are immutable:
:meth:`Postings.appended` and :meth:`Postings.kept` return new ones, so a copy of an index
can change while the original keeps serving.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Postings", "counts_csr"]


@dataclass(frozen=True)
class Postings:
    """Counts ``data[i]`` of term ``t`` in document ``rows[i]`` for ``i`` in ``indptr[t]:indptr[t+1]`` (rows ascending)."""

    data: np.ndarray  # float32 counts
    rows: np.ndarray  # int32 document rows
    indptr: np.ndarray  # int64, one entry per term + 1
    doc_len: np.ndarray  # float32 tokens per document row

    @classmethod
    def empty(cls, n_terms: int = 0) -> "Postings":
        return cls(np.zeros(0, np.float32), np.zeros(0, np.int32), np.zeros(n_terms + 1, np.int64), np.zeros(0, np.float32))

    @property
    def n_docs(self) -> int:
        return len(self.doc_len)

    @property
    def n_terms(self) -> int:
        return len(self.indptr) - 1

    @classmethod
    def from_csr(cls, block: tuple[np.ndarray, np.ndarray, np.ndarray], n_terms: int) -> "Postings":
        """From document-major counts ``(data, term ids, indptr)`` (one scipy transposition)."""
        import scipy.sparse as sp

        data, terms, indptr = block
        n_docs = len(indptr) - 1
        csc = sp.csr_matrix((np.asarray(data, np.float32), terms, indptr), shape=(n_docs, n_terms)).tocsc()
        csc.sort_indices()
        return cls(csc.data, csc.indices.astype(np.int32), csc.indptr.astype(np.int64), _row_sums(data, indptr))

    def to_csr(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Document-major counts ``(data, term ids, indptr)`` (what the row segments store)."""
        import scipy.sparse as sp

        csr = sp.csc_matrix((self.data, self.rows, self.indptr), shape=(self.n_docs, self.n_terms)).tocsr()
        csr.sort_indices()
        return csr.data.astype(np.float32), csr.indices.astype(np.int32), csr.indptr.astype(np.int64)

    def appended(self, block: tuple[np.ndarray, np.ndarray, np.ndarray], n_terms: int) -> "Postings":
        """These postings followed by the documents of ``block`` (document-major), over ``n_terms`` terms."""
        data, terms, indptr = block
        n_new = len(indptr) - 1
        rows = np.repeat(np.arange(self.n_docs, self.n_docs + n_new, dtype=np.int32), np.diff(indptr))
        order = np.argsort(terms, kind="stable")  # by term; rows stay ascending within a term
        terms, rows, data = terms[order], rows[order], np.asarray(data, np.float32)[order]
        old = np.concatenate([self.indptr, np.full(n_terms - self.n_terms, self.indptr[-1], np.int64)])
        # each new posting goes to the end of its term's list: before old[term + 1]
        at = old[terms.astype(np.int64) + 1]
        added = np.zeros(n_terms + 1, np.int64)
        np.cumsum(np.bincount(terms, minlength=n_terms), out=added[1:])
        return Postings(
            np.insert(self.data, at, data),
            np.insert(self.rows, at, rows),
            old + added,
            np.concatenate([self.doc_len, _row_sums(block[0], indptr)]),
        )

    def kept(self, mask: np.ndarray) -> "Postings":
        """Only the document rows where ``mask`` is True, renumbered in order."""
        mask = np.asarray(mask, dtype=bool)
        keep = mask[self.rows]
        renumber = (np.cumsum(mask) - 1).astype(np.int32)
        terms = np.repeat(np.arange(self.n_terms), np.diff(self.indptr))[keep]
        indptr = np.zeros(self.n_terms + 1, np.int64)
        np.cumsum(np.bincount(terms, minlength=self.n_terms), out=indptr[1:])
        return Postings(self.data[keep], renumber[self.rows[keep]], indptr, self.doc_len[mask])

    def bm25(self, k1: float, b: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Lucene BM25 weights in bm25s' term-major layout ``(data, indices, indptr)``.

        ``idf(t) = ln(1 + (N - df + 0.5) / (df + 0.5))``,
        ``w(t, d) = idf(t) · tf / (tf + k1 · (1 - b + b · |d| / avgdl))``.
        """
        n = self.n_docs
        if n == 0 or len(self.data) == 0:
            return np.zeros(0, np.float32), np.zeros(0, np.int32), self.indptr.copy()
        df = np.diff(self.indptr).astype(np.float64)
        idf = np.log1p((n - df + 0.5) / (df + 0.5)).astype(np.float32)
        avgdl = float(self.doc_len.astype(np.float64).mean())
        if avgdl > 0:
            norm = (k1 * (1.0 - b + b * self.doc_len.astype(np.float64) / avgdl)).astype(np.float32)
        else:
            norm = np.full(n, k1, np.float32)
        tf = self.data
        weights = tf / (tf + norm[self.rows])
        weights *= np.repeat(idf, np.diff(self.indptr))
        return weights, self.rows, self.indptr


def _row_sums(data: np.ndarray, indptr: np.ndarray) -> np.ndarray:
    """Sum of ``data`` per CSR row (empty rows: 0), as float32."""
    sums = np.concatenate([[0.0], np.cumsum(np.asarray(data, np.float64))])
    return (sums[indptr[1:]] - sums[indptr[:-1]]).astype(np.float32)


def counts_csr(ids: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
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
