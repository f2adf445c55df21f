"""The corpus and the transparent reranker the framework-adapter tests share."""

from __future__ import annotations

from ragsift.rerank.base import Reranker, Scores
from ragsift.types import Document

TOPICS = [
    "apple orchards harvest ripe fruit in autumn",
    "quarterly earnings and the price to earnings ratio of the company",
    "cats purr and sleep in the sun",
    "rivers carry fresh water from mountains to the sea",
    "the fruit market sells apples pears and plums",
    "bank interest rates and the bond market",
]
SOURCES = ("10-K", "10-Q", "8-K")

#: 24 documents: six topics, four variants each; metadata ``year`` 2015..2023, ``source`` and ``lang``.
DOCS = [
    Document(
        f"doc{i:02d}",
        f"{TOPICS[i % len(TOPICS)]}. Report number {i} adds {'more detail on apples and fruit ' * (i % 4)}notes.",
        title=f"Report {i}",
        metadata={"year": 2015 + i % 9, "source": SOURCES[i % 3], "lang": "en"},
    )
    for i in range(24)
]

QUERY = "apples and fruit harvest"


class OverlapReranker(Reranker):
    """Scores a passage by the query words it contains: a transparent, deterministic reranker."""

    name = "overlap"

    def score(self, query, documents):
        words = set(query.lower().split())
        raw = [float(len(words & set(d.lower().replace(".", " ").split()))) for d in documents]
        return Scores(raw, [r / max(len(words), 1) for r in raw])


def expected_rerank(reranker, collection, query: str, candidates: int, top_n: int, mode: str = "hybrid"):
    """What the adapters must return: the first stage's ``candidates`` hits, reranked by ``reranker``
    directly (title + text, as the first stage indexed them), cut to ``top_n``.

    Returns ``(reranked ids, their normalized relevance, the first stage's ids)``.
    """
    from ragsift.pipeline.rerank import hit_texts
    from ragsift.pipeline.search import Searcher

    first = Searcher(collection).search(query, mode=mode, k=candidates).hits
    results = reranker.rerank(query, hit_texts(first), top_n=top_n)
    return [first[r.index].id for r in results], [r.relevance for r in results], [h.id for h in first]


def doc_metadata(chunk_id: str) -> dict:
    """The metadata ``DOCS`` gave the document of ``chunk_id`` (``doc07#0`` → DOCS[7].metadata)."""
    return dict(DOCS[int(chunk_id.split("#")[0][3:])].metadata)
