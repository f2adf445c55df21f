"""The persistent collection: documents, chunks, a BM25 index and dense vectors in one directory.

Layout (no pickle anywhere; arrays are ``.npy``, records are JSON Lines)::

    DIR/manifest.json          versioned manifest; names the live generation
    DIR/gen-000007/            one immutable generation
        documents/             source documents (id, title, text, metadata): JSONL segments + live.npy
        chunks/                indexed units, one live line per row of the indexes
        parents/               parent chunks (parent–child collections only)
        sparse/                BM25 term counts (row segments), vocabulary, score-matrix cache
        dense/                 L2-normalized float32 vectors, one per chunk row (row segments)

Writes are copy-on-write: a change builds a complete new generation in a temporary
directory, fsyncs it, renames it into place and only then atomically replaces
``manifest.json`` (temp file + rename). A crash at any point leaves the previous manifest
pointing at the previous, untouched generation. Record segments that did not change are
and array segments (term counts, vectors) that did not change are hard-linked from the previous
generation (see :mod:`ragsift.index.records` and :mod:`ragsift.index.segments`), so a small add
writes little. The BM25 score matrix is derived data: a commit writes it as a cache unless the
writer defers it (:meth:`Collection.write_caches`, the service does so after answering). Each generation also holds a copy of its manifest (``gen-N/manifest.json``), so
``ragsift repair`` can restore the newest complete generation when ``manifest.json`` is lost.

Several writers (processes or threads) are serialized by ``DIR/.lock``. A writer takes the lock
*before* it reads the state it changes: under the lock it compares the manifest with what it
holds and reloads the committed state when another writer moved on, so no write is built on
stale state and none is lost. A writer that cannot get the lock within ``lock_timeout`` seconds
raises :class:`~ragsift.errors.CollectionBusyError`. A new generation is numbered above every
generation directory present, so a commit never replaces one it did not create. Readers never
fail because of a writer: :meth:`Collection.open` that loses a generation mid-read (a writer
removed it) reads the new manifest and tries again. The previous generation is kept until the
next write; stale temporaries are swept under the lock.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ragsift.config import DEFAULT_EMBED_MODEL, EmbedderSpec
from ragsift.errors import CollectionError, ConfigError, UnknownDocumentError
from ragsift.files import atomic_write_text, fsync_dir, fsync_tree
from ragsift.index import graphs
from ragsift.index.indexed_text import IndexedText
from ragsift.index.record_views import ChunkRows, DocumentView, ParentView
from ragsift.index.records import RecordLog
from ragsift.index.segments import DENSE, RowLog
from ragsift.index.sparse import BM25Params, SparseIndex
from ragsift.index.store import DEFAULT_LOCK_TIMEOUT, remove_tree, writer_lock
from ragsift.ingest import ChunkingConfig, chunk_documents
from ragsift.ingest.limits import DEFAULT_LIMITS, DocumentLimits
from ragsift.types import Chunk, Document, passage_text

__all__ = ["FORMAT", "VERSION", "Collection", "CollectionConfig"]

log = logging.getLogger(__name__)

FORMAT = "ragsift-collection"
VERSION = 1
MANIFEST = "manifest.json"
RECORD_KINDS = ("documents", "chunks", "parents")
#: The fields of each record kind kept in memory (the rest is read from disk when asked for).
RECORD_COLUMNS = {"documents": ("id",), "chunks": ("id", "doc_id", "metadata"), "parents": ("id", "doc_id")}
OPEN_ATTEMPTS = 5
"""Times :meth:`Collection.open` re-reads the manifest when a writer replaced the generation it was reading."""
REPAIR_HINT = "Fix: `ragsift repair {path}` restores the newest complete generation (it says what it found first)"


@dataclass
class CollectionConfig:
    """How a collection analyzes, chunks and embeds. Fixed at creation, stored in the manifest.

    ``embedder`` is the :class:`~ragsift.config.EmbedderSpec` that embeds documents and queries
    (a local model or a hosted API with its URL, prefixes, input types...); without it,
    ``embed_model`` names a local sentence-transformers model, as it always did. Given an
    ``embedder``, ``embed_model`` is its model. Manifests written before ``embedder`` existed
    read as their local ``embed_model``.
    """

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
    embedder: EmbedderSpec | None = None

    def __post_init__(self) -> None:
        BM25Params(self.k1, self.b)  # validates
        self.protected_terms = tuple(self.protected_terms)
        if isinstance(self.chunking, dict):
            self.chunking = ChunkingConfig.from_dict(self.chunking)
        self.embedder = self._embedder_spec()
        self.embed_model = self.embedder.model

    def _embedder_spec(self) -> EmbedderSpec:
        spec = self.embedder
        if spec is None:
            return EmbedderSpec(self.embed_model, "embed_model")
        if isinstance(spec, dict):
            spec = EmbedderSpec.from_dict(spec, "the collection's embedder")
        elif not isinstance(spec, EmbedderSpec):
            spec = EmbedderSpec.parse(spec, "embedder")
        if self.embed_model not in (DEFAULT_EMBED_MODEL, spec.model):
            raise ConfigError(
                f"embed_model={self.embed_model!r} and embedder={str(spec)!r} name two models; give the model once "
                "(in the embedder)"
            )
        return spec

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["protected_terms"] = list(self.protected_terms)
        d["chunking"] = self.chunking.to_dict()
        d["embedder"] = self.embedder.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CollectionConfig:
        known = set(cls.__dataclass_fields__)
        unknown = set(d) - known
        if unknown:
            raise CollectionError(f"unknown collection settings {sorted(unknown)}; was it written by a newer ragsift?")
        return cls(**d)


class Collection(IndexedText):
    """A searchable, persistent set of documents. Use :meth:`create` or :meth:`open`."""

    backend = "embedded"  # its first-stage retrievers: ragsift.index.retriever.BACKENDS

    def __init__(
        self,
        path: Path,
        config: CollectionConfig,
        *,
        embedder=None,
        lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
        limits: DocumentLimits = DEFAULT_LIMITS,
    ):
        self.path = Path(path)
        self.config = config
        self.lock_timeout = lock_timeout
        self.defer_cleanup = False  # True: old generations are removed by remove_old_generations() later
        self._keep: set[int] = set()  # the last commit's live and previous generations
        self.limits = limits
        self._dense_blocks: list[np.ndarray] | None = None  # the vectors, one block per write since the open
        self._dense_dir: Path | None = None  # the committed dense/ that _dense_log describes (None: changed since)
        self.generation = 0
        self.data_dir: str | None = None
        self.created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        self.chunk_size_note: str | None = None
        self.skipped_empty: dict[str, Any] = {"count": 0, "ids": []}  # empty documents skipped by add()
        self._embedder = self._bind_embedder(embedder)
        self._vectors = None
        self._logs = _new_logs()
        self._views: dict[str, Any] = {}
        self._dense_log = RowLog(DENSE)
        self.sparse = SparseIndex(self._make_analyzer(), BM25Params(config.k1, config.b))

    # ------------------------------------------------------------------ open / create
    @classmethod
    def create(cls, path: str | os.PathLike, config: CollectionConfig | None = None, **options) -> Collection:
        """A new, empty collection at ``path`` (written on the first :meth:`add`).

        ``options``: ``embedder``, ``lock_timeout``, ``limits`` (see the class). A directory that
        holds generations but no manifest is refused, never overwritten (``ragsift repair``).
        ``embedder`` is an embedder object or an :class:`~ragsift.config.EmbedderSpec`; either must
        embed like ``config.embedder`` (a ConfigError names both otherwise).
        """
        path = Path(path)
        if (path / MANIFEST).exists():
            raise CollectionError(f"{path} already holds a collection; open it with Collection.open()")
        if path.exists() and not path.is_dir():
            raise CollectionError(f"{path} exists and is not a directory")
        _refuse_orphaned(path)
        return cls(path, config or CollectionConfig(), **options)

    @classmethod
    def exists(cls, path: str | os.PathLike) -> bool:
        return (Path(path) / MANIFEST).is_file()

    @classmethod
    def open(cls, path: str | os.PathLike, **options) -> Collection:
        """Open the collection at ``path`` as of its live generation (``options`` as for :meth:`create`).

        Queries are embedded by the embedder the collection recorded (``config.embedder``). An
        ``embedder=`` spec or object that embeds otherwise is refused with a ConfigError naming
        both; a spec that differs only in ``base_url`` reaches the recorded model there.

        A writer may replace the live generation while it is being read; the new manifest is then
        read and the open tried again (up to :data:`OPEN_ATTEMPTS` times).
        """
        path = Path(path)
        coll = None
        for attempt in range(OPEN_ATTEMPTS):
            manifest = cls._read_manifest(path)
            if coll is None:
                coll = cls(path, CollectionConfig.from_dict(manifest["config"]), **options)
            try:
                coll._load_generation(manifest)
                return coll
            except CollectionError:
                if attempt + 1 == OPEN_ATTEMPTS or not coll._manifest_moved(manifest):
                    raise
                log.info("generation %s of %s was replaced while it was read; reading the new one",
                         manifest["generation"], path)
        raise AssertionError("unreachable")

    def _manifest_moved(self, manifest: dict[str, Any]) -> bool:
        """True when the manifest on disk no longer names ``manifest``'s generation."""
        try:
            now = json.loads((self.path / MANIFEST).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return False
        return (now.get("generation"), now.get("data_dir")) != (manifest["generation"], manifest["data_dir"])

    @staticmethod
    def _read_manifest(path: Path, mpath: Path | None = None) -> dict[str, Any]:
        mpath = mpath or path / MANIFEST
        if not mpath.is_file():
            _refuse_orphaned(path)
            raise CollectionError(
                f"no collection at {path} (missing {MANIFEST}); build one with: ragsift index SOURCE --collection {path}"
            )
        try:
            manifest = json.loads(mpath.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise CollectionError(f"cannot read {mpath}: {exc}. {REPAIR_HINT.format(path=path)}") from exc
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            raise CollectionError(f"{mpath} is not a ragsift collection manifest. {REPAIR_HINT.format(path=path)}")
        if manifest.get("version") == VERSION and "records" not in manifest:
            raise CollectionError(
                f"{mpath} was written by a pre-release ragsift (no record segments); rebuild the collection "
                "with ragsift index"
            )
        if manifest.get("version") != VERSION:
            raise CollectionError(
                f"{mpath} has format version {manifest.get('version')}; this ragsift reads version {VERSION}"
            )
        missing = [k for k in ("generation", "data_dir", "config") if k not in manifest]
        if missing:
            raise CollectionError(f"{mpath} lacks {missing}. {REPAIR_HINT.format(path=path)}")
        return manifest

    def _load_generation(self, manifest: dict[str, Any]) -> None:
        """Read the generation ``manifest`` names; the object changes only when all of it was read."""
        gen_dir = self.path / manifest["data_dir"]
        try:
            logs = {}
            for kind in RECORD_KINDS:
                logs[kind] = RecordLog.load(gen_dir / kind, manifest["records"][kind], RECORD_COLUMNS[kind])
            sparse = SparseIndex.load(gen_dir / "sparse", self._make_analyzer())
            dense_log, dense_blocks = _load_dense(gen_dir / "dense", manifest.get("dense"))
        except (OSError, ValueError, KeyError) as exc:
            raise CollectionError(f"cannot read generation {gen_dir}: {exc}") from exc
        chunks = len(logs["chunks"])
        if len(sparse) != chunks:
            raise CollectionError(f"{gen_dir}: BM25 rows ({len(sparse)}) != chunks ({chunks})")
        vectors = None if dense_blocks is None else sum(len(b) for b in dense_blocks)
        if vectors is not None and vectors != chunks:
            raise CollectionError(f"{gen_dir}: vectors ({vectors}) != chunks ({chunks})")
        self.generation = manifest["generation"]
        self.data_dir = manifest["data_dir"]
        self.created = manifest.get("created", self.created)
        self.chunk_size_note = manifest.get("chunk_size_note")
        self.skipped_empty = manifest.get("skipped_empty") or {"count": 0, "ids": []}
        self._logs = logs
        self._views = {}
        self.sparse = sparse
        self._dense_blocks = dense_blocks
        self._dense_dir = None if dense_blocks is None else gen_dir / "dense"
        self._dense_log = dense_log
        self._vectors = None

    def fork(self) -> Collection:
        """A second object over the same collection that a write can change while this one keeps serving.

        The copy shares what a write never changes in place (the config, the embedder, the
        vector blocks and the built vector index's shards: writes add new ones) and copies the
        containers a write mutates (documents, chunks, parents, BM25 vocabulary, record logs).
        Forking a 100k-document collection takes milliseconds, unlike re-opening it from disk.
        """
        twin = object.__new__(type(self))
        twin.__dict__.update(self.__dict__)
        twin._logs = {kind: log.copy() for kind, log in self._logs.items()}
        twin._views = {}
        twin._dense_log = self._dense_log.copy()
        twin._dense_blocks = None if self._dense_blocks is None else list(self._dense_blocks)
        twin.sparse = self.sparse.copy()
        return twin

    def changed_on_disk(self) -> bool:
        """True when the committed manifest names another generation than this object holds (cheap)."""
        try:
            now = json.loads((self.path / MANIFEST).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return False
        return (now.get("generation"), now.get("data_dir")) != (self.generation, self.data_dir)

    def refresh(self) -> bool:
        """Load the committed state if another writer changed it since this object read it; True if it did."""
        manifest = self._read_manifest(self.path) if self.exists(self.path) else None
        if manifest is None or (manifest["generation"], manifest["data_dir"]) == (self.generation, self.data_dir):
            return False
        if CollectionConfig.from_dict(manifest["config"]) != self.config:
            raise CollectionError(
                f"{self.path} was re-created by another writer with different settings; open it again"
            )
        self._load_generation(manifest)
        return True

    # ------------------------------------------------------------------ components
    @property
    def documents(self) -> DocumentView:
        """``id → Document`` (read from disk when asked for)."""
        return self._view("documents", DocumentView)

    @property
    def chunks(self) -> ChunkRows:
        """The indexed chunks in row order (ids, document ids and metadata in memory; texts read when asked for)."""
        return self._view("chunks", ChunkRows)

    @property
    def parents(self) -> ParentView:
        """``id → parent Chunk`` in parent–child collections (empty otherwise)."""
        return self._view("parents", ParentView)

    def _view(self, kind: str, cls):
        view = self._views.get(kind)
        if view is None:
            view = self._views[kind] = cls(self._logs[kind])
        return view

    @property
    def embeddings(self) -> np.ndarray | None:
        """Every chunk's L2-normalized vector, one row per chunk (``None`` without dense vectors).

        A write appends a block instead of copying the whole matrix; reading this property joins
        the blocks once (the search path never needs it: :attr:`vectors` shares them).
        """
        if self._dense_blocks is None:
            return None
        if len(self._dense_blocks) > 1:
            self._dense_blocks = [np.concatenate([np.asarray(b, np.float32) for b in self._dense_blocks])]
        return self._dense_blocks[0]

    @property
    def dense_dim(self) -> int | None:
        """The vectors' dimension (``None`` without dense vectors)."""
        return None if self._dense_blocks is None else int(self._dense_blocks[0].shape[1])

    @property
    def vectors(self):
        """The FAISS index over :attr:`embeddings`, built on first use (writes then extend it).

        Built from the committed segments when nothing changed since they were read: one shard per
        segment, large ones from their saved HNSW graphs (:mod:`ragsift.index.graphs`).
        """
        if self._dense_blocks is None:
            raise ConfigError(f"collection {self.path} has no dense vectors")
        if self._vectors is None:
            from ragsift.index.vectors import VectorIndex

            index = None
            if self._dense_dir is not None:
                try:
                    index = graphs.vector_index(self._dense_log, self._dense_dir, self._vector_options())
                except (OSError, ValueError, CollectionError) as exc:  # e.g. a writer removed the generation
                    log.info("building the vector index from memory: %s", exc)
            if index is None:
                index = VectorIndex(self.dense_dim, **self._vector_options())
                index.build(np.ascontiguousarray(self.embeddings, dtype=np.float32))
            self._vectors = index
        return self._vectors

    def _vector_options(self) -> dict[str, Any]:
        c = self.config
        return {"kind": c.vector_index, "hnsw_m": c.hnsw_m, "ef_construction": c.ef_construction, "ef_search": c.ef_search}

    def chunk(self, chunk_id: str) -> Chunk:
        """The indexed chunk with this id."""
        rows = self.chunks
        return rows[rows.position(chunk_id)]

    def stats(self) -> dict[str, Any]:
        return {
            "documents": len(self.documents),
            "chunks": len(self.chunks),
            "parents": len(self.parents),
            "vocabulary": len(self.sparse.terms),
            "dense_dim": self.dense_dim,
        }

    @staticmethod
    def index_text(chunk: Chunk) -> str:
        """The text that is indexed for a chunk: its document title, then the chunk text (:func:`ragsift.types.passage_text`)."""
        return passage_text(chunk.title, chunk.text)

    # ------------------------------------------------------------------ writes
    def add(self, documents: Iterable[Document], *, show_progress: bool = False) -> dict[str, int]:
        """Add documents (replacing any with the same id) and commit a new generation.

        Returns counts ``{"added", "replaced", "chunks"}`` (plus ``"skipped_empty"`` when some were
        skipped); an empty batch changes nothing. Documents with no title and no text are skipped
        with one WARNING (how many, the first ids) and counted in the manifest's ``skipped_empty``
        (``ragsift info``). The documents are checked against :attr:`limits` first. The change is applied under the
        writer lock to the committed state (reloaded if another writer moved on). On any error
        the collection is reloaded from disk, so nothing already indexed is lost.
        """
        docs, empty = self._checked(documents)
        skipped = {"skipped_empty": len(empty)} if empty else {}
        if not docs:
            return {"added": 0, "replaced": 0, "chunks": 0, **skipped}
        with self._writing():
            counts = self._mutate(lambda: self._add(docs, show_progress, empty))
        return {**counts, **skipped}

    def _add(self, docs: list[Document], show_progress: bool, empty: Sequence[str] = ()) -> dict[str, int]:
        if empty:
            known = self.skipped_empty.get("ids", [])
            self.skipped_empty = {
                "count": int(self.skipped_empty.get("count", 0)) + len(empty),
                "ids": (known + [i for i in empty if i not in known])[:SKIPPED_IDS_KEPT],
            }
        replaced_ids = {d.id for d in docs if d.id in self.documents}
        self._drop_documents(replaced_ids)
        corpus = chunk_documents(
            docs, self._effective_chunking(), length_function=self._length_function(), show_progress=show_progress
        )
        texts = [self.index_text(c) for c in corpus.chunks]
        self.sparse.add(texts, show_progress=show_progress)
        if self.config.dense:
            new = np.asarray(self.embedder.encode_documents(texts, show_progress=show_progress), np.float32)
            if self.dense_dim is not None and len(new) and new.shape[1] != self.dense_dim:
                raise ConfigError(
                    f"the embedder {self.config.embedder} gave {new.shape[1]}-dimensional vectors, but collection "
                    f"{self.path} holds {self.dense_dim}-dimensional ones: the model behind it changed. Fix: serve "
                    "the model the collection was built with, or index into a new collection; nothing was written"
                )
            self._dense_blocks = [*(self._dense_blocks or []), new]
            self._dense_dir = None
            self._dense_log.append(new)
            self._vectors = None if self._vectors is None else self._vectors.extended(new)
        self._logs["documents"].append(d.to_dict() for d in docs)
        self._logs["chunks"].append(c.to_dict() for c in corpus.chunks)
        self._logs["parents"].append(p.to_dict() for p in corpus.parents)
        self._views = {}
        self._commit(show_progress=show_progress)
        return {"added": len(docs) - len(replaced_ids), "replaced": len(replaced_ids), "chunks": len(corpus.chunks)}

    def delete(self, ids: Sequence[str], *, missing_ok: bool = False) -> int:
        """Remove documents by id and commit; returns how many were removed.

        Unknown ids raise :class:`~ragsift.errors.UnknownDocumentError` (nothing is deleted)
        unless ``missing_ok``. Ids are looked up under the writer lock in the committed state.
        """
        ids = [str(i) for i in ids]
        with self._writing():
            unknown = [i for i in ids if i not in self.documents]
            if unknown and not missing_ok:
                raise UnknownDocumentError(
                    f"unknown document id(s) {unknown[:10]} in collection {self.path}; nothing was deleted "
                    "(pass missing_ok / --missing-ok to ignore unknown ids)",
                    ids=unknown,
                )
            present = {i for i in ids if i in self.documents}
            if present:
                self._mutate(lambda: (self._drop_documents(present), self._commit()))
        return len(present)

    @contextlib.contextmanager
    def _writing(self):
        """Hold the writer lock, with this object brought up to the committed state first."""
        with writer_lock(self.path, self.lock_timeout):
            if self.exists(self.path):
                self.refresh()
            elif self.generation:
                raise CollectionError(
                    f"{MANIFEST} of {self.path} disappeared while this collection was open; nothing was written. "
                    + REPAIR_HINT.format(path=self.path)
                )
            else:
                _refuse_orphaned(self.path)
            yield

    def _mutate(self, change):
        """Run ``change`` (which commits); on any error reload the committed state and re-raise."""
        try:
            return change()
        except BaseException:
            self._rollback()
            raise

    def _drop_documents(self, ids: set[str]) -> None:
        if not ids:
            return
        rows = self.chunks
        keep = np.fromiter((d not in ids for d in rows.doc_ids), dtype=bool, count=len(rows))
        self.sparse.keep(keep)
        if self._dense_blocks is not None:
            blocks, at = [], 0
            for block in self._dense_blocks:
                part = keep[at: at + len(block)]
                at += len(block)
                blocks.append(block if part.all() else np.asarray(block)[part])
            self._dense_blocks = [b for b in blocks if len(b)] or blocks[:1]
            self._dense_dir = None
            self._dense_log.keep(keep)
            self._vectors = None if self._vectors is None else self._vectors.kept(keep)
        self._logs["chunks"].remove([cid for cid, k in zip(rows.ids, keep) if not k])
        self._logs["parents"].remove(self.parents.ids_of_documents(ids))
        self._logs["documents"].remove(ids)
        self._views = {}

    def _rollback(self) -> None:
        if self.exists(self.path):
            self._load_generation(self._read_manifest(self.path))
        else:
            fresh = Collection(
                self.path, self.config, embedder=self._embedder, lock_timeout=self.lock_timeout, limits=self.limits
            )
            self.__dict__.update(fresh.__dict__)

    def _commit(self, *, show_progress: bool = False) -> None:
        """Write a complete new generation, then swap the manifest atomically (writer lock held)."""
        self.path.mkdir(parents=True, exist_ok=True)
        self._sweep_temporaries()
        generation = max([self.generation, *_generation_numbers(self.path)]) + 1
        name = f"gen-{generation:06d}"
        tmp = self.path / f".{name}.tmp-{os.getpid()}-{threading.get_ident()}"
        remove_tree(tmp)
        tmp.mkdir()
        previous_dir = self.path / self.data_dir if self.data_dir else None
        records = {
            kind: self._logs[kind].write(
                previous_dir / kind if previous_dir else None, tmp / kind, f"seg-{generation:06d}.jsonl"
            )
            for kind in RECORD_KINDS
        }
        stem = f"seg-{generation:06d}"
        self.sparse.save(tmp / "sparse", previous_dir / "sparse" if previous_dir else None, stem=stem)
        if not self.defer_cleanup:
            self.sparse.save_scores(tmp / "sparse")
        dense = None
        if self._dense_blocks is not None:
            dense = self._dense_log.write(
                previous_dir / "dense" if previous_dir else None, tmp / "dense", stem,
                lambda: np.asarray(self.embeddings, np.float32),
            )
            graphs.carry_graphs(self._dense_log, previous_dir / "dense" if previous_dir else None, tmp / "dense",
                                self._vector_options(), build=not self.defer_cleanup, show_progress=show_progress)
        manifest = {**self._manifest(generation, name), "records": records, "dense": dense}
        text = json.dumps(manifest, indent=2, ensure_ascii=False)
        (tmp / MANIFEST).write_text(text, encoding="utf-8")  # the copy `ragsift repair` restores from
        fsync_tree(tmp)
        os.replace(tmp, self.path / name)  # numbered above every generation present: replaces nothing
        fsync_dir(self.path)
        previous = self.generation
        atomic_write_text(self.path / MANIFEST, text)
        self.generation, self.data_dir = generation, name
        self._dense_dir = None if dense is None else self.path / name / "dense"
        self._keep = {generation, previous}
        if not self.defer_cleanup:
            self.remove_old_generations()

    def warm_up_indexes(self) -> None:
        """Compute the BM25 weights, build the vector index and the chunk id column now, not on the first search."""
        self.sparse.warm_up()
        _ = self.chunks.ids  # what every search maps its row positions through
        if self.config.dense and self.chunks:
            _ = self.vectors

    def write_caches(self) -> None:
        """Write the derived data a deferred commit left out into the live generation: the BM25
        score matrix and the HNSW graphs of large vector segments (:mod:`ragsift.index.graphs`).

        Safe to run after answering: the files are written atomically, marker last, and a
        generation that was removed meanwhile is skipped. A reader without the cache computes it.
        """
        if self.data_dir is not None and self.chunks:
            self.sparse.save_scores(self.path / self.data_dir / "sparse")
            dense = self.path / self.data_dir / "dense"
            if self._dense_blocks is not None and dense.is_dir():
                try:
                    graphs.carry_graphs(self._dense_log, None, dense, self._vector_options(), build=True)
                except (OSError, CollectionError) as exc:  # the generation was removed meanwhile
                    log.info("HNSW graphs not written for %s: %s", dense, exc)

    def _manifest(self, generation: int, data_dir: str) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": VERSION,
            "generation": generation,
            "data_dir": data_dir,
            "created": self.created,
            "updated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "config": self.config.to_dict(),
            "chunk_size_note": self.chunk_size_note,
            "stats": self.stats(),
            "skipped_empty": self.skipped_empty,
        }

    def _sweep_temporaries(self) -> None:
        for p in self.path.glob(".gen-*.tmp-*"):
            remove_tree(p)

    def remove_old_generations(self) -> None:
        """Remove the generations older than the last commit's live and previous ones.

        :meth:`add`/:meth:`delete` call it after each commit unless ``defer_cleanup`` is set (the
        service runs it after answering). Only generations older than both are removed, so it is
        safe after another writer committed meanwhile; readers retry when theirs vanishes.
        """
        if not self._keep:
            return
        keep, newest = self._keep, max(self._keep)
        for number, p in generation_dirs(self.path):
            if number < newest and number not in keep:
                remove_tree(p)


#: Ids of skipped empty documents kept in the manifest (the count is complete).
SKIPPED_IDS_KEPT = 20


def _load_dense(directory: Path, meta: dict[str, Any] | None):
    """``(row log, vector blocks)`` of a generation's ``dense/`` (``(empty log, None)`` without vectors).

    The blocks are the live rows of each segment, memory-mapped where a segment is all live.
    """
    if meta is not None:
        log, blocks = RowLog.load(DENSE, directory, meta, joined=False)
        return log, (blocks or None) if meta.get("segments") else None
    legacy = directory / "embeddings.npy"  # written before row segments: one array, all live
    if legacy.exists():
        embeddings = np.load(legacy, mmap_mode="r", allow_pickle=False)
        return RowLog.single(DENSE, "embeddings", embeddings), [embeddings]
    return RowLog(DENSE), None


def _new_logs() -> dict[str, RecordLog]:
    return {kind: RecordLog(RECORD_COLUMNS[kind]) for kind in RECORD_KINDS}


def generation_dirs(path: Path) -> list[tuple[int, Path]]:
    """``(number, directory)`` of every ``gen-N`` directory under ``path``, oldest first."""
    found = []
    for p in path.glob("gen-*") if path.is_dir() else ():
        try:
            found.append((int(p.name.split("-", 1)[1]), p))
        except ValueError:
            continue
    return sorted(found)


def _generation_numbers(path: Path) -> list[int]:
    return [number for number, _ in generation_dirs(path)]


def _refuse_orphaned(path: Path) -> None:
    """CollectionError when ``path`` holds generations but no manifest: never treat that as empty."""
    gens = generation_dirs(path)
    if gens and not (path / MANIFEST).is_file():
        names = ", ".join(p.name for _, p in gens[-3:])
        raise CollectionError(
            f"{path} holds {len(gens)} collection generation(s) ({names}) but no {MANIFEST}; it is not empty and "
            f"nothing was changed. {REPAIR_HINT.format(path=path)}"
        )
