"""The Milvus backend: a collection kept in Milvus (standalone, cluster or milvus-lite) instead of a directory.

Name one with a URI wherever a collection path is accepted::

    milvus://HOST:PORT/NAME          plain gRPC/HTTP endpoint (milvus-lite server, standalone, cluster)
    milvus+https://HOST:PORT/NAME    TLS

``MILVUS_TOKEN`` (``user:password`` or an API key) authenticates, ``MILVUS_DB`` picks a
database. Install with ``pip install 'ragsift[milvus]'`` (pymilvus; milvus-lite for a local server).

One Milvus collection holds one chunk per row:

``id`` (primary key, the chunk id), ``doc_id``, ``position`` (the chunk's place in its document),
``chunk`` (the chunk as JSON), ``metadata`` (the document's metadata, JSON: what filters read),
``parent`` (its parent chunk in parent–child collections, JSON), ``document`` (the whole source
document, on the position-0 row only, JSON), ``tokens`` (the BM25 input), ``sparse`` (Milvus'
BM25 function output) and, with vectors, ``vector`` (the embedding; HNSW by default).

BM25 reads ragsift's own analysis. Milvus' tokenizers differ from ragsift's analyzers (stemming,
protected terms such as ``P/E``, CJK bigrams; milvus-lite has only ``standard``), so ragsift
analyzes the text itself and stores each token as a 12-hex-digit hash (``t`` + blake2b): the
``standard`` tokenizer keeps such a word whole, so Milvus counts exactly ragsift's tokens.
Queries are analyzed and hashed the same way. BM25 parameters k1 and b go to Milvus' index;
its scores are rank-equivalent to the embedded collection's up to Milvus' own IDF (per segment
in milvus-lite), and are reported as positive numbers (milvus-lite returns them negated).

Filters: equality, ``in`` and range conditions are pushed into Milvus' expression so they act
before its top-k cut; every hit is then checked with the exact semantics of
:mod:`ragsift.index.filters` (``!=`` / ``not in`` pass a missing key; ``true`` is not ``1``),
and the search widens until ``k`` hits pass or nothing more matches.

The collection settings (analyzer, k1/b, embedder, chunking) are stored in a collection
property (``ragsift.manifest``), so every process and replica reads the same ones. Writes are Milvus upserts and
deletes: replacing a document upserts its new chunks, then deletes its chunks that are gone,
so a search sees the old or the new version of each chunk, never none. There is no local
generation to follow: every replica reads the same server.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import numpy as np

from ragsift.errors import BadInputError, CollectionError, ConfigError, UnknownDocumentError
from ragsift.index.filters import Filter, Op
from ragsift.index.indexed_text import IndexedText
from ragsift.index.retriever import Ranking, Retriever, check_k
from ragsift.ingest import chunk_documents
from ragsift.ingest.limits import DEFAULT_LIMITS, DocumentLimits
from ragsift.types import Chunk, Document, passage_text

__all__ = ["MilvusCollection", "MilvusURI", "is_milvus_uri", "retrievers", "SCHEMES"]

log = logging.getLogger(__name__)

SCHEMES = ("milvus", "milvus+https", "milvus+http")
FORMAT = "ragsift-milvus"
#: The collection property holding ragsift's manifest (format, version, settings, vector size).
MANIFEST_PROPERTY = "ragsift.manifest"
VERSION = 1
#: Bytes a VARCHAR or JSON value may hold in Milvus (its limit is 65,535 / 65,536).
FIELD_BYTES = 65_000
ID_CHARS = 512
#: Rows per insert/upsert request (Milvus caps a request at 64 MiB by default).
WRITE_BATCH = 256
#: Rows per query request when reading documents back.
READ_BATCH = 1000
#: Rows written by one object before it flushes. Unflushed rows sit in "growing" segments that
#: milvus-lite searches without an index: over SciFact's 5,183 unflushed chunks a BM25 search took
#: 2.7 s and a dense one 0.65 s, after a flush 68 ms and 55 ms. Small writes stay unflushed (a
#: flush takes about 1–2 s and makes a segment); Milvus seals growing segments itself over time.
FLUSH_ROWS = 1000
#: Most hits one Milvus search returns (its topk limit); a filtered search widens up to it.
MAX_LIMIT = 16_384


def is_milvus_uri(spec: Any) -> bool:
    """True when ``spec`` names a Milvus collection (``milvus://…``)."""
    return isinstance(spec, str) and spec.split("://", 1)[0].lower() in SCHEMES and "://" in spec


@dataclass(frozen=True)
class MilvusURI:
    """A parsed ``milvus://HOST:PORT/NAME``."""

    endpoint: str  # http(s)://HOST:PORT, what MilvusClient takes
    name: str
    text: str

    @classmethod
    def parse(cls, spec: str) -> "MilvusURI":
        parts = urlsplit(spec)
        scheme = parts.scheme.lower()
        if scheme not in SCHEMES:
            raise ConfigError(f"{spec!r} is not a Milvus collection URI; use milvus://HOST:PORT/NAME")
        name = parts.path.strip("/")
        if not parts.hostname or not name or "/" in name:
            raise ConfigError(f"{spec!r} needs a host and one collection name: milvus://HOST:PORT/NAME")
        if not (name[0].isalpha() or name[0] == "_") or not all(c.isalnum() or c == "_" for c in name) or len(name) > 255:
            raise ConfigError(
                f"Milvus collection name {name!r} may hold only letters, digits and '_', and must start with a letter or '_'"
            )
        try:
            port = parts.port or 19530
        except ValueError as exc:
            raise ConfigError(f"{spec!r} has an invalid port: {exc}") from exc
        http = "https" if scheme == "milvus+https" else "http"
        return cls(f"{http}://{parts.hostname}:{port}", name, spec)

    def __str__(self) -> str:
        return self.text


def _pymilvus():
    try:
        import pymilvus
    except ImportError as exc:
        raise ConfigError(
            "a milvus:// collection needs pymilvus. Fix: pip install 'ragsift[milvus]' "
            "(pymilvus; add milvus-lite for a local server: milvus-lite server --host 127.0.0.1 --port 19530)"
        ) from exc
    return pymilvus


#: gRPC channel options. pymilvus pings every 10 s even with no call in flight; a gRPC C++ server
#: (milvus-lite) allows one ping per 5 minutes without data and answers more with GOAWAY
#: ``too_many_pings``, dropping the connection under load. Pings only during calls, at its pace.
GRPC_OPTIONS = {"grpc.keepalive_time_ms": 300_000, "grpc.keepalive_permit_without_calls": False}


def connect(uri: MilvusURI, *, timeout: float = 10.0):
    """A ``MilvusClient`` for ``uri`` (``MILVUS_TOKEN``, ``MILVUS_DB`` from the environment)."""
    from ragsift import config

    pymilvus = _pymilvus()
    options: dict[str, Any] = {"uri": uri.endpoint, "timeout": timeout, "grpc_options": GRPC_OPTIONS}
    token = config.get("milvus.token")
    if token:
        options["token"] = token
    db = config.get("milvus.db")
    if db:
        options["db_name"] = db
    try:
        return pymilvus.MilvusClient(**options)
    except Exception as exc:  # pymilvus raises MilvusException and grpc errors of several kinds
        raise CollectionError(f"cannot reach Milvus at {uri.endpoint} for {uri}: {exc}") from exc


def hash_token(token: str) -> str:
    """A token as a word Milvus' ``standard`` tokenizer keeps whole: ``t`` + 12 hex digits."""
    return "t" + hashlib.blake2b(token.encode("utf-8", "surrogatepass"), digest_size=6).hexdigest()


def _json_bytes(value: Any) -> int:
    return len(json.dumps(value, ensure_ascii=False).encode("utf-8"))


class _Documents(Mapping):
    """The collection's documents, read from Milvus on demand (the position-0 rows)."""

    def __init__(self, coll: "MilvusCollection"):
        self._coll = coll

    def __getitem__(self, doc_id: str) -> Document:
        rows = self._coll._query(f"doc_id == {_literal(doc_id)} and position == 0", ["document"], limit=1)
        if not rows:
            raise KeyError(doc_id)
        return _document(rows[0]["document"])

    def __contains__(self, doc_id: object) -> bool:
        return isinstance(doc_id, str) and bool(self._coll._query(f"doc_id == {_literal(doc_id)}", ["id"], limit=1))

    def __iter__(self) -> Iterator[str]:
        for row in self._coll._scan("position == 0", ["doc_id"]):
            yield row["doc_id"]

    def values(self):
        return [_document(row["document"]) for row in self._coll._scan("position == 0", ["document"])]

    def __len__(self) -> int:
        return self._coll._count("position == 0")


class _Parents(Mapping):
    """Parent chunks of a parent–child collection, read from their children's rows."""

    def __init__(self, coll: "MilvusCollection"):
        self._coll = coll

    def __bool__(self) -> bool:
        return self._coll.config.chunking.parent_child

    def __getitem__(self, parent_id: str) -> Chunk:
        cached = self._coll._parents.get(parent_id)
        if cached is not None:
            return cached
        rows = self._coll._query(f'parent["id"] == {_literal(parent_id)}', ["parent"], limit=1)
        if not rows:
            raise KeyError(parent_id)
        return Chunk.from_dict(rows[0]["parent"])

    def __iter__(self) -> Iterator[str]:
        seen = set()
        for row in self._coll._scan('id != ""', ["parent"]):
            pid = (row.get("parent") or {}).get("id")
            if pid and pid not in seen:
                seen.add(pid)
                yield pid

    def __len__(self) -> int:
        return sum(1 for _ in self)


class MilvusCollection(IndexedText):
    """A ragsift collection stored in Milvus. Use :meth:`create` or :meth:`open`."""

    backend = "milvus"  # its first-stage retrievers: ragsift.index.retriever.BACKENDS

    def __init__(self, uri: MilvusURI, config, *, client=None, embedder=None, limits: DocumentLimits = DEFAULT_LIMITS,
                 lock_timeout: float | None = None, dim: int | None = None):
        self.uri = uri
        self.path = str(uri)  # what messages and reports show
        self.config = config
        self.limits = limits
        self.lock_timeout = lock_timeout  # accepted for the CLI's sake: Milvus serializes writes itself
        self.defer_cleanup = False
        self.generation = 0
        self.data_dir = None
        self.chunk_size_note: str | None = None
        self.skipped_empty: dict[str, Any] = {"count": 0, "ids": []}
        self.dim = dim
        self._client = client or connect(uri)
        self._embedder = self._bind_embedder(embedder)  # refuses one unlike the recorded spec
        self._analyzer = None
        self._chunks: dict[str, Chunk] = {}  # chunk rows seen by searches (bounded)
        self._parents: dict[str, Chunk] = {}
        self._cache_lock = threading.Lock()
        self._unflushed = 0  # rows this object wrote since its last flush
        self.documents = _Documents(self)
        self.parents = _Parents(self)

    # ------------------------------------------------------------------ open / create
    @classmethod
    def exists(cls, spec: str | MilvusURI) -> bool:
        uri = spec if isinstance(spec, MilvusURI) else MilvusURI.parse(spec)
        client = connect(uri)
        try:
            return bool(client.has_collection(uri.name))
        finally:
            client.close()

    @classmethod
    def create(cls, spec: str | MilvusURI, config=None, **options) -> "MilvusCollection":
        """A new, empty collection (created in Milvus on the first :meth:`add`, when the vector size is known)."""
        from ragsift.index.collection import CollectionConfig

        uri = spec if isinstance(spec, MilvusURI) else MilvusURI.parse(spec)
        coll = cls(uri, config or CollectionConfig(), **options)
        if coll._client.has_collection(uri.name):
            raise CollectionError(f"{uri} already exists; open it (ragsift index adds to an existing collection)")
        return coll

    @classmethod
    def open(cls, spec: str | MilvusURI, **options) -> "MilvusCollection":
        from ragsift.index.collection import CollectionConfig

        uri = spec if isinstance(spec, MilvusURI) else MilvusURI.parse(spec)
        client = options.pop("client", None) or connect(uri)
        if not client.has_collection(uri.name):
            raise CollectionError(f"no collection {uri.name!r} in Milvus at {uri.endpoint}; build one with: "
                                  f"ragsift index SOURCE --collection {uri}")
        described = client.describe_collection(uri.name)
        try:
            manifest = json.loads((described.get("properties") or {}).get(MANIFEST_PROPERTY) or "")
        except ValueError:
            manifest = None
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            raise CollectionError(f"Milvus collection {uri.name!r} at {uri.endpoint} was not created by ragsift")
        if manifest.get("version") != VERSION:
            raise CollectionError(f"{uri} has format version {manifest.get('version')}; this ragsift reads version {VERSION}")
        coll = cls(uri, CollectionConfig.from_dict(manifest["config"]), client=client, dim=manifest.get("dim"), **options)
        coll.chunk_size_note = manifest.get("chunk_size_note")
        client.load_collection(uri.name)
        return coll

    # ------------------------------------------------------------------ what the service and CLI expect
    def fork(self) -> "MilvusCollection":
        """The same collection: Milvus applies each write for every reader at once."""
        return self

    def changed_on_disk(self) -> bool:
        return False

    def refresh(self) -> bool:
        return False

    def remove_old_generations(self) -> None:
        """Nothing to remove: Milvus keeps no generations."""

    def write_caches(self) -> None:
        """Nothing to write: Milvus keeps its own indexes."""

    def warm_up_indexes(self) -> None:
        """Nothing to build locally."""

    @property
    def analyzer(self):
        if self._analyzer is None:
            self._analyzer = self._make_analyzer()
        return self._analyzer

    def tokens(self, text: str) -> str:
        """``text`` as Milvus' BM25 input: ragsift's tokens, hashed, space-separated."""
        return " ".join(hash_token(t) for t in self.analyzer(text))

    def stats(self) -> dict[str, Any]:
        exists = self._client.has_collection(self.uri.name)
        return {
            "documents": len(self.documents) if exists else 0,
            "chunks": self._count('id != ""') if exists else 0,
            "parents": None,
            "vocabulary": None,
            "dense_dim": self.dim,
            "backend": "milvus",
        }

    @staticmethod
    def index_text(chunk: Chunk) -> str:
        return passage_text(chunk.title, chunk.text)

    def chunk(self, chunk_id: str) -> Chunk:
        """The chunk with this id (from the rows the last searches returned, else read from Milvus)."""
        cached = self._chunks.get(chunk_id)
        if cached is not None:
            return cached
        rows = self._query(f"id == {_literal(chunk_id)}", ["chunk", "parent"], limit=1)
        if not rows:
            raise KeyError(chunk_id)
        return self._remember(rows[0])

    def _remember(self, row: Mapping[str, Any]) -> Chunk:
        chunk = Chunk.from_dict(row["chunk"])
        with self._cache_lock:
            if len(self._chunks) > 50_000:
                self._chunks.clear()
                self._parents.clear()
            self._chunks[chunk.id] = chunk
            parent = row.get("parent") or {}
            if parent.get("id"):
                self._parents[parent["id"]] = Chunk.from_dict(parent)
        return chunk

    # ------------------------------------------------------------------ writes
    def add(self, documents, *, show_progress: bool = False) -> dict[str, int]:
        """Add documents (replacing any with the same id); returns ``{"added", "replaced", "chunks"}``."""
        docs, empty = self._checked(documents)
        skipped = {"skipped_empty": len(empty)} if empty else {}
        if not docs:
            return {"added": 0, "replaced": 0, "chunks": 0, **skipped}
        for d in docs:
            if len(d.id) > ID_CHARS:
                raise BadInputError(f"document id {d.id[:40]!r}… is longer than {ID_CHARS} characters (Milvus' key limit)")
        corpus = chunk_documents(docs, self._effective_chunking(), length_function=self._length_function(), show_progress=show_progress)
        rows = self._rows(docs, corpus)
        vectors = None
        if self.config.dense:
            vectors = self.embedder.encode_documents([self.index_text(c) for c in corpus.chunks], show_progress=show_progress)
            self.dim = int(vectors.shape[1])
        self._ensure_collection()
        present = self._present([d.id for d in docs])
        new_ids = {c.id for c in corpus.chunks}
        starts = range(0, len(rows), WRITE_BATCH)
        if show_progress:
            from tqdm.auto import tqdm

            starts = tqdm(starts, desc="Milvus upsert", unit="batch")
        for start in starts:
            batch = rows[start:start + WRITE_BATCH]
            if vectors is not None:
                for row, vec in zip(batch, vectors[start:start + WRITE_BATCH]):
                    row["vector"] = np.asarray(vec, np.float32).tolist()
            self._call("upsert", self.uri.name, batch)
        if present:  # the replaced documents' chunks that the new versions no longer have
            stale = [r["id"] for r in self._scan(f"doc_id in {_literal(sorted(present))}", ["id"]) if r["id"] not in new_ids]
            for start in range(0, len(stale), READ_BATCH):
                self._call("delete", self.uri.name, ids=stale[start:start + READ_BATCH])
        with self._cache_lock:
            self._chunks.clear()
            self._parents.clear()
        self._unflushed += len(rows)
        if self._unflushed >= FLUSH_ROWS:
            self._call("flush", self.uri.name)
            self._unflushed = 0
        return {"added": len(docs) - len(present), "replaced": len(present), "chunks": len(corpus.chunks), **skipped}

    def delete(self, ids: Sequence[str], *, missing_ok: bool = False) -> int:
        """Remove documents by id; unknown ids raise UnknownDocumentError unless ``missing_ok``."""
        ids = [str(i) for i in ids]
        if not self._client.has_collection(self.uri.name):
            present: set[str] = set()
        else:
            present = self._present(ids)
        unknown = [i for i in ids if i not in present]
        if unknown and not missing_ok:
            raise UnknownDocumentError(
                f"unknown document id(s) {unknown[:10]} in collection {self.uri}; nothing was deleted "
                "(pass missing_ok / --missing-ok to ignore unknown ids)",
                ids=unknown,
            )
        if present:
            self._call("delete", self.uri.name, filter=f"doc_id in {_literal(sorted(present))}")
            with self._cache_lock:
                self._chunks.clear()
                self._parents.clear()
        return len(present)

    def _present(self, doc_ids: Sequence[str]) -> set[str]:
        found: set[str] = set()
        for start in range(0, len(doc_ids), READ_BATCH):
            part = list(doc_ids[start:start + READ_BATCH])
            rows = self._query(f"doc_id in {_literal(part)} and position == 0", ["doc_id"], limit=len(part))
            found.update(r["doc_id"] for r in rows)
        return found

    def _rows(self, docs: Sequence[Document], corpus) -> list[dict[str, Any]]:
        by_id = {d.id: d for d in docs}
        parents = {p.id: p for p in corpus.parents}
        firsts: dict[str, bool] = {}
        rows = []
        for c in corpus.chunks:
            first = c.doc_id not in firsts
            firsts[c.doc_id] = True
            chunk = c.to_dict()
            parent = parents[c.parent_id].to_dict() if c.parent_id else {}
            document = by_id[c.doc_id].to_dict() if first else {}
            tokens = self.tokens(self.index_text(c))
            for label, value in (("chunk", chunk), ("parent chunk", parent), ("document", document)):
                if _json_bytes(value) > FIELD_BYTES:
                    raise BadInputError(
                        f"document {c.doc_id!r}: its {label} is {_json_bytes(value):,} bytes as JSON, more than a Milvus "
                        f"JSON field holds ({FIELD_BYTES:,}); split the document or index it with smaller chunks"
                    )
            if len(tokens) > FIELD_BYTES:
                raise BadInputError(f"document {c.doc_id!r}: chunk {c.id!r} has too many tokens for Milvus' BM25 "
                                    f"field; index it with smaller chunks (--chunk-size)")
            rows.append({
                "id": c.id, "doc_id": c.doc_id, "position": 0 if first else max(1, c.position),
                "chunk": chunk, "metadata": dict(c.metadata), "parent": parent, "document": document, "tokens": tokens,
            })
        return rows

    def _ensure_collection(self) -> None:
        client = self._client
        if client.has_collection(self.uri.name):
            return
        pymilvus = _pymilvus()
        DataType, Function, FunctionType = pymilvus.DataType, pymilvus.Function, pymilvus.FunctionType
        manifest = {"format": FORMAT, "version": VERSION, "config": self.config.to_dict(), "dim": self.dim,
                    "chunk_size_note": self.chunk_size_note}
        schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("id", DataType.VARCHAR, is_primary=True, max_length=ID_CHARS + 16)
        schema.add_field("doc_id", DataType.VARCHAR, max_length=ID_CHARS)
        schema.add_field("position", DataType.INT64)
        for name in ("chunk", "metadata", "parent", "document"):
            schema.add_field(name, DataType.JSON)
        schema.add_field("tokens", DataType.VARCHAR, max_length=65_535, enable_analyzer=True,
                         analyzer_params={"tokenizer": "standard"})
        schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
        schema.add_function(Function(name="bm25", function_type=FunctionType.BM25,
                                     input_field_names=["tokens"], output_field_names=["sparse"]))
        index = client.prepare_index_params()
        index.add_index(field_name="sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25",
                        params={"bm25_k1": self.config.k1, "bm25_b": self.config.b})
        if self.config.dense:
            schema.add_field("vector", DataType.FLOAT_VECTOR, dim=int(self.dim))
            kind = str(self.config.vector_index).lower()
            if kind == "flat":
                index.add_index(field_name="vector", index_type="FLAT", metric_type="IP")
            else:  # auto and hnsw: HNSW
                index.add_index(field_name="vector", index_type="HNSW", metric_type="IP",
                                params={"M": self.config.hnsw_m, "efConstruction": self.config.ef_construction})
        self._call("create_collection", self.uri.name, schema=schema, index_params=index)
        self._call("alter_collection_properties", self.uri.name, properties={MANIFEST_PROPERTY: json.dumps(manifest)})
        client.load_collection(self.uri.name)

    # ------------------------------------------------------------------ reads
    def _call(self, method: str, *args, **kwargs):
        try:
            return getattr(self._client, method)(*args, **kwargs)
        except (BadInputError, ConfigError):
            raise
        except Exception as exc:  # MilvusException, grpc errors
            raise CollectionError(f"Milvus {method} on {self.uri} failed: {exc}") from exc

    def _query(self, expr: str, fields: list[str], *, limit: int) -> list[dict[str, Any]]:
        return list(self._call("query", self.uri.name, filter=expr, output_fields=fields, limit=limit))

    def _scan(self, expr: str, fields: list[str]) -> Iterator[dict[str, Any]]:
        quiet = logging.getLogger("pymilvus")
        level = quiet.level
        quiet.setLevel(logging.ERROR)  # the iterator warns when a server (milvus-lite) has no MVCC timestamp
        try:
            it = self._call("query_iterator", self.uri.name, batch_size=READ_BATCH, filter=expr, output_fields=fields)
        finally:
            quiet.setLevel(level)
        try:
            while True:
                batch = it.next()
                if not batch:
                    return
                yield from batch
        finally:
            it.close()

    def _count(self, expr: str) -> int:
        rows = self._call("query", self.uri.name, filter=expr, output_fields=["count(*)"])
        return int(rows[0]["count(*)"]) if rows else 0

    def search_field(self, field: str, data: list, k: int, filters: Filter | None, params: dict[str, Any]) -> list[Ranking]:
        """Top-``k`` chunk ids per query on ``field`` (``sparse`` or ``vector``), ``filters`` applied exactly."""
        k = check_k(k)
        if not data or not self._client.has_collection(self.uri.name):
            return [[] for _ in data]
        expr = pushdown(filters)

        def search(query):
            return lambda limit: self._call("search", self.uri.name, data=[query], anns_field=field, limit=limit,
                                            filter=expr, output_fields=["chunk", "parent"], search_params=params)[0]

        return [self._filtered(search(query), k, filters) for query in data]

    def hybrid(self, query: str, k: int, filters: Filter | None, *, depth: int, ranker: str, weights=None,
               rrf_k: float = 60.0) -> Ranking:
        """Milvus' server-side ``hybrid_search`` over BM25 and dense (RRF or weighted), filters applied exactly."""
        pymilvus = _pymilvus()
        if not self._client.has_collection(self.uri.name):
            return []
        expr = pushdown(filters) or None
        vector = self.embedder.encode_queries([query])[0].astype(np.float32).tolist()
        rank = pymilvus.RRFRanker(int(rrf_k)) if ranker == "rrf" else pymilvus.WeightedRanker(*weights)
        dense = {"metric_type": "IP", "params": {"ef": max(self.config.ef_search, depth)}}

        def search(limit: int):
            requests = [
                pymilvus.AnnSearchRequest(data=[self.tokens(query)], anns_field="sparse", param={"metric_type": "BM25"},
                                          limit=max(depth, limit), expr=expr),
                pymilvus.AnnSearchRequest(data=[vector], anns_field="vector", param=dense, limit=max(depth, limit), expr=expr),
            ]
            return self._call("hybrid_search", self.uri.name, requests, rank, limit=limit, output_fields=["chunk", "parent"])[0]

        return self._filtered(search, check_k(k), filters)

    def _filtered(self, search, k: int, filters: Filter | None) -> Ranking:
        """``search(limit)``'s hits that pass ``filters`` exactly, widened until ``k`` pass or nothing more matches.

        Scores are reported positive (milvus-lite returns BM25 distances negated).
        """
        limit = k if filters is None else min(max(2 * k, 20), MAX_LIMIT)
        while True:
            hits = search(limit)
            ranking = []
            for hit in hits:
                chunk = self._remember(hit["entity"])
                if filters is None or filters.matches(chunk.metadata):
                    ranking.append((chunk.id, abs(float(hit["distance"]))))
            if len(ranking) >= k or len(hits) < limit or limit >= MAX_LIMIT:
                return ranking[:k]
            limit = min(limit * 4, MAX_LIMIT)

    def ping(self) -> bool:
        """True when the Milvus server answers (readiness)."""
        try:
            self._client.has_collection(self.uri.name)
            return True
        except Exception:  # a down server raises grpc / Milvus errors of several kinds
            return False

    def drop(self) -> None:
        """Remove the collection from Milvus (tests, ``ragsift`` has no command for it)."""
        if self._client.has_collection(self.uri.name):
            self._client.drop_collection(self.uri.name)

    def close(self) -> None:
        self._client.close()


# ---------------------------------------------------------------------------- retrievers


def retrievers(collection: MilvusCollection) -> dict[str, Retriever]:
    """``{"bm25": ..., "dense": ...}`` over Milvus (no ``"dense"`` without vectors)."""
    out: dict[str, Retriever] = {"bm25": MilvusBM25Retriever(collection)}
    if collection.config.dense:
        out["dense"] = MilvusDenseRetriever(collection)
        out["server-hybrid"] = MilvusHybridRetriever(collection)
    return out


class _MilvusRetriever(Retriever):
    def __init__(self, collection: MilvusCollection):
        self.collection = collection

    def warm_up(self) -> None:
        if self.collection.config.dense:
            self.collection.embedder.encode_queries(["warm-up"])


class MilvusBM25Retriever(_MilvusRetriever):
    """BM25 by Milvus over ragsift's own tokens."""

    name = "bm25"

    def warm_up(self) -> None:
        """Nothing to load: the analysis is ragsift's, the index Milvus'."""

    def search_many(self, queries: Sequence[str], k: int, filters: Filter | None = None) -> list[Ranking]:
        coll = self.collection
        out: list[Ranking] = []
        for q in queries:
            tokens = coll.tokens(q)
            out.extend([[]] if not tokens else coll.search_field("sparse", [tokens], k, filters, {"metric_type": "BM25"}))
        return out


class MilvusDenseRetriever(_MilvusRetriever):
    """Dense vectors: the collection's embedder, then Milvus' vector index (inner product)."""

    name = "dense"

    def search_many(self, queries: Sequence[str], k: int, filters: Filter | None = None) -> list[Ranking]:
        coll = self.collection
        vectors = coll.embedder.encode_queries(list(queries))
        params = {"metric_type": "IP", "params": {"ef": max(coll.config.ef_search, k)}}
        return coll.search_field("vector", [v.astype(np.float32).tolist() for v in vectors], k, filters, params)


class MilvusHybridRetriever(_MilvusRetriever):
    """BM25 and dense fused by Milvus' ``hybrid_search`` (``SearchOptions(server_fusion=True)``)."""

    name = "server-hybrid"

    def search_many(self, queries: Sequence[str], k: int, filters: Filter | None = None) -> list[Ranking]:
        return [self.collection.hybrid(q, k, filters, depth=max(k, 100), ranker="rrf") for q in queries]

    def search_fused(self, queries: Sequence[str], opts) -> list[Ranking]:
        """One fused ranking per query with ``opts``' fusion (rrf / weighted), depths, ``k`` and filters."""
        weights = None
        if opts.fusion.value == "weighted":
            given = dict(opts.weights or {"bm25": 0.5, "dense": 0.5})
            weights = (float(given.get("bm25", 0.0)), float(given.get("dense", 0.0)))
        depth = max(opts.depth("bm25"), opts.depth("dense"))
        return [self.collection.hybrid(q, opts.k, opts.filters, depth=depth, ranker=opts.fusion.value, weights=weights,
                                       rrf_k=opts.rrf_k) for q in queries]


# ---------------------------------------------------------------------------- filters


def pushdown(filters: Filter | None) -> str:
    """The part of ``filters`` Milvus can apply before its top-k cut, as a Milvus expression ("" when none).

    Equality, ``in`` and ranges on strings and numbers are pushed; ``!=``, ``not in`` and
    conditions on booleans or null are checked only afterwards (:meth:`Filter.matches`), so the
    pushed expression never excludes a chunk that passes.
    """
    if filters is None:
        return ""
    parts = []
    for c in filters.conditions:
        field = f"metadata[{_literal(c.field)}]"
        values = c.value if c.op is Op.IN else (c.value,)
        if c.op in (Op.NE, Op.NOT_IN) or not all(_pushable(v) for v in values):
            continue
        if c.op is Op.EQ:
            parts.append(f"{field} == {_literal(c.value)}")
        elif c.op is Op.IN:  # ORed equalities: milvus-lite takes `in` on plain fields only
            parts.append("(" + " or ".join(f"{field} == {_literal(v)}" for v in c.value) + ")")
        else:
            parts.append(f"{field} {c.op.value} {_literal(c.value)}")
    return " and ".join(parts)


def _pushable(value: Any) -> bool:
    return (isinstance(value, str) or (isinstance(value, (int, float)) and not isinstance(value, bool)
                                       and np.isfinite(value)))


def _literal(value: Any) -> str:
    """A Milvus expression literal (strings double-quoted with escapes, lists in brackets)."""
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_literal(v) for v in value) + "]"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value)


def _document(data: Mapping[str, Any]) -> Document:
    return Document(data["id"], data.get("text", ""), data.get("title", ""), data.get("metadata") or {})
