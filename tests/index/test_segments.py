"""Row segments on disk and term-major postings in memory: small writes stay small, and stay exact."""

from __future__ import annotations

import json

import bm25s
import numpy as np
import pytest

from _filtering import HashingEmbedder

from ragsift.errors import CollectionError
from ragsift.index.analyzers import get_analyzer
from ragsift.index.collection import Collection, CollectionConfig
from ragsift.index.postings import Postings, counts_csr
from ragsift.index.segments import CSR, DENSE, MAX_SEGMENTS, RowLog
from ragsift.index.sparse import SCORES_MARKER, SparseIndex
from ragsift.ingest import ChunkingConfig
from ragsift.types import Document

WORDS = "apple banana cherry delta echo fox golf hotel india juliet kilo lima mike nova oscar papa".split()


def corpus(n: int, seed: int = 0, prefix: str = "d") -> list[Document]:
    rng = np.random.default_rng(seed)
    return [Document(f"{prefix}{i}", " ".join(rng.choice(WORDS, size=3 + i % 9)), f"T{i % 4}") for i in range(n)]


def config(dense: bool) -> CollectionConfig:
    return CollectionConfig(dense=dense, chunking=ChunkingConfig(mode="none"))


def block(rows: list[list[int]]):
    lengths = np.array([len(r) for r in rows])
    return counts_csr(np.array([t for r in rows for t in r], dtype=np.int64), lengths)


# -- postings ----------------------------------------------------------------------------------


def test_postings_append_and_keep_equal_a_build_from_scratch():
    rng = np.random.default_rng(1)
    rows = [list(rng.integers(0, 40, size=rng.integers(0, 12))) for _ in range(60)]
    whole = Postings.from_csr(block(rows), 40)
    grown = Postings.empty()
    for start in range(0, 60, 7):
        grown = grown.appended(block(rows[start:start + 7]), 40)
    for a, b in zip((whole.data, whole.rows, whole.indptr, whole.doc_len), (grown.data, grown.rows, grown.indptr, grown.doc_len)):
        np.testing.assert_array_equal(a, b)
    mask = rng.random(60) < 0.6
    kept = whole.kept(mask)
    rebuilt = Postings.from_csr(block([r for r, m in zip(rows, mask) if m]), 40)
    np.testing.assert_array_equal(kept.rows, rebuilt.rows)
    np.testing.assert_array_equal(kept.indptr, rebuilt.indptr)
    np.testing.assert_array_equal(kept.doc_len, rebuilt.doc_len)
    back = Postings.from_csr(whole.to_csr(), 40)
    np.testing.assert_array_equal(back.rows, whole.rows)
    np.testing.assert_array_equal(back.data, whole.data)


def test_postings_weights_equal_bm25s_index():
    analyzer = get_analyzer("en")
    texts = [d.text for d in corpus(50)]
    idx = SparseIndex(analyzer)
    for start in range(0, 50, 9):  # grown in steps
        idx.add(texts[start:start + 9])
    ref = bm25s.BM25(method="lucene")
    ref.index([analyzer(t) for t in texts], show_progress=False)
    for query in ("apple fox", "nova papa oscar", "zebra"):
        ids = idx.query_ids(query)
        np.testing.assert_allclose(idx.retriever.get_scores_from_ids(ids), ref.get_scores(analyzer(query)), rtol=1e-5, atol=1e-6)


# -- row log -----------------------------------------------------------------------------------


def test_row_log_links_old_segments_and_compacts_when_dead(tmp_path):
    log = RowLog(DENSE)
    vectors = np.arange(12, dtype=np.float32).reshape(6, 2)
    log.append(vectors)
    log.write(None, tmp_path / "g1", "s1", lambda: vectors)
    log.append(np.ones((1, 2), np.float32))
    meta = log.write(tmp_path / "g1", tmp_path / "g2", "s2", lambda: pytest.fail("no compaction expected"))
    assert meta == {"segments": [["s1", 6], ["s2", 1]]}
    assert (tmp_path / "g2" / "s1.npy").stat().st_ino == (tmp_path / "g1" / "s1.npy").stat().st_ino
    _, rows = RowLog.load(DENSE, tmp_path / "g2", meta)
    np.testing.assert_array_equal(rows, np.vstack([vectors, np.ones((1, 2))]))
    log.keep(np.array([True, False, False, True, False, True, True]))  # 3 of 7 dead: compacts
    current = np.vstack([vectors, np.ones((1, 2))])[[0, 3, 5, 6]]
    meta = log.write(tmp_path / "g2", tmp_path / "g3", "s3", lambda: current)
    assert meta == {"segments": [["s3", 4]]}
    _, rows = RowLog.load(DENSE, tmp_path / "g3", meta)
    np.testing.assert_array_equal(rows, current)


def test_row_log_compacts_after_max_segments(tmp_path):
    log = RowLog(CSR)
    src = None
    for n in range(MAX_SEGMENTS + 1):
        log.append(block([[n % 3, 1]]))
        log.write(src, tmp_path / f"g{n}", f"s{n}", lambda n=n: block([[k % 3, 1] for k in range(n + 1)]))
        src = tmp_path / f"g{n}"
    assert len(log.segments) == 1


def test_row_log_refuses_a_wrong_mask_and_a_short_segment(tmp_path):
    log = RowLog(DENSE)
    log.append(np.zeros((3, 2), np.float32))
    with pytest.raises(CollectionError, match="row mask"):
        log.keep(np.ones(2, bool))
    meta = log.write(None, tmp_path / "g", "s", lambda: np.zeros((3, 2), np.float32))
    meta["segments"][0][1] = 5
    with pytest.raises(CollectionError, match="says 5"):
        RowLog.load(DENSE, tmp_path / "g", meta)


# -- the collection ------------------------------------------------------------------------------


@pytest.mark.parametrize("dense", [False, True])
def test_a_small_add_writes_only_its_rows(tmp_path, dense):
    path = tmp_path / "c"
    coll = Collection.create(path, config(dense), embedder=HashingEmbedder() if dense else None)
    coll.add(corpus(300))
    first = path / coll.data_dir
    coll.add([Document("new", "a brand new zebra document")])
    second = path / coll.data_dir
    for part in ("sparse",) + (("dense",) if dense else ()):
        for old in (first / part).glob("seg-*"):
            assert (second / part / old.name).stat().st_ino == old.stat().st_ino, old.name  # hard-linked
        new = [p for p in (second / part).glob("seg-*") if not (first / part / p.name).exists()]
        assert new and all(p.stat().st_size < 2048 for p in new), [(p.name, p.stat().st_size) for p in new]
    reopened = Collection.open(path, embedder=HashingEmbedder() if dense else None)
    assert reopened.sparse.search("zebra", 3)[0].tolist() == [300]
    if dense:
        np.testing.assert_allclose(reopened.embeddings, coll.embeddings)


@pytest.mark.parametrize("dense", [False, True])
def test_adds_and_deletes_equal_a_fresh_build(tmp_path, dense):
    """Any mix of adds, replacements and deletes reads back as the same index as one build of the survivors."""
    emb = HashingEmbedder() if dense else None
    coll = Collection.create(tmp_path / "c", config(dense), embedder=emb)
    rng = np.random.default_rng(3)
    live: dict[str, Document] = {}
    for step in range(12):
        batch = corpus(int(rng.integers(1, 25)), seed=step, prefix=f"s{step}-")
        if live and step % 3 == 0:
            batch.append(Document(next(iter(live)), "replaced text about zebra apple"))
        coll.add(batch)
        if dense and step == 0:
            coll.warm_up_indexes()  # from here on writes extend / filter the built vector index
        live.update({d.id: d for d in batch})
        if step % 2:
            gone = list(rng.choice(sorted(live), size=min(len(live), int(rng.integers(1, 15))), replace=False))
            coll.delete(gone)
            for g in gone:
                live.pop(g)
    reopened = Collection.open(tmp_path / "c", embedder=emb)
    fresh = Collection.create(tmp_path / "f", config(dense), embedder=emb)
    fresh.add([live[c.doc_id] for c in reopened.chunks])  # same order as the reopened rows
    assert [c.doc_id for c in reopened.chunks] == [c.doc_id for c in fresh.chunks]
    for query in ("apple zebra", "hotel india", "nova"):
        a, b = reopened.sparse.search(query, 10), fresh.sparse.search(query, 10)
        assert a[0].tolist() == b[0].tolist()
        np.testing.assert_allclose(a[1], b[1], rtol=1e-5)
    if dense:
        np.testing.assert_allclose(reopened.embeddings, fresh.embeddings, atol=1e-6)
        np.testing.assert_allclose(coll.embeddings, fresh.embeddings, atol=1e-6)
        assert coll.vectors.shards > 1  # the writer's index grew by shards, never rebuilt
        queries = emb.encode_queries(["apple zebra", "hotel india", "nova"])
        for a, b in zip(coll.vectors.search_many(queries, 10), fresh.vectors.search_many(queries, 10)):
            np.testing.assert_allclose(a[1], b[1], atol=1e-5)
            by_score = lambda pair, chunks: sorted((round(float(s), 4), chunks[i].id) for i, s in zip(*pair))  # noqa: E731
            assert by_score(a, coll.chunks) == by_score(b, fresh.chunks)  # same hits (ties may swap)


def test_the_score_cache_is_written_deferred_and_checked(tmp_path):
    path = tmp_path / "c"
    coll = Collection.create(path, config(False))
    coll.add(corpus(40))
    sparse_dir = path / coll.data_dir / "sparse"
    assert (sparse_dir / SCORES_MARKER).is_file()  # a plain commit writes the cache
    expected = Collection.open(path).sparse.search("apple fox", 10)

    coll.defer_cleanup = True  # as the service does: the cache is written after answering
    coll.add([Document("z", "apple zebra")])
    sparse_dir = path / coll.data_dir / "sparse"
    assert not (sparse_dir / SCORES_MARKER).exists()
    computed = Collection.open(path).sparse  # no cache: computed on the first search
    assert computed._retriever is None
    hits = computed.search("apple fox", 10)
    coll.write_caches()
    assert (sparse_dir / SCORES_MARKER).is_file()
    cached = Collection.open(path).sparse
    assert cached._retriever is not None  # memory-mapped, nothing computed
    again = cached.search("apple fox", 10)
    assert hits[0].tolist() == again[0].tolist()
    np.testing.assert_allclose(hits[1], again[1])
    assert len(expected[0]) and "z" not in expected[0].tolist()

    marker = json.loads((sparse_dir / SCORES_MARKER).read_text())
    (sparse_dir / SCORES_MARKER).write_text(json.dumps({**marker, "num_docs": 1}))  # does not match the counts
    assert Collection.open(path).sparse._retriever is None


def test_a_collection_written_before_row_segments_opens_and_grows(tmp_path):
    """Old layout: sparse/tf_*.npy + vocab.json + bm25_*.npy, dense/embeddings.npy, no "dense" in the manifest."""
    emb = HashingEmbedder()
    path = tmp_path / "c"
    coll = Collection.create(path, config(True), embedder=emb)
    coll.add(corpus(30))
    gen = path / coll.data_dir
    sparse = coll.sparse
    data, indices, indptr = sparse.postings.to_csr()
    for name, arr in (("tf_data", data), ("tf_indices", indices), ("tf_indptr", indptr)):
        np.save(gen / "sparse" / f"{name}.npy", arr)
    scores = sparse.retriever.scores
    for name in ("data", "indices", "indptr"):
        np.save(gen / "sparse" / f"bm25_{name}.npy", scores[name])
    (gen / "sparse" / "vocab.json").write_text(json.dumps(sparse.terms))
    (gen / "sparse" / "sparse.json").write_text(json.dumps({"k1": 1.5, "b": 0.75, "method": "lucene", "num_docs": 30, "has_scores": True}))
    np.save(gen / "dense" / "embeddings.npy", np.asarray(coll.embeddings))
    for p in [*(gen / "sparse").glob("seg-*"), *(gen / "sparse").glob("vocab-*"), *(gen / "dense").glob("seg-*"),
              gen / "sparse" / SCORES_MARKER, gen / "dense" / "live.npy"]:
        p.unlink()
    manifest = json.loads((path / "manifest.json").read_text())
    manifest.pop("dense")
    (path / "manifest.json").write_text(json.dumps(manifest))

    old = Collection.open(path, embedder=emb)
    assert old.sparse.search("apple fox", 5)[0].tolist() == coll.sparse.search("apple fox", 5)[0].tolist()
    old.add([Document("z", "zebra apple")])
    grown = Collection.open(path, embedder=emb)
    assert len(grown.chunks) == 31 and grown.sparse.search("zebra", 2)[0].tolist() == [30]
    assert (path / grown.data_dir / "sparse" / "sparse.json").read_text().count('"tf"') == 1
    np.testing.assert_allclose(grown.embeddings[:30], coll.embeddings)


def test_many_small_writes_merge_the_recent_segments_not_the_first(tmp_path):
    """A big first segment stays linked; the small recent ones are merged into one (both logs)."""
    from ragsift.index.records import RecordLog

    rows = RowLog(DENSE)
    records = RecordLog()
    vectors = [np.full((1, 2), float(i), np.float32) for i in range(300)]
    rows.append(np.vstack(vectors[:200]))
    records.append({"id": f"r{i}", "n": i} for i in range(200))
    src = None
    for step in range(101):
        if step:
            rows.append(vectors[199 + step])
            records.append([{"id": f"r{199 + step}", "n": 199 + step}])
        if step == 50:  # a deletion among the recent rows
            mask = np.ones(200 + step, bool)
            mask[210] = False
            rows.keep(mask)
            records.remove(["r210"])
        dst = tmp_path / f"g{step}"
        current = np.vstack([v for i, v in enumerate(vectors[:200 + step]) if not (step >= 50 and i == 210)])
        meta = rows.write(src / "dense" if src else None, dst / "dense", f"s{step:03d}", lambda current=current: current)
        live_records = [{"id": f"r{i}", "n": i} for i in range(200 + step) if not (step >= 50 and i == 210)]
        rec_meta = records.write(src / "records" if src else None, dst / "records", f"s{step:03d}.jsonl")
        assert [r["n"] for r in records.rows()] == [r["n"] for r in live_records]
        src = dst
        assert len(meta["segments"]) <= MAX_SEGMENTS and len(rec_meta["segments"]) <= MAX_SEGMENTS
    assert meta["segments"][0] == ["s000", 200] and rec_meta["segments"][0] == ["s000.jsonl", 200]  # never rewritten
    assert (tmp_path / "g100" / "dense" / "s000.npy").stat().st_ino == (tmp_path / "g0" / "dense" / "s000.npy").stat().st_ino
    _, loaded = RowLog.load(DENSE, src / "dense", meta)
    np.testing.assert_array_equal(loaded, current)
    live_rows = RecordLog.load(src / "records", rec_meta).rows()
    assert [r["n"] for r in live_rows] == [i for i in range(300) if i != 210]


def test_top_k_selects_among_scored_rows_best_first_ties_by_position():
    from ragsift.index.sparse import top_k

    scores = np.zeros(1000, np.float32)
    scores[[5, 900, 17, 400, 3]] = [2.0, 3.0, 2.0, 1.0, 2.0]
    positions, best = top_k(scores, 4)
    assert positions.tolist() == [900, 3, 5, 17] and best.tolist() == [3.0, 2.0, 2.0, 2.0]
    positions, best = top_k(scores, 50)  # fewer scored rows than k: only those, never a zero
    assert positions.tolist() == [900, 3, 5, 17, 400] and (best > 0).all()
    rng = np.random.default_rng(0)
    noisy = np.where(rng.random(5000) < 0.3, rng.random(5000), 0).astype(np.float32)
    positions, best = top_k(noisy, 25)
    reference = np.lexsort((np.arange(5000), -noisy))[:25]
    assert positions.tolist() == reference.tolist()
