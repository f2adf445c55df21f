"""load_folder / load_file: ids, titles, metadata, ordering and errors."""

from __future__ import annotations

import pytest

from ragsift.errors import BadInputError, ConfigError
from ragsift.ingest import load_file, load_folder
from ragsift.ingest.folder import markdown_title


@pytest.fixture()
def folder(tmp_path):
    root = tmp_path / "notes"
    (root / "sub" / "deeper").mkdir(parents=True)
    (root / ".hidden").mkdir()
    (root / "b.txt").write_text("plain text b", encoding="utf-8")
    (root / "a.md").write_text(
        "intro line\n```bash\n# not a title\n```\n# Real Title #\n\nbody\n# Second\n", encoding="utf-8"
    )
    (root / "sub" / "c.md").write_text("## only level two\ntext", encoding="utf-8")
    (root / "sub" / "deeper" / "d.TXT").write_text("upper-case extension", encoding="utf-8")
    (root / "sub" / "skip.json").write_text("{}", encoding="utf-8")
    (root / ".hidden" / "e.txt").write_text("hidden", encoding="utf-8")
    return root


def test_loads_recursively_sorted_with_relative_ids(folder):
    docs = load_folder(folder)
    assert [d.id for d in docs] == ["a.md", "b.txt", "sub/c.md", "sub/deeper/d.TXT"]
    by_id = {d.id: d for d in docs}
    assert by_id["a.md"].title == "Real Title"
    assert by_id["b.txt"].title == "b"
    assert by_id["sub/c.md"].title == "c"  # no level-1 heading: the stem
    assert by_id["sub/deeper/d.TXT"].metadata == {"source": "sub/deeper/d.TXT"}
    assert by_id["b.txt"].text == "plain text b"


def test_exts_filter(folder):
    assert [d.id for d in load_folder(folder, exts=("md",))] == ["a.md", "sub/c.md"]
    assert [d.id for d in load_folder(folder, exts=".txt")] == ["b.txt", "sub/deeper/d.TXT"]


def test_bad_exts(folder):
    with pytest.raises(ConfigError, match="exts"):
        load_folder(folder, exts=())
    with pytest.raises(ConfigError, match="exts contains"):
        load_folder(folder, exts=(".",))


def test_empty_file_is_named(folder):
    (folder / "sub" / "blank.md").write_text("  \n\n", encoding="utf-8")
    with pytest.raises(BadInputError, match=r"blank\.md: file is empty"):
        load_folder(folder)


def test_no_matching_files(tmp_path):
    (tmp_path / "x.csv").write_text("a,b", encoding="utf-8")
    with pytest.raises(BadInputError, match=r"no files with extension \.txt or \.md"):
        load_folder(tmp_path)


def test_missing_folder(tmp_path):
    with pytest.raises(BadInputError, match="does not exist"):
        load_folder(tmp_path / "absent")


def test_bad_utf8_names_file_and_line(tmp_path):
    (tmp_path / "bad.txt").write_bytes(b"line one\nline two \xff\n")
    with pytest.raises(BadInputError, match=r"bad\.txt:2: not valid UTF-8"):
        load_folder(tmp_path)


def test_load_file_and_front_matter_title(tmp_path):
    page = tmp_path / "post.md"
    page.write_text('---\nlayout: post\ntitle: "Reranking in RAG"\n---\n\n## Summary\ntext\r\nmore', encoding="utf-8")
    doc = load_file(page)
    assert (doc.id, doc.title, doc.metadata) == ("post.md", "Reranking in RAG", {"source": "post.md"})
    assert "\r" not in doc.text


def test_markdown_title_prefers_level_one_heading():
    assert markdown_title("---\ntitle: fm\n---\n# H1\n") == "H1"
    assert markdown_title("~~~\n# fenced\n~~~\nno heading") == ""
    assert markdown_title("#hashtag\n#   Spaced   \n") == "Spaced"
