"""Training data from a BEIR split: judged queries, corpus title queries, mined hard negatives.

A :class:`TrainingQuery` is one query with its positive documents and a ranked list of
*candidates*: what ragsift's own first stage (hybrid BM25 + dense, RRF) retrieves for it, with
the positives removed. Hard negatives are sampled from those candidates, so the models learn to
separate exactly the documents the first stage confuses.

Two sources of queries:

* **judged** (:func:`judged_queries`): the split's qrels; positives are the documents with a
  grade > 0 (documents judged 0 stay available as negatives);
* **titles** (:func:`title_queries`, unsupervised): a document's title is the query and its body
  the positive. The corpus needs no judgements for these, and SciFact has 6x more titled
  documents than judged training queries.

Passages of judged groups are what the first stage indexed and what the reranker reads at search
time: title + body (:func:`ragsift.types.passage_text`, the one function for both). Title
groups use bodies only (their query *is* the title), negatives included, so that no group can be
won by spotting the title line.
"""

from __future__ import annotations

import hashlib
import logging
import os
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

from ragsift.errors import ConfigError
from ragsift.types import Document, Qrels

__all__ = [
    "MINING_DEPTH",
    "TrainingQuery",
    "judged_queries",
    "mine_candidates",
    "open_or_build_collection",
    "sample_negatives",
    "split_dev",
    "title_queries",
]

log = logging.getLogger(__name__)

MINING_DEPTH = 100
"""Per-retriever depth of the first stage used for mining (the eval's first stage uses 100 too)."""


@dataclass
class TrainingQuery:
    """One training query: ``positives`` are doc ids; ``candidates`` the mined non-positive doc ids, best first."""

    qid: str
    text: str
    positives: list[str]
    source: str = "judged"  # "judged" or "title"
    candidates: list[str] = field(default_factory=list)


def judged_queries(queries: dict[str, str], qrels: Qrels, *, exclude: Iterable[str] = ()) -> list[TrainingQuery]:
    """Queries with at least one positive (grade > 0) in ``qrels``, minus ``exclude`` (e.g. a dev set), sorted by id."""
    skip = set(exclude)
    out = []
    for qid in sorted(qrels):
        positives = sorted(d for d, grade in qrels[qid].items() if grade > 0)
        if qid in skip or not positives or qid not in queries:
            continue
        out.append(TrainingQuery(qid, queries[qid], positives, "judged"))
    return out


def title_queries(
    corpus: Sequence[Document], *, limit: int | None = None, seed: int = 0, min_words: int = 3
) -> list[TrainingQuery]:
    """Unsupervised (title → body) queries: one per document whose title has ``min_words`` words and whose body is not empty.

    ``limit`` keeps a seeded random sample of that many (``None``: all).
    """
    usable = [d for d in corpus if len(d.title.split()) >= min_words and d.text.strip()]
    if limit is not None and limit < len(usable):
        usable = random.Random(seed).sample(usable, limit)
    return [TrainingQuery(f"title:{d.id}", d.title, [d.id], "title") for d in usable]


def split_dev(qids: Iterable[str], fraction: float, *, seed: int = 0) -> tuple[list[str], list[str]]:
    """Split query ids into ``(train, dev)`` with ``fraction`` of them (rounded) held out, seeded."""
    if not 0.0 <= fraction < 1.0:
        raise ConfigError(f"dev_fraction={fraction!r} must be in [0, 1)")
    ids = sorted(set(qids))
    n_dev = round(len(ids) * fraction)
    dev = set(random.Random(seed).sample(ids, n_dev))
    return [q for q in ids if q not in dev], sorted(dev)


def mine_candidates(searcher, queries: list[TrainingQuery], *, depth: int = 30, batch: int = 64, progress=None) -> None:
    """Fill each query's ``candidates`` with its first-stage top ``depth`` documents, positives removed.

    ``searcher`` is a :class:`ragsift.pipeline.search.Searcher` (hybrid RRF over a collection);
    each retriever contributes :data:`MINING_DEPTH` candidates before fusion, as in ``ragsift eval``.
    """
    from ragsift.pipeline.search import SearchOptions

    if depth < 1:
        raise ConfigError(f"depth={depth!r} must be >= 1")
    opts = SearchOptions(mode="hybrid", fusion="rrf", k=max(depth, MINING_DEPTH) + 10,
                         bm25_depth=MINING_DEPTH, dense_depth=MINING_DEPTH)
    for start in range(0, len(queries), batch):
        chunk = queries[start : start + batch]
        results = searcher.search_many([q.text for q in chunk], opts)
        for query, result in zip(chunk, results):
            positives = set(query.positives)
            ranked = []
            for hit in result.hits:
                if hit.doc_id not in positives and hit.doc_id not in ranked:
                    ranked.append(hit.doc_id)
            query.candidates = ranked[:depth]
        if progress is not None:
            progress(len(chunk))


def sample_negatives(query: TrainingQuery, k: int, rng: random.Random, *, pool: int | None = None) -> list[str]:
    """``k`` distinct hard negatives drawn from the top ``pool`` candidates (fewer if there are fewer)."""
    candidates = query.candidates[:pool] if pool else query.candidates
    return rng.sample(candidates, min(k, len(candidates)))


def open_or_build_collection(path: str | os.PathLike | None, corpus: Sequence[Document], name: str, *, show_progress: bool = True):
    """The hybrid collection used for mining: ``path`` when it exists (it must hold exactly this corpus), else built there.

    ``path=None`` uses ``$RAGSIFT_HOME/mining/<name>-<corpus fingerprint>`` so later runs on the
    same corpus reuse it (building embeds the whole corpus once: ~5 min for SciFact on 2 cores).
    """
    from ragsift.errors import BadInputError
    from ragsift.index.collection import Collection, CollectionConfig
    from ragsift.ingest import ChunkingConfig, ChunkMode

    if path is None:
        from ragsift.config import home

        path = home() / "mining" / f"{name}-{corpus_fingerprint(corpus)}"
    path = Path(path)
    if Collection.exists(path):
        coll = Collection.open(path)
        if set(coll.documents) != {d.id for d in corpus if not d.is_empty}:
            raise BadInputError(
                f"collection {path} holds different documents than the training corpus; pass another "
                "--collection (or none: a mining collection is then built for this corpus)"
            )
        if not coll.config.dense:
            raise ConfigError(f"collection {path} has no dense vectors; hard negatives are mined with hybrid search")
        return coll
    log.info("building the mining collection %s (%d documents)", path, len(corpus))
    coll = Collection.create(path, CollectionConfig(chunking=ChunkingConfig(mode=ChunkMode.NONE)))
    coll.add(corpus, show_progress=show_progress)
    return coll


def corpus_fingerprint(corpus: Sequence[Document]) -> str:
    """A short stable hash of the corpus' document ids and text lengths (empty documents left out, as collections skip them)."""
    digest = hashlib.sha256()
    for d in sorted((d for d in corpus if not d.is_empty), key=lambda d: d.id):
        digest.update(f"{d.id}\t{len(d.title)}\t{len(d.text)}\n".encode())
    return digest.hexdigest()[:12]
