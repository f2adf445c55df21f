"""Append-only record store: JSON Lines segments plus a liveness mask.

A write appends only the new records as one new segment; the segments of the previous
generation are hard-linked (not copied) into the new generation directory, and deletions flip
bits in ``live.npy``. So adding one document to a 100k-document collection writes one short
file instead of re-serializing every record. When more than a third of the lines are dead, the
next write compacts everything into a single segment; when there are more than
:data:`~ragsift.index.segments.MAX_SEGMENTS` segments, it merges every segment after the first
(the small, recent ones) into one, or compacts everything when they outweigh the first.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

import numpy as np

from ragsift.errors import CollectionError
from ragsift.index.segments import MAX_SEGMENTS, link_or_copy
from ragsift.index.store import read_jsonl, write_jsonl

__all__ = ["RecordLog"]

COMPACT_DEAD_FRACTION = 1 / 3


class RecordLog:
    """Tracks which line of which segment holds the live version of each record id."""

    def __init__(self) -> None:
        self.segments: list[tuple[str, int]] = []  # (file name, line count), in order
        self.live = np.zeros(0, dtype=bool)
        self.ordinal: dict[str, int] = {}  # id → line number of its live version
        self.pending: list[dict[str, Any]] = []

    def copy(self) -> "RecordLog":
        """An independent copy (what a fork of the collection changes without touching this one)."""
        twin = RecordLog()
        twin.segments = list(self.segments)
        twin.live = self.live.copy()
        twin.ordinal = dict(self.ordinal)
        twin.pending = list(self.pending)
        return twin

    @property
    def lines(self) -> int:
        return len(self.live) + len(self.pending)

    def append(self, rows: Iterable[dict[str, Any]]) -> None:
        """Stage new records (a record whose id exists replaces the old version)."""
        for row in rows:
            self.remove([row["id"]])
            self.ordinal[row["id"]] = self.lines
            self.pending.append(row)

    def remove(self, ids: Iterable[str]) -> None:
        for rid in ids:
            line = self.ordinal.pop(rid, None)
            if line is None:
                continue
            if line < len(self.live):
                self.live[line] = False
            else:  # staged in this write: drop it from the pending rows
                self.pending[line - len(self.live)] = None  # type: ignore[call-overload]

    def write(self, src: Path | None, dst: Path, live_rows: Iterable[dict[str, Any]], segment: str) -> dict[str, Any]:
        """Write this log into ``dst`` (a fresh directory); ``src`` is the previous generation's log directory.

        ``live_rows`` yields every live record in order; it is consumed only when compacting.
        """
        dst.mkdir(parents=True)
        pending_live = np.array([row is not None for row in self.pending], dtype=bool)
        live = np.concatenate([self.live, pending_live])
        dead = len(live) - int(live.sum())
        many = len(self.segments) >= MAX_SEGMENTS
        head = self.segments[0][1] if self.segments else 0
        if src is None or (len(live) and dead / len(live) > COMPACT_DEAD_FRACTION) or (many and len(live) > 2 * head):
            rows = list(live_rows)
            write_jsonl(dst / segment, rows)
            self.segments = [(segment, len(rows))]
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
            link_or_copy(src / self.segments[0][0], dst / self.segments[0][0])
            write_jsonl(dst / segment, rows)
            self.segments = [self.segments[0], (segment, len(rows))]
            self.live = np.concatenate([self.live[:head], np.ones(len(rows), dtype=bool)])
            self.ordinal.update((row["id"], head + n) for n, row in enumerate(rows))
        else:
            for name, _ in self.segments:
                link_or_copy(src / name, dst / name)
            new_rows = [row if row is not None else {"id": None} for row in self.pending]
            if new_rows:
                write_jsonl(dst / segment, new_rows)
                self.segments.append((segment, len(new_rows)))
            self.live = live
        self.pending = []
        np.save(dst / "live.npy", self.live, allow_pickle=False)
        return {"segments": [list(s) for s in self.segments]}

    @classmethod
    def load(cls, directory: Path, meta: dict[str, Any]) -> tuple["RecordLog", list[dict[str, Any]]]:
        """Read a log written by :meth:`write`; return it and its live records in order."""
        log = cls()
        log.segments = [(name, int(count)) for name, count in meta["segments"]]
        try:
            log.live = np.load(directory / "live.npy", allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise CollectionError(f"cannot read {directory / 'live.npy'}: {exc}") from exc
        rows: list[dict[str, Any]] = []
        line = 0
        for name, count in log.segments:
            seen = 0
            for row in read_jsonl(directory / name):
                if line < len(log.live) and log.live[line]:
                    log.ordinal[row["id"]] = line
                    rows.append(row)
                line += 1
                seen += 1
            if seen != count:
                raise CollectionError(f"{directory / name} has {seen} records, the manifest says {count}")
        if line != len(log.live):
            raise CollectionError(f"{directory}: {line} records but a liveness mask of {len(log.live)}")
        return log, rows
