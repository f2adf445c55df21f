"""Fixtures for tests about filtering rather than embeddings: a cheap embedder, a rare-match corpus."""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence

import numpy as np

from ragsift.types import Document

WORDS = (
    "report revenue growth margin cash debt equity asset market price risk guidance segment "
    "dividend capital interest tax inventory supply demand customer product region quarter annual"
).split()
RARE_SOURCE = "10-K"


def rare_documents(n: int = 2000, every: int = 100, seed: int = 0) -> list[Document]:
    """``n`` documents of business words (every one contains "report"); 1 in ``every`` has
    ``source`` :data:`RARE_SOURCE`, the others ``"news"``. ``year`` cycles 1990-2019."""
    rng = np.random.default_rng(seed)
    docs = []
    for i in range(n):
        words = ["report", *rng.choice(WORDS, size=6 + i % 11)]
        source = RARE_SOURCE if i % every == every // 2 else "news"
        docs.append(Document(f"d{i:05d}", " ".join(words), "", {"source": source, "year": 1990 + i % 30}))
    return docs


class HashingEmbedder:
    """A real :class:`~ragsift.index.embedder.Embedder` without torch: each word adds 1 to dimension
    ``crc32(word) % dim``; rows are L2-normalized (a text without words gets dimension 0)."""

    name = "hashing"
    max_seq_length = 128

    def __init__(self, dim: int = 64):
        self.dim = dim

    def load(self) -> None:
        pass

    def encode_documents(self, texts: Sequence[str], **_: object) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                out[row, zlib.crc32(word.encode("utf-8", "surrogatepass")) % self.dim] += 1.0
            norm = float(np.linalg.norm(out[row]))
            if norm == 0.0:
                out[row, 0] = 1.0
            else:
                out[row] /= norm
        return np.ascontiguousarray(out)

    encode_queries = encode_documents


def toy_retrievers(collection) -> dict:
    """A backend in one function, the way a remote engine plugs in: it never sees row positions,
    only chunk ids, and evaluates the filter itself (as an engine would, server-side)."""
    from ragsift.index.retriever import Retriever

    class WordCount(Retriever):
        name = "bm25"

        def search_many(self, queries, k, filters=None):
            out = []
            for query in queries:
                words = set(query.lower().split())
                scored = [
                    (c.id, float(sum(w in words for w in c.text.lower().split())))
                    for c in collection.chunks
                    if filters is None or filters.matches(c.metadata)
                ]
                ranked = sorted((p for p in scored if p[1] > 0), key=lambda p: (-p[1], p[0]))
                out.append(ranked[:k])
            return out

    return {"bm25": WordCount()}
