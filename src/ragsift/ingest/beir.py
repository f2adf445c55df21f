"""Load a BEIR dataset folder: ``corpus.jsonl``, ``queries.jsonl`` and ``qrels/<split>.tsv``."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ragsift.errors import BadInputError
from ragsift.ingest.limits import DEFAULT_LIMITS, DocumentLimits
from ragsift.ingest._jsonl_lines import DuplicateIds, decode_utf8, iter_objects, read_bytes, read_id, read_str
from ragsift.ingest.jsonl import load_jsonl
from ragsift.types import Document, Qrels

__all__ = ["BeirDataset", "load_beir", "load_beir_corpus", "load_beir_queries", "load_qrels"]

_SHOWN = 5  # how many offending ids an error message lists


@dataclass
class BeirDataset:
    """One split of a BEIR dataset. ``queries`` holds only the queries judged in ``qrels``."""

    corpus: list[Document]
    queries: dict[str, str]
    qrels: Qrels
    name: str
    split: str


def load_beir(data_dir: str | os.PathLike[str], split: str = "test") -> BeirDataset:
    """Load the corpus, the judged queries and the qrels of ``split`` from a BEIR folder.

    Raises :class:`~ragsift.errors.BadInputError` when a file is missing (a missing split lists
    the available ones), a row is malformed, or the qrels name unknown query or corpus ids.
    """
    root = _beir_dir(data_dir)
    qrels = load_qrels(_split_file(root, split))
    corpus = load_beir_corpus(root)
    _check_known(qrels_doc_ids(qrels), {d.id for d in corpus}, "corpus", root / "corpus.jsonl", split)
    all_queries = load_beir_queries(root)
    _check_known(set(qrels), set(all_queries), "query", root / "queries.jsonl", split)
    queries = {qid: all_queries[qid] for qid in qrels}
    return BeirDataset(corpus=corpus, queries=queries, qrels=qrels, name=root.name, split=split)


def load_beir_corpus(data_dir: str | os.PathLike[str], *, limits: DocumentLimits = DEFAULT_LIMITS) -> list[Document]:
    """The documents of a BEIR folder's ``corpus.jsonl`` (a path to the file itself also works)."""
    path = Path(data_dir)
    return load_jsonl(path if path.is_file() else _beir_dir(path) / "corpus.jsonl", limits=limits)


def load_beir_queries(data_dir: str | os.PathLike[str]) -> dict[str, str]:
    """All queries of a BEIR folder's ``queries.jsonl`` as ``{query_id: text}``, in file order."""
    path = Path(data_dir)
    file = path if path.is_file() else _beir_dir(path) / "queries.jsonl"
    seen = DuplicateIds(file, kind="query id")
    queries: dict[str, str] = {}
    for line, obj in iter_objects(file, what="BEIR queries file"):
        qid = read_id(obj, file, line)
        text = read_str(obj, "text", file, line, required=True)
        if not text.strip():
            raise BadInputError(f"query {qid!r} has an empty 'text'", path=str(file), line=line)
        seen.add(qid, line)
        queries[qid] = text
    return queries


def load_qrels(path: str | os.PathLike[str]) -> Qrels:
    """Read a BEIR qrels TSV (``query-id<TAB>corpus-id<TAB>score``; the header line is optional)."""
    file = Path(path)
    text = decode_utf8(read_bytes(file, what="qrels file"), file)
    qrels: Qrels = {}
    lines: dict[tuple[str, str], int] = {}
    for number, raw in enumerate(text.split("\n"), start=1):
        row = raw.rstrip("\r")
        if not row.strip() or (number == 1 and row.lower().startswith("query-id")):
            continue
        qid, doc_id, score = _parse_qrels_row(row, file, number)
        previous = qrels.setdefault(qid, {}).get(doc_id)
        if previous is not None and previous != score:
            raise BadInputError(
                f"query {qid!r} judges {doc_id!r} twice with different scores "
                f"(line {lines[qid, doc_id]}: {previous}, line {number}: {score})",
                path=str(file),
                line=number,
            )
        qrels[qid][doc_id] = score
        lines.setdefault((qid, doc_id), number)
    return qrels


def qrels_doc_ids(qrels: Qrels) -> set[str]:
    """Every corpus id named in ``qrels``."""
    return {doc_id for judged in qrels.values() for doc_id in judged}


def _parse_qrels_row(row: str, file: Path, number: int) -> tuple[str, str, int]:
    cols = row.split("\t")
    if len(cols) != 3:
        raise BadInputError(
            f"expected 3 tab-separated columns (query-id, corpus-id, score), got {len(cols)}: {row[:80]!r}",
            path=str(file),
            line=number,
        )
    qid, doc_id, score = (c.strip() for c in cols)
    if not qid or not doc_id:
        raise BadInputError("empty query-id or corpus-id", path=str(file), line=number)
    return qid, doc_id, _parse_grade(score, file, number)


def _parse_grade(score: str, file: Path, number: int) -> int:
    try:
        return int(score)
    except ValueError:
        pass
    try:
        value = float(score)
    except ValueError:
        value = 0.5  # not a number: reported below
    if not value.is_integer():
        raise BadInputError(f"score must be an integer relevance grade, got {score!r}", path=str(file), line=number)
    return int(value)


def _beir_dir(data_dir: str | os.PathLike[str]) -> Path:
    root = Path(data_dir)
    if not root.is_dir():
        raise BadInputError(
            "BEIR dataset folder not found; it must hold corpus.jsonl, queries.jsonl and qrels/<split>.tsv",
            path=str(root),
        )
    return root


def _split_file(root: Path, split: str) -> Path:
    file = root / "qrels" / f"{split}.tsv"
    if not file.is_file():
        available = sorted(p.stem for p in (root / "qrels").glob("*.tsv")) if (root / "qrels").is_dir() else []
        listed = ", ".join(repr(s) for s in available) or "none (no qrels/*.tsv files)"
        raise BadInputError(f"split={split!r} has no qrels file; available splits: {listed}", path=str(file))
    return file


def _check_known(named: set[str], known: set[str], kind: str, file: Path, split: str) -> None:
    unknown = sorted(named - known)
    if unknown:
        shown = ", ".join(repr(i) for i in unknown[:_SHOWN]) + (", ..." if len(unknown) > _SHOWN else "")
        raise BadInputError(
            f"qrels of split {split!r} name {len(unknown)} {kind} id(s) missing from this file: {shown}; "
            "the qrels and the file must come from the same dataset",
            path=str(file),
        )
