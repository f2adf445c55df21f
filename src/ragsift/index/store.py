"""Collection file helpers: JSON Lines records, the writer lock, tree removal (atomic writes: :mod:`ragsift.files`)."""

from __future__ import annotations

import contextlib
import json
import shutil
import time
from pathlib import Path
from typing import Iterable, Iterator

from ragsift.errors import CollectionBusyError, CollectionError

__all__ = ["write_jsonl", "read_jsonl", "writer_lock", "remove_tree", "DEFAULT_LOCK_TIMEOUT"]


def write_jsonl(path: Path, rows: Iterable[dict]) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False))
            fh.write("\n")


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
