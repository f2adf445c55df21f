"""Line-by-line JSONL reading with errors that name the file and the 1-based line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

from ragsift.errors import BadInputError


def read_bytes(path: Path, *, what: str, probe: bool = False) -> bytes:
    """Read ``path`` or raise BadInputError naming it (``what`` says what the file should be).

    ``probe``: only check that it is a readable file; returns ``b""``.
    """
    if not path.exists():
        raise BadInputError(f"{what} not found; check the path", path=str(path))
    if not path.is_file():
        raise BadInputError(f"{what} must be a file, but this is a directory", path=str(path))
    if probe:
        return b""
    try:
        return path.read_bytes()
    except OSError as exc:
        raise BadInputError(f"cannot read {what}: {exc.strerror or exc}", path=str(path)) from exc


def decode_utf8(data: bytes, path: Path) -> str:
    """Decode UTF-8 (a leading BOM is dropped); a bad byte raises an error naming its line."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise BadInputError(
            f"not valid UTF-8 (byte 0x{data[exc.start]:02x}); re-save the file as UTF-8",
            path=str(path),
            line=line,
        ) from exc


def iter_objects(path: Path, *, what: str, max_line_bytes: int | None = None) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line_number, object)`` for each non-blank line of a JSONL file.

    The file is streamed line by line. A line longer than ``max_line_bytes`` raises an error
    naming the file and line without reading the rest of it, so one huge record cannot exhaust
    memory.
    """
    read_bytes(path, what=what, probe=True)
    try:
        fh = open(path, "rb")
    except OSError as exc:
        raise BadInputError(f"cannot read {what}: {exc.strerror or exc}", path=str(path)) from exc
    with fh:
        number = 0
        while True:
            raw = fh.readline(max_line_bytes + 1) if max_line_bytes else fh.readline()
            if not raw:
                return
            number += 1
            if max_line_bytes and len(raw.rstrip(b"\r\n")) > max_line_bytes:
                raise BadInputError(
                    f"line is longer than max_document_bytes={max_line_bytes:,} bytes; split the document or raise "
                    "the limit (--max-document-bytes)",
                    path=str(path),
                    line=number,
                )
            line = _decode_line(raw, path, number, bom=number == 1)
            if not line.strip():
                continue
            yield number, _parse_object(line, path, number)


def _decode_line(raw: bytes, path: Path, number: int, *, bom: bool) -> str:
    try:
        return raw.decode("utf-8-sig" if bom else "utf-8")
    except UnicodeDecodeError as exc:
        raise BadInputError(
            f"not valid UTF-8 (byte 0x{raw[exc.start]:02x}); re-save the file as UTF-8", path=str(path), line=number
        ) from exc


def _parse_object(line: str, path: Path, number: int) -> dict[str, Any]:
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        raise BadInputError(
            f"malformed JSON ({exc.msg} at column {exc.colno}); each line must be one JSON object",
            path=str(path),
            line=number,
        ) from exc
    except RecursionError:
        raise BadInputError("the JSON is nested too deeply to read", path=str(path), line=number) from None
    if not isinstance(obj, dict):
        raise BadInputError(
            f"line is a JSON {_json_type(obj)}, expected an object like " '{"id": "...", "text": "..."}',
            path=str(path),
            line=number,
        )
    return obj


def read_id(obj: dict[str, Any], path: Path, line: int) -> str:
    """Return the record id from ``id`` (or BEIR's ``_id``) as a string; ints are converted."""
    key = "id" if "id" in obj else "_id"
    if key not in obj:
        raise BadInputError("missing 'id' (or BEIR '_id'); every record needs a unique id", path=str(path), line=line)
    value = obj[key]
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise BadInputError(
            f"{key!r} must be a string or an integer, got {_json_type(value)} {value!r}",
            path=str(path),
            line=line,
        )
    ident = str(value)
    if not ident.strip():
        raise BadInputError(f"{key!r} is empty; every record needs a non-empty unique id", path=str(path), line=line)
    return ident


def read_str(obj: dict[str, Any], key: str, path: Path, line: int, *, required: bool) -> str:
    """Return string field ``key`` ('' when absent or null and not required)."""
    if key not in obj or obj[key] is None:
        if required:
            raise BadInputError(f"missing {key!r}; add a {key!r} string to the record", path=str(path), line=line)
        return ""
    value = obj[key]
    if not isinstance(value, str):
        raise BadInputError(
            f"{key!r} must be a string, got {_json_type(value)} {_short(value)}", path=str(path), line=line
        )
    return value


class DuplicateIds:
    """Remembers the line of each id and raises on a repeat, naming both lines."""

    def __init__(self, path: Path, *, kind: str = "id"):
        self._path = path
        self._kind = kind
        self._seen: dict[str, int] = {}

    def add(self, ident: str, line: int) -> None:
        first = self._seen.setdefault(ident, line)
        if first != line:
            raise BadInputError(
                f"duplicate {self._kind} {ident!r} (first on line {first}, again on line {line}); ids must be unique",
                path=str(self._path),
                line=line,
            )


def _json_type(value: Any) -> str:
    names = {dict: "object", list: "array", str: "string", bool: "boolean", int: "number", float: "number"}
    return "null" if value is None else names.get(type(value), type(value).__name__)


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
