"""Collection file helpers: JSON Lines records, the writer lock, tree removal (atomic writes: :mod:`ragsift.files`)."""

from __future__ import annotations

import contextlib
import json
import shutil
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from ragsift.errors import CollectionBusyError, CollectionError

__all__ = ["DEFAULT_LOCK_TIMEOUT", "read_jsonl", "remove_tree", "write_jsonl", "writer_lock"]


def write_jsonl(path: Path, rows: Iterable[dict]) -> np.ndarray:
    """Write ``rows`` as JSON Lines; return the byte offset of each line, then the file size."""
    offsets = [0]
    with open(path, "wb") as fh:
        for row in rows:
            line = json.dumps(row, ensure_ascii=False).encode("utf-8") + b"\n"
            fh.write(line)
            offsets.append(offsets[-1] + len(line))
    return np.asarray(offsets, dtype=np.int64)


def read_jsonl(path: Path) -> Iterator[dict]:
    try:
        with open(path, encoding="utf-8") as fh:
            for n, line in enumerate(fh, 1):
                if line.strip():
                    yield json.loads(line)
    except (OSError, ValueError) as exc:
        raise CollectionError(f"cannot read {path}: {exc}") from exc


DEFAULT_LOCK_TIMEOUT = 60.0
"""Seconds a writer waits for another writer's lock before giving up (CollectionBusyError)."""


@contextlib.contextmanager
def writer_lock(directory: Path, timeout: float = DEFAULT_LOCK_TIMEOUT) -> Iterator[None]:
    """Exclusive advisory lock (``DIR/.lock``) so two writers never interleave on one collection.

    Waits up to ``timeout`` seconds for another writer (another process, or another thread of
    this one) to finish, then raises :class:`~ragsift.errors.CollectionBusyError`. ``timeout=0``
    fails at once when the lock is held.
    """
    import fcntl

    directory.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + max(0.0, timeout)
    pause = 0.005
    with open(directory / ".lock", "w") as fh:
        while True:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise CollectionBusyError(
                        f"{directory} is being written by another process and its lock was not free within "
                        f"{timeout:g} s; retry when that write has finished (or raise the lock timeout)",
                        retry_after=min(max(timeout, 1.0), 5.0),
                    ) from None
                time.sleep(min(pause, left))
                pause = min(pause * 2, 0.1)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
