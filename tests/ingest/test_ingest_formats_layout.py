"""The structured form of PDF/DOCX/HTML documents: Markdown rendering, page cuts, PDF layout rules."""

from __future__ import annotations

from ragsift.ingest import ChunkingConfig, RecursiveSplitter, chunk_documents
from ragsift.ingest.formats.blocks import Heading, PageStart, Paragraph, Table, parse_page_marker, render_markdown
from ragsift.ingest.formats.html import parse_html
from ragsift.ingest.formats.pdf_layout import Run, layout_blocks
from ragsift.ingest.structured import structured_segments
from ragsift.types import Document

SIZE = 10.0


def run(text, x, y, size=SIZE, bold=False):
    return Run(text, x, y, size, bold, 0.5 * size * len(text))


def test_render_escapes_markdown_in_paragraphs_and_cells():
    text = render_markdown([
        Heading(8, "Deep  heading"),
        Paragraph("# not a heading\n| not a table\n```not a fence"),
        Table((("a|b", "multi\nline"), ("only one",), ())),
        PageStart(4),
    ])
    assert text.split("\n\n") == [
        "###### Deep heading",
        "\\# not a heading\n\\| not a table\n\\```not a fence",
        "| a\\|b | multi line |\n| --- | --- |\n| only one |  |",
        "<!-- page 4 -->",
    ]
    assert parse_page_marker("<!-- page 4 -->") == 4 and parse_page_marker("<!-- note -->") is None
    # indented pipes (an HTML <pre>) and a page-marker look-alike stay text, not a table or a page break
    text = render_markdown([Paragraph("    | a | b |\n<!-- page 9 -->")])
    assert text == "    \\| a | b |\n\\<!-- page 9 -->"
    assert parse_page_marker(text.split("\n")[1]) is None


def test_sections_are_cut_at_page_starts_and_heading_lines_carried():
    text = render_markdown([
        PageStart(1), Heading(1, "Report"), Paragraph("first page text"), Heading(2, "Tail"),
        PageStart(2), Paragraph("second page text"),
    ])
    splitter = RecursiveSplitter(200, 0)
    with_prefix = [(s.headings, s.page, s.text) for s in structured_segments(text, splitter)]
    assert with_prefix == [
        (("Report",), 1, "Report\nfirst page text"),
        (("Report", "Tail"), 2, "Report > Tail\nsecond page text"),
    ]
    # Without the prefix the heading line stays in the text: "## Tail" at the foot of page 1 goes with its content.
    without = [(s.page, s.text) for s in structured_segments(text, splitter, heading_prefix=False)]
    assert without == [(1, "# Report\n\nfirst page text"), (2, "## Tail\n\nsecond page text")]


def test_only_documents_read_from_formats_are_structured():
    text = "<!-- page 7 -->\n# A\n| x | y |\n| --- | --- |\n| 1 | 2 |"
    config = ChunkingConfig(unit="chars", size=12, overlap=0)  # recursive mode
    plain = chunk_documents([Document("d", text)], config, length_function=len).chunks
    assert all("page" not in c.metadata and "section" not in c.metadata for c in plain)
    assert len(plain) > 1  # recursive mode cuts a plain document's table
    read = chunk_documents([Document("d", text, metadata={"format": "html"})], config, length_function=len).chunks
    assert [(c.metadata["page"], c.metadata["section"]) for c in read] == [(7, "A")]
    assert read[0].text == "A\n| x | y |\n| --- | --- |\n| 1 | 2 |"
    for other in (["html"], {"name": "pdf"}, "markdown"):  # any other JSON value: a plain document
        doc = Document("d", text, metadata={"format": other})
        assert chunk_documents([doc], config, length_function=len).chunks[0].metadata == {"format": other}


def test_pdf_headings_by_size_and_bold_and_tables_by_columns():
    body = [run("Body text that is long enough to set the body size of the page.", 50, 700 - 12 * n) for n in range(4)]
    runs = [
        run("Big Title", 50, 780, size=20),
        run("Section", 50, 750, size=14),
        *body,
        run("Bold Sub", 50, 640, bold=True),
        # a table with a right-aligned number column: starts differ, right edges line up after wide gaps
        run("Item", 50, 620), run("Count", 250, 620),
        run("apples", 50, 605), run("7", 270, 605),
        run("pears", 50, 590), run("12", 265, 590),
        run("after the table", 50, 560),
    ]
    blocks = layout_blocks([runs])
    assert blocks[:3] == [PageStart(1), Heading(1, "Big Title"), Heading(2, "Section")]
    assert isinstance(blocks[3], Paragraph) and blocks[3].text.count("Body text") == 4
    assert blocks[4] == Heading(3, "Bold Sub")
    assert blocks[5] == Table((("Item", "Count"), ("apples", "7"), ("pears", "12")))
    assert blocks[6] == Paragraph("after the table")


def test_pdf_justified_lines_with_a_wide_word_gap_are_not_a_table():
    # Each line's last run starts after a gap a little over CELL_GAP and ends at the right margin.
    runs = []
    for n, words in enumerate(("justified words of a paragraph", "words of another line", "and a third one")):
        first = run(words, 50, 700 - 12 * n)
        last_start = first.end + 1.2 * SIZE
        runs += [first, Run("tail", last_start, first.y, SIZE, False, 300 - last_start)]
    blocks = layout_blocks([runs])
    assert [type(b) for b in blocks] == [PageStart, Paragraph]


def test_pdf_row_with_missing_cell_is_placed_by_position():
    runs = [run("a", 50, 700), run("b", 150, 700), run("c", 250, 700), run("x", 50, 688), run("z", 250, 688)]
    assert layout_blocks([runs])[1] == Table((("a", "b", "c"), ("x", "", "z")))


def test_html_lists_breaks_captions_layout_tables():
    parsed = parse_html(
        "<h2>Only h2</h2><ul><li>one</li><li>two<br>lines</li></ul>"
        "<table><caption>Prices</caption><tr><th>k</th><td>v <b>bold</b></td></tr><tr><td>k2</td><td></td></tr></table>"
        "<table><tr><td><h3>Side</h3><p>layout cell</p></td>"  # a layout table: its cells are content
        "<td><table><tr><th>a</th><td>1</td></tr></table></td></tr></table>"
        "<pre>  keep\n    indent</pre>"
    )
    assert parsed.title == "Only h2"
    assert parsed.blocks == [
        Heading(2, "Only h2"),
        Paragraph("- one"),
        Paragraph("- two\nlines"),
        Paragraph("Prices"),
        Table((("k", "v bold"), ("k2", ""))),
        Heading(3, "Side"),
        Paragraph("layout cell"),
        Table((("a", "1"),)),
        Paragraph("  keep\n    indent"),
    ]
