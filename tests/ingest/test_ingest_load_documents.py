"""load_documents dispatches on what the source is."""

from __future__ import annotations

import json

import pytest

from ragsift.errors import BadInputError
from ragsift.ingest import load_documents


def test_beir_folder(tmp_path):
    (tmp_path / "corpus.jsonl").write_text(json.dumps({"_id": "d", "text": "t"}) + "\n", encoding="utf-8")
    (tmp_path / "notes.md").write_text("ignored: a BEIR folder reads corpus.jsonl only", encoding="utf-8")
    assert [d.id for d in load_documents(tmp_path)] == ["d"]


def test_jsonl_file(tmp_path):
    path = tmp_path / "docs.JSONL"
    path.write_text(json.dumps({"id": "x", "text": "t"}) + "\n", encoding="utf-8")
    assert [d.id for d in load_documents(str(path))] == ["x"]


def test_plain_folder(tmp_path):
    (tmp_path / "a.txt").write_text("alpha", encoding="utf-8")
    assert [d.id for d in load_documents(tmp_path)] == ["a.txt"]


def test_single_markdown_file(tmp_path):
    path = tmp_path / "guide.md"
    path.write_text("# Guide\ntext", encoding="utf-8")
    [doc] = load_documents(path)
    assert (doc.id, doc.title) == ("guide.md", "Guide")


def test_unsupported_file(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text("a,b", encoding="utf-8")
    with pytest.raises(BadInputError, match=r"data\.csv: cannot load a \.csv file; pass a BEIR folder"):
        load_documents(path)


def test_missing_source(tmp_path):
    with pytest.raises(BadInputError, match=r"absent: document source does not exist; pass .*\.jsonl file"):
        load_documents(tmp_path / "absent")
