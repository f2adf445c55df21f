"""From positioned text runs of PDF pages to blocks: lines, headings by font size, tables by columns.

Pure geometry, no PDF library: :mod:`ragsift.ingest.formats.pdf` collects the runs. The rules
are deliberately simple and documented in the chunking guide:

* runs that follow each other in the content stream on one baseline form a line; a horizontal
  gap wider than :data:`CELL_GAP` font sizes between two runs starts a new *cell*;
* the body size is the font size of most characters; a short line set at least
  :data:`HEADING_RATIO` times larger is a heading, levels by size (largest = 1), and a short
  all-bold line at body size is a heading one level below the smallest heading size;
* two or more consecutive lines with two or more cells, whose columns line up, are one table;
* other consecutive lines at the usual line spacing are joined into a paragraph.
"""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass, field
from functools import cached_property
from typing import Sequence

from ragsift.ingest.formats.blocks import MAX_LEVEL, Block, Heading, PageStart, Paragraph, Table

__all__ = ["Run", "Line", "group_lines", "layout_blocks", "CELL_GAP", "HEADING_RATIO"]

CELL_GAP = 1.0
"""A gap wider than this many font sizes between two runs of a line separates table cells."""
WIDE_GAP = 2.0
"""A gap this many font sizes wide before a line's last cell makes its right edge count as a column."""
HEADING_RATIO = 1.15
"""A line at least this many times the body font size (and short) is a heading."""
MAX_HEADING_CHARS = 200
PARAGRAPH_GAP = 1.35
"""Lines further apart than this many times the usual line spacing start a new paragraph."""


@dataclass(frozen=True)
class Run:
    """Text drawn at one position: baseline start ``(x, y)`` in points, ``width`` estimated."""

    text: str
    x: float
    y: float
    size: float
    bold: bool = False
    width: float = 0.0

    @property
    def end(self) -> float:
        return self.x + self.width


@dataclass
class Line:
    """Runs on one baseline, left to right."""

    runs: list[Run] = field(default_factory=list)

    @property
    def y(self) -> float:
        return self.runs[0].y

    @cached_property  # read once the line is complete (group_lines reads only y while appending)
    def size(self) -> float:
        """The font size of most of the line's characters."""
        weights: Counter[float] = Counter()
        for run in self.runs:
            weights[round(run.size * 2) / 2] += len(run.text.strip())
        return weights.most_common(1)[0][0]

    @cached_property  # read once the line is complete (group_lines reads only y while appending)
    def bold(self) -> bool:
        return all(run.bold for run in self.runs if run.text.strip())

    @cached_property  # read once the line is complete (group_lines reads only y while appending)
    def text(self) -> str:
        return " ".join(cell for _, _, cell in self.cells)

    @cached_property  # read once the line is complete (group_lines reads only y while appending)
    def cells(self) -> list[tuple[float, float, str]]:
        """``(start, end, text)`` of each cell: runs joined until a gap of :data:`CELL_GAP` sizes."""
        cells: list[tuple[float, float, str]] = []
        for run in sorted(self.runs, key=lambda r: r.x):
            if cells and run.x - cells[-1][1] <= CELL_GAP * run.size:
                start, _, text = cells[-1]
                cells[-1] = (start, max(run.end, cells[-1][1]), text + run.text)
            else:
                cells.append((run.x, run.end, run.text))
        return [(start, end, " ".join(text.split())) for start, end, text in cells if text.strip()]


def group_lines(runs: Sequence[Run]) -> list[Line]:
    """Group runs, in content-stream order, into lines: a run off the current baseline starts a new one."""
    lines: list[Line] = []
    for run in runs:
        if not run.text.strip():
            continue
        if lines and abs(lines[-1].y - run.y) <= 0.5 * min(run.size, lines[-1].runs[0].size):
            lines[-1].runs.append(run)
        else:
            lines.append(Line([run]))
    return lines


def layout_blocks(pages: Sequence[Sequence[Run]]) -> list[Block]:
    """The blocks of a document whose pages hold ``pages`` runs (in content-stream order)."""
    page_lines = [group_lines(runs) for runs in pages]
    lines = [line for page in page_lines for line in page]
    if not lines:
        return []
    body = _body_size(lines)
    layout = _Layout(body, _heading_levels(lines, body), _line_spacing(page_lines, body))
    blocks: list[Block] = []
    for number, page in enumerate(page_lines, 1):
        blocks.append(PageStart(number))
        blocks.extend(layout.page_blocks(page))
    return blocks


@dataclass
class _Layout:
    body: float
    levels: dict[float, int]
    spacing: float

    def level(self, line: Line) -> int | None:
        text = line.text
        if len(text) > MAX_HEADING_CHARS or not any(ch.isalnum() for ch in text) or len(line.cells) > 1:
            return None
        if line.size in self.levels:
            return self.levels[line.size]
        if line.bold and line.size >= self.body - 0.5 and len(text) <= 120 and not text.endswith((".", ":", ",")):
            return min(len(self.levels) + 1, MAX_LEVEL)
        return None

    def page_blocks(self, lines: list[Line]) -> list[Block]:
        out: list[tuple[str, int, list[str]] | Table] = []
        prev: Line | None = None
        i = 0
        while i < len(lines):
            end = _table_end(lines, i)
            if end - i >= 2:
                out.append(Table(_table_rows(lines[i:end])))
                prev, i = None, end
                continue
            line = lines[i]
            level = self.level(line)
            kind = "heading" if level else "paragraph"
            last = out[-1] if out else None
            if isinstance(last, tuple) and last[:2] == (kind, level or 0) and self._continues(prev, line, kind):
                last[2].append(line.text)
            else:
                out.append((kind, level or 0, [line.text]))
            prev, i = line, i + 1
        return [_block(item) for item in out]

    def _continues(self, prev: Line | None, line: Line, kind: str) -> bool:
        if prev is None or prev.size != line.size:
            return False
        gap = prev.y - line.y
        limit = (1.6 * line.size) if kind == "heading" else PARAGRAPH_GAP * self.spacing
        return 0 < gap <= limit


def _block(item: tuple[str, int, list[str]] | Table) -> Block:
    if isinstance(item, Table):
        return item
    kind, level, texts = item
    text = " ".join(texts)
    return Heading(level, text) if kind == "heading" else Paragraph(text)


def _body_size(lines: Sequence[Line]) -> float:
    weights: Counter[float] = Counter()
    for line in lines:
        weights[line.size] += len(line.text)
    return weights.most_common(1)[0][0]


def _heading_levels(lines: Sequence[Line], body: float) -> dict[float, int]:
    """Font size → heading level for the sizes that mark headings (largest first, at most 6 levels)."""
    sizes = {
        line.size
        for line in lines
        if line.size >= HEADING_RATIO * body and len(line.text) <= MAX_HEADING_CHARS and len(line.cells) == 1
    }
    return {size: min(n, MAX_LEVEL) for n, size in enumerate(sorted(sizes, reverse=True), 1)}


def _line_spacing(pages: Sequence[Sequence[Line]], body: float) -> float:
    """The usual distance between consecutive body-size lines (1.2 sizes when there are none)."""
    gaps = [
        round(a.y - b.y, 1)
        for page in pages
        for a, b in zip(page, page[1:])
        if a.size == b.size == body and 0 < a.y - b.y < 3 * body
    ]
    return statistics.median(gaps) if gaps else 1.2 * body


def _table_end(lines: Sequence[Line], start: int) -> int:
    """The index after the last line of a table starting at ``start`` (``start`` itself when none)."""
    if len(lines[start].cells) < 2:
        return start
    end = start + 1
    while end < len(lines) and _joins_table(lines[end], lines[start:end]):
        end += 1
    return end


def _joins_table(line: Line, rows: Sequence[Line]) -> bool:
    """A line continues a table when it has 2+ cells, sits just below it, and a column lines up.

    A column lines up when a cell (not the first) starts where a cell of the table starts, or
    ends where one ends. The last cell ending at the same place proves little (every line of a
    justified paragraph ends at the margin), so it counts only after a gap of
    :data:`WIDE_GAP` font sizes.
    """
    cells = line.cells
    gap = rows[-1].y - line.y
    if len(cells) < 2 or not 0 < gap <= 4 * line.size:
        return False
    tolerance = line.size
    starts = [s for row in rows for s, _, _ in row.cells[1:]]
    ends = [e for row in rows for _, e, _ in row.cells[1:]]
    for n in range(1, len(cells)):
        start, end, _ = cells[n]
        if any(abs(start - s) <= tolerance for s in starts):
            return True
        wide = n < len(cells) - 1 or start - cells[n - 1][1] >= WIDE_GAP * line.size
        if wide and any(abs(end - e) <= tolerance for e in ends):
            return True
    return False


def _table_rows(lines: Sequence[Line]) -> tuple[tuple[str, ...], ...]:
    """Cell texts per row; a row with fewer cells than the widest is placed by its cells' positions."""
    widest = max(lines, key=lambda line: len(line.cells))
    starts = [start for start, _, _ in widest.cells]
    width = len(starts)
    rows = []
    for line in lines:
        cells = line.cells
        if len(cells) == width:
            rows.append(tuple(text for _, _, text in cells))
            continue
        row = [""] * width
        for start, _, text in cells:
            column = max((n for n, s in enumerate(starts) if start >= s - line.size), default=0)
            row[column] = f"{row[column]} {text}".strip()
        rows.append(tuple(row))
    return tuple(rows)
