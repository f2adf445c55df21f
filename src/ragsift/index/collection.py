"""The persistent collection: documents, chunks, a BM25 index and dense vectors in one directory.

Layout (no pickle anywhere; arrays are ``.npy``, records are JSON Lines)::

    DIR/manifest.json          versioned manifest; names the live generation
    DIR/gen-000007/            one immutable generation
        documents/             source documents (id, title, text, metadata): JSONL segments + live.npy
        chunks/                indexed units, one live line per row of the indexes
        parents/               parent chunks (parent–child collections only)
        sparse/                BM25 term-frequency + score arrays, vocabulary
        dense/embeddings.npy   L2-normalized float32 vectors, one per chunk row

Writes are copy-on-write: a change builds a complete new generation in a temporary
directory, fsyncs it, renames it into place and only then atomically replaces
``manifest.json`` (temp file + rename). A crash at any point leaves the previous manifest
pointing at the previous, untouched generation. Record segments that did not change are
hard-linked from the previous generation (see :mod:`ragsift.index.records`), so a small add
writes little. The previous generation is kept until the next write so readers that opened
it keep working; stale temporaries are swept on write.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from ragsift.errors import BadInputError, CollectionError, ConfigError
from ragsift.index.records import RecordLog
from ragsift.index.sparse import BM25Params, SparseIndex
from ragsift.index.store import (
    atomic_write_text,
    fsync_dir,
    fsync_tree,
    remove_tree,
    writer_lock,
)
from ragsift.ingest import ChunkingConfig, chunk_documents
from ragsift.types import Chunk, Document

__all__ = ["Collection", "CollectionConfig", "FORMAT", "VERSION"]

log = logging.getLogger(__name__)

FORMAT = "ragsift-collection"
VERSION = 1
MANIFEST = "manifest.json"
RECORD_KINDS = ("documents", "chunks", "parents")


@dataclass
class CollectionConfig:
    """How a collection analyzes, chunks and embeds. Fixed at creation, stored in the manifest."""

    analyzer: str = "en"
    protected_terms: tuple[str, ...] = ()
    k1: float = 1.5
    b: float = 0.75
    dense: bool = True
    embed_model: str = "all-MiniLM-L6-v2"
    vector_index: str = "auto"
    hnsw_m: int = 32
    ef_construction: int = 200
    ef_search: int = 64
    chunking: ChunkingConfig = field(default_factory=ChunkingConfig)

    def __post_init__(self) -> None:
        BM25Params(self.k1, self.b)  # validates
        self.protected_terms = tuple(self.protected_terms)
        if isinstance(self.chunking, dict):
            self.chunking = ChunkingConfig.from_dict(self.chunking)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["protected_terms"] = list(self.protected_terms)
        d["chunking"] = self.chunking.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "CollectionConfig":
        known = set(cls.__dataclass_fields__)
        unknown = set(d) - known
        if unknown:
            raise CollectionError(f"unknown collection settings {sorted(unknown)}; was it written by a newer ragsift?")
        return cls(**d)


class Collection:
    """A searchable, persistent set of documents. Use :meth:`create` or :meth:`open`."""

    def __init__(self, path: Path, config: CollectionConfig, *, embedder=None):
        self.path = Path(path)
        self.config = config
        self.documents: dict[str, Document] = {}
        self.chunks: list[Chunk] = []
        self.parents: dict[str, Chunk] = {}
        self.embeddings: np.ndarray | None = None
        self.generation = 0
        self.created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        self.chunk_size_note: str | None = None
        self._embedder = embedder
        self._vectors = None
        self._chunk_ids: dict[str, Chunk] | None = None
        self._logs = {kind: RecordLog() for kind in RECORD_KINDS}
        self.sparse = SparseIndex(self._make_analyzer(), BM25Params(config.k1, config.b))

    # ------------------------------------------------------------------ open / create
    @classmethod
    def create(cls, path: str | os.PathLike, config: CollectionConfig | None = None, *, embedder=None) -> "Collection":
        """A new, empty collection at ``path`` (written on the first :meth:`add`)."""
        path = Path(path)
        if (path / MANIFEST).exists():
            raise CollectionError(f"{path} already holds a collection; open it with Collection.open()")
        if path.exists() and not path.is_dir():
            raise CollectionError(f"{path} exists and is not a directory")
        return cls(path, config or CollectionConfig(), embedder=embedder)

    @classmethod
    def exists(cls, path: str | os.PathLike) -> bool:
        return (Path(path) / MANIFEST).is_file()

    @classmethod
    def open(cls, path: str | os.PathLike, *, embedder=None) -> "Collection":
        """Open the collection at ``path`` as of its live generation."""
        path = Path(path)
        manifest = cls._read_manifest(path)
        coll = cls(path, CollectionConfig.from_dict(manifest["config"]), embedder=embedder)
        coll._load_generation(manifest)
        return coll

    @staticmethod
    def _read_manifest(path: Path) -> dict[str, Any]:
        mpath = path / MANIFEST
        if not mpath.is_file():
            raise CollectionError(
                f"no collection at {path} (missing {MANIFEST}); build one with: ragsift index SOURCE --collection {path}"
            )
        try:
            manifest = json.loads(mpath.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise CollectionError(f"cannot read {mpath}: {exc}") from exc
        if manifest.get("format") != FORMAT:
            raise CollectionError(f"{mpath} is not a ragsift collection manifest")
        if manifest.get("version") == VERSION and "records" not in manifest:
            raise CollectionError(
                f"{mpath} was written by a pre-release ragsift (no record segments); rebuild the collection "
                "with ragsift index"
            )
        if manifest.get("version") != VERSION:
            raise CollectionError(
                f"{mpath} has format version {manifest.get('version')}; this ragsift reads version {VERSION}"
            )
        return manifest

    def _load_generation(self, manifest: dict[str, Any]) -> None:
        gen_dir = self.path / manifest["data_dir"]
        self.generation = manifest["generation"]
        self.created = manifest.get("created", self.created)
        self.chunk_size_note = manifest.get("chunk_size_note")
        rows = {}
        for kind in RECORD_KINDS:
            self._logs[kind], rows[kind] = RecordLog.load(gen_dir / kind, manifest["records"][kind])
        self.documents = {
            d["id"]: Document(d["id"], d["text"], d.get("title", ""), d.get("metadata", {})) for d in rows["documents"]
        }
        self.chunks = [Chunk.from_dict(c) for c in rows["chunks"]]
        self.parents = {c["id"]: Chunk.from_dict(c) for c in rows["parents"]}
        self.sparse = SparseIndex.load(gen_dir / "sparse", self._make_analyzer())
        emb_file = gen_dir / "dense" / "embeddings.npy"
        self.embeddings = np.load(emb_file, mmap_mode="r", allow_pickle=False) if emb_file.exists() else None
        self._vectors = None
        self._chunk_ids = None
        if len(self.sparse) != len(self.chunks):
            raise CollectionError(f"{gen_dir}: BM25 rows ({len(self.sparse)}) != chunks ({len(self.chunks)})")

    def _make_analyzer(self):
        from ragsift.index.analyzers import get_analyzer

        return get_analyzer(self.config.analyzer, protected_terms=self.config.protected_terms)

    # ------------------------------------------------------------------ components
    @property
    def embedder(self):
        """The dense embedder named in the config, loaded on first use."""
        if not self.config.dense:
            raise ConfigError(f"collection {self.path} was built without dense vectors (dense=False)")
        if self._embedder is None:
            from ragsift.index.embedder import SentenceTransformerEmbedder

            self._embedder = SentenceTransformerEmbedder(self.config.embed_model)
        self._embedder.load()
        return self._embedder

    @property
    def vectors(self):
        """The FAISS index over :attr:`embeddings`, built on first use."""
        if self.embeddings is None:
            raise ConfigError(f"collection {self.path} has no dense vectors")
        if self._vectors is None:
            from ragsift.index.vectors import VectorIndex

            c = self.config
            index = VectorIndex(
                self.embeddings.shape[1],
                kind=c.vector_index,
                hnsw_m=c.hnsw_m,
                ef_construction=c.ef_construction,
                ef_search=c.ef_search,
            )
            index.build(np.ascontiguousarray(self.embeddings, dtype=np.float32))
            self._vectors = index
        return self._vectors

    def chunk(self, chunk_id: str) -> Chunk:
        """The indexed chunk with this id."""
        if self._chunk_ids is None:
            self._chunk_ids = {c.id: c for c in self.chunks}
        return self._chunk_ids[chunk_id]

    def stats(self) -> dict[str, Any]:
        return {
            "documents": len(self.documents),
            "chunks": len(self.chunks),
            "parents": len(self.parents),
            "vocabulary": len(self.sparse.terms),
            "dense_dim": None if self.embeddings is None else int(self.embeddings.shape[1]),
        }

    @staticmethod
    def index_text(chunk: Chunk) -> str:
        """The text that is indexed for a chunk: its document title, then the chunk text."""
        return f"{chunk.title}\n{chunk.text}" if chunk.title else chunk.text

    # ------------------------------------------------------------------ writes
    def add(self, documents: Iterable[Document], *, show_progress: bool = False) -> dict[str, int]:
        """Add documents (replacing any with the same id) and commit a new generation.

        Returns counts ``{"added", "replaced", "chunks"}``. On any error the collection is
        reloaded from disk, so nothing already indexed is lost.
        """
        docs = _validate_batch(list(documents))
        with writer_lock(self.path):
            try:
                return self._add(docs, show_progress)
            except BaseException:
                self._rollback()
                raise

    def _add(self, docs: list[Document], show_progress: bool) -> dict[str, int]:
        replaced_ids = {d.id for d in docs if d.id in self.documents}
        self._drop_documents(replaced_ids)
        corpus = chunk_documents(
            docs, self._effective_chunking(), length_function=self._length_function(), show_progress=show_progress
        )
        texts = [self.index_text(c) for c in corpus.chunks]
        self.sparse.add(texts, show_progress=show_progress)
        if self.config.dense:
            new = self.embedder.encode_documents(texts, show_progress=show_progress)
            old = self.embeddings if self.embeddings is not None else np.zeros((0, new.shape[1]), np.float32)
            self.embeddings = np.concatenate([np.asarray(old, dtype=np.float32), new])
            self._vectors = None
        self.chunks.extend(corpus.chunks)
        self._chunk_ids = None
        self.parents.update({p.id: p for p in corpus.parents})
        self.documents.update({d.id: d for d in docs})
        self._logs["documents"].append(d.to_dict() for d in docs)
        self._logs["chunks"].append(c.to_dict() for c in corpus.chunks)
        self._logs["parents"].append(p.to_dict() for p in corpus.parents)
        self._commit()
        return {"added": len(docs) - len(replaced_ids), "replaced": len(replaced_ids), "chunks": len(corpus.chunks)}

    def delete(self, ids: Sequence[str], *, missing_ok: bool = False) -> int:
        """Remove documents by id and commit. Unknown ids raise (nothing is deleted) unless ``missing_ok``."""
        ids = [str(i) for i in ids]
        unknown = [i for i in ids if i not in self.documents]
        if unknown and not missing_ok:
            raise BadInputError(
                f"unknown document id(s) {unknown[:10]} in collection {self.path}; nothing was deleted "
                "(pass missing_ok / --missing-ok to ignore unknown ids)"
            )
        present = {i for i in ids if i in self.documents}
        if not present:
            return 0
        with writer_lock(self.path):
            try:
                self._drop_documents(present)
                self._commit()
            except BaseException:
                self._rollback()
                raise
        return len(present)

    def _drop_documents(self, ids: set[str]) -> None:
        if not ids:
            return
        keep = np.fromiter((c.doc_id not in ids for c in self.chunks), dtype=bool, count=len(self.chunks))
        self.sparse.keep(keep)
        if self.embeddings is not None:
            self.embeddings = np.asarray(self.embeddings)[keep]
            self._vectors = None
        self._logs["chunks"].remove(c.id for c, k in zip(self.chunks, keep) if not k)
        self._logs["parents"].remove(pid for pid, p in self.parents.items() if p.doc_id in ids)
        self._logs["documents"].remove(ids)
        self.chunks = [c for c, k in zip(self.chunks, keep) if k]
        self._chunk_ids = None
        self.parents = {pid: p for pid, p in self.parents.items() if p.doc_id not in ids}
        for i in ids:
            self.documents.pop(i, None)

    def _rollback(self) -> None:
        if self.exists(self.path):
            self._load_generation(self._read_manifest(self.path))
        else:
            fresh = Collection(self.path, self.config, embedder=self._embedder)
            self.__dict__.update(fresh.__dict__)

    def _commit(self) -> None:
        """Write a complete new generation, then swap the manifest atomically."""
        self.path.mkdir(parents=True, exist_ok=True)
        self._sweep_temporaries()
        generation = self.generation + 1
        name = f"gen-{generation:06d}"
        tmp = self.path / f".{name}.tmp-{os.getpid()}"
        remove_tree(tmp)
        tmp.mkdir()
        previous_dir = self.path / f"gen-{self.generation:06d}" if self.generation else None
        live_rows = {
            "documents": lambda: (d.to_dict() for d in self.documents.values()),
            "chunks": lambda: (c.to_dict() for c in self.chunks),
            "parents": lambda: (p.to_dict() for p in self.parents.values()),
        }
        records = {
            kind: self._logs[kind].write(
                previous_dir / kind if previous_dir else None, tmp / kind, live_rows[kind](), f"seg-{generation:06d}.jsonl"
            )
            for kind in RECORD_KINDS
        }
        self.sparse.save(tmp / "sparse")
        if self.embeddings is not None:
            (tmp / "dense").mkdir()
            np.save(tmp / "dense" / "embeddings.npy", np.asarray(self.embeddings, np.float32), allow_pickle=False)
        fsync_tree(tmp)
        final = self.path / name
        remove_tree(final)  # an orphan from a crash after rename but before the manifest swap
        os.replace(tmp, final)
        fsync_dir(self.path)
        previous = self.generation
        self.generation = generation
        manifest = {**self._manifest(name), "records": records}
        atomic_write_text(self.path / MANIFEST, json.dumps(manifest, indent=2, ensure_ascii=False))
        self._remove_old_generations(keep={generation, previous})

    def _manifest(self, data_dir: str) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": VERSION,
            "generation": self.generation,
            "data_dir": data_dir,
            "created": self.created,
            "updated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "config": self.config.to_dict(),
            "chunk_size_note": self.chunk_size_note,
            "stats": self.stats(),
        }

    def _sweep_temporaries(self) -> None:
        for p in self.path.glob(".gen-*.tmp-*"):
            remove_tree(p)

    def _remove_old_generations(self, keep: set[int]) -> None:
        for p in self.path.glob("gen-*"):
            try:
                number = int(p.name.split("-", 1)[1])
            except ValueError:
                continue
            if number not in keep:
                remove_tree(p)

    # ------------------------------------------------------------------ chunking
    def _effective_chunking(self) -> ChunkingConfig:
        """The chunking config, with token sizes capped to what the embedding model reads."""
        cfg = self.config.chunking
        if cfg.unit.value != "tokens" or not self.config.dense or cfg.mode.value == "none":
            return cfg
        limit = self.embedder.max_seq_length - 2  # [CLS] and [SEP]
        if cfg.size <= limit:
            return cfg
        overlap = min(cfg.overlap, limit // 4)
        self.chunk_size_note = (
            f"chunk size {cfg.size} tokens capped to {limit}: {self.config.embed_model} reads at most "
            f"{limit + 2} tokens (overlap {overlap})"
        )
        log.warning(self.chunk_size_note)
        return replace(cfg, size=limit, overlap=overlap)

    def _length_function(self):
        cfg = self.config.chunking
        if cfg.unit.value != "tokens" or cfg.mode.value == "none":
            return len
        from ragsift.index.embedder import resolve_model
        from ragsift.ingest import token_length_function

        return token_length_function(resolve_model(self.config.embed_model))


def _validate_batch(docs: list[Document]) -> list[Document]:
    seen: set[str] = set()
    for n, d in enumerate(docs):
        if not isinstance(d, Document):
            raise BadInputError(f"item {n} is a {type(d).__name__}, expected ragsift.types.Document")
        if not d.id:
            raise BadInputError(f"document {n} has an empty id")
        if d.id in seen:
            raise BadInputError(f"duplicate document id {d.id!r} in one batch (item {n})")
        if not (d.text.strip() or d.title.strip()):
            raise BadInputError(f"document {d.id!r} has no text")
        seen.add(d.id)
    return docs
