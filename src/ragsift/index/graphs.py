"""Saved HNSW graphs for a collection's dense row segments, and the vector index built from them.

A collection stores its vectors as row segments (:mod:`ragsift.index.segments`). A large
segment gets an HNSW graph, saved next to it as ``dense/STEM.hnsw.faiss`` and built over all the
rows the segment stores, deleted ones included: deletions only clear bits in ``live.npy``, so a
graph stays valid for as long as its segment exists and is hard-linked from generation to
generation like the segment itself. Opening a collection then reads its graphs instead of
rebuilding them (building one over 1M 384-d vectors takes minutes on two cores).

Which segments get a graph (:func:`wants_graph`): with ``vector_index="hnsw"`` every segment;
with ``"auto"`` the segments of at least :data:`MIN_GRAPH_ROWS` rows once the collection holds
:data:`~ragsift.index.vectors.AUTO_HNSW_THRESHOLD` vectors; with ``"flat"`` none. Other segments
are searched exactly (flat). ``ragsift index`` writes missing graphs at commit; the service
writes them once writes pause (:meth:`Collection.write_caches`); a reader that finds none builds
it in memory.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from ragsift.index.segments import RowLog, link_or_copy
from ragsift.index.vectors import (
    AUTO_HNSW_THRESHOLD,
    VectorIndex,
    VectorIndexKind,
    read_graph,
)

__all__ = ["MIN_GRAPH_ROWS", "carry_graphs", "graph_path", "vector_index", "wants_graph"]

log = logging.getLogger(__name__)

MIN_GRAPH_ROWS = 20_000
"""With ``vector_index="auto"``, smaller segments are searched exactly even in a large collection
(an exact scan of 20k 384-d rows costs about as much as one graph search)."""

SUFFIX = ".hnsw.faiss"


def graph_path(directory: Path, stem: str) -> Path:
    return directory / f"{stem}{SUFFIX}"


def wants_graph(kind: str, segment_rows: int, total_rows: int) -> bool:
    """True when a segment of ``segment_rows`` in a collection of ``total_rows`` stored rows gets a graph."""
    kind = VectorIndexKind(str(kind).lower())
    if kind is VectorIndexKind.HNSW:
        return segment_rows > 0
    if kind is VectorIndexKind.AUTO:
        return total_rows >= AUTO_HNSW_THRESHOLD and segment_rows >= MIN_GRAPH_ROWS
    return False


def _stored(directory: Path, stem: str) -> np.ndarray:
    return np.load(directory / f"{stem}.npy", mmap_mode="r", allow_pickle=False)


def carry_graphs(
    dense_log: RowLog, src: Path | None, dst: Path, options: dict[str, Any], *, build: bool, show_progress: bool = False
) -> int:
    """Give every segment in ``dst`` that wants one its graph: hard-linked from ``src`` (the previous
    generation's ``dense/``) when there, else built from the segment when ``build``. Returns how many were built."""
    total = sum(rows for _, rows in dense_log.segments)
    built = 0
    for stem, rows in dense_log.segments:
        if not wants_graph(options["kind"], rows, total):
            continue
        target = graph_path(dst, stem)
        if target.exists():
            continue
        previous = graph_path(src, stem) if src is not None else None
        if previous is not None and previous.exists():
            link_or_copy(previous, target)
        elif build:
            index = VectorIndex(int(_stored(dst, stem).shape[1]), **{**options, "kind": "hnsw"})
            log.info("building the HNSW graph of %s (%d vectors)", stem, rows)
            index.build(np.ascontiguousarray(_stored(dst, stem), dtype=np.float32), show_progress=show_progress)
            index.save(target)
            built += 1
    return built


def vector_index(dense_log: RowLog, directory: Path, options: dict[str, Any]) -> VectorIndex:
    """The vector index of a generation's ``dense/``: one shard per segment, saved graphs read, live masks applied."""
    total = sum(rows for _, rows in dense_log.segments)
    shards, at = [], 0
    dim = None
    for stem, rows in dense_log.segments:
        live = np.asarray(dense_log.live[at: at + rows])
        at += rows
        stored = _stored(directory, stem)
        dim = int(stored.shape[1])
        builder = VectorIndex(dim, **{**options, "kind": "flat"})
        if wants_graph(options["kind"], rows, total):
            path = graph_path(directory, stem)
            if path.exists():
                graph = read_graph(path, dim=dim, ef_search=options.get("ef_search", 64))
            else:
                log.warning("%s has no saved HNSW graph; building it in memory (ragsift index writes it)", directory / stem)
                graph = builder.shard(np.ascontiguousarray(stored, dtype=np.float32), kind="hnsw")
            if graph.ntotal != rows:
                raise ValueError(f"{path} holds {graph.ntotal} vectors, its segment {rows}")
            shards.append((graph, live))
        elif live.any():
            shards.append((builder.shard(np.ascontiguousarray(stored[live], dtype=np.float32)), None))
    if dim is None:
        raise ValueError(f"{directory} holds no vector segments")
    return VectorIndex.from_shards(dim, shards, **options)
