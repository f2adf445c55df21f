"""``ragsift index`` / ``search`` with a hosted embedder: chosen once, recorded, reused, never mixed.

The embedding server is a local stub of NVIDIA NIM's OpenAI-compatible ``/v1/embeddings``
(:mod:`index.embed_stubs`); it requires ``input_type``, so its requests show which side each embedded.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from index.embed_stubs import OpenAIEmbeddingsStub
from rerank.remote.stubs import StubServer

from ragsift.cli import main

KEY = "nvapi-cli-key-456"
ROWS = [
    {"id": "1", "title": "Cats", "text": "Cats purr when they are content."},
    {"id": "2", "title": "Dogs", "text": "Dogs bark at strangers in the park."},
    {"id": "3", "title": "Finance", "text": "EBITDA rose while the P/E ratio fell."},
]


def write_jsonl(path: Path, rows) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def stubs(monkeypatch):
    monkeypatch.setenv("RAGSIFT_EMBED_API_KEY", KEY)
    started: list[StubServer] = []

    def start() -> StubServer:
        server = StubServer(OpenAIEmbeddingsStub(flavor="nim", api_key=KEY)).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
    assert not [c for s in started for c in s.crashes]


@pytest.fixture
def built(tmp_path, capsys, stubs):
    stub = stubs()
    coll = tmp_path / "coll"
    code, out, err = run(
        capsys, "index", write_jsonl(tmp_path / "docs.jsonl", ROWS), "--collection", coll,
        "--embedder", "nim=stub-embed", "--embed-url", f"{stub.url}/v1",
        "--query-prefix", "query: ", "--document-prefix", "passage: ", "-q",
    )
    assert code == 0, err
    assert "3 added" in out
    return coll, stub


def test_index_records_the_embedder_and_search_uses_it(built, capsys):
    coll, stub = built
    assert [b["input_type"] for b in stub.bodies()] == ["passage"]
    assert all(text.startswith("passage: ") for text in stub.bodies()[0]["input"])
    code, out, _ = run(capsys, "info", coll)
    recorded = json.loads(out)["config"]["embedder"]
    assert recorded["type"] == "nim" and recorded["model"] == "stub-embed"
    assert recorded["base_url"] == f"{stub.url}/v1" and recorded["query_prefix"] == "query: "
    assert KEY not in out

    code, out, err = run(capsys, "search", coll, "why do cats purr", "--mode", "dense", "-k", "2", "--json")
    assert code == 0, err
    assert json.loads(out)[0]["doc_id"] == "1"
    assert stub.bodies()[-1]["input"] == ["query: why do cats purr"]
    assert stub.bodies()[-1]["input_type"] == "query"


def test_search_with_another_embedder_is_refused(built, capsys):
    coll, stub = built
    requests = len(stub.requests)
    code, _, err = run(capsys, "search", coll, "cats", "--embedder", "openai=text-embedding-3-small")
    assert code == 2
    assert "was built with the embedder nim=stub-embed" in err and "--embedder asks for openai=text-embedding-3-small" in err
    assert "Fix: leave out --embedder" in err
    assert len(stub.requests) == requests


def test_index_into_the_collection_with_another_embedder_is_refused_and_writes_nothing(built, capsys, tmp_path):
    coll, _ = built
    manifest = (coll / "manifest.json").read_text(encoding="utf-8")
    more = write_jsonl(tmp_path / "more.jsonl", [{"id": "4", "title": "Owls", "text": "Owls hunt at night."}])
    code, _, err = run(capsys, "index", more, "--collection", coll, "--embed-model", "sentence-transformers/x", "-q")
    assert code == 2 and "--embed-model asks for sentence-transformers/x" in err
    assert (coll / "manifest.json").read_text(encoding="utf-8") == manifest
    code, out, err = run(capsys, "index", more, "--collection", coll, "-q")  # no flag: the recorded embedder
    assert code == 0 and "1 added" in out, err
    code, out, err = run(capsys, "index", more, "--collection", coll, "--chunk-size", "100", "-q")
    assert code == 2 and "--chunk-size can only be set when a collection is created" in err


def test_search_at_a_new_url_with_embed_url_alone(built, capsys, stubs):
    coll, old = built
    new = stubs()
    code, out, err = run(capsys, "search", coll, "dogs bark", "--mode", "dense", "-k", "1", "--json",
                         "--embed-url", f"{new.url}/v1")
    assert code == 0, err
    assert json.loads(out)[0]["doc_id"] == "2"
    assert new.bodies() == [{"model": "stub-embed", "input": ["query: dogs bark"], "encoding_format": "float",
                             "input_type": "query", "truncate": "END"}]
    assert len(old.requests) == 1  # only the indexing


def test_embedder_flags_are_checked(tmp_path, capsys):
    src = write_jsonl(tmp_path / "docs.jsonl", ROWS)
    code, _, err = run(capsys, "index", src, "--collection", tmp_path / "a", "--embed-url", "http://127.0.0.1:9/v1")
    assert code == 2 and "base_url needs a hosted embedder; name it with --embedder" in err
    code, _, err = run(capsys, "index", src, "--collection", tmp_path / "c", "--embedder", "openai=m",
                       "--embed-model", "n")
    assert code == 2 and "already names a model" in err
    code, _, err = run(capsys, "index", src, "--collection", tmp_path / "d", "--embedder", "nim",
                       "--input-types", "query")
    assert code == 2 and "write QUERY,DOCUMENT" in err
    assert not any((tmp_path / name).exists() for name in "acd")
