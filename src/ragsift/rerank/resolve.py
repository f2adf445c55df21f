"""Which cross-encoder to use when none is named: option → env → trained by ragsift → hub default.

``ragsift train-reranker`` records the model it trains in ``$RAGSIFT_HOME/rerankers/latest``
(default ``~/.cache/ragsift``), so the quickstart and ``--rerank`` find it without options.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["HUB_DEFAULT", "home", "record_trained", "latest_trained", "resolve_reranker_model"]

HUB_DEFAULT = "cross-encoder/ms-marco-MiniLM-L-6-v2"


def home() -> Path:
    """ragsift's cache directory: ``$RAGSIFT_HOME`` or ``~/.cache/ragsift``."""
    return Path(os.environ.get("RAGSIFT_HOME", "~/.cache/ragsift")).expanduser()


def _latest_file() -> Path:
    return home() / "rerankers" / "latest"


def record_trained(model_dir: str | os.PathLike) -> Path:
    """Remember ``model_dir`` as the most recently trained reranker (atomic write)."""
    from ragsift.index.store import atomic_write_text

    path = _latest_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, str(Path(model_dir).resolve()) + "\n")
    return path


def latest_trained() -> Path | None:
    """The last model recorded by :func:`record_trained`, if it still exists."""
    try:
        recorded = Path(_latest_file().read_text(encoding="utf-8").strip())
    except OSError:
        return None
    return recorded if (recorded / "config.json").is_file() else None


def resolve_reranker_model(explicit: str | None = None) -> tuple[str, str]:
    """``(model, source)`` where source says why: 'option', 'RERANKER_MODEL', 'trained', 'hub default'."""
    if explicit:
        return explicit, "option"
    if os.environ.get("RERANKER_MODEL"):
        return os.environ["RERANKER_MODEL"], "RERANKER_MODEL"
    trained = latest_trained()
    if trained is not None:
        return str(trained), "trained"
    return HUB_DEFAULT, "hub default"
