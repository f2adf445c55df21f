"""Load documents from a JSONL file: one ``{"id", "title", "text", "metadata"}`` object per line."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ragsift.errors import BadInputError
from ragsift.ingest._jsonl_lines import DuplicateIds, iter_objects, read_id, read_str
from ragsift.ingest.limits import DEFAULT_LIMITS, DocumentLimits, check_document
from ragsift.types import Document

__all__ = ["load_jsonl"]


def load_jsonl(path: str | os.PathLike[str], *, limits: DocumentLimits = DEFAULT_LIMITS) -> list[Document]:
    """Read documents from a JSONL file (UTF-8), in file order.

    Each non-blank line is an object with ``id`` (or BEIR's ``_id``; a string or an integer),
    ``text``, and optionally ``title`` and ``metadata`` (an object). A document whose ``title + text``
    is blank is returned as is (:attr:`Document.is_empty`): benchmark corpora contain such documents,
    and a collection skips them with one warning and counts them. Each document must be within ``limits`` (a line longer than
    ``limits.max_document_bytes`` is refused before it is read whole; see
    :mod:`ragsift.ingest.limits`). Any problem raises :class:`~ragsift.errors.BadInputError`
    naming the file and line.
    """
    file = Path(path)
    seen = DuplicateIds(file)
    docs = []
    for line, obj in iter_objects(file, what="JSONL document file", max_line_bytes=limits.max_document_bytes):
        doc = record_to_document(obj, file, line, limits)
        seen.add(doc.id, line)
        docs.append(doc)
    return docs


def record_to_document(
    obj: dict[str, Any], path: Path, line: int, limits: DocumentLimits = DEFAULT_LIMITS
) -> Document:
    """Validate one parsed JSONL record and build its :class:`Document`."""
    ident = read_id(obj, path, line)
    title = read_str(obj, "title", path, line, required=False)
    text = read_str(obj, "text", path, line, required=True)
    metadata = obj.get("metadata")
    if metadata is None:
        metadata = {}
    elif not isinstance(metadata, dict):
        raise BadInputError(
            f"'metadata' of document {ident!r} must be a JSON object, got {type(metadata).__name__}",
            path=str(path),
            line=line,
        )
    doc = Document(id=ident, text=text, title=title, metadata=metadata)
    try:
        check_document(doc, limits)
    except BadInputError as exc:
        raise BadInputError(str(exc), path=str(path), line=line) from None
    return doc
