"""One small report written as a real PDF (fpdf2), DOCX (python-docx) and HTML file.

Each file holds the same content: a title, two levels of sections, a paragraph, and a table
under ``Annual Report 2023 > Financial Results > Quarterly Figures``. In the PDF, headings are
set in larger bold type, the table is drawn by fpdf2's table API with right-aligned number
columns, and pages break before "Costs were flat" (page 2) and before "Outlook" (page 3).
"""

from __future__ import annotations

from pathlib import Path

TITLE = "Annual Report 2023"
HEADING_PATH = ("Annual Report 2023", "Financial Results", "Quarterly Figures")
INTRO = (
    "This report covers the fiscal year of the cooperative. Membership grew in every region, the board "
    "renewed its charter, and the audit committee met four times."
)
RESULTS = "Revenue grew steadily across all regions while the dividend stayed unchanged."
COSTS = "Costs were flat: the warehouse lease was renegotiated and freight prices fell."
AFTER_TABLE = "Figures are unaudited and rounded to the nearest million."
OUTLOOK = "We expect slower growth next year as the new warehouse opens."
TABLE = (
    ("Quarter", "Revenue", "EBITDA", "Margin"),
    ("Q1", "120", "30", "25.0%"),
    ("Q2", "135", "34", "25.2%"),
    ("Q3", "150", "41", "27.3%"),
    ("Q4", "170", "48", "28.2%"),
)
TABLE_PAGE = 2


def write_pdf(path: Path) -> Path:
    """The report as a 3-page PDF with fpdf2 (headings by font size, a real fpdf2 table)."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_title(TITLE)

    def heading(text: str, size: int) -> None:
        pdf.set_font("Helvetica", "B", size)
        pdf.multi_cell(0, size * 0.6, text, new_x="LMARGIN", new_y="NEXT")
        pdf.ln(2)

    def paragraph(text: str) -> None:
        pdf.set_font("Helvetica", "", 11)
        pdf.multi_cell(0, 6, text, new_x="LMARGIN", new_y="NEXT")
        pdf.ln(3)

    pdf.add_page()
    heading(HEADING_PATH[0], 20)
    paragraph(INTRO)
    heading(HEADING_PATH[1], 16)
    paragraph(RESULTS)
    pdf.add_page()
    paragraph(COSTS)
    heading(HEADING_PATH[2], 13)
    pdf.set_font("Helvetica", "", 11)
    with pdf.table(text_align=("LEFT", "RIGHT", "RIGHT", "RIGHT"), col_widths=(40, 30, 30, 30)) as table:
        for values in TABLE:
            row = table.row()
            for value in values:
                row.cell(value)
    pdf.ln(4)
    paragraph(AFTER_TABLE)
    pdf.add_page()
    heading("Outlook", 16)
    paragraph(OUTLOOK)
    pdf.output(str(path))
    return path


def write_docx(path: Path) -> Path:
    """The report as a .docx with Heading 1–3 styles and a real Word table."""
    import docx

    document = docx.Document()
    document.add_heading(HEADING_PATH[0], level=1)
    document.add_paragraph(INTRO)
    document.add_heading(HEADING_PATH[1], level=2)
    document.add_paragraph(RESULTS)
    document.add_paragraph(COSTS)
    document.add_heading(HEADING_PATH[2], level=3)
    table = document.add_table(rows=len(TABLE), cols=len(TABLE[0]))
    for r, values in enumerate(TABLE):
        for c, value in enumerate(values):
            table.cell(r, c).text = value
    document.add_paragraph(AFTER_TABLE)
    document.add_heading("Outlook", level=2)
    document.add_paragraph(OUTLOOK)
    document.save(str(path))
    return path


def html_text() -> str:
    head = "".join(f"<th>{v}</th>" for v in TABLE[0])
    body = "".join("<tr>" + "".join(f"<td>{v}</td>" for v in row) + "</tr>" for row in TABLE[1:])
    return f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{TITLE}</title><style>td {{ padding: 2px }}</style></head>
<body>
<nav><a href="/">Home</a></nav>
<main>
<h1>{HEADING_PATH[0]}</h1>
<p>{INTRO}</p>
<section>
<h2>{HEADING_PATH[1]}</h2>
<p>{RESULTS}</p>
<p>{COSTS}</p>
<h3>{HEADING_PATH[2]}</h3>
<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>
<p>{AFTER_TABLE}</p>
</section>
<h2>Outlook</h2>
<p>{OUTLOOK}</p>
<script>var ignored = "not text";</script>
</main>
</body></html>
"""


def write_html(path: Path) -> Path:
    """The report as an HTML page (with a <nav>, a <style> and a <script> that are not content)."""
    path.write_text(html_text(), encoding="utf-8")
    return path


def write_all(folder: Path) -> dict[str, Path]:
    """Write ``report.pdf``, ``report.docx`` and ``report.html`` into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    return {
        "pdf": write_pdf(folder / "report.pdf"),
        "docx": write_docx(folder / "report.docx"),
        "html": write_html(folder / "report.html"),
    }
