"""BM25 sparse index: bm25s scoring over a term-frequency matrix that supports add and delete.

bm25s is the fastest BM25 scorer in Python but cannot add documents to an index: its
precomputed score matrix depends on corpus-wide statistics (document frequencies and the
average document length), so every addition changes every entry. We therefore keep the
*source of truth* as term counts in the same term-major layout (:class:`~ragsift.index.postings.Postings`)
and derive bm25s' score matrix from them in one vectorized pass when a search first needs it
after a change. Adding or deleting documents never re-tokenizes existing text.
Scores are exactly bm25s' ``method="lucene"`` scores (tested against ``bm25s.BM25.index``).

On disk the term counts are append-only row segments (:mod:`ragsift.index.segments`), so a
small write saves only its own rows; the vocabulary is append-only too. The derived score
matrix is a cache: :meth:`SparseIndex.save_scores` writes it (marker file last), a load
memory-maps it when it matches the counts and otherwise recomputes it on the first search.

Lucene BM25: ``idf(t) = ln(1 + (N - df + 0.5) / (df + 0.5))`` and
``score(t, d) = idf(t) · tf / (tf + k1 · (1 - b + b · |d| / avgdl))``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np

from ragsift.errors import CollectionError, ConfigError
from ragsift.index.postings import Postings, counts_csr
from ragsift.index.segments import CSR, RowLog, link_or_copy

__all__ = ["BM25Params", "SparseIndex"]

_TF_FILES = ("tf_data", "tf_indices", "tf_indptr")  # before row segments: one array each
_SCORE_FILES = ("bm25_data", "bm25_indices", "bm25_indptr")
SCORES_MARKER = "scores.json"


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
        self._postings: Postings | None = Postings.empty()  # None: build from _stored on first need
        self._stored: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # counts as loaded (CSR)
        self._n_docs = 0
        self._retriever = None  # bm25s over the current counts; None: computed on the next search
        self._log = RowLog(CSR)  # term-count rows as stored on disk
        self._vocab_segments: list[tuple[str, int]] = []  # (file, terms) of the stored vocabulary

    def copy(self) -> "SparseIndex":
        """An independent copy; arrays are shared because :meth:`add`/:meth:`keep` replace them, never write into them."""
        twin = SparseIndex(self.analyzer, self.params)
        twin.terms = list(self.terms)
        twin.vocab = dict(self.vocab)
        twin._postings, twin._stored, twin._n_docs = self._postings, self._stored, self._n_docs
        twin._retriever = self._retriever
        twin._log = self._log.copy()
        twin._vocab_segments = list(self._vocab_segments)
        return twin

    # ----------------------------------------------------------------- contents
    def __len__(self) -> int:
        return self._n_docs

    @property
    def postings(self) -> Postings:
        """The term counts, term-major (built from the loaded row segments on first use)."""
        if self._postings is None:
            self._postings = Postings.from_csr(self._stored, len(self.terms))
            self._stored = None
        return self._postings

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
        block = counts_csr(np.asarray(ids, dtype=np.int64), np.asarray(lengths))
        self._log.append(block)
        self._postings = self.postings.appended(block, len(terms))
        self._n_docs += len(lengths)
        self._retriever = None

    def keep(self, mask: np.ndarray) -> None:
        """Keep only the rows where ``mask`` is True (deletion), then refresh the scores."""
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != (len(self),):
            raise ConfigError(f"mask must have shape ({len(self)},), got {mask.shape}")
        self._log.keep(mask)
        self._postings = self.postings.kept(mask)
        self._n_docs = int(mask.sum())
        self._retriever = None

    # ----------------------------------------------------------------- scoring
    @property
    def retriever(self):
        """The bm25s retriever over the current counts (its score matrix is computed on first use)."""
        retriever = self._retriever
        if retriever is None:
            import bm25s

            postings = self.postings
            if postings.n_terms < len(self.terms):  # terms seen only in deleted rows keep their ids
                postings = self._postings = postings.appended(counts_csr(np.zeros(0, np.int64), np.zeros(0, np.int64)), len(self.terms))
            retriever = self._set_retriever(bm25s, *postings.bm25(self.params.k1, self.params.b))
        return retriever

    def warm_up(self) -> None:
        """Compute the score matrix now (a write does it here so that the next search does not)."""
        _ = self.retriever

    def _set_retriever(self, bm25s, data, indices, indptr) -> None:
        retriever = bm25s.BM25(k1=self.params.k1, b=self.params.b, method="lucene")
        retriever.scores = {"data": data, "indices": indices, "indptr": indptr, "num_docs": len(self)}
        retriever.vocab_dict = self.vocab
        retriever.unique_token_ids_set = set(range(len(self.terms)))
        retriever.nonoccurrence_array = None  # Lucene BM25 has no non-occurrence term
        self._retriever = retriever
        return retriever

    def idf(self, term: str) -> float | None:
        """Lucene BM25 IDF of an analyzed ``term`` in this index (None when no row holds it).

        ``log(1 + (N - df + 0.5) / (df + 0.5))`` with ``df`` read from the score matrix.
        """
        tid = self.vocab.get(term)
        if tid is None or len(self) == 0:
            return None
        indptr = self.retriever.scores["indptr"]
        df = int(indptr[tid + 1] - indptr[tid]) if tid + 1 < len(indptr) else 0
        if df == 0:
            return None
        return float(np.log(1 + (len(self) - df + 0.5) / (df + 0.5)))

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
        retriever = self.retriever
        for i in todo:
            out[i] = top_k(retriever.get_scores_from_ids(token_ids[i], weight_mask=weights), k)
        return out

    def search_weighted(
        self, weights: Mapping[str, float], k: int = 10, *, allowed: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` rows for a weighted query of analyzed terms: ``score = sum(w_t * bm25(t))``.

        The form an expanded query takes (synonyms, RM3 feedback terms: :mod:`ragsift.query.expansion`);
        terms absent from the vocabulary are ignored. With every weight 1 it ranks like :meth:`search`.
        """
        if k < 1:
            raise ConfigError(f"k={k} must be >= 1")
        empty = (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32))
        terms = [(self.vocab[t], float(w)) for t, w in weights.items() if t in self.vocab and w > 0]
        if not terms or len(self) == 0:
            return empty
        mask = None if allowed is None else self._weight_mask(allowed)
        if mask is not None and not mask.any():
            return empty
        matrix = self.retriever.scores
        data, indices, indptr = matrix["data"], matrix["indices"], matrix["indptr"]
        scores = np.zeros(len(self), dtype=np.float32)
        for tid, w in terms:
            if tid + 1 >= len(indptr):
                continue
            lo, hi = indptr[tid], indptr[tid + 1]
            scores[indices[lo:hi]] += np.float32(w) * data[lo:hi]
        if mask is not None:
            scores *= mask
        return top_k(scores, k)

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
    def save(self, directory: str | os.PathLike, previous: str | os.PathLike | None = None, *, stem: str = "seg") -> None:
        """Write the index into ``directory`` (a fresh directory; ``.npy`` arrays + JSON, no pickle).

        ``previous`` is the directory this index was last saved to or loaded from: its term-count
        segments and vocabulary files are hard-linked, and only what was added since is written
        (as ``STEM.*``). The score matrix is not written here (:meth:`save_scores`). The caller
        provides atomicity by writing into a fresh directory (see Collection).
        """
        d = Path(directory)
        src = Path(previous) if previous is not None else None
        tf = self._log.write(src, d, stem, lambda: self.postings.to_csr())
        stored = sum(n for _, n in self._vocab_segments)
        if src is None or stored > len(self.terms):
            self._vocab_segments, stored = [], 0
        for name, _ in self._vocab_segments:
            link_or_copy(src / name, d / name)
        if stored < len(self.terms) or not self._vocab_segments:
            name = f"vocab-{stem}.json"
            (d / name).write_text(json.dumps(self.terms[stored:], ensure_ascii=False), encoding="utf-8")
            self._vocab_segments.append((name, len(self.terms) - stored))
        meta = {
            "k1": self.params.k1,
            "b": self.params.b,
            "method": "lucene",
            "num_docs": len(self),
            "tf": tf,
            "vocab": [list(v) for v in self._vocab_segments],
        }
        (d / "sparse.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")

    def save_scores(self, directory: str | os.PathLike) -> bool:
        """Write the score matrix next to the counts saved in ``directory``, atomically; False if it vanished.

        Each array is written atomically, then the marker ``scores.json``; a load uses the arrays
        only when the marker matches its counts, so a crash midway leaves nothing wrong behind.
        """
        from ragsift.files import atomic_write, atomic_write_text

        d = Path(directory)
        scores = self.retriever.scores
        try:
            for name, key in zip(_SCORE_FILES, ("data", "indices", "indptr")):
                atomic_write(d / f"{name}.npy", lambda tmp, a=scores[key]: _save_npy(tmp, a))
            atomic_write_text(d / SCORES_MARKER, json.dumps(self._scores_key()))
        except FileNotFoundError:  # the generation was removed meanwhile (another writer moved on)
            return False
        return True

    def _scores_key(self) -> dict:
        nnz = len(self._stored[0]) if self._postings is None else len(self._postings.data)
        return {"num_docs": len(self), "nnz": int(nnz), "terms": len(self.terms), "k1": self.params.k1, "b": self.params.b}

    @classmethod
    def load(cls, directory: str | os.PathLike, analyzer, *, mmap: bool = True) -> "SparseIndex":
        """Load an index written by :meth:`save`; a matching score cache is memory-mapped by default."""
        import bm25s

        d = Path(directory)
        try:
            meta = json.loads((d / "sparse.json").read_text(encoding="utf-8"))
            index = cls(analyzer, BM25Params(k1=meta["k1"], b=meta["b"]))
            if "tf" in meta:
                index._log, block = RowLog.load(CSR, d, meta["tf"], mmap=False)
                index._vocab_segments = [(str(n), int(c)) for n, c in meta["vocab"]]
                terms = [t for name, _ in index._vocab_segments for t in json.loads((d / name).read_text(encoding="utf-8"))]
            else:  # written before row segments: one array per part, one vocabulary file
                block = tuple(np.load(d / f"{n}.npy", allow_pickle=False) for n in _TF_FILES)
                index._log = RowLog.single(CSR, "tf", block, legacy=True)
                terms = json.loads((d / "vocab.json").read_text(encoding="utf-8"))
            if block is not None:
                index._stored, index._postings, index._n_docs = block, None, len(block[2]) - 1
            scores = None
            marker = d / SCORES_MARKER
            legacy_scores = "tf" not in meta and meta.get("has_scores")
            index.terms = terms
            if legacy_scores or (marker.is_file() and json.loads(marker.read_text(encoding="utf-8")) == index._scores_key()):
                mode = "r" if mmap else None
                scores = [np.load(d / f"{n}.npy", mmap_mode=mode, allow_pickle=False) for n in _SCORE_FILES]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise CollectionError(f"cannot read the BM25 index in {d}: {exc}") from exc
        if sum(c for _, c in index._vocab_segments) not in (0, len(terms)):
            raise CollectionError(f"{d}: the vocabulary files hold {len(terms)} terms, sparse.json says otherwise")
        index.vocab = {t: i for i, t in enumerate(terms)}
        if len(index.vocab) != len(terms):
            raise CollectionError(f"{d}: the vocabulary has duplicate terms")
        if scores is not None:
            index._set_retriever(bm25s, *scores)
        return index


def top_k(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` best rows with a score > 0: ``(positions, scores)``, best first, ties by lower position.

    bm25s' own selection partitions the whole score array; with most rows at 0 (every row that
    shares no query term) ``np.argpartition`` slows to 59 ms over 1M rows. Selecting among the
    rows that scored first takes a few ms.
    """
    candidates = np.flatnonzero(scores > 0)
    if len(candidates) > k:
        candidates = candidates[np.argpartition(scores[candidates], -k)[-k:]]
    best = scores[candidates]
    order = np.lexsort((candidates, -best))
    return candidates[order].astype(np.int64), best[order].astype(np.float32, copy=False)


def _save_npy(path: Path, array: np.ndarray) -> None:
    with open(path, "wb") as fh:  # a file object: np.save would append ".npy" to a temporary's name
        np.save(fh, np.ascontiguousarray(array), allow_pickle=False)
