"""Append-only record store: JSON Lines segments plus a liveness mask, read lazily.

A write appends only the new records as one new segment; the segments of the previous
generation are hard-linked (not copied) into the new generation directory, and deletions flip
bits in ``live.npy``. So adding one document to a 100k-document collection writes one short
file instead of re-serializing every record. When more than a third of the lines are dead, the
next write compacts everything into a single segment; when there are more than
:data:`~ragsift.index.segments.MAX_SEGMENTS` segments, it merges every segment after the first
(the small, recent ones) into one, or compacts everything when they outweigh the first.

Opening a log does not parse its records. Each segment ``NAME`` has two small sidecars:
``NAME.offsets.npy`` (the byte offset of every line) and ``NAME.cols.json`` (the columns the
collection needs for every record without reading it: the id, and for chunks the document id
and metadata). The segment file itself is memory-mapped, and a record is parsed when it is
asked for (:meth:`RecordLog.get`, :meth:`RecordLog.row`). A memory map stays readable after a
writer removes the generation it came from. Segments written before the sidecars existed are
scanned once at open, and the next write adds their sidecars.
"""

from __future__ import annotations

import json
import mmap
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ragsift.errors import CollectionError
from ragsift.index.segments import MAX_SEGMENTS, link_or_copy
from ragsift.index.store import read_jsonl, write_jsonl

__all__ = ["RecordLog"]

COMPACT_DEAD_FRACTION = 1 / 3
OFFSETS = ".offsets.npy"
COLUMNS = ".cols.json"


class _Segment:
    """One segment file: its bytes (memory-mapped), line offsets and columns."""

    def __init__(self, data: Any, offsets: np.ndarray, columns: dict[str, list]):
        self.data = data
        self.offsets = offsets
        self.columns = columns

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def record(self, line: int) -> dict[str, Any] | None:
        raw = self.data[int(self.offsets[line]): int(self.offsets[line + 1])]
        return json.loads(raw) if raw.strip() else None

    @classmethod
    def read(cls, path: Path, names: Sequence[str]) -> _Segment:
        data = _map(path)
        side_offsets, side_columns = path.with_name(path.name + OFFSETS), path.with_name(path.name + COLUMNS)
        if side_offsets.exists() and side_columns.exists():
            offsets = np.load(side_offsets, allow_pickle=False)
            columns = json.loads(side_columns.read_text(encoding="utf-8"))
            if all(name in columns for name in names):
                return cls(data, offsets, columns)
        return cls.scan(data, names)  # written before the sidecars existed

    @classmethod
    def scan(cls, data: Any, names: Sequence[str]) -> _Segment:
        offsets, columns = [0], {name: [] for name in names}
        lines = bytes(data).split(b"\n")
        if lines[-1] == b"":  # the newline that ends the last line (or an empty file)
            lines.pop()
        for line in lines:
            offsets.append(offsets[-1] + len(line) + 1)
            row = json.loads(line) if line.strip() else None
            for name in names:
                columns[name].append(_column_value(row, name))
        return cls(data, np.asarray(offsets, dtype=np.int64), columns)

    def save_sidecars(self, path: Path) -> None:
        np.save(path.with_name(path.name + OFFSETS), self.offsets, allow_pickle=False)
        path.with_name(path.name + COLUMNS).write_text(json.dumps(self.columns, ensure_ascii=False), encoding="utf-8")


def _map(path: Path) -> Any:
    with open(path, "rb") as fh:
        try:
            return mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        except ValueError:  # an empty file cannot be mapped
            return b""


def _column_value(row: dict[str, Any] | None, name: str) -> Any:
    if row is None:
        return None
    value = row.get(name)
    return value or None if name == "metadata" else value  # empty metadata stored as null


class RecordLog:
    """Tracks which line of which segment holds the live version of each record id.

    ``columns``: the fields kept in memory for every record (``id`` always first).
    """

    def __init__(self, columns: Sequence[str] = ("id",)) -> None:
        self.columns = tuple(dict.fromkeys(("id", *columns)))
        self.segments: list[tuple[str, int]] = []  # (file name, line count), in order
        self.live = np.zeros(0, dtype=bool)
        self.ordinal: dict[str, int] = {}  # id → line number of its live version
        self.pending: list[dict[str, Any] | None] = []
        self._files: list[_Segment] = []  # one per segment, same order
        self._starts = np.zeros(1, dtype=np.int64)  # first line of each segment, then the total
        self._lines: np.ndarray | None = None  # cached: the line of each live row, in order

    def copy(self) -> RecordLog:
        """An independent copy (what a fork of the collection changes without touching this one)."""
        twin = RecordLog(self.columns)
        twin.segments = list(self.segments)
        twin.live = self.live.copy()
        twin.ordinal = dict(self.ordinal)
        twin.pending = list(self.pending)
        twin._files = list(self._files)
        twin._starts = self._starts
        twin._lines = self._lines
        return twin

    @property
    def lines(self) -> int:
        return len(self.live) + len(self.pending)

    def __len__(self) -> int:
        """Live records."""
        return len(self.ordinal)

    def __contains__(self, rid: object) -> bool:
        return rid in self.ordinal

    # ------------------------------------------------------------------ reading
    def get(self, rid: str) -> dict[str, Any]:
        """The live record with id ``rid`` (KeyError when there is none)."""
        return self._line(self.ordinal[rid])

    def _line(self, line: int) -> dict[str, Any]:
        if line >= len(self.live):
            row = self.pending[line - len(self.live)]
        else:
            seg = int(np.searchsorted(self._starts, line, side="right")) - 1
            row = self._files[seg].record(line - int(self._starts[seg]))
        if row is None:
            raise KeyError(line)
        return row

    def live_lines(self) -> np.ndarray:
        """The line of every live record, in order (stored lines, then pending ones)."""
        if self._lines is None:
            pending = [len(self.live) + i for i, row in enumerate(self.pending) if row is not None]
            self._lines = np.concatenate([np.flatnonzero(self.live), np.asarray(pending, dtype=np.int64)]).astype(np.int64)
        return self._lines

    def position(self, rid: str) -> int:
        """The position among the live records of the record ``rid`` (KeyError when there is none)."""
        return int(np.searchsorted(self.live_lines(), self.ordinal[rid]))

    def row(self, position: int) -> dict[str, Any]:
        """The live record at ``position`` (0 = the first live record)."""
        return self._line(int(self.live_lines()[position]))

    def rows(self) -> Iterator[dict[str, Any]]:
        """Every live record, in order (parses them all: for compaction and exports)."""
        for line in self.live_lines():
            yield self._line(int(line))

    def column(self, name: str) -> list[Any]:
        """Column ``name`` of every live record, in order, without parsing the records."""
        stored = [v for f in self._files for v in f.columns[name]]
        live = self.live
        out = [v for v, keep in zip(stored, live) if keep] if not live.all() else stored
        out += [_column_value(row, name) for row in self.pending if row is not None]
        return out

    # ------------------------------------------------------------------ changes
    def append(self, rows: Iterable[dict[str, Any]]) -> None:
        """Stage new records (a record whose id exists replaces the old version)."""
        for row in rows:
            self.remove([row["id"]])
            self.ordinal[row["id"]] = self.lines
            self.pending.append(row)
        self._lines = None

    def remove(self, ids: Iterable[str]) -> None:
        for rid in ids:
            line = self.ordinal.pop(rid, None)
            if line is None:
                continue
            if line < len(self.live):
                self.live[line] = False
            else:  # staged in this write: drop it from the pending rows
                self.pending[line - len(self.live)] = None
            self._lines = None

    def write(self, src: Path | None, dst: Path, segment: str) -> dict[str, Any]:
        """Write this log into ``dst`` (a fresh directory) as of now; ``src`` is the previous
        generation's log directory. New records go to the segment file ``segment``."""
        dst.mkdir(parents=True)
        pending_live = np.array([row is not None for row in self.pending], dtype=bool)
        live = np.concatenate([self.live, pending_live])
        dead = len(live) - int(live.sum())
        many = len(self.segments) >= MAX_SEGMENTS
        head = self.segments[0][1] if self.segments else 0
        if src is None or (len(live) and dead / len(live) > COMPACT_DEAD_FRACTION) or (many and len(live) > 2 * head):
            rows = list(self.rows())
            self.segments, self._files = [], []
            self._add_segment(dst, segment, rows)
            self.live = np.ones(len(rows), dtype=bool)
            self.ordinal = {row["id"]: n for n, row in enumerate(rows)}
        elif many:  # merge every segment after the first (the small, recent ones) with the new rows
            rows, line = [], head
            for name, _ in self.segments[1:]:
                for row in read_jsonl(src / name):
                    if self.live[line]:
                        rows.append(row)
                    line += 1
            rows += [row for row in self.pending if row is not None]
            self._link(src, dst, 0)
            self.segments, self._files = self.segments[:1], self._files[:1]
            self._add_segment(dst, segment, rows)
            self.live = np.concatenate([self.live[:head], np.ones(len(rows), dtype=bool)])
            self.ordinal.update((row["id"], head + n) for n, row in enumerate(rows))
        else:
            for i in range(len(self.segments)):
                self._link(src, dst, i)
            new_rows = [row if row is not None else {"id": None} for row in self.pending]
            if new_rows:
                self._add_segment(dst, segment, new_rows)
            self.live = live
        self.pending = []
        self._lines = None
        np.save(dst / "live.npy", self.live, allow_pickle=False)
        return {"segments": [list(s) for s in self.segments]}

    def _link(self, src: Path, dst: Path, i: int) -> None:
        name = self.segments[i][0]
        link_or_copy(src / name, dst / name)
        if (src / (name + OFFSETS)).exists() and (src / (name + COLUMNS)).exists():
            link_or_copy(src / (name + OFFSETS), dst / (name + OFFSETS))
            link_or_copy(src / (name + COLUMNS), dst / (name + COLUMNS))
        else:  # a segment from before the sidecars: write them from what was scanned at open
            self._files[i].save_sidecars(dst / name)

    def _add_segment(self, dst: Path, name: str, rows: list[dict[str, Any]]) -> None:
        offsets = write_jsonl(dst / name, rows)
        columns = {c: [_column_value(row if row.get("id") is not None else None, c) for row in rows] for c in self.columns}
        seg = _Segment(_map(dst / name), offsets, columns)
        seg.save_sidecars(dst / name)
        self.segments.append((name, len(rows)))
        self._files.append(seg)
        self._starts = np.cumsum([0] + [n for _, n in self.segments]).astype(np.int64)

    @classmethod
    def load(cls, directory: Path, meta: dict[str, Any], columns: Sequence[str] = ("id",)) -> RecordLog:
        """Read a log written by :meth:`write` (the records stay on disk until asked for)."""
        log = cls(columns)
        log.segments = [(name, int(count)) for name, count in meta["segments"]]
        try:
            log.live = np.load(directory / "live.npy", allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise CollectionError(f"cannot read {directory / 'live.npy'}: {exc}") from exc
        try:
            log._files = [_Segment.read(directory / name, log.columns) for name, _ in log.segments]
        except (OSError, ValueError) as exc:
            raise CollectionError(f"cannot read the record segments in {directory}: {exc}") from exc
        for (name, count), seg in zip(log.segments, log._files):
            if len(seg) != count:
                raise CollectionError(f"{directory / name} has {len(seg)} records, the manifest says {count}")
        log._starts = np.cumsum([0] + [n for _, n in log.segments]).astype(np.int64)
        if int(log._starts[-1]) != len(log.live):
            raise CollectionError(f"{directory}: {int(log._starts[-1])} records but a liveness mask of {len(log.live)}")
        ids = [v for seg in log._files for v in seg.columns["id"]]
        log.ordinal = {rid: line for line, (rid, keep) in enumerate(zip(ids, log.live)) if keep}
        return log
