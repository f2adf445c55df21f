"""Saved HNSW graphs: written at commit, hard-linked while their segment lives, read at open, masked on delete."""

from __future__ import annotations

import numpy as np

from _filtering import HashingEmbedder

from ragsift.index.collection import Collection, CollectionConfig
from ragsift.index.graphs import MIN_GRAPH_ROWS, graph_path, wants_graph
from ragsift.index.vectors import AUTO_HNSW_THRESHOLD, VectorIndexKind, exact_search
from ragsift.ingest import ChunkingConfig
from ragsift.types import Document

WORDS = "apple banana cherry delta echo fox golf hotel india juliet kilo lima mike nova oscar papa".split()


def corpus(n: int, seed: int, prefix: str) -> list[Document]:
    rng = np.random.default_rng(seed)
    return [Document(f"{prefix}{i}", " ".join(rng.choice(WORDS, size=4 + i % 7))) for i in range(n)]


def hnsw_collection(path, emb) -> Collection:
    config = CollectionConfig(dense=True, vector_index="hnsw", chunking=ChunkingConfig(mode="none"))
    return Collection.create(path, config, embedder=emb)


def graphs_in(coll: Collection) -> dict[str, int]:
    dense = coll.path / coll.data_dir / "dense"
    return {p.name: p.stat().st_ino for p in dense.glob("*.hnsw.faiss")}


def test_which_segments_get_a_graph():
    assert wants_graph("hnsw", 5, 5) and not wants_graph("hnsw", 0, 5)
    assert not wants_graph("flat", 10**6, 10**6)
    assert not wants_graph("auto", MIN_GRAPH_ROWS, AUTO_HNSW_THRESHOLD - 1)  # a small collection is exact
    assert wants_graph("auto", MIN_GRAPH_ROWS, AUTO_HNSW_THRESHOLD)
    assert not wants_graph("auto", MIN_GRAPH_ROWS - 1, 10**6)  # a small segment of a large one is exact


def test_graphs_are_written_linked_and_read_back(tmp_path):
    emb = HashingEmbedder()
    coll = hnsw_collection(tmp_path / "c", emb)
    coll.add(corpus(300, 1, "a"))
    first = graphs_in(coll)
    assert len(first) == 1
    coll.add(corpus(40, 2, "b"))
    second = graphs_in(coll)
    assert len(second) == 2 and all(second[name] == ino for name, ino in first.items())  # the old graph hard-linked

    reopened = Collection.open(tmp_path / "c", embedder=emb)
    index = reopened.vectors
    assert index.shards == 2 and index.effective_kind is VectorIndexKind.HNSW
    queries = emb.encode_queries(["apple banana", "kilo lima mike", "papa"])
    approx = index.search_many(queries, 5)
    exact = exact_search(np.asarray(reopened.embeddings), queries, 5)
    for (a, sa), (e, se) in zip(approx, exact):
        np.testing.assert_allclose(sa, se, atol=1e-5)  # same scores as an exact search (ties may swap)


def test_a_delete_keeps_the_graph_and_hides_the_rows(tmp_path):
    emb = HashingEmbedder()
    coll = hnsw_collection(tmp_path / "c", emb)
    coll.add(corpus(300, 3, "a"))
    before = graphs_in(coll)
    gone = [f"a{i}" for i in range(0, 300, 10)]
    coll.delete(gone)
    assert graphs_in(coll) == before  # the same file: deleted rows are masked, not rebuilt
    reopened = Collection.open(tmp_path / "c", embedder=emb)
    index = reopened.vectors
    assert len(index) == 270 and index._shards[0].live is not None
    queries = emb.encode_queries(["apple banana cherry", "oscar papa"])
    for positions, _ in index.search_many(queries, 20):
        assert not {reopened.chunks[p].doc_id for p in positions} & set(gone)


def test_a_deferred_commit_leaves_the_graph_to_write_caches(tmp_path):
    emb = HashingEmbedder()
    coll = hnsw_collection(tmp_path / "c", emb)
    coll.defer_cleanup = True  # what the service does: answer first, derived data later
    coll.add(corpus(200, 4, "a"))
    assert graphs_in(coll) == {}
    coll.write_caches()
    [name] = graphs_in(coll)
    stem = name.removesuffix(".hnsw.faiss")
    assert graph_path(coll.path / coll.data_dir / "dense", stem).is_file()
    reopened = Collection.open(tmp_path / "c", embedder=emb)
    assert reopened.vectors.effective_kind is VectorIndexKind.HNSW and len(reopened.vectors) == 200


def test_flat_collections_write_no_graph(tmp_path):
    config = CollectionConfig(dense=True, vector_index="flat", chunking=ChunkingConfig(mode="none"))
    coll = Collection.create(tmp_path / "c", config, embedder=HashingEmbedder())
    coll.add(corpus(50, 5, "a"))
    assert graphs_in(coll) == {}
    assert Collection.open(tmp_path / "c", embedder=HashingEmbedder()).vectors.effective_kind is VectorIndexKind.FLAT
