"""Document loaders and the one entry point that picks a loader from what a path is."""

from __future__ import annotations

import os
from pathlib import Path

from ragsift.errors import BadInputError
from ragsift.ingest.beir import BeirDataset, load_beir, load_beir_corpus, load_beir_queries, load_qrels
from ragsift.ingest.folder import DEFAULT_EXTENSIONS, load_file, load_folder
from ragsift.ingest.jsonl import load_jsonl
from ragsift.ingest.limits import DEFAULT_LIMITS, DocumentLimits
from ragsift.types import Document

__all__ = [
    "load_documents",
    "load_jsonl",
    "load_folder",
    "load_file",
    "load_beir",
    "load_beir_corpus",
    "load_beir_queries",
    "load_qrels",
    "BeirDataset",
]

_ACCEPTED = (
    "a BEIR folder (with corpus.jsonl), a .jsonl file, a folder of .txt/.md/.pdf/.docx/.html files, "
    "or a single such file"
)


def load_documents(source: str | os.PathLike[str], *, limits: DocumentLimits = DEFAULT_LIMITS) -> list[Document]:
    """Load documents from ``source``, choosing the loader from what it is.

    A folder holding ``corpus.jsonl`` is read as a BEIR corpus; a ``.jsonl`` file with
    :func:`load_jsonl`; any other folder with :func:`load_folder`; a ``.txt``, ``.md``,
    ``.pdf``, ``.docx``, ``.html`` or ``.htm`` file as one document. Anything else raises
    :class:`~ragsift.errors.BadInputError`. ``limits`` bound each document's size (see
    :mod:`ragsift.ingest.limits`).
    """
    path = Path(source)
    if path.is_dir():
        if (path / "corpus.jsonl").is_file():
            return load_beir_corpus(path, limits=limits)
        return load_folder(path, limits=limits)
    if path.is_file():
        suffix = path.suffix.lower()
        if suffix == ".jsonl":
            return load_jsonl(path, limits=limits)
        if suffix in DEFAULT_EXTENSIONS:
            return [load_file(path, limits=limits)]
        raise BadInputError(f"cannot load a {suffix or 'extensionless'} file; pass {_ACCEPTED}", path=str(path))
    raise BadInputError(f"document source does not exist; pass {_ACCEPTED}", path=str(path))
