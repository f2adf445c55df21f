"""PDF, DOCX and HTML files (real files written by fpdf2, python-docx and by hand) read and chunked.

Each file holds the same report (tests/_documents.py). What must hold for every format: the
table comes out as one chunk with every row and cell, under its heading path, and the chunk's
metadata names its section (and, for the PDF, its page).
"""

from __future__ import annotations

import subprocess
import sys

import pytest

import _documents as report
from ragsift.errors import BadInputError, MissingDependencyError
from ragsift.ingest import ChunkingConfig, chunk_documents, load_documents, load_file, load_folder

FORMATS = ("pdf", "docx", "html")
# Small chunks (chars), so a table that did not stay whole would be cut.
SMALL = ChunkingConfig(unit="chars", size=120, overlap=0)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    return report.write_all(tmp_path_factory.mktemp("report"))


def table_chunks(chunks):
    return [c for c in chunks if any(cell in c.text for cell in ("Q1", "Q4", "EBITDA", "28.2%"))]


def assert_whole_table(text):
    lines = text.split("\n")
    rows = [line for line in lines if line.startswith("|")]
    assert rows[0] == "| " + " | ".join(report.TABLE[0]) + " |"
    assert rows[1] == "| --- | --- | --- | --- |"
    assert rows[2:] == ["| " + " | ".join(row) + " |" for row in report.TABLE[1:]]


@pytest.mark.parametrize("fmt", FORMATS)
def test_document_title_source_and_format(files, fmt):
    doc = load_file(files[fmt])
    assert doc.id == f"report.{fmt}"
    assert doc.title == report.TITLE
    assert doc.metadata["source"] == f"report.{fmt}"
    assert doc.metadata["format"] == fmt
    for text in (report.INTRO, report.RESULTS, report.COSTS, report.AFTER_TABLE, report.OUTLOOK):
        assert text in doc.text


@pytest.mark.parametrize("fmt", FORMATS)
def test_table_is_one_chunk_under_its_heading_path(files, fmt):
    chunks = chunk_documents([load_file(files[fmt])], SMALL, length_function=len).chunks
    found = table_chunks(chunks)
    assert len(found) == 1, [c.text for c in found]
    table = found[0]
    assert len(table.text) > SMALL.size  # longer than the chunk size, still whole
    assert_whole_table(table.text)
    assert table.headings == report.HEADING_PATH
    assert table.text.startswith(" > ".join(report.HEADING_PATH) + "\n")
    assert table.metadata["section"] == "Quarterly Figures"
    assert table.metadata["format"] == fmt


@pytest.mark.parametrize("fmt", FORMATS)
def test_sections_in_metadata(files, fmt):
    chunks = chunk_documents([load_file(files[fmt])], SMALL, length_function=len).chunks
    section = {c.text.split("\n")[-1]: c.metadata.get("section") for c in chunks}
    assert section[report.COSTS] == "Financial Results"
    assert section[report.OUTLOOK] == "Outlook"
    intro = next(c for c in chunks if "cooperative" in c.text)
    assert intro.headings == (report.TITLE,) and intro.metadata["section"] == report.TITLE


def test_pdf_pages_in_metadata(files):
    doc = load_file(files["pdf"])
    assert doc.metadata["pages"] == 3
    chunks = chunk_documents([doc], SMALL, length_function=len).chunks
    page = {c.text.split("\n")[-1]: c.metadata["page"] for c in chunks}
    assert page[report.RESULTS] == 1
    assert page[report.COSTS] == 2  # same section as RESULTS, cut where page 2 starts
    assert page[report.OUTLOOK] == 3
    assert table_chunks(chunks)[0].metadata["page"] == report.TABLE_PAGE
    assert all("<!-- page" not in c.text for c in chunks)


@pytest.mark.parametrize("fmt", ("docx", "html"))
def test_unpaged_formats_have_no_page(files, fmt):
    chunks = chunk_documents([load_file(files[fmt])], SMALL, length_function=len).chunks
    assert all("page" not in c.metadata for c in chunks)


@pytest.mark.parametrize("fmt", FORMATS)
def test_parent_child_keeps_table_and_metadata(files, fmt):
    config = ChunkingConfig(unit="chars", size=100, overlap=0, parent_size=400)
    corpus = chunk_documents([load_file(files[fmt])], config, length_function=len)
    child = table_chunks(corpus.chunks)
    assert len(child) == 1
    assert_whole_table(child[0].text)
    parent = next(p for p in corpus.parents if p.id == child[0].parent_id)
    assert parent.metadata["section"] == child[0].metadata["section"] == "Quarterly Figures"
    if fmt == "pdf":
        assert parent.metadata["page"] == child[0].metadata["page"] == report.TABLE_PAGE


def test_heading_lines_kept_without_prefix(files):
    config = ChunkingConfig(unit="chars", size=120, overlap=0, heading_prefix=False)
    chunks = chunk_documents([load_file(files["pdf"])], config, length_function=len).chunks
    table = table_chunks(chunks)
    assert len(table) == 1
    assert_whole_table(table[0].text)
    assert (table[0].metadata["section"], table[0].metadata["page"]) == ("Quarterly Figures", 2)
    heading = next(c for c in chunks if c.text.startswith("### Quarterly Figures"))  # the line stays in the text
    assert (heading.headings, heading.metadata["page"]) == (report.HEADING_PATH, 2)
    assert any(c.text.startswith("## Outlook") and c.metadata["page"] == 3 for c in chunks)


def test_mode_none_is_one_chunk_without_page_markers(files):
    chunks = chunk_documents([load_file(files["pdf"])], ChunkingConfig(mode="none"), length_function=len).chunks
    assert len(chunks) == 1
    assert "<!-- page" not in chunks[0].text and report.OUTLOOK in chunks[0].text
    assert "page" not in chunks[0].metadata


def test_folder_picks_up_formats_by_extension(tmp_path):
    report.write_all(tmp_path)
    (tmp_path / "notes.md").write_text("# Notes\nplain markdown", encoding="utf-8")
    (tmp_path / "page.HTM").write_text("<p>upper-case extension</p>", encoding="utf-8")
    docs = load_folder(tmp_path)
    assert [d.id for d in docs] == ["notes.md", "page.HTM", "report.docx", "report.html", "report.pdf"]
    assert docs[0].metadata == {"source": "notes.md"}  # text files unchanged
    assert docs[1].metadata["format"] == "html" and docs[1].title == "page"
    assert [d.id for d in load_documents(tmp_path / "report.pdf")] == ["report.pdf"]


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("broken.pdf", b"%PDF-1.4\nthis is not really a pdf\n", r"broken\.pdf: cannot read this file as PDF"),
        ("broken.docx", b"PK\x03\x04 not a zip archive", r"broken\.docx: cannot read this file as DOCX"),
        ("old.docx", b"\xd0\xcf\x11\xe0 an old binary .doc", r"old\.docx: .*re-save it as \.docx"),
    ],
)
def test_damaged_file_is_named(tmp_path, files, name, data, message):
    (tmp_path / name).write_bytes(data)
    with pytest.raises(BadInputError, match=message):
        load_folder(tmp_path)


def test_pdf_without_text_asks_for_ocr(tmp_path):
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.rect(20, 20, 50, 50)  # a drawing, no text: what a scanned page looks like to a text extractor
    pdf.output(str(tmp_path / "scan.pdf"))
    with pytest.raises(BadInputError, match=r"scan\.pdf: no text found .*OCR"):
        load_file(tmp_path / "scan.pdf")


def test_extracted_text_is_checked_against_the_limit(files):
    from ragsift.ingest.limits import DocumentLimits

    with pytest.raises(BadInputError, match=r"report\.docx \(its extracted text\) is .* max_document_bytes=200"):
        load_file(files["docx"], limits=DocumentLimits(max_document_bytes=200))


@pytest.mark.parametrize(("fmt", "module"), [("pdf", "pypdf"), ("docx", "docx"), ("html", "bs4")])
def test_missing_library_names_the_extra(files, monkeypatch, fmt, module):
    monkeypatch.setitem(sys.modules, module, None)  # what an environment without the extra looks like
    with pytest.raises(MissingDependencyError, match=r"pip install 'ragsift\[formats\]'"):
        load_file(files[fmt])


def test_importing_ingest_does_not_import_format_libraries():
    code = "import sys, ragsift.ingest, ragsift.cli; print([m for m in ('pypdf', 'docx', 'bs4') if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.strip() == "[]"
