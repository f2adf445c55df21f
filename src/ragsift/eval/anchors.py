"""Published reference numbers (BEIR test split, NDCG@10) shown next to our results.

Sources: BEIR paper Table 2 (Thakur et al. 2021), bm25s benchmarks (Lù 2024; k1=1.5, b=0.75,
Lucene), MTEB results for sentence-transformers/all-MiniLM-L6-v2.
"""

from __future__ import annotations

__all__ = ["ANCHORS", "anchors_for"]

ANCHORS: dict[str, dict[str, dict]] = {
    "scifact": {
        "bm25": {"ndcg@10": 0.665, "source": "BEIR paper (Elasticsearch, multifield)"},
        "bm25 (bm25s)": {"ndcg@10": 0.687, "source": "bm25s benchmark, Lucene k1=1.5 b=0.75"},
        "dense": {"ndcg@10": 0.645, "recall@100": 0.925, "source": "MTEB, all-MiniLM-L6-v2"},
        "bm25+CE": {"ndcg@10": 0.688, "source": "BEIR paper, BM25 top-100 + ms-marco-MiniLM-L-6-v2"},
    },
    "nfcorpus": {
        "bm25": {"ndcg@10": 0.325, "source": "BEIR paper"},
        "dense": {"ndcg@10": 0.316, "source": "MTEB, all-MiniLM-L6-v2"},
    },
}


def anchors_for(dataset: str) -> dict[str, dict]:
    """Anchors for a dataset name (case-insensitive); empty when none are known."""
    return ANCHORS.get(dataset.lower(), {})
