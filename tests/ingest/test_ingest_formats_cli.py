"""End to end: `ragsift index` on a folder of a PDF, a DOCX and an HTML file, then searches with filters."""

from __future__ import annotations

import json
import shutil

import pytest

import _documents as report
from ragsift import Collection
from ragsift.cli import main

QUERY = "quarterly EBITDA margin by quarter"


@pytest.fixture(scope="module")
def indexed(tmp_path_factory):
    root = tmp_path_factory.mktemp("formats-cli")
    source = root / "reports"
    report.write_all(source)
    collection = root / "coll"
    code = main(["index", str(source), "--collection", str(collection), "--no-dense", "--chunk-unit", "chars",
                 "--chunk-size", "150", "--chunk-overlap", "0", "-q"])
    assert code == 0
    return source, collection


def search(collection, capsys, *extra, query=QUERY):
    capsys.readouterr()
    code = main(["search", str(collection), query, "--mode", "bm25", "--json", *extra])
    out, err = capsys.readouterr()
    assert code == 0, err
    payload = json.loads(out)
    return payload["hits"] if isinstance(payload, dict) else payload


def metadata(collection, hit):
    """The stored metadata of a hit's chunk (what --filter reads; the CLI's JSON does not print it)."""
    return Collection.open(collection).chunk(hit["id"]).metadata


def whole_table(text):
    return all(("| " + " | ".join(row) + " |") in text for row in report.TABLE)


def test_index_reads_the_three_formats(indexed):
    _, collection = indexed
    coll = Collection.open(collection)
    assert sorted(coll.documents) == ["report.docx", "report.html", "report.pdf"]
    assert coll.config.chunking.mode.value == "recursive"  # the default: formats are still cut by structure


def test_search_finds_the_whole_table_in_every_format(indexed, capsys):
    _, collection = indexed
    hits = search(collection, capsys, "-k", "3")
    assert {h["doc_id"] for h in hits} == {"report.pdf", "report.docx", "report.html"}
    for hit in hits:
        assert whole_table(hit["text"]), hit["text"]
        assert hit["text"].startswith(" > ".join(report.HEADING_PATH))
        assert metadata(collection, hit)["section"] == "Quarterly Figures"
    assert metadata(collection, next(h for h in hits if h["doc_id"] == "report.pdf"))["page"] == report.TABLE_PAGE


def test_filter_on_page(indexed, capsys):
    _, collection = indexed
    hits = search(collection, capsys, "-k", "10", "--filter", f"page={report.TABLE_PAGE}")
    assert {h["doc_id"] for h in hits} == {"report.pdf"}
    assert whole_table(hits[0]["text"])
    assert {metadata(collection, h)["page"] for h in hits} == {report.TABLE_PAGE}
    growth = "revenue growth warehouse"  # words of page 1 (RESULTS), page 2 (COSTS) and page 3 (OUTLOOK)
    everywhere = search(collection, capsys, "-k", "20", query=growth)
    assert {h["doc_id"] for h in everywhere} == {"report.pdf", "report.docx", "report.html"}
    assert any(report.RESULTS in h["text"] for h in everywhere if h["doc_id"] == "report.pdf")
    later = search(collection, capsys, "-k", "20", "--filter", "page>=2", query=growth)
    assert {h["doc_id"] for h in later} == {"report.pdf"}
    assert {metadata(collection, h)["page"] for h in later} == {2, 3}
    assert any(report.COSTS in h["text"] for h in later) and any(report.OUTLOOK in h["text"] for h in later)
    assert not any(report.RESULTS in h["text"] for h in later)  # page 1


def test_filter_on_section_and_format(indexed, capsys):
    _, collection = indexed
    filters = ["--filter", "section=Quarterly Figures", "--filter", "format in (docx,html)"]
    hits = search(collection, capsys, "-k", "10", *filters)
    assert {h["doc_id"] for h in hits} == {"report.docx", "report.html"}
    assert sorted(h["doc_id"] for h in hits if whole_table(h["text"])) == ["report.docx", "report.html"]
    assert all(h["text"].startswith(" > ".join(report.HEADING_PATH)) for h in hits)


def test_index_a_single_pdf(indexed, tmp_path, capsys):
    source, _ = indexed
    assert main(["index", str(source / "report.pdf"), "--collection", str(tmp_path / "one"), "--no-dense", "-q"]) == 0
    assert "indexed 1 document(s)" in capsys.readouterr().out
    hits = search(tmp_path / "one", capsys, "-k", "1")
    assert hits[0]["id"].startswith("report.pdf#") and whole_table(hits[0]["text"])


def test_a_damaged_file_is_named_and_nothing_indexed_is_lost(indexed, tmp_path, capsys):
    source, _ = indexed
    collection = tmp_path / "coll"
    assert main(["index", str(source), "--collection", str(collection), "--no-dense", "-q"]) == 0
    before = Collection.open(collection).stats()
    more = tmp_path / "more"
    more.mkdir()
    shutil.copy(source / "report.html", more / "another.html")
    (more / "scan-0042.pdf").write_bytes(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\ntruncated")
    capsys.readouterr()
    assert main(["index", str(more), "--collection", str(collection), "--no-dense", "-q"]) == 2
    err = capsys.readouterr().err
    assert "scan-0042.pdf: cannot read this file as PDF" in err
    after = Collection.open(collection)
    assert after.stats() == before and "another.html" not in after.documents
