"""load_jsonl: happy path and every error path (messages name the file and the line)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ragsift.errors import BadInputError
from ragsift.ingest import load_jsonl
from ragsift.types import Document


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def rec(**fields) -> str:
    return json.dumps(fields, ensure_ascii=False)


def test_reads_documents_in_order(tmp_path):
    path = write_lines(
        tmp_path / "docs.jsonl",
        [
            rec(id="a", title="Alpha", text="first text", metadata={"lang": "en"}),
            "",
            "   ",
            rec(_id="b", text="second — ünïcödé 日本語"),
            rec(id=7, title="Only a title", text=""),
        ],
    )
    docs = load_jsonl(path)
    assert docs == [
        Document(id="a", text="first text", title="Alpha", metadata={"lang": "en"}),
        Document(id="b", text="second — ünïcödé 日本語", title="", metadata={}),
        Document(id="7", text="", title="Only a title", metadata={}),
    ]


def test_accepts_str_path_bom_and_crlf(tmp_path):
    path = tmp_path / "bom.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + rec(id="x", text="t").encode() + b"\r\n" + rec(id="y", text="u").encode())
    assert [d.id for d in load_jsonl(str(path))] == ["x", "y"]


def test_missing_file_names_the_path(tmp_path):
    missing = tmp_path / "nope.jsonl"
    with pytest.raises(BadInputError, match="nope.jsonl") as info:
        load_jsonl(missing)
    assert info.value.path == str(missing)


@pytest.mark.parametrize(
    ("bad_line", "fragment"),
    [
        ('{"id": "b", "text": ', "malformed JSON"),
        ('["id", "text"]', "JSON array, expected an object"),
        ('"just a string"', "JSON string, expected an object"),
        (rec(text="no id"), "missing 'id'"),
        (rec(id="", text="empty id"), "'id' is empty"),
        (rec(id="  ", text="blank id"), "'id' is empty"),
        (rec(id=1.5, text="float id"), "'id' must be a string or an integer"),
        (rec(id=True, text="bool id"), "'id' must be a string or an integer"),
        (rec(id=None, text="null id"), "'id' must be a string or an integer"),
        (rec(id="b", title="T"), "missing 'text'"),
        (rec(id="b", text=5), "'text' must be a string"),
        (rec(id="b", title=3, text="x"), "'title' must be a string"),
        (rec(id="b", text="x", metadata=[1, 2]), "'metadata' of document 'b' must be a JSON object"),
        (rec(id="b", text="x", metadata="m"), "must be a JSON object"),
    ],
)
def test_bad_line_is_reported_with_file_and_line(tmp_path, bad_line, fragment):
    path = write_lines(tmp_path / "corpus.jsonl", [rec(id="a", text="ok"), "", bad_line])
    with pytest.raises(BadInputError) as info:
        load_jsonl(path)
    message = str(info.value)
    assert fragment in message
    assert message.startswith(f"{path}:3: ")
    assert info.value.line == 3


def test_empty_documents_are_loaded_for_the_collection_to_skip(tmp_path):
    """An empty document is not malformed: it loads (marked is_empty) and a collection skips and counts it."""
    path = write_lines(tmp_path / "c.jsonl", [rec(id="a", text="ok"), rec(id="b", text="   "), rec(id="c", title=" ", text="\n")])
    docs = load_jsonl(path)
    assert [d.id for d in docs] == ["a", "b", "c"]
    assert [d.is_empty for d in docs] == [False, True, True]


def test_duplicate_id_names_both_lines(tmp_path):
    path = write_lines(tmp_path / "dup.jsonl", [rec(id="a", text="1"), rec(id="b", text="2"), rec(_id="a", text="3")])
    with pytest.raises(BadInputError, match=r"dup\.jsonl:3: duplicate id 'a' \(first on line 1, again on line 3\)"):
        load_jsonl(path)


def test_int_and_str_ids_collide(tmp_path):
    path = write_lines(tmp_path / "dup.jsonl", [rec(id=1, text="1"), rec(id="1", text="2")])
    with pytest.raises(BadInputError, match="duplicate id '1'"):
        load_jsonl(path)


def test_invalid_utf8_names_the_line(tmp_path):
    path = tmp_path / "latin1.jsonl"
    path.write_bytes(rec(id="a", text="ok").encode() + b"\n" + '{"id": "b", "text": "caf\xe9"}'.encode("latin-1"))
    with pytest.raises(BadInputError, match=r"latin1\.jsonl:2: not valid UTF-8"):
        load_jsonl(path)


def test_directory_instead_of_file(tmp_path):
    with pytest.raises(BadInputError, match="must be a file"):
        load_jsonl(tmp_path)


def test_empty_file_gives_no_documents(tmp_path):
    path = tmp_path / "empty.jsonl"
    path.write_text("\n\n", encoding="utf-8")
    assert load_jsonl(path) == []
