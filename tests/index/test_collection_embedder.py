"""A collection records its embedder, searches with it after reopening, and refuses another one.

The hosted embedder here talks to a local stub of NVIDIA NIM's OpenAI-compatible ``/v1/embeddings``
(:mod:`index.embed_stubs`), which requires ``input_type``: what it receives shows which side
(passage or query) each request embedded.
"""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
from _filtering import HashingEmbedder
from index.embed_stubs import OpenAIEmbeddingsStub, stub_vector, unit
from rerank.remote.stubs import StubServer

from ragsift import Collection, CollectionConfig, Searcher, SearchOptions
from ragsift.config import EmbedderSpec
from ragsift.errors import ConfigError
from ragsift.ingest import ChunkingConfig
from ragsift.types import Document, passage_text

KEY = "nvapi-secret-key-123"
DOCS = [
    Document("cats", "Cats purr when they are content.", "Cats"),
    Document("dogs", "Dogs bark at strangers in the park.", "Dogs"),
    Document("fin", "Quarterly earnings rose while the price ratio fell.", "Finance"),
]


@pytest.fixture
def stubs():
    started: list[StubServer] = []

    def start(**options) -> StubServer:
        server = StubServer(OpenAIEmbeddingsStub(flavor="nim", api_key=KEY, **options)).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
    assert not [c for s in started for c in s.crashes]


@pytest.fixture(autouse=True)
def key(monkeypatch):
    monkeypatch.setenv("NVIDIA_API_KEY", KEY)
    monkeypatch.delenv("RAGSIFT_EMBED_API_KEY", raising=False)


def nim_spec(url: str, **fields) -> EmbedderSpec:
    fields = {"query_prefix": "query: ", "document_prefix": "passage: ", **fields}
    return EmbedderSpec("stub-embed", "test", type="nim", base_url=url + "/v1", **fields)


def build(path, url: str) -> Collection:
    config = CollectionConfig(embedder=nim_spec(url), chunking=ChunkingConfig(mode="none"))
    coll = Collection.create(path, config)
    coll.add(DOCS)
    return coll


def test_a_collection_built_through_a_hosted_embedder_reopens_and_searches_with_it(tmp_path, stubs):
    stub = stubs()
    build(tmp_path / "c", stub.url)
    indexed = stub.bodies()
    assert [b["input_type"] for b in indexed] == ["passage"]
    assert indexed[0]["input"] == [f"passage: {passage_text(d.title, d.text)}" for d in DOCS]

    manifest = (tmp_path / "c" / "manifest.json").read_text(encoding="utf-8")
    recorded = json.loads(manifest)["config"]["embedder"]
    assert recorded == nim_spec(stub.url).to_dict()
    assert recorded["type"] == "nim" and recorded["base_url"] == stub.url + "/v1"
    assert KEY not in manifest  # the key stays in the environment

    reopened = Collection.open(tmp_path / "c")  # no embedder named: the recorded one
    assert reopened.config.embedder == nim_spec(stub.url)
    result = Searcher(reopened).search("do cats purr", SearchOptions(mode="dense", k=3))
    assert result.hits[0].doc_id == "cats"
    query = stub.bodies()[-1]
    assert query == {"model": "stub-embed", "input": ["query: do cats purr"], "encoding_format": "float",
                     "input_type": "query", "truncate": "END"}
    vectors = reopened.embedder.encode_queries(["do cats purr"])
    np.testing.assert_allclose(vectors, unit([stub_vector("query: do cats purr", 32)]), atol=1e-6)


def test_another_embedder_is_refused_with_both_specs_named(tmp_path, stubs):
    stub = stubs()
    build(tmp_path / "c", stub.url)
    requests = len(stub.requests)
    other = EmbedderSpec.parse("openai=text-embedding-3-small", "--embedder")
    with pytest.raises(ConfigError) as err:
        Collection.open(tmp_path / "c", embedder=other)
    message = str(err.value)
    assert f"was built with the embedder nim=stub-embed (base_url='{stub.url}/v1'" in message
    assert "--embedder asks for openai=text-embedding-3-small (base_url='https://api.openai.com/v1')" in message
    assert "differ in type, model" in message and "Fix: leave out --embedder" in message
    with pytest.raises(ConfigError, match="differ in query_prefix"):
        Collection.open(tmp_path / "c", embedder=nim_spec(stub.url, query_prefix=""))
    assert len(stub.requests) == requests  # refused before any request


def test_an_embedder_object_with_another_spec_is_refused(tmp_path, stubs, tiny_st_model):
    from ragsift.index.embedder import SentenceTransformerEmbedder

    stub = stubs()
    build(tmp_path / "c", stub.url)
    with pytest.raises(ConfigError, match=r"the embedder= argument asks for .*tiny-st"):
        Collection.open(tmp_path / "c", embedder=SentenceTransformerEmbedder(str(tiny_st_model)))
    coll = Collection.open(tmp_path / "c")
    with pytest.raises(ConfigError, match="differ in type, model"):
        coll.use_embedder(EmbedderSpec.parse(str(tiny_st_model), "--embedder"))
    assert Collection.open(tmp_path / "c", embedder=HashingEmbedder(32)).embedder.name == "hashing"  # no spec: trusted


def test_the_same_embedder_at_another_url_is_used_there(tmp_path, stubs):
    old, new = stubs(), stubs()
    build(tmp_path / "c", old.url)
    moved = Collection.open(tmp_path / "c", embedder=nim_spec(new.url))
    assert moved.config.embedder.base_url == old.url + "/v1"  # the record is unchanged
    hits = Searcher(moved).search("dogs bark", SearchOptions(mode="dense", k=1)).hits
    assert hits[0].doc_id == "dogs"
    assert new.bodies()[-1]["input"] == ["query: dogs bark"] and len(old.requests) == 1


def test_adding_documents_uses_the_recorded_embedder(tmp_path, stubs):
    stub = stubs()
    build(tmp_path / "c", stub.url)
    coll = Collection.open(tmp_path / "c")
    coll.add([Document("owls", "Owls hunt at night.", "Owls")])
    assert stub.bodies()[-1]["input_type"] == "passage"
    assert Searcher(coll).search("owls hunt", SearchOptions(mode="dense", k=1)).hits[0].doc_id == "owls"


def test_collection_config_takes_the_embedder_or_the_old_embed_model(tmp_path):
    spec = EmbedderSpec.parse("openai=text-embedding-3-small")
    config = CollectionConfig(embedder=spec)
    assert config.embed_model == "text-embedding-3-small"
    assert CollectionConfig.from_dict(config.to_dict()) == config
    assert CollectionConfig(embed_model="org/model").embedder == EmbedderSpec("org/model")
    with pytest.raises(ConfigError, match="name two models"):
        CollectionConfig(embed_model="org/model", embedder=spec)
    old = CollectionConfig(embed_model="org/model").to_dict()
    del old["embedder"]  # a manifest written before embedders were recorded
    assert CollectionConfig.from_dict(old).embedder == EmbedderSpec("org/model")


def test_a_key_in_the_url_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="holds a credential"):
        CollectionConfig(embedder=EmbedderSpec("m", type="openai", base_url="https://user:pw@host/v1"))
    with pytest.raises(ConfigError, match="holds a credential"):
        CollectionConfig(embedder=EmbedderSpec("m", type="openai", base_url="https://host/v1?api_key=sk-1"))
    spec = EmbedderSpec("m", type="openai", base_url="https://host/openai?api-version=2024-02-01")
    assert spec.base_url.endswith("api-version=2024-02-01")


def test_a_local_embedder_records_its_prefixes(tmp_path, tiny_st_model):
    spec = EmbedderSpec(str(tiny_st_model), query_prefix="query: ", document_prefix="passage: ")
    coll = Collection.create(tmp_path / "c", CollectionConfig(embedder=spec, chunking=ChunkingConfig(mode="none")))
    coll.add(DOCS)
    reopened = Collection.open(tmp_path / "c")
    assert reopened.embedder.query_prefix == "query: " and reopened.embedder.spec == spec
    with pytest.raises(ConfigError, match="differ in document_prefix"):
        Collection.open(tmp_path / "c", embedder=replace(spec, document_prefix=""))


def test_vectors_of_another_dimension_are_refused_and_nothing_is_written(tmp_path, stubs):
    old, changed = stubs(), stubs(dim=16)  # the same model name now answers 16 numbers
    build(tmp_path / "c", old.url)
    manifest = (tmp_path / "c" / "manifest.json").read_text(encoding="utf-8")
    coll = Collection.open(tmp_path / "c", embedder=nim_spec(changed.url))
    with pytest.raises(ConfigError, match="gave 16-dimensional vectors, but collection .* holds 32-dimensional"):
        coll.add([Document("owls", "Owls hunt at night.", "Owls")])
    assert (tmp_path / "c" / "manifest.json").read_text(encoding="utf-8") == manifest
