"""Markdown-aware chunking: split at headings, keep tables (and code when it fits) whole."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator

from ragsift.ingest.markdown_syntax import FenceTracker, is_table_line, parse_atx_heading
from ragsift.ingest.recursive import RecursiveSplitter

__all__ = ["MarkdownChunk", "split_markdown", "markdown_chunks", "markdown_sections", "split_section"]

HEADING_JOINER = " > "


@dataclass(frozen=True)
class MarkdownChunk:
    """A chunk of one Markdown section: its heading path, the prefix line shown, and the body.

    ``page`` is the page the body is on, for documents read from a paged format (PDF).
    """

    headings: tuple[str, ...]
    prefix: str
    body: str
    page: int | None = None

    @property
    def text(self) -> str:
        return f"{self.prefix}\n{self.body}" if self.prefix else self.body


def split_markdown(
    text: str, splitter: RecursiveSplitter, heading_prefix: bool = True
) -> list[tuple[tuple[str, ...], str]]:
    """Split Markdown into ``(heading_path, chunk_text)`` pairs, in document order.

    Sections start at ATX headings (``#`` to ``######``; lines inside code fences are not
    headings). A section longer than ``splitter.size`` is cut with ``splitter``, but a table
    (consecutive lines starting with ``|``) is never cut: a table longer than the size becomes a
    chunk of its own. Fenced code blocks stay whole when they fit. With ``heading_prefix`` each
    chunk starts with a line like ``Guide > Install > Linux`` (counted in the size; shortened to
    the last heading, or left out, when it would take more than half the size); without it the
    original heading lines stay in the text.
    """
    return [(c.headings, c.text) for c in markdown_chunks(text, splitter, heading_prefix)]


def markdown_chunks(text: str, splitter: RecursiveSplitter, heading_prefix: bool = True) -> list[MarkdownChunk]:
    """Like :func:`split_markdown` but keeps each chunk's prefix and body apart."""
    chunks: list[MarkdownChunk] = []
    for headings, body in markdown_sections(text, keep_heading_lines=not heading_prefix):
        chunks.extend(split_section(headings, body, splitter, heading_prefix))
    return chunks


def markdown_sections(text: str, *, keep_heading_lines: bool) -> list[tuple[tuple[str, ...], str]]:
    """Cut ``text`` at ATX headings into ``(heading_path, body)`` pairs.

    Sections without content are dropped; with ``keep_heading_lines`` their heading lines are
    carried into the next section's body instead, so no text is lost.
    """
    sections: list[tuple[tuple[str, ...], str]] = []
    fences = FenceTracker()
    stack: list[tuple[int, str]] = []
    lines: list[str] = []
    has_content = False
    for line in text.split("\n"):
        heading = None if fences.update(line) else parse_atx_heading(line)
        if heading is None:
            lines.append(line)
            has_content = has_content or bool(line.strip())
            continue
        if has_content:
            sections.append((_path(stack), "\n".join(lines)))
        carried = lines if keep_heading_lines and not has_content else []
        stack = [(lvl, title) for lvl, title in stack if lvl < heading[0]] + [heading]
        lines = carried + [line] if keep_heading_lines else []
        has_content = False
    if has_content or (keep_heading_lines and "".join(lines).strip()):
        sections.append((_path(stack), "\n".join(lines)))
    return sections


def split_section(
    headings: tuple[str, ...], body: str, splitter: RecursiveSplitter, heading_prefix: bool = True
) -> list[MarkdownChunk]:
    """Chunk one section body; the heading prefix (when on) is counted in ``splitter.size``."""
    prefix = _prefix(headings, splitter) if heading_prefix else ""
    budget = splitter.size - (splitter.length_function(prefix + "\n") if prefix else 0)
    inner = splitter.with_size(budget)
    units: list[tuple[str, int]] = []  # (text, block number): pieces of one cut block share it
    for number, (kind, block) in enumerate(_blocks(body)):
        if kind == "table" or inner.length_function(block) <= budget:
            units.append((block, number))
        else:
            units.extend((piece, number) for piece in inner.split(block))
    return [MarkdownChunk(headings, prefix, chunk) for chunk in _pack(units, budget, inner.length_function)]


def _path(stack: list[tuple[int, str]]) -> tuple[str, ...]:
    return tuple(title for _, title in stack if title)


def _prefix(headings: tuple[str, ...], splitter: RecursiveSplitter) -> str:
    """The heading path line, shortened when it would take more than half the chunk size."""
    for candidate in (HEADING_JOINER.join(headings), headings[-1] if headings else ""):
        if candidate and splitter.length_function(candidate + "\n") <= splitter.size // 2:
            return candidate
    return ""


def _blocks(body: str) -> Iterator[tuple[str, str]]:
    """Yield ``(kind, text)`` blocks: ``"table"``, ``"code"`` (fenced) or ``"text"``; blank ones skipped."""
    fences = FenceTracker()
    kind = "text"
    lines: list[str] = []
    for line in body.split("\n"):
        in_code = fences.update(line)
        line_kind = "code" if in_code else "table" if is_table_line(line) else "text"
        if line_kind != kind:
            yield from _block(kind, lines)
            kind, lines = line_kind, []
        lines.append(line)
        if kind == "code" and not fences.open:  # closing fence: the block ends here
            yield from _block(kind, lines)
            kind, lines = "text", []
    yield from _block(kind, lines)


def _block(kind: str, lines: list[str]) -> Iterator[tuple[str, str]]:
    text = "\n".join(lines).strip("\n")
    if text.strip():
        yield kind, text


def _pack(units: list[tuple[str, int]], budget: int, length: Callable[[str], int]) -> list[str]:
    """Join consecutive units with newlines into chunks of at most ``budget`` where they fit.

    Two pieces of the same cut block are never joined: they already overlap each other.
    """
    chunks: list[str] = []
    current: list[str] = []
    total = 0
    last_block = -1
    newline = length("\n")
    for unit, block in units:
        size = length(unit)
        if current and (block == last_block or total + newline + size > budget):
            _flush(current, budget, length, chunks)
            current, total = [], 0
        total += size + (newline if current else 0)
        current.append(unit)
        last_block = block
    _flush(current, budget, length, chunks)
    return chunks


def _flush(units: list[str], budget: int, length: Callable[[str], int], chunks: list[str]) -> None:
    """Emit ``units`` as few chunks as possible, checking the true length of each join."""
    while units:
        take = len(units)
        while take > 1 and length("\n".join(units[:take])) > budget:
            take -= 1
        chunks.append("\n".join(units[:take]).strip())
        units = units[take:]
