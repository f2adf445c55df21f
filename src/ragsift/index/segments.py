"""Append-only row segments for arrays aligned with the chunk rows (dense vectors, BM25 term counts).

The array twin of :mod:`ragsift.index.records`: a write saves only the rows added since the
previous generation as one new segment; the previous segments are hard-linked (not copied)
into the new generation directory, and deletions clear bits in ``live.npy`` (one bit per stored
row). So adding one document to a 100k-chunk collection writes a few kilobytes instead of the
whole 150 MB vector matrix. When more than a third of the stored rows are dead, the write
compacts: all live rows into one segment. When there are :data:`MAX_SEGMENTS` segments, it
merges every segment after the first (the small, recent ones) with the new rows, or compacts
when those outweigh the first.

Two codecs say how a block of rows is stored: :data:`DENSE` (a 2-D float32 array,
``STEM.npy``) and :data:`CSR` (variable-length sparse rows ``(data, indices, indptr)``,
``STEM.data.npy`` / ``.indices.npy`` / ``.indptr.npy``).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ragsift.errors import CollectionError

__all__ = ["RowLog", "DENSE", "CSR", "link_or_copy", "COMPACT_DEAD_FRACTION", "MAX_SEGMENTS"]

COMPACT_DEAD_FRACTION = 1 / 3
#: More segments than this and the next write compacts (reading many small files costs at open).
MAX_SEGMENTS = 32


class _Dense:
    """A block is a 2-D float32 array, one row per chunk."""

    suffixes = (".npy",)

    @staticmethod
    def rows(block) -> int:
        return len(block)

    @staticmethod
    def select(block, mask: np.ndarray):
        return np.asarray(block)[mask]

    @staticmethod
    def concat(blocks):
        return blocks[0] if len(blocks) == 1 else np.concatenate([np.asarray(b) for b in blocks])

    @staticmethod
    def save(directory: Path, stem: str, block) -> None:
        np.save(directory / f"{stem}.npy", np.ascontiguousarray(block, dtype=np.float32), allow_pickle=False)

    @staticmethod
    def load(directory: Path, stem: str, mmap: bool):
        return np.load(directory / f"{stem}.npy", mmap_mode="r" if mmap else None, allow_pickle=False)


class _Csr:
    """A block is ``(data, indices, indptr)``: CSR rows of term counts, ``indptr`` starting at 0."""

    suffixes = (".data.npy", ".indices.npy", ".indptr.npy")

    @staticmethod
    def rows(block) -> int:
        return len(block[2]) - 1

    @staticmethod
    def select(block, mask: np.ndarray):
        data, indices, indptr = block
        row_nnz = np.diff(indptr)
        nnz_mask = np.repeat(mask, row_nnz)
        return data[nnz_mask], indices[nnz_mask], np.concatenate([[0], np.cumsum(row_nnz[mask])]).astype(np.int64)

    @staticmethod
    def concat(blocks):
        if len(blocks) == 1:
            return blocks[0]
        offsets = np.cumsum([0] + [int(b[2][-1]) for b in blocks[:-1]])
        indptr = np.concatenate([[0]] + [np.asarray(b[2][1:]) + off for b, off in zip(blocks, offsets)]).astype(np.int64)
        return (np.concatenate([b[0] for b in blocks]), np.concatenate([b[1] for b in blocks]), indptr)

    @staticmethod
    def save(directory: Path, stem: str, block) -> None:
        for suffix, arr in zip(_Csr.suffixes, block):
            np.save(directory / f"{stem}{suffix}", np.ascontiguousarray(arr), allow_pickle=False)

    @staticmethod
    def load(directory: Path, stem: str, mmap: bool):
        return tuple(np.load(directory / f"{stem}{s}", allow_pickle=False) for s in _Csr.suffixes)


DENSE = _Dense()
CSR = _Csr()


class RowLog:
    """Which stored rows are live, plus the blocks appended since the last write.

    The rows of the array it mirrors are, in order: the live stored rows, then the pending ones.
    """

    def __init__(self, codec) -> None:
        self.codec = codec
        self.segments: list[tuple[str, int]] = []  # (file stem, rows), in order
        self.live = np.zeros(0, dtype=bool)
        self.pending: list[Any] = []
        self.compact_next = False  # the stored rows are in a legacy layout: the next write rewrites them

    def copy(self) -> "RowLog":
        """An independent copy (blocks are shared: they are never written into)."""
        twin = RowLog(self.codec)
        twin.segments = list(self.segments)
        twin.live = self.live.copy()
        twin.pending = list(self.pending)
        twin.compact_next = self.compact_next
        return twin

    def append(self, block) -> None:
        """Stage new rows (they follow every current row)."""
        if self.codec.rows(block):
            self.pending.append(block)

    def keep(self, mask: np.ndarray) -> None:
        """Keep the current rows where ``mask`` is True (``mask`` has one entry per current row)."""
        mask = np.asarray(mask, dtype=bool)
        stored = np.flatnonzero(self.live)
        if len(mask) != len(stored) + sum(self.codec.rows(b) for b in self.pending):
            raise CollectionError(f"row mask of {len(mask)} does not match the {len(stored)} stored + pending rows")
        head, rest = mask[: len(stored)], mask[len(stored):]
        if not head.all():
            self.live = self.live.copy()
            self.live[stored[~head]] = False
        kept, at = [], 0
        for block in self.pending:
            n = self.codec.rows(block)
            part = rest[at: at + n]
            at += n
            block = block if part.all() else self.codec.select(block, part)
            if self.codec.rows(block):
                kept.append(block)
        self.pending = kept

    def write(self, src: Path | None, dst: Path, stem: str, current: Callable[[], Any]) -> dict[str, Any]:
        """Write the rows into ``dst`` (a fresh directory); ``src`` is the previous generation's directory.

        ``current()`` returns every current row as one block; it is called only when compacting.
        """
        dst.mkdir(parents=True)
        dead = len(self.live) - int(self.live.sum())
        stored = len(self.live) + sum(self.codec.rows(b) for b in self.pending)
        many = len(self.segments) >= MAX_SEGMENTS
        head = self.segments[0][1] if self.segments else 0
        compact = (
            src is None or self.compact_next or (stored and dead / stored > COMPACT_DEAD_FRACTION)
            or (many and stored > 2 * head)
        )
        if many and not compact:  # merge every segment after the first (the small, recent ones) and the new rows
            blocks, at = [], head
            for name, rows in self.segments[1:]:
                part = self.live[at: at + rows]
                at += rows
                block = self.codec.load(src, name, False)
                blocks.append(block if part.all() else self.codec.select(block, part))
            self.segments = [self.segments[0]]
            self.live = self.live[:head]
            self.pending = [b for b in blocks + self.pending if self.codec.rows(b)]
        if compact:
            block = current()
            self.codec.save(dst, stem, block)
            self.segments = [(stem, self.codec.rows(block))]
            self.live = np.ones(self.codec.rows(block), dtype=bool)
        else:
            for name, _ in self.segments:
                for suffix in self.codec.suffixes:
                    link_or_copy(src / f"{name}{suffix}", dst / f"{name}{suffix}")
            if self.pending:
                block = self.codec.concat(self.pending)
                self.codec.save(dst, stem, block)
                self.segments.append((stem, self.codec.rows(block)))
                self.live = np.concatenate([self.live, np.ones(self.codec.rows(block), dtype=bool)])
        self.pending = []
        self.compact_next = False
        np.save(dst / "live.npy", self.live, allow_pickle=False)
        return {"segments": [list(s) for s in self.segments]}

    @classmethod
    def load(cls, codec, directory: Path, meta: dict[str, Any], *, mmap: bool = True, joined: bool = True) -> tuple["RowLog", Any]:
        """Read a log written by :meth:`write`; return it and its live rows as one block
        (``joined=False``: a list of blocks, one per segment that has live rows).

        An all-live dense segment is memory-mapped, not copied.
        """
        log = cls(codec)
        try:
            log.segments = [(str(name), int(rows)) for name, rows in meta["segments"]]
            log.live = np.load(directory / "live.npy", allow_pickle=False)
            blocks = []
            for name, rows in log.segments:
                block = codec.load(directory, name, mmap)
                if codec.rows(block) != rows:
                    raise CollectionError(f"{directory / name} has {codec.rows(block)} rows, the manifest says {rows}")
                blocks.append(block)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise CollectionError(f"cannot read the row segments in {directory}: {exc}") from exc
        if sum(rows for _, rows in log.segments) != len(log.live):
            raise CollectionError(f"{directory}: {sum(r for _, r in log.segments)} rows but a liveness mask of {len(log.live)}")
        if not blocks:
            return log, None if joined else []
        if not log.live.all():
            parts, at = [], 0
            for block, (_, rows) in zip(blocks, log.segments):
                part = log.live[at: at + rows]
                at += rows
                parts.append(block if part.all() else codec.select(block, part))
            blocks = [b for b in parts if codec.rows(b)]
        return log, codec.concat(blocks) if joined else blocks

    @classmethod
    def single(cls, codec, stem: str, block, *, legacy: bool = False) -> "RowLog":
        """A log of one stored, all-live segment ``stem`` (a collection written before row segments).

        ``legacy``: the files do not follow the codec's names; the next write compacts.
        """
        log = cls(codec)
        log.segments = [(stem, codec.rows(block))]
        log.live = np.ones(codec.rows(block), dtype=bool)
        log.compact_next = legacy
        return log


def link_or_copy(src: Path, dst: Path) -> None:
    """Hard-link ``src`` as ``dst`` (a copy where the filesystem cannot link)."""
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)
