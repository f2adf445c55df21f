"""Late-interaction (ColBERT-style) reranking over token vectors computed at index time.

At index time :func:`build_token_store` runs every passage through an encoder once and keeps
its token vectors — the last hidden states of the encoder's transformer, L2-normalised,
optionally reduced to ``dim`` dimensions by a projection fitted on a sample of them
(:func:`ragsift.rerank.token_store.fit_projection`), then symmetric int8 — in a
:class:`~ragsift.rerank.token_store.TokenStore` (``ragsift late-index`` builds one from a
collection). The default encoder is the bundled all-MiniLM-L6-v2 (384 dimensions).

At query time :class:`LateInteractionReranker` encodes the query once (at most
``max_query_length`` tokens) and scores each passage by MaxSim::

    raw       = Σ over query tokens q of max over the passage's stored tokens p of q · p
    relevance = clip(raw / number of query tokens, 0, 1)   # mean best cosine

``raw`` ranks; ``relevance`` (on the [0, 1] scale :func:`ragsift.pipeline.rerank.rerank_hits`
interpolates with the min-max-normalised first stage, and thresholds apply to) is the mean of
the query tokens' best cosines, which are almost never negative: the best of a passage's
tokens is chosen. Query vectors stay float32; passage vectors are dequantised on the fly.

Choices: special tokens ([CLS], [SEP], padding) are never stored or scored, on either side;
punctuation tokens are kept (ColBERT drops them from passages; keeping them costs a few per cent
of bytes and needs no tokenizer-specific list). Queries are not padded with [MASK] tokens
(ColBERT's query augmentation is learned; this encoder was not trained for it).

Passages are looked up by the digest of their exact text, so the reranker keeps the plain
``(query, passages)`` interface and works behind the HTTP service. A passage that is not in the
store (the collection changed since ``late-index``, or other text fields) is encoded on the fly
with the same encoder, ``max_length`` and projection, and quantised like a stored one, so its
score is what it would be stored; each such passage is counted in ``misses`` and the first one
logs a WARNING naming the fix. Misses cost one encoder pass each: rebuild the store when they grow.

Like a model folder, a store may carry ``ragsift_reranker.json``
(:func:`ragsift.rerank.settings.write_model_settings`): its tuned interpolation weight and
candidate depth become the defaults of every search (:attr:`LateInteractionReranker.model_settings`).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ragsift.errors import BadInputError, ConfigError
from ragsift.rerank.base import Reranker, Scores, positive_int
from ragsift.rerank.settings import SETTINGS_FILE, ModelSettings, read_model_settings
from ragsift.rerank.token_encoder import TokenEncoder
from ragsift.rerank.token_store import (
    StoreWriter,
    TokenStore,
    fit_projection,
    passage_keys,
    project,
    quantize,
)

__all__ = [
    "DEFAULT_MAX_LENGTH",
    "DEFAULT_MAX_QUERY_LENGTH",
    "LateInteractionReranker",
    "TokenEncoder",
    "build_token_store",
    "maxsim",
]

logger = logging.getLogger(__name__)

#: Tokens read per passage at index time (special tokens included, as tokenizers count).
DEFAULT_MAX_LENGTH = 256
#: Query tokens scored (special tokens not included).
DEFAULT_MAX_QUERY_LENGTH = 32
#: Passages (evenly spaced) and token vectors at most sampled to fit a ``dim`` projection.
PROJECTION_SAMPLE_PASSAGES = 512
PROJECTION_SAMPLE_TOKENS = 65536


def _encoder(encoder: TokenEncoder | str | os.PathLike[str] | None, device: str) -> TokenEncoder:
    return encoder if isinstance(encoder, TokenEncoder) else TokenEncoder.load(encoder, device=device)


# -- building a store -------------------------------------------------------------------------------


def build_token_store(
    texts: Sequence[str],
    out_dir: str | os.PathLike[str],
    *,
    encoder: TokenEncoder | str | os.PathLike[str] | None = None,
    max_length: int = DEFAULT_MAX_LENGTH,
    dim: int | None = None,
    batch_size: int = 32,
    device: str = "cpu",
    text_fields: Sequence[str] | None = None,
    source: Mapping[str, Any] | None = None,
    show_progress: bool = True,
) -> TokenStore:
    """Encode ``texts`` once and write their int8 token vectors to the store ``out_dir``; return it opened.

    ``encoder``: a model folder or name (None: the bundled all-MiniLM-L6-v2) or a loaded
    :class:`TokenEncoder`. ``dim``: reduce vectors to this many dimensions (None: keep the
    encoder's). ``text_fields`` (which fields of a hit the texts are, e.g. ``("title", "text")``)
    and ``source`` (where the texts came from) are recorded in the manifest. The store is built in
    a staging folder and swapped in: a failed build leaves a previous ``out_dir`` as it was. A
    previous store's ``ragsift_reranker.json`` is kept when encoder, ``max_length``, ``dim`` and
    ``text_fields`` are unchanged (its tuned settings still describe the same scores), else
    dropped with a WARNING.
    """
    from ragsift.files import atomic_write_dir

    texts = _check_texts(texts)
    max_length = positive_int(max_length, "max_length", minimum=3)
    batch_size = positive_int(batch_size, "batch_size")
    if dim is not None:
        dim = positive_int(dim, "dim")
    start = time.perf_counter()
    enc = _encoder(encoder, device)
    max_length = enc.cap(max_length)
    if dim is not None and dim > enc.dim:
        raise ConfigError(f"dim={dim} is larger than the encoder's dimension {enc.dim}; use dim <= {enc.dim} or None")
    keys = passage_keys(texts)
    _, first = np.unique(keys, axis=0, return_index=True)
    unique = sorted(int(i) for i in first)  # identical texts are stored once, in first-seen order
    texts, keys = [texts[i] for i in unique], keys[unique]
    lengths = enc.lengths(texts, max_length)
    projection = None
    if dim is not None and dim < enc.dim:
        projection = fit_projection(_projection_sample(enc, texts, max_length, batch_size), dim)
    out_dim = enc.dim if projection is None else dim
    header = {
        "encoder": enc.name,
        "encoder_dim": enc.dim,
        "max_length": max_length,
        "text_fields": None if text_fields is None else list(text_fields),
        "source": dict(source or {}),
        "special_tokens": "skipped",
        "punctuation": "kept",
    }

    def write(staging: Path) -> None:
        staging.chmod(0o755)  # mkdtemp makes it 0700; a service under another user reads the store
        writer = StoreWriter(staging, keys, lengths, out_dim)
        order = np.argsort(-lengths, kind="stable")  # similar lengths share a batch: little padding
        bar = _progress(len(texts), show_progress)
        for at in range(0, len(order), batch_size):
            batch = [int(i) for i in order[at : at + batch_size]]
            for i, vectors in zip(batch, enc.encode([texts[i] for i in batch], max_length)):
                writer.put(i, *quantize(project(vectors, projection)))
            if bar is not None:
                bar.update(len(batch))
        if bar is not None:
            bar.close()
        header["created"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        header["build_seconds"] = round(time.perf_counter() - start, 2)
        writer.finish(header, projection)
        _carry_settings(Path(out_dir), staging, header, out_dim)

    atomic_write_dir(out_dir, write)
    return TokenStore.open(out_dir)


def _projection_sample(enc: TokenEncoder, texts: list[str], max_length: int, batch_size: int) -> np.ndarray:
    """Token vectors of up to :data:`PROJECTION_SAMPLE_PASSAGES` evenly spaced texts."""
    picks = np.unique(np.linspace(0, len(texts) - 1, min(len(texts), PROJECTION_SAMPLE_PASSAGES)).astype(int))
    chunks: list[np.ndarray] = []
    for at in range(0, len(picks), batch_size):
        chunks.extend(enc.encode([texts[i] for i in picks[at : at + batch_size]], max_length))
    sample = np.concatenate(chunks) if chunks else np.zeros((0, enc.dim), np.float32)
    return sample[:PROJECTION_SAMPLE_TOKENS]


def _carry_settings(out: Path, staging: Path, header: Mapping[str, Any], dim: int) -> None:
    """Copy the previous store's settings file into ``staging`` when its scores are unchanged."""
    old = out / SETTINGS_FILE
    if not old.is_file():
        return
    try:
        previous = TokenStore.open(out).manifest
    except ConfigError:
        previous = {}
    same = all(previous.get(k) == header[k] for k in ("encoder", "max_length", "text_fields")) and previous.get("dim") == dim
    if same:
        (staging / SETTINGS_FILE).write_bytes(old.read_bytes())
    else:
        logger.warning("%s dropped: the store was rebuilt with another encoder, max_length, dim or text fields; tune again", old)


def _progress(total: int, show: bool):
    if not show:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="token vectors", unit="passage")


# -- scoring ----------------------------------------------------------------------------------------


def maxsim(query: np.ndarray, tokens: np.ndarray, scales: np.ndarray, lengths: Sequence[int]) -> np.ndarray:
    """MaxSim of float32 ``query`` vectors against consecutive passages of int8 ``tokens`` (dequantised by ``scales``).

    ``lengths[i]`` rows belong to passage i; one matmul, then ``np.maximum.reduceat`` per passage.
    A passage without tokens (or a query without tokens) scores 0.
    """
    lengths = np.asarray(lengths, dtype=np.int64)
    out = np.zeros(len(lengths), dtype=np.float64)
    present = lengths > 0
    if not len(query) or not present.any():
        return out
    sim = query @ tokens.T.astype(np.float32)
    sim *= np.asarray(scales, dtype=np.float32)[None, :]
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])[present]
    out[present] = np.maximum.reduceat(sim, starts, axis=1).sum(axis=0)
    return out


class LateInteractionReranker(Reranker):
    """MaxSim reranking over a token store built by :func:`build_token_store` (module docstring).

    ``model`` is the store folder. The constructor opens the store (its manifest and memory
    maps; a ConfigError names ``ragsift late-index`` when it is missing or damaged) and reads its
    ``ragsift_reranker.json``; :meth:`warm_up` loads the store's encoder. ``batch_size`` passages
    are encoded per forward pass for misses; ``device`` runs the encoder.
    """

    model_option = "model"
    options = frozenset({"max_query_length", "batch_size", "device"})
    required_options = frozenset({"model"})

    def __init__(
        self,
        model: str | os.PathLike[str],
        *,
        max_query_length: int = DEFAULT_MAX_QUERY_LENGTH,
        batch_size: int = 32,
        device: str = "cpu",
    ) -> None:
        if not isinstance(model, (str, os.PathLike)) or not os.fspath(model).strip():
            raise ConfigError(f"model={model!r} must be the folder of a token store; build one with `ragsift late-index`")
        self.store = TokenStore.open(model)
        self.name = os.fspath(model).strip()
        self.model_version = self.store.fingerprint  # a rebuilt store never reuses cached scores
        self.max_query_length = positive_int(max_query_length, "max_query_length")
        self.batch_size = positive_int(batch_size, "batch_size")
        if not isinstance(device, str) or not device.strip():
            raise ConfigError(f"device={device!r} is not valid; use 'cpu', 'cuda', 'cuda:0', 'mps', ...")
        self.device = device.strip()
        self.model_settings: ModelSettings | None = _store_settings(self.store)
        #: Passages scored so far, and those of them that were not in the store (encoded on the fly).
        self.passages_scored = 0
        self.misses = 0
        self.forward_passes = 0
        self._encoder: TokenEncoder | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        m = self.store.manifest
        return f"LateInteractionReranker(model={self.name!r}, passages={m['passages']}, dim={m['dim']}, misses={self.misses})"

    def warm_up(self) -> None:
        """Load the store's encoder (once)."""
        with self._lock:
            if self._encoder is None:
                self._encoder = TokenEncoder.load(self.store.manifest["encoder"], device=self.device)

    def score(self, query: str, documents: Sequence[str]) -> Scores:
        """MaxSim ``raw`` and mean-best-cosine ``relevance`` for every document, in input order."""
        return self._score_encoded(self.encode_query(query), documents)

    def score_many(self, requests, *, return_exceptions: bool = False):
        """Several requests: their distinct queries are encoded in one forward pass, then each is scored alone.

        Equal to :meth:`score` per request (query vectors do not depend on their batch mates up to
        float rounding: padding is masked). A request that fails holds its exception when
        ``return_exceptions``.
        """
        batch = [(query, list(documents)) for query, documents in requests]
        queries = sorted({query for query, documents in batch if documents})
        try:
            vectors = dict(zip(queries, self.encode_queries(queries))) if queries else {}
        except Exception:
            if not return_exceptions:
                raise
            vectors = {}  # one query broke the shared pass: each request encodes its own, failing alone
        out: list = []
        for query, documents in batch:
            try:
                if not documents:
                    out.append(Scores([], []))
                else:
                    q = vectors[query] if query in vectors else self.encode_query(query)
                    out.append(self._score_encoded(q, documents))
            except Exception as exc:
                if not return_exceptions:
                    raise
                out.append(exc)
        return out

    def _score_encoded(self, q: np.ndarray, documents: Sequence[str]) -> Scores:
        self.warm_up()
        found = self.store.locate(passage_keys(documents))
        fresh = self._encode_misses([d for d, at in zip(documents, found) if at < 0])
        rows, scales, lengths = [], [], []
        for at in found:
            t, s = self.store.rows(int(at)) if at >= 0 else next(fresh)
            rows.append(t)
            scales.append(s)
            lengths.append(len(t))
        raw = maxsim(q, np.concatenate(rows), np.concatenate(scales), lengths)
        self.passages_scored += len(documents)
        n = max(1, len(q))
        return Scores(raw=[float(x) for x in raw], relevance=[min(1.0, max(0.0, float(x) / n)) for x in raw])

    def encode_query(self, query: str) -> np.ndarray:
        """The query's float32 token vectors (at most ``max_query_length``), projected like the store's."""
        (vectors,) = self.encode_queries([query])
        return vectors

    def encode_queries(self, queries: Sequence[str]) -> list[np.ndarray]:
        """:meth:`encode_query` of several queries, ``batch_size`` per forward pass."""
        self.warm_up()
        out = []
        for at in range(0, len(queries), self.batch_size):
            chunk = self._encoder.encode(list(queries[at : at + self.batch_size]), self.max_query_length + self._encoder.specials)
            out.extend(project(v, self.store.projection) for v in chunk)
            self.forward_passes += 1
        return out

    def _encode_misses(self, texts: list[str]):
        """Quantised ``(tokens, scales)`` of passages not in the store, in order (an iterator)."""
        if not texts:
            return iter(())
        if self.misses == 0:
            logger.warning(
                "%d of the passages to rerank (the first: %.50r) are not in the token store %s; they are encoded on "
                "the fly, and counted in `misses`. Fix: rebuild the store with `ragsift late-index` after changing "
                "the collection", len(texts), texts[0], self.name,
            )
        self.misses += len(texts)
        out = []
        for at in range(0, len(texts), self.batch_size):
            for vectors in self._encoder.encode(texts[at : at + self.batch_size], self.store.max_length):
                out.append(quantize(project(vectors, self.store.projection)))
            self.forward_passes += 1
        return iter(out)


def _store_settings(store: TokenStore) -> ModelSettings | None:
    """The store's ``ragsift_reranker.json``; without one, its text fields (so hits are read as stored)."""
    fields = store.manifest.get("text_fields")
    settings = read_model_settings(store.path)
    if settings is None:
        return None if not fields else ModelSettings(text_fields=tuple(fields))
    if fields and tuple(fields) != settings.text_fields:
        raise ConfigError(
            f"{settings.path} sets text_fields={list(settings.text_fields)}, but the token store {store.path} holds "
            f"passages read as {fields}: every lookup would miss. Fix: rebuild with `ragsift late-index "
            f"--text-fields {','.join(settings.text_fields)}` or correct the settings file"
        )
    return settings


# -- option validation ------------------------------------------------------------------------------


def _check_texts(texts: Any) -> list[str]:
    if isinstance(texts, (str, bytes)) or not isinstance(texts, Sequence):
        raise BadInputError(f"texts must be a list of strings, got {type(texts).__name__}")
    if not texts:
        raise BadInputError("texts is empty; a token store needs at least one passage")
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise BadInputError(f"texts[{i}] is a {type(text).__name__}; every passage must be a string")
    return list(texts)
