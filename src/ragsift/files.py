"""Atomic writes, the one implementation: write a temporary next to the target, flush, rename.

A reader (or a crash) sees the old file or the new one, never half of one. Every module that
writes results, indexes, models or plots uses these helpers:

* :func:`atomic_write` — ``write(tmp)`` fills a temporary path, which is fsynced and renamed
  onto ``path`` (any writer: ``np.save``, ``faiss.write_index``, ``fig.savefig``, an ONNX export);
* :func:`atomic_write_text` — the same for a string;
* :func:`atomic_write_dir` — a whole folder (a model) built in a staging folder and swapped in;
* :func:`fsync_dir`, :func:`fsync_tree` — flush directory entries and trees (collections).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Callable, TypeVar

__all__ = ["atomic_write", "atomic_write_text", "atomic_write_dir", "fsync_dir", "fsync_tree", "temp_path"]

T = TypeVar("T")


def fsync_dir(path: Path) -> None:
    """Flush a directory entry (so a rename inside it survives a power loss)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_tree(root: Path) -> None:
    """fsync every file and directory under ``root``."""
    for dirpath, _, filenames in os.walk(root):
        for name in filenames:
            with open(Path(dirpath) / name, "rb") as fh:
                os.fsync(fh.fileno())
        fsync_dir(Path(dirpath))


def temp_path(path: Path) -> Path:
    """A hidden sibling of ``path`` unique to this process and thread."""
    return path.with_name(f".{path.name}.tmp-{os.getpid()}-{threading.get_ident()}")


def atomic_write(path: str | os.PathLike, write: Callable[[Path], T]) -> T:
    """Call ``write(tmp)`` to create a temporary file, then fsync it and rename it onto ``path``.

    Returns what ``write`` returned. When ``write`` raises, the temporary is removed and ``path``
    is untouched. The file gets mode 0644 (temporary files may be created 0600).
    """
    path = Path(path)
    tmp = temp_path(path)
    try:
        result = write(tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    fsync_dir(path.parent)
    return result


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def atomic_write_dir(out: str | os.PathLike, write: Callable[[Path], None]) -> Path:
    """Call ``write(staging)`` to fill a fresh folder next to ``out``, then swap it in for ``out``.

    A previous ``out`` is moved aside and removed only after the swap, so ``out`` is always
    either the old folder or the complete new one.
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        write(staging)
        fsync_tree(staging)
        if out.exists():
            old = out.with_name(f".{out.name}.old-{os.getpid()}")
            os.replace(out, old)
            os.replace(staging, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(staging, out)
        fsync_dir(out.parent)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return out
