"""Hold a collection's writer lock from another thread, as a concurrent writer would."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path

from ragsift.index.store import writer_lock


@contextlib.contextmanager
def lock_held_elsewhere(path: Path) -> Iterator[None]:
    """While the block runs, another thread holds ``path``'s writer lock; it is released on exit."""
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with writer_lock(path, timeout=5):
            held.set()
            release.wait(30)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert held.wait(5), "the lock could not be taken"
        yield
    finally:
        release.set()
        holder.join(30)
