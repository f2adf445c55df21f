"""The on-disk token store of the late-interaction reranker: passage token vectors in int8, mmap-able.

A store is a folder of plain arrays and a versioned JSON manifest (no pickle), written once by
:func:`ragsift.rerank.late_interaction.build_token_store` in a staging folder and swapped in
(:func:`ragsift.files.atomic_write_dir`), so a crash never leaves half a store::

    manifest.json   {"format": "ragsift-late-interaction", "version": 1, "encoder": …, "dim": …, …}
    keys.npy        uint64 (P, 2)    blake2b-128 digest of each passage's exact UTF-8 text
    offsets.npy     int64  (P + 1,)  passage i owns token rows offsets[i]:offsets[i + 1]
    tokens.npy      int8   (T, dim)  token vectors, symmetric int8 (opened with mmap_mode="r")
    scales.npy      float16 (T,)     one scale per token: vector ≈ tokens[r] * scales[r]
    projection.npy  float32 (D, dim) only when ``dim`` < the encoder's D (see :func:`fit_projection`)

Token vectors are L2-normalised before quantisation, so a token costs ``dim + 2`` bytes and a
passage ``24`` bytes more (its key and offset). The manifest records every file's size
(``files``), their sum (``bytes``, the manifest itself not counted) and ``bytes_per_passage``.

Passages are found by the digest of their text (:func:`passage_keys`), so a reranker that
receives plain strings finds the vectors computed at index time. Identical texts are stored once.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ragsift.errors import ConfigError

__all__ = [
    "FORMAT",
    "VERSION",
    "MANIFEST",
    "TokenStore",
    "StoreWriter",
    "passage_keys",
    "quantize",
    "dequantize",
    "fit_projection",
    "project",
]

FORMAT = "ragsift-late-interaction"
VERSION = 1
MANIFEST = "manifest.json"
_ARRAYS = ("keys.npy", "offsets.npy", "tokens.npy", "scales.npy")
PROJECTION = "projection.npy"
_FIX = "Fix: build it with `ragsift late-index COLLECTION --out {path}`"


# -- pure functions: keys, quantisation, projection --------------------------------------------------


def passage_keys(texts: Sequence[str]) -> np.ndarray:
    """``(n, 2)`` uint64: the blake2b-128 digest of each text's UTF-8 bytes, as two little-endian halves."""
    out = np.empty((len(texts), 2), dtype=np.uint64)
    for i, text in enumerate(texts):
        digest = hashlib.blake2b(text.encode("utf-8"), digest_size=16).digest()
        out[i] = np.frombuffer(digest, dtype="<u8")
    return out


def quantize(vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric int8 per row: ``(q int8 (n, d), scale float16 (n,))`` with ``|v - q·scale| <= scale / 2``.

    The scale is ``max|v| / 127`` rounded *up* to float16, so no component is clipped.
    """
    v = np.asarray(vectors, dtype=np.float32)
    peak = np.abs(v).max(axis=1) if v.size else np.zeros(len(v), np.float32)
    scale = (peak / 127.0).astype(np.float16)
    low = scale.astype(np.float32) * 127.0 < peak
    scale[low] = np.nextafter(scale[low], np.float16(np.inf))
    scale[peak == 0] = np.float16(1.0)  # an all-zero vector: any scale, q = 0
    q = np.rint(v / scale.astype(np.float32)[:, None])
    return np.clip(q, -127, 127).astype(np.int8), scale


def dequantize(q: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """float32 ``q · scale`` per row."""
    return q.astype(np.float32) * np.asarray(scale, dtype=np.float32)[:, None]


def fit_projection(sample: np.ndarray, dim: int) -> np.ndarray:
    """``(D, dim)`` float32: the top ``dim`` principal directions of the (uncentred) token sample.

    Uncentred PCA (a truncated SVD of the sample) keeps the directions that carry most of the
    vectors' energy, which is what preserves dot products; centring would drop the common
    direction every token of a BERT model shares, which MaxSim scores rely on.
    """
    x = np.asarray(sample, dtype=np.float64)
    if x.ndim != 2 or dim > x.shape[1]:
        raise ConfigError(f"dim={dim} must be at most the encoder's dimension {x.shape[-1]}")
    if len(x) < dim:
        raise ConfigError(f"dim={dim} needs at least {dim} sampled token vectors to fit, got {len(x)}; use a smaller dim")
    values, vectors = np.linalg.eigh(x.T @ x)
    top = vectors[:, np.argsort(values)[::-1][:dim]]
    top *= np.where(top.sum(axis=0) < 0, -1.0, 1.0)  # a deterministic sign per direction
    return np.ascontiguousarray(top, dtype=np.float32)


def project(vectors: np.ndarray, projection: np.ndarray | None) -> np.ndarray:
    """``vectors @ projection`` L2-normalised again (so MaxSim stays a sum of cosines); unchanged without one."""
    if projection is None:
        return np.asarray(vectors, dtype=np.float32)
    out = np.asarray(vectors, dtype=np.float32) @ projection
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    return out / np.maximum(norms, 1e-12)


# -- writing ------------------------------------------------------------------------------------------


class StoreWriter:
    """Fills a (staging) folder: ``put`` each passage's vectors, then ``finish`` writes the manifest.

    ``lengths`` (token rows per passage) fix the layout up front, so ``tokens.npy`` is written
    in place through a memmap in any passage order.
    """

    def __init__(self, folder: Path, keys: np.ndarray, lengths: Sequence[int], dim: int):
        self.folder = Path(folder)
        self.keys = np.ascontiguousarray(keys, dtype=np.uint64)
        self.offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
        np.cumsum(np.asarray(lengths, dtype=np.int64), out=self.offsets[1:])
        total = int(self.offsets[-1])
        self.dim = dim
        self.scales = np.zeros(total, dtype=np.float16)
        if total:
            self.tokens = np.lib.format.open_memmap(self.folder / "tokens.npy", mode="w+", dtype=np.int8, shape=(total, dim))
        else:
            self.tokens = np.zeros((0, dim), dtype=np.int8)
        self.filled = np.zeros(len(lengths), dtype=bool)

    def put(self, i: int, q: np.ndarray, scale: np.ndarray) -> None:
        """Store passage ``i``'s quantised vectors (as many rows as its length)."""
        start, stop = int(self.offsets[i]), int(self.offsets[i + 1])
        if q.shape != (stop - start, self.dim):
            raise ValueError(f"passage {i}: {q.shape} token vectors, expected {(stop - start, self.dim)}")
        self.tokens[start:stop] = q
        self.scales[start:stop] = scale
        self.filled[i] = True

    def finish(self, manifest: Mapping[str, Any], projection: np.ndarray | None) -> dict[str, Any]:
        """Write the arrays and the manifest (with every file's size); return the manifest."""
        if not self.filled.all():
            raise ValueError(f"{int((~self.filled).sum())} passages were never filled")
        if isinstance(self.tokens, np.memmap):
            self.tokens.flush()
            del self.tokens
        else:
            np.save(self.folder / "tokens.npy", self.tokens)
        np.save(self.folder / "keys.npy", self.keys)
        np.save(self.folder / "offsets.npy", self.offsets)
        np.save(self.folder / "scales.npy", self.scales)
        names = list(_ARRAYS)
        if projection is not None:
            np.save(self.folder / PROJECTION, np.ascontiguousarray(projection, dtype=np.float32))
            names.append(PROJECTION)
        files = {name: (self.folder / name).stat().st_size for name in names}
        passages, size = len(self.keys), sum(files.values())
        out = {
            "format": FORMAT,
            "version": VERSION,
            **manifest,
            "dim": self.dim,
            "dtype": "int8",
            "scale_dtype": "float16",
            "key": "blake2b-128 of the UTF-8 passage text",
            "passages": passages,
            "tokens": int(self.offsets[-1]),
            "files": files,
            "bytes": size,
            "bytes_per_passage": round(size / passages, 1) if passages else 0.0,
        }
        (self.folder / MANIFEST).write_text(json.dumps(out, indent=2, allow_nan=False) + "\n", encoding="utf-8")
        return out


# -- reading ------------------------------------------------------------------------------------------


@dataclass
class TokenStore:
    """A store opened for reading: small arrays in memory, ``tokens`` and ``scales`` memory-mapped.

    A reader keeps the files it opened (a rebuild swaps the folder; open maps stay valid).
    """

    path: Path
    manifest: dict[str, Any]
    keys: np.ndarray
    offsets: np.ndarray
    tokens: np.ndarray
    scales: np.ndarray
    projection: np.ndarray | None
    _order: np.ndarray | None = None
    _first: np.ndarray | None = None

    @classmethod
    def open(cls, path: str | Path) -> TokenStore:
        """Open ``path``; ConfigError naming ``ragsift late-index`` when it is missing or not a valid store."""
        path = Path(path).expanduser()
        manifest = _read_manifest(path)
        try:
            keys = np.load(path / "keys.npy", allow_pickle=False)
            offsets = np.load(path / "offsets.npy", allow_pickle=False)
            mode = "r" if manifest.get("tokens") else None  # numpy cannot map an empty array
            tokens = np.load(path / "tokens.npy", mmap_mode=mode, allow_pickle=False)
            scales = np.load(path / "scales.npy", mmap_mode=mode, allow_pickle=False)
            projection = np.load(path / PROJECTION, allow_pickle=False) if (path / PROJECTION).exists() else None
        except (OSError, ValueError) as exc:
            raise _garbled(path, f"an array is missing or unreadable ({exc})") from exc
        store = cls(path, manifest, keys, offsets, tokens, scales, projection)
        store._check()
        return store

    @property
    def dim(self) -> int:
        return int(self.manifest["dim"])

    @property
    def max_length(self) -> int:
        return int(self.manifest["max_length"])

    def __repr__(self) -> str:
        m = self.manifest
        return f"TokenStore(path={str(self.path)!r}, passages={m['passages']}, tokens={m['tokens']}, dim={m['dim']})"

    @property
    def fingerprint(self) -> str:
        """A short hash of the manifest: differs between any two builds."""
        text = json.dumps(self.manifest, sort_keys=True).encode("utf-8")
        return hashlib.blake2b(text, digest_size=8).hexdigest()

    def __len__(self) -> int:
        return len(self.keys)

    def locate(self, keys: np.ndarray) -> np.ndarray:
        """The stored passage index of each key (``(n, 2)`` uint64), -1 for a key not in the store."""
        if self._order is None:  # built once per store: the sorted first halves of the keys
            order = np.argsort(self.keys[:, 0], kind="stable")
            self._first = np.ascontiguousarray(self.keys[order, 0])
            self._order = order
        first = self._first
        found = np.full(len(keys), -1, dtype=np.int64)
        for n, (hi, lo) in enumerate(np.asarray(keys, dtype=np.uint64)):
            at = int(np.searchsorted(first, hi))
            while at < len(first) and first[at] == hi:  # 64-bit prefix collisions: compare the rest
                if self.keys[self._order[at], 1] == lo:
                    found[n] = self._order[at]
                    break
                at += 1
        return found

    def rows(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """Passage ``i``'s int8 token vectors and their float16 scales."""
        start, stop = int(self.offsets[i]), int(self.offsets[i + 1])
        return self.tokens[start:stop], self.scales[start:stop]

    def vectors(self, i: int) -> np.ndarray:
        """Passage ``i``'s dequantised float32 token vectors."""
        return dequantize(*self.rows(i))

    def _check(self) -> None:
        m, problems = self.manifest, []
        passages, total, dim = m.get("passages"), m.get("tokens"), m.get("dim")
        if self.keys.shape != (passages, 2) or self.keys.dtype != np.uint64:
            problems.append(f"keys.npy is {self.keys.dtype}{self.keys.shape}, expected uint64({passages}, 2)")
        if self.offsets.shape != (passages + 1,) or self.offsets.dtype != np.int64 or int(self.offsets[-1]) != total:
            problems.append(f"offsets.npy does not end at tokens={total}")
        if self.tokens.shape != (total, dim) or self.tokens.dtype != np.int8:
            problems.append(f"tokens.npy is {self.tokens.dtype}{self.tokens.shape}, expected int8({total}, {dim})")
        if self.scales.shape != (total,) or self.scales.dtype != np.float16:
            problems.append(f"scales.npy is {self.scales.dtype}{self.scales.shape}, expected float16({total},)")
        if self.projection is not None and self.projection.shape != (m.get("encoder_dim"), dim):
            problems.append(f"projection.npy is {self.projection.shape}, expected ({m.get('encoder_dim')}, {dim})")
        if problems:
            raise _garbled(self.path, "; ".join(problems))


def _read_manifest(path: Path) -> dict[str, Any]:
    if not path.is_dir():
        raise ConfigError(f"late-interaction store {path} does not exist. " + _FIX.format(path=path))
    file = path / MANIFEST
    if not file.is_file():
        raise ConfigError(f"{path} is not a late-interaction store (no {MANIFEST}). " + _FIX.format(path=path))
    try:
        manifest = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise _garbled(path, f"{MANIFEST} is not readable JSON ({exc})") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise _garbled(path, f"{MANIFEST} is not a {FORMAT!r} manifest")
    if manifest.get("version") != VERSION:
        raise _garbled(path, f"version {manifest.get('version')!r}; this ragsift reads version {VERSION}")
    for name in ("passages", "tokens", "dim", "max_length", "encoder_dim"):
        value = manifest.get(name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise _garbled(path, f"{MANIFEST} has {name}={value!r}")
    return manifest


def _garbled(path: Path, problem: str) -> ConfigError:
    return ConfigError(f"late-interaction store {path} is damaged: {problem}. Rebuild it; " + _FIX.format(path=path))
