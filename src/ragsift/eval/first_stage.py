"""First-stage runs of the evaluation grid, computed once and fused in memory.

Every retriever of the grid is BM25, dense, or a fusion of the two over one collection. So the
grid searches each *component* (BM25, dense) once per query and collection
(:func:`retrieve_components`), and builds each retriever's ranking from those lists
(:func:`assemble`) with the searcher's own :func:`ragsift.pipeline.search.assemble_hits` — fuse
with the retriever's method and parameters, then expand children to parents: the same function,
so the same steps and tie-breaks, as :class:`ragsift.pipeline.search.Searcher`. Fusion tuning
reuses the lists too, so no grid point searches again.

Per-query stage timings: ``retrieve`` = the component searches (BM25 + dense, each timed by the
searcher) + parent expansion, ``fuse`` = fusion, ``total`` = their sum (what the searcher reports
as ``total``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Callable, Iterable, Mapping, Sequence

from ragsift.index.collection import Collection
from ragsift.pipeline.search import SERVER_HYBRID, SearchOptions, Searcher, assemble_hits
from ragsift.types import Hit, Run

__all__ = ["Components", "FirstStage", "retrieve_components", "assemble", "assemble_routed", "ranked_run", "docs_run"]

ComponentList = list[tuple[str, float]]


@dataclass
class Components:
    """Each component retriever's ranked ``(chunk_id, score)`` list per query, and its time in ms."""

    runs: dict[str, dict[str, ComponentList]] = field(default_factory=dict)  # qid → {"bm25": [...]}
    ms: dict[str, dict[str, float]] = field(default_factory=dict)  # qid → {"bm25": 1.2}
    depth: int = 0
    searches: int = 0  # searches run to build these lists (tests check the grid does not repeat them)

    def subset(self, qids: Iterable[str]) -> "Components":
        qids = list(qids)
        return Components({q: self.runs[q] for q in qids}, {q: self.ms[q] for q in qids}, self.depth, 0)


@dataclass
class FirstStage:
    """One retriever's ranked hits per query, its per-query stage timings and its parameters."""

    hits: dict[str, list[Hit]]
    stage_ms: dict[str, list[float]]  # "retrieve", "fuse", "total": one value per query, in hits order
    params: dict


def retrieve_components(
    searcher: Searcher,
    queries: Mapping[str, str],
    qids: Sequence[str],
    components: Sequence[str],
    depth: int,
    progress: Callable[[Iterable, str], Iterable] = lambda items, desc: items,
) -> Components:
    """Search every query once with each component (``"bm25"``, ``"dense"``), ``depth`` chunks deep."""
    out = Components(depth=depth)
    for name in components:
        mode = {"mode": "hybrid", "server_fusion": True} if name == SERVER_HYBRID else {"mode": name}
        opts = SearchOptions(**mode, k=depth, bm25_depth=depth, dense_depth=depth, parents=False)
        for qid in progress(qids, f"first stage {name}"):
            result = searcher.search(queries[qid], opts)
            out.runs.setdefault(qid, {})[name] = [(h.id, h.score) for h in result.hits]
            out.ms.setdefault(qid, {})[name] = result.timings_ms[name]
            out.searches += 1
    return out


def assemble(collection: Collection, components: Components, opts: SearchOptions) -> FirstStage:
    """Build a retriever's first stage from component lists: fuse, expand parents, cut to ``opts.k``."""
    names = opts.retrievers()
    hits: dict[str, list[Hit]] = {}
    stage_ms: dict[str, list[float]] = {"retrieve": [], "fuse": [], "total": []}
    for qid, lists in components.runs.items():
        hits[qid], ms = assemble_hits(collection, {name: lists[name] for name in names}, opts)
        retrieve_ms = sum(components.ms[qid][name] for name in names) + ms["expand"]
        stage_ms["retrieve"].append(retrieve_ms)
        stage_ms["fuse"].append(ms["fuse"])
        stage_ms["total"].append(retrieve_ms + ms["fuse"])
    return FirstStage(hits, stage_ms, search_params(opts, components.depth))


def assemble_routed(
    collection: Collection, components: Components, opts: SearchOptions, texts: Mapping[str, str]
) -> tuple[FirstStage, dict[str, dict]]:
    """``mode="auto"``: route each query (:class:`ragsift.query.router.QueryRouter`), then build its
    ranking from the components of its route. Returns the first stage and each query's route
    (``{qid: {"kind", "route"}}``); the routing time is part of ``retrieve``."""
    from ragsift.pipeline.search import Mode
    from ragsift.query.router import QueryRouter

    router = QueryRouter(collection)
    hits: dict[str, list[Hit]] = {}
    stage_ms: dict[str, list[float]] = {"retrieve": [], "fuse": [], "total": []}
    routes: dict[str, dict] = {}
    for qid, lists in components.runs.items():
        start = time.perf_counter()
        analysis = router.route(texts[qid])
        route_ms = (time.perf_counter() - start) * 1000
        routed = replace(opts, mode=analysis.route)
        names = routed.retrievers()
        hits[qid], ms = assemble_hits(collection, {name: lists[name] for name in names}, routed)
        retrieve_ms = route_ms + sum(components.ms[qid][name] for name in names) + ms["expand"]
        stage_ms["retrieve"].append(retrieve_ms)
        stage_ms["fuse"].append(ms["fuse"])
        stage_ms["total"].append(retrieve_ms + ms["fuse"])
        routes[qid] = {"kind": analysis.kind.value, "route": analysis.route}
    params = search_params(replace(opts, mode=Mode.HYBRID), components.depth)
    params["mode"] = "auto"
    taken = [r["route"] for r in routes.values()]
    params["routes"] = {mode: round(taken.count(mode) / max(len(taken), 1), 4) for mode in ("bm25", "dense", "hybrid")}
    return FirstStage(hits, stage_ms, params), routes


def search_params(opts: SearchOptions, depth: int) -> dict:
    """The options a first stage ran with, JSON-ready (only those that matter for its mode)."""
    params: dict = {"mode": opts.mode.value, "k": opts.k, "depth": depth}
    if len(opts.retrievers()) > 1:
        params["fusion"] = opts.fusion.value
        if opts.fusion.value == "rrf":
            params["rrf_k"] = opts.rrf_k
        else:
            params["normalization"] = opts.normalization
        if opts.weights:
            params["weights"] = dict(opts.weights)
    return params


def ranked_run(results: Mapping[str, Sequence[Hit]]) -> Run:
    """TREC run from ranked hits: each document at its best (first) position, scores by rank."""
    return docs_run({qid: [h.doc_id for h in hits] for qid, hits in results.items()})


def docs_run(doc_ids: Mapping[str, Sequence[str]]) -> Run:
    """TREC run from ranked document ids (repeats allowed: a document counts at its first position)."""
    run: Run = {}
    for qid, ids in doc_ids.items():
        scores: dict[str, float] = {}
        for doc_id in ids:
            if doc_id not in scores:
                scores[doc_id] = float(len(ids) - len(scores))
        run[qid] = scores
    return run
