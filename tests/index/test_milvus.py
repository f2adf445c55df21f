"""The Milvus backend against a real Milvus-API server (milvus-lite, or any Milvus in RAGSIFT_MILVUS_URI).

Each test builds the same documents in an embedded collection and in Milvus and checks that the
Milvus one behaves the same way: analysis (protected terms, CJK bigrams), every search mode,
filters with ragsift's exact semantics, parent–child, replace and delete, reopening.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from _filtering import HashingEmbedder

from ragsift.errors import BadInputError, CollectionError, ConfigError, UnknownDocumentError
from ragsift.index.backends import collection_exists, create_collection, is_remote, open_collection
from ragsift.index.collection import Collection, CollectionConfig
from ragsift.index.milvus import MilvusCollection, MilvusURI, hash_token, pushdown
from ragsift.index.filters import as_filter
from ragsift.ingest import ChunkingConfig
from ragsift.pipeline.search import SearchOptions, Searcher
from ragsift.types import Document

DOCS = [
    Document("pe", "The P/E ratio of the firm rose sharply", "Valuation", {"year": 2020, "source": "10-K"}),
    Document("letters", "P and E are letters; the ratio fell", "", {"year": 2021, "source": "10-Q"}),
    Document("cats", "cats chase mice in the garden", "Pets", {"year": 2020, "lang": "en"}),
    Document("ja", "東京都の人口は増えている", "", {"year": 2019, "flag": True}),
    Document("dogs", "dogs chase cats and bark at the mail carrier", "", {"year": 2022, "flag": 1}),
    Document("yr", "a report about the garden in spring", "", {"year": "2020"}),
]


def config(**kw) -> CollectionConfig:
    kw.setdefault("chunking", ChunkingConfig(mode="none"))
    return CollectionConfig(protected_terms=("P/E",), **kw)


@pytest.fixture
def pair(milvus, tmp_path):
    """The same documents in an embedded collection and in a Milvus one (dropped afterwards)."""
    made = []

    def build(docs=DOCS, **kw):
        emb = HashingEmbedder()
        m = MilvusCollection.create(milvus.uri(), config(**kw), embedder=emb)
        made.append(m)
        m.add(docs)
        e = Collection.create(tmp_path / f"e{len(made)}", config(**kw), embedder=emb)
        e.add(docs)
        return m, e

    yield build
    for m in made:
        m.drop()
        m.close()


def ids(searcher: Searcher, query: str, **opts) -> list[str]:
    return [h.doc_id for h in searcher.search(query, SearchOptions(**opts)).hits]


def test_uri_parsing_and_errors():
    uri = MilvusURI.parse("milvus://db.example:19531/my_coll")
    assert (uri.endpoint, uri.name) == ("http://db.example:19531", "my_coll")
    assert MilvusURI.parse("milvus+https://h/c").endpoint == "https://h:19530"
    for bad in ("milvus://h", "milvus://h/a/b", "milvus://h/1abc", "milvus://h/with-dash", "http://h/c"):
        with pytest.raises(ConfigError):
            MilvusURI.parse(bad)
    assert is_remote("milvus://h:1/c") and not is_remote("/tmp/milvus") and not is_remote("milvus")


def test_the_standard_tokenizer_sees_ragsifts_tokens():
    token = hash_token("p/e")
    assert token.isalnum() and token == token.lower() and len(token) == 13
    assert hash_token("p/e") != hash_token("p") and hash_token("東京") != hash_token("京都")


def test_bm25_ranks_like_the_embedded_collection(pair):
    m, e = pair()
    sm, se = Searcher(m), Searcher(e)
    for query in ("P/E ratio", "cats chase", "東京", "garden", "ratio"):
        assert ids(sm, query, mode="bm25") == ids(se, query, mode="bm25"), query
    assert ids(sm, "P/E", mode="bm25") == ["pe"]  # a protected term: not the letters P and E
    assert ids(sm, "京都", mode="bm25") == ids(se, "京都", mode="bm25")  # CJK bigrams as in embedded
    scores = [h.score for h in sm.search("cats chase", SearchOptions(mode="bm25")).hits]
    assert scores and all(s > 0 for s in scores) and scores == sorted(scores, reverse=True)


def test_dense_and_hybrid_agree_with_embedded(pair):
    m, e = pair()
    sm, se = Searcher(m), Searcher(e)
    for query in ("cats chase mice", "ratio of the firm"):
        assert set(ids(sm, query, mode="dense", k=3)) == set(ids(se, query, mode="dense", k=3))
        assert ids(sm, query, mode="hybrid", k=3)[0] == ids(se, query, mode="hybrid", k=3)[0]
    server = sm.search("cats chase mice", SearchOptions(mode="hybrid", k=3, server_fusion=True))
    assert server.hits[0].doc_id == "cats" and set(server.hits[0].source_scores) == {"server-hybrid"}
    weighted = ids(sm, "cats chase mice", mode="hybrid", k=3, fusion="weighted", server_fusion=True,
                   weights={"bm25": 0.7, "dense": 0.3})
    assert weighted[0] == "cats"
    with pytest.raises(ConfigError, match="milvus"):
        se.search("cats", SearchOptions(mode="hybrid", server_fusion=True))


@pytest.mark.parametrize(
    "filters",
    [["year=2020"], ["year>=2021"], ["source in (10-K, 10-Q)"], ["lang!=en"], ["year not in (2020, 2022)"],
     ["flag=true"], ["flag=1"], ["year=\"2020\""], {"year": {"$gte": 2020, "$lt": 2022}}],
)
def test_filters_have_the_embedded_semantics(pair, filters):
    m, e = pair()
    for mode in ("bm25", "dense", "hybrid"):
        query = "the ratio garden cats 東京 dogs report"
        got = ids(Searcher(m), query, mode=mode, k=10, filters=filters)
        want = ids(Searcher(e), query, mode=mode, k=10, filters=filters)
        assert sorted(got) == sorted(want), (mode, filters)


def test_filters_push_down_only_what_cannot_exclude_a_match():
    assert pushdown(as_filter(["year>=2020", "lang!=en", "flag=true"])) == 'metadata["year"] >= 2020'
    assert pushdown(as_filter({"source": ["10-K", "a\"b"]})) == '(metadata["source"] == "10-K" or metadata["source"] == "a\\"b")'
    assert pushdown(None) == ""


def test_replace_delete_and_reopen(pair, milvus):
    m, _ = pair()
    assert len(m.documents) == len(DOCS) and "cats" in m.documents and "nope" not in m.documents
    counts = m.add([Document("cats", "zebras graze on the savanna")])
    assert counts == {"added": 0, "replaced": 1, "chunks": 1}
    assert ids(Searcher(m), "zebras", mode="bm25") == ["cats"] and ids(Searcher(m), "mice", mode="bm25") == []
    with pytest.raises(UnknownDocumentError):
        m.delete(["cats", "nope"])
    assert m.delete(["cats", "nope"], missing_ok=True) == 1
    reopened = open_collection(m.path, embedder=HashingEmbedder())
    assert isinstance(reopened, MilvusCollection) and reopened.config.protected_terms == ("P/E",)
    assert sorted(reopened.documents) == sorted(d.id for d in DOCS if d.id != "cats")
    assert reopened.documents["pe"].metadata == {"year": 2020, "source": "10-K"}
    assert collection_exists(m.path) and not collection_exists(milvus.uri())
    with pytest.raises(CollectionError, match="already exists"):
        create_collection(m.path, config())
    with pytest.raises(CollectionError, match="ragsift index"):
        open_collection(milvus.uri())


def test_parent_child_returns_parents(pair):
    text = " ".join(f"sentence {i} talks about topic{i} in detail." for i in range(60))
    docs = [Document("long", text), Document("short", "a short note about topic7")]
    m, e = pair(docs, chunking=ChunkingConfig(mode="recursive", size=120, overlap=0, parent_size=480, unit="chars"))
    got = Searcher(m).search("topic42", SearchOptions(mode="bm25", k=3)).hits
    want = Searcher(e).search("topic42", SearchOptions(mode="bm25", k=3)).hits
    assert [(h.doc_id, h.id) for h in got] == [(h.doc_id, h.id) for h in want]
    assert got[0].id == want[0].id and got[0].text == want[0].text and "best_child" in got[0].metadata


def test_a_document_too_large_for_a_milvus_field_is_refused(milvus):
    m = MilvusCollection.create(milvus.uri(), config(dense=False))
    try:
        with pytest.raises(BadInputError, match="Milvus JSON field"):
            m.add([Document("big", "word " * 20_000)])
        assert len(m.documents) == 0 if m._client.has_collection(m.uri.name) else True
    finally:
        m.drop()


def test_cli_index_search_delete_info_on_milvus(milvus, tmp_path):
    uri = milvus.uri()
    src = tmp_path / "docs.jsonl"
    src.write_text("".join(json.dumps(d.to_dict()) + "\n" for d in DOCS), encoding="utf-8")
    run = [sys.executable, "-m", "ragsift.cli"]

    def call(*args):
        return subprocess.run([*run, *args], capture_output=True, text=True, timeout=300)

    done = call("index", str(src), "--collection", uri, "--no-dense", "--chunking", "none", "-q")
    assert done.returncode == 0, done.stderr
    found = call("search", uri, "cats chase", "--mode", "bm25", "--json", "--filter", "year=2020")
    assert found.returncode == 0, found.stderr
    assert [h["doc_id"] for h in json.loads(found.stdout)] == ["cats"]
    info = call("info", uri)
    assert info.returncode == 0 and json.loads(info.stdout)["stats"]["documents"] == len(DOCS)
    gone = call("delete", uri, "cats")
    assert gone.returncode == 0 and f"{len(DOCS) - 1} remain" in gone.stdout
    missing = call("search", milvus.uri(), "x")
    assert missing.returncode == 2 and "ragsift index" in missing.stderr
    MilvusCollection.open(uri).drop()


def test_eval_on_milvus_matches_the_embedded_collection(milvus, tmp_path, tiny_st_model):
    """``ragsift eval`` builds and evaluates a milvus:// collection like a directory one (tiny BEIR set)."""
    from eval.test_eval_runner import make_beir

    from ragsift.eval.runner import EvalConfig, run_eval

    data = make_beir(tmp_path / "beir")
    base = dict(data_dir=data, show_progress=False, embed_model=str(tiny_st_model), chunking=ChunkingConfig(mode="none"))
    uri = milvus.uri("eval")
    remote = run_eval(EvalConfig(**base, out_dir=tmp_path / "m", collection_dir=uri,
                                 retrievers=["bm25", "dense", "hybrid", "hybrid-server"]))
    local = run_eval(EvalConfig(**base, out_dir=tmp_path / "e", retrievers=["bm25", "dense", "hybrid"]))
    got = {r["retriever"]: r["metrics"]["ndcg@10"] for r in remote["runs"]}
    want = {r["retriever"]: r["metrics"]["ndcg@10"] for r in local["runs"]}
    assert got["bm25"] == pytest.approx(want["bm25"]) and got["hybrid"] == pytest.approx(want["hybrid"], abs=0.05)
    assert got["dense"] == pytest.approx(want["dense"], abs=0.05) and "hybrid-server" in got
    assert remote["config"]["collection"] == uri
    MilvusCollection.open(uri).drop()
