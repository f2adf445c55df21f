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

The ``auto`` retriever (:func:`assemble_routed`) routes each query as ``--mode auto`` does: by the
rules, or by the collection's learned router (``COLL/query_policy.json``, ``ragsift train-router``),
which reads the BM25 run, so BM25 is charged for every query and dense only for the routes that
need it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

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
    used: dict[str, tuple[str, ...]] = field(default_factory=dict)  # qid → the component runs it searched


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
    used = dict.fromkeys(components.runs, names)
    return FirstStage(hits, stage_ms, search_params(opts, components.depth), used)


def assemble_routed(
    collection: Collection, components: Components, opts: SearchOptions, texts: Mapping[str, str], policy: Any = None,
) -> tuple[FirstStage, dict[str, dict]]:
    """``mode="auto"``: route each query as the :class:`~ragsift.pipeline.search.Searcher` does, then
    build its ranking from the components of its route.

    ``policy`` (a :class:`ragsift.query.policy.QueryPolicy`, the collection's own in the grid): with a
    router, and vectors in the collection, each query's route is the learned router's decision from
    its BM25 run (:meth:`ragsift.query.router.QueryRouter.decide`); else the rules'. Returns the
    first stage and each query's route (``{qid: {"kind", "route"}}``, plus ``"rules_route"`` under a
    learned router). ``retrieve`` holds the routing time and the searches the route paid for: a
    learned router reads BM25 first, so BM25 counts for every query and dense only where the route
    uses it.
    """
    from ragsift.pipeline.search import Mode
    from ragsift.query.router import QueryRouter

    router = QueryRouter(collection, getattr(policy, "router", None))
    hits: dict[str, list[Hit]] = {}
    stage_ms: dict[str, list[float]] = {"retrieve": [], "fuse": [], "total": []}
    routes: dict[str, dict] = {}
    used: dict[str, tuple[str, ...]] = {}
    for qid, lists in components.runs.items():
        start = time.perf_counter()
        analysis = router.analyze(texts[qid])
        route = {"kind": analysis.kind.value, "route": analysis.route}
        if router.learned:
            router.decide(analysis, {"bm25": lists["bm25"]})
            route = {**route, "rules_route": route["route"], "route": analysis.route}
        route_ms = (time.perf_counter() - start) * 1000
        routed = replace(opts, mode=analysis.route)
        names = routed.retrievers()
        searched = tuple(dict.fromkeys((("bm25",) if router.learned else ()) + names))
        hits[qid], ms = assemble_hits(collection, {name: lists[name] for name in names}, routed)
        retrieve_ms = route_ms + sum(components.ms[qid][name] for name in searched) + ms["expand"]
        stage_ms["retrieve"].append(retrieve_ms)
        stage_ms["fuse"].append(ms["fuse"])
        stage_ms["total"].append(retrieve_ms + ms["fuse"])
        routes[qid], used[qid] = route, searched
    params = search_params(replace(opts, mode=Mode.HYBRID), components.depth)
    params["mode"] = "auto"
    params["router"] = _router_params(collection, router)
    taken = [r["route"] for r in routes.values()]
    params["routes"] = {mode: round(taken.count(mode) / max(len(taken), 1), 4) for mode in ("bm25", "dense", "hybrid")}
    return FirstStage(hits, stage_ms, params, used), routes


def _router_params(collection: Collection, router) -> dict:
    """Which router decided: ``{"kind": "rules"}``, or ``{"kind": "learned", "policy": path, "thresholds"}``."""
    from ragsift.query.policy import POLICY_FILE

    if router.learned:
        return {"kind": "learned", "policy": str(Path(str(collection.path)) / POLICY_FILE),
                "thresholds": dict(router.router.thresholds)}
    if router.router is not None:
        return {"kind": "rules", "reason": "the query policy has a router, but the collection has no dense vectors"}
    return {"kind": "rules"}


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
