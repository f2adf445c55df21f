"""PDF reader (pypdf): text runs with their font, size and position, laid out by :mod:`.pdf_layout`."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any, Callable

from ragsift._lazy import require
from ragsift.errors import BadInputError
from ragsift.ingest.formats.blocks import StructuredText, first_heading
from ragsift.ingest.formats.pdf_layout import Run, layout_blocks

__all__ = ["read", "page_runs"]

_BOLD_NAME = re.compile(r"bold|black|heavy|semibold|demi", re.IGNORECASE)
_FILE_NAME_TITLE = re.compile(r"\.[A-Za-z]{2,4}$")
# Approximate advance widths (in ems) of a proportional sans font, for fonts without /Widths.
_NARROW = set(" ijlI.,:;'!|()[]/-ftr`\"")
_WIDE = set("mwMW@%")


def read(path: Path) -> StructuredText:
    """Read a PDF; ``metadata["pages"]`` is its page count, the title its /Title (else the first heading)."""
    pypdf = require("pypdf", extra="formats")
    reader = pypdf.PdfReader(str(path))
    if reader.is_encrypted and not _decrypt(reader):
        raise BadInputError(
            "the PDF is password-protected; save an unprotected copy (e.g. qpdf --decrypt) and index that",
            path=str(path),
        )
    blocks = layout_blocks([page_runs(page) for page in reader.pages])
    title = str((reader.metadata.title if reader.metadata else None) or "").strip()
    if _FILE_NAME_TITLE.search(title):  # "Microsoft Word - report.docx" names a file, not the document
        title = ""
    return StructuredText(blocks, title or first_heading(blocks), {"pages": len(reader.pages)})


def page_runs(page: Any) -> list[Run]:
    """The text runs of one pypdf page in content-stream order, with page coordinates and font size."""
    runs: list[Run] = []

    def visit(text: str, cm: list[float], tm: list[float], font: Any, font_size: float) -> None:
        text = text.strip("\n")
        if not text.strip():
            return
        a, b, c, d, e, f = _multiply(tm, cm)
        size = float(font_size) * (math.hypot(c, d) or 1.0)
        width_of = _width_function(_resolve(font))
        bold = _is_bold(_resolve(font))
        for n, part in enumerate(text.split("\n")):
            if part.strip():
                runs.append(Run(part, e, f - n * 1.2 * size, size, bold, width_of(part) * size))

    page.extract_text(visitor_text=visit)
    return runs


def _decrypt(reader: Any) -> bool:
    try:
        return bool(reader.decrypt(""))
    except Exception:  # a missing crypto backend or a wrong password both mean: cannot read it
        return False


def _multiply(m: list[float], n: list[float]) -> tuple[float, ...]:
    """The 3×3 affine product ``m × n`` of two PDF matrices ``[a b c d e f]``."""
    a1, b1, c1, d1, e1, f1 = (float(v) for v in m)
    a2, b2, c2, d2, e2, f2 = (float(v) for v in n)
    return (
        a1 * a2 + b1 * c2,
        a1 * b2 + b1 * d2,
        c1 * a2 + d1 * c2,
        c1 * b2 + d1 * d2,
        e1 * a2 + f1 * c2 + e2,
        e1 * b2 + f1 * d2 + f2,
    )


def _resolve(obj: Any) -> Any:
    return obj.get_object() if hasattr(obj, "get_object") else obj


def _is_bold(font: Any) -> bool:
    if not font:
        return False
    if _BOLD_NAME.search(str(font.get("/BaseFont", ""))):
        return True
    descriptor = _resolve(font.get("/FontDescriptor")) or {}
    try:
        return float(descriptor.get("/FontWeight", 0)) >= 600
    except (TypeError, ValueError):
        return False


def _width_function(font: Any) -> Callable[[str], float]:
    """Text width in ems: from the font's /Widths (simple fonts) where a character has one, else estimated."""
    widths: dict[int, float] = {}
    if font and "/Widths" in font:
        try:
            first = int(font.get("/FirstChar", 0))
            widths = {first + n: float(w) / 1000 for n, w in enumerate(_resolve(font["/Widths"])) if float(w) > 0}
        except (TypeError, ValueError):
            widths = {}

    def width(text: str) -> float:
        return sum(widths.get(ord(ch)) or _estimate(ch) for ch in text)

    return width


def _estimate(ch: str) -> float:
    if ch in _NARROW:
        return 0.3
    if ch in _WIDE:
        return 0.85
    return 0.68 if ch.isupper() else 0.55
