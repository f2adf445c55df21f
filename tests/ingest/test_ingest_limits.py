"""Document limits: size, metadata depth/size, valid text — at the loaders, the collection and the CLI."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from ragsift.errors import BadInputError
from ragsift.index.collection import Collection, CollectionConfig
from ragsift.ingest import ChunkingConfig, load_documents, load_jsonl
from ragsift.ingest.limits import DocumentLimits, check_document, safe_metadata
from ragsift.pipeline.search import Searcher
from ragsift.types import Document


def nested(depth: int) -> dict:
    root = cur = {}
    for _ in range(depth - 1):
        cur["x"] = {}
        cur = cur["x"]
    return root


def test_oversized_jsonl_line_names_file_and_line_without_reading_it_whole(tmp_path):
    src = tmp_path / "docs.jsonl"
    with open(src, "w", encoding="utf-8") as fh:
        fh.write(json.dumps({"id": "ok", "text": "fine"}) + "\n")
        fh.write(json.dumps({"id": "big", "text": "w " * 3_000_000}) + "\n")  # ~6 MB line
    with pytest.raises(BadInputError) as info:
        load_jsonl(src, limits=DocumentLimits(max_document_bytes=1_000_000))
    assert f"{src}:2:" in str(info.value) and "max_document_bytes=1,000,000" in str(info.value)
    assert len(load_jsonl(src, limits=DocumentLimits(max_document_bytes=7_000_000))) == 2


def test_cli_refuses_a_large_line_and_takes_a_raised_limit(tmp_path):
    src = tmp_path / "docs.jsonl"
    src.write_text(json.dumps({"id": "big", "text": "word " * 300_000}) + "\n", encoding="utf-8")  # 1.5 MB
    cmd = [sys.executable, "-m", "ragsift.cli", "index", str(src), "-c", str(tmp_path / "c"), "--no-dense", "-q",
           "--chunking", "none"]
    run = subprocess.run(cmd, capture_output=True, text=True)
    assert run.returncode == 2 and f"{src}:1:" in run.stderr and "--max-document-bytes" in run.stderr
    assert not (tmp_path / "c" / "manifest.json").exists()
    run = subprocess.run([*cmd, "--max-document-bytes", "2000000"], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr


def test_large_file_in_a_folder_is_refused_by_name(tmp_path):
    (tmp_path / "a.txt").write_text("small", encoding="utf-8")
    (tmp_path / "b.txt").write_text("x" * 5000, encoding="utf-8")
    with pytest.raises(BadInputError, match="b.txt.*5,000 bytes"):
        load_documents(tmp_path, limits=DocumentLimits(max_document_bytes=1000))


def test_lone_surrogate_in_jsonl_names_the_line(tmp_path):
    src = tmp_path / "docs.jsonl"
    src.write_text('{"id": "a", "text": "ok"}\n{"id": "b", "text": "bad \\ud800 here"}\n', encoding="utf-8")
    with pytest.raises(BadInputError, match=r"docs.jsonl:2: document 'b': text holds an invalid character"):
        load_jsonl(src)


@pytest.mark.parametrize(
    "metadata, words",
    [
        (nested(17), "nested more than 16 levels"),
        ({"blob": "x" * 70_000}, "max_metadata_bytes"),
        ({"k\ud800": 1}, "invalid character"),
        ({"v": float("nan")}, "not a finite number"),
        ({"v": {1, 2}}, "JSON values only"),
    ],
)
def test_bad_metadata_is_refused_by_the_collection(tmp_path, metadata, words):
    coll = Collection.create(tmp_path / "c", CollectionConfig(dense=False, chunking=ChunkingConfig(mode="none")))
    with pytest.raises(BadInputError, match=words):
        coll.add([Document("a", "text", metadata=metadata)])
    assert not (tmp_path / "c" / "manifest.json").exists()


def test_limits_accept_what_they_allow():
    doc = Document("a", "t" * 100, metadata=nested(16))
    assert check_document(doc) > 100
    with pytest.raises(BadInputError, match="max_document_bytes=50"):
        check_document(doc, DocumentLimits(max_document_bytes=50))


def test_stored_deep_metadata_never_breaks_a_search(tmp_path):
    """A document stored with metadata deeper than the limit (looser limits) still searches cleanly."""
    loose = DocumentLimits(max_metadata_depth=500)
    coll = Collection.create(
        tmp_path / "c", CollectionConfig(dense=False, chunking=ChunkingConfig(mode="none")), limits=loose
    )
    coll.add([Document("deep", "cats purr", metadata={"deep": nested(400), "flat": 1})])
    hit = Searcher(Collection.open(tmp_path / "c")).search("cats", mode="bm25").hits[0]
    assert hit.metadata["flat"] == 1
    json.dumps(hit.metadata)  # serializable
    assert "not shown" in json.dumps(hit.metadata)
    assert safe_metadata({"a": {"b": 1}}) == {"a": {"b": 1}}
