"""Limits on what one document may be, checked wherever documents enter (library, CLI, HTTP).

A document's *size* is the length in UTF-8 bytes of its JSON form ``{"id", "title", "text",
"metadata"}`` — for a JSONL file, about the length of its line. Larger documents are refused
with an error naming the document (and the file and line when read from a file), because one
huge document holds the collection's writer for minutes while it is chunked and embedded.
Split such documents, or raise the limit (``--max-document-bytes`` on the CLI,
``max_document_bytes`` in the service settings).

Metadata must be a JSON object of bounded nesting and size: filters and search results carry
it, and a deeply nested value cannot be serialized into a response.

Every string (id, title, text, metadata keys and values) must be valid Unicode text: a lone
UTF-16 surrogate (``"\\ud800"`` in JSON) cannot be encoded as UTF-8 and is refused by name.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, Mapping

from ragsift.errors import BadInputError, ConfigError

__all__ = [
    "DocumentLimits",
    "DEFAULT_LIMITS",
    "MAX_DOCUMENT_BYTES",
    "MAX_METADATA_DEPTH",
    "MAX_METADATA_BYTES",
    "check_document",
    "check_text",
    "check_json_value",
    "safe_metadata",
]

MAX_DOCUMENT_BYTES = 1024 * 1024
"""Default largest document (its JSON form, UTF-8 bytes): 1 MiB, about 400 pages of text."""
MAX_METADATA_DEPTH = 16
"""Deepest nesting of objects/arrays allowed in ``metadata`` (a flat object has depth 1)."""
MAX_METADATA_BYTES = 64 * 1024
"""Largest ``metadata`` (its JSON form, UTF-8 bytes)."""


@dataclass(frozen=True)
class DocumentLimits:
    """Per-document limits; see the module docstring."""

    max_document_bytes: int = MAX_DOCUMENT_BYTES
    max_metadata_depth: int = MAX_METADATA_DEPTH
    max_metadata_bytes: int = MAX_METADATA_BYTES

    def __post_init__(self) -> None:
        for name in ("max_document_bytes", "max_metadata_depth", "max_metadata_bytes"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name}={value!r} must be an integer >= 1")


DEFAULT_LIMITS = DocumentLimits()


def check_text(value: str, field: str) -> None:
    """BadInputError naming ``field`` when ``value`` holds a character that is not valid Unicode text."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise BadInputError(
            f"{field} holds an invalid character {value[exc.start]!r} at position {exc.start} (a lone UTF-16 "
            "surrogate, which is not text); send valid Unicode"
        ) from None


def check_json_value(value: Any, field: str, *, max_depth: int) -> None:
    """Check a JSON-like value: plain types only, valid text, nesting at most ``max_depth``, finite numbers."""
    stack: list[tuple[Any, str, int]] = [(value, field, 1)]
    while stack:
        item, where, depth = stack.pop()
        if isinstance(item, (dict, list)):
            if depth > max_depth:
                raise BadInputError(
                    f"{where} is nested more than {max_depth} levels deep; flatten the metadata"
                )
            if isinstance(item, dict):
                for key, sub in item.items():
                    if not isinstance(key, str):
                        raise BadInputError(f"{where} has a non-string key {key!r}; metadata keys are strings")
                    check_text(key, f"a key of {where}")
                    stack.append((sub, f"{where}.{key}", depth + 1))
            else:
                stack.extend((sub, f"{where}[{n}]", depth + 1) for n, sub in enumerate(item))
        elif isinstance(item, str):
            check_text(item, where)
        elif isinstance(item, float) and not math.isfinite(item):
            raise BadInputError(f"{where}={item!r} is not a finite number; JSON has no NaN or infinity")
        elif item is not None and not isinstance(item, (bool, int, float)):
            raise BadInputError(
                f"{where} is a {type(item).__name__}; metadata holds JSON values only (object, array, string, "
                "number, true/false, null)"
            )


def check_document(doc: Any, limits: DocumentLimits = DEFAULT_LIMITS, *, where: str | None = None) -> int:
    """Validate one :class:`~ragsift.types.Document` against ``limits``; return its size in bytes.

    ``where`` names the document in errors (default ``document 'ID'``).
    """
    name = where or f"document {doc.id!r}"
    for field in ("id", "title", "text"):
        value = getattr(doc, field)
        if not isinstance(value, str):
            raise BadInputError(f"{name}: {field} must be a string, got {type(value).__name__}")
        check_text(value, f"{name}: {field}")
    if not isinstance(doc.metadata, Mapping):
        raise BadInputError(f"{name}: metadata must be a JSON object, got {type(doc.metadata).__name__}")
    check_json_value(dict(doc.metadata), f"{name}: metadata", max_depth=limits.max_metadata_depth)
    meta_bytes = len(json.dumps(dict(doc.metadata), ensure_ascii=False).encode("utf-8"))
    if meta_bytes > limits.max_metadata_bytes:
        raise BadInputError(
            f"{name}: metadata is {meta_bytes:,} bytes as JSON, more than max_metadata_bytes="
            f"{limits.max_metadata_bytes:,}; keep large values in the text"
        )
    size = meta_bytes + sum(len(getattr(doc, f).encode("utf-8")) for f in ("id", "title", "text"))
    if size > limits.max_document_bytes:
        raise BadInputError(
            f"{name} is {size:,} bytes, more than max_document_bytes={limits.max_document_bytes:,}; split it into "
            "smaller documents or raise the limit (--max-document-bytes, or max_document_bytes in the service)"
        )
    return size


def safe_metadata(metadata: Mapping[str, Any], max_depth: int = MAX_METADATA_DEPTH) -> dict[str, Any]:
    """``metadata`` with anything nested deeper than ``max_depth`` replaced by a short note.

    Stored documents predating the limits may hold metadata too deep to serialize; results show
    this instead of failing.
    """

    def cut(value: Any, depth: int) -> Any:
        if isinstance(value, (dict, list)) and depth > max_depth:
            return f"<nested deeper than {max_depth} levels; not shown>"
        if isinstance(value, dict):
            return {k: cut(v, depth + 1) for k, v in value.items()}
        if isinstance(value, list):
            return [cut(v, depth + 1) for v in value]
        return value

    if not _deeper_than(metadata, max_depth):
        return dict(metadata)
    return cut(dict(metadata), 1)


def _deeper_than(value: Any, max_depth: int) -> bool:
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list, Mapping)):
            if depth > max_depth:
                return True
            children = item.values() if isinstance(item, Mapping) else item
            stack.extend((c, depth + 1) for c in children if isinstance(c, (dict, list, Mapping)))
    return False
