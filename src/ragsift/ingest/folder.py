"""Load plain-text, Markdown, PDF, DOCX and HTML files, one document per file."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Iterable

from ragsift.errors import BadInputError, ConfigError
from ragsift.ingest._jsonl_lines import decode_utf8, read_bytes
from ragsift.ingest.formats import FORMAT_EXTENSIONS, read_formatted
from ragsift.ingest.limits import DEFAULT_LIMITS, DocumentLimits
from ragsift.ingest.markdown_syntax import iter_unfenced_lines, parse_atx_heading
from ragsift.types import Document

__all__ = ["DEFAULT_EXTENSIONS", "TEXT_EXTENSIONS", "load_folder", "load_file"]

TEXT_EXTENSIONS = (".txt", ".md")
DEFAULT_EXTENSIONS = TEXT_EXTENSIONS + FORMAT_EXTENSIONS

_FRONT_MATTER_TITLE = re.compile(r"""^title:\s*(?P<q>["']?)(?P<title>.*?)(?P=q)\s*$""")


def load_folder(
    path: str | os.PathLike[str],
    exts: Iterable[str] = DEFAULT_EXTENSIONS,
    *,
    limits: DocumentLimits = DEFAULT_LIMITS,
) -> list[Document]:
    """Read every file under ``path`` (recursively) whose extension is in ``exts``.

    Files are visited in sorted order of their relative path; hidden files and folders (name
    starting with ``.``) are skipped. A document's id and ``metadata["source"]`` are its path
    relative to ``path`` with forward slashes; its title is the first ``# `` heading of a
    Markdown file (else a front-matter ``title:``), otherwise the file stem. A text file larger
    than ``limits.max_document_bytes`` is refused (naming it) before it is read. PDF, DOCX and
    HTML files are read by :func:`ragsift.ingest.formats.read_formatted` (``pip install
    'ragsift[formats]'``); a file that cannot be read raises an error naming it, so nothing is
    loaded.
    """
    root = Path(path)
    suffixes = _normalize_exts(exts)
    if not root.is_dir():
        what = "does not exist" if not root.exists() else "is a file, not a folder"
        raise BadInputError(f"document folder {what}; pass a folder of {', '.join(suffixes)} files", path=str(root))
    files = sorted(
        (p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in suffixes and not _hidden(p, root)),
        key=lambda p: p.relative_to(root).as_posix(),
    )
    if not files:
        raise BadInputError(
            f"no files with extension {' or '.join(suffixes)} found (searched recursively); "
            "add files or pass exts=... to load_folder",
            path=str(root),
        )
    return [_read_document(file, file.relative_to(root).as_posix(), limits) for file in files]


def load_file(path: str | os.PathLike[str], *, limits: DocumentLimits = DEFAULT_LIMITS) -> Document:
    """Read one ``.txt``, ``.md``, ``.pdf``, ``.docx``, ``.html`` or ``.htm`` file as a document named by its file."""
    file = Path(path)
    return _read_document(file, file.name, limits)


def markdown_title(text: str) -> str:
    """The first level-1 ATX heading outside code fences, else a front-matter title, else ''."""
    for line in iter_unfenced_lines(text):
        heading = parse_atx_heading(line)
        if heading is not None and heading[0] == 1 and heading[1]:
            return heading[1]
    return _front_matter_title(text)


def _read_document(file: Path, rel: str, limits: DocumentLimits) -> Document:
    if file.suffix.lower() in FORMAT_EXTENSIONS:
        return read_formatted(file, rel, limits)
    try:
        size = file.stat().st_size
    except OSError:
        size = 0  # read_bytes names the problem
    if size > limits.max_document_bytes:
        raise BadInputError(
            f"file is {size:,} bytes, more than max_document_bytes={limits.max_document_bytes:,}; split it or raise "
            "the limit (--max-document-bytes)",
            path=str(file),
        )
    text = decode_utf8(read_bytes(file, what="document file"), file).replace("\r\n", "\n")
    if not text.strip():
        raise BadInputError("file is empty; remove it or give it some text", path=str(file))
    title = markdown_title(text) if file.suffix.lower() == ".md" else ""
    return Document(id=rel, text=text, title=title or file.stem, metadata={"source": rel})


def _front_matter_title(text: str) -> str:
    lines = text.split("\n")
    if not lines or lines[0].strip() != "---":
        return ""
    for line in lines[1:]:
        if line.strip() in ("---", "..."):
            break
        match = _FRONT_MATTER_TITLE.match(line)
        if match:
            return match.group("title").strip()
    return ""


def _normalize_exts(exts: Iterable[str]) -> tuple[str, ...]:
    if isinstance(exts, str):
        exts = (exts,)
    out = []
    for ext in exts:
        if not isinstance(ext, str) or not ext.strip("."):
            raise ConfigError(f"exts contains {ext!r}; give extensions like '.txt' or '.md'")
        out.append("." + ext.lower().lstrip("."))
    if not out:
        raise ConfigError("exts is empty; give at least one extension, e.g. exts=('.txt', '.md')")
    return tuple(out)


def _hidden(file: Path, root: Path) -> bool:
    return any(part.startswith(".") for part in file.relative_to(root).parts)
