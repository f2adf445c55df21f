"""The retriever × reranker grid: every first stage once, every reranker over each of them.

:class:`Grid` yields one :class:`GridRun` per cell, first stages before their reranked runs. It
memoizes the component lists (BM25, dense) per collection and split, each retriever's first stage,
the fusion tunings and the interpolation weights, so nothing is searched twice; each reranker
keeps one score cache for all retrievers (:mod:`ragsift.eval.rerank_stage`). With ``rerank_auto``
each reranked run is followed by its gated run (``--rerank auto``, :mod:`ragsift.eval.gate`), built
from the reranked and the first-stage lists without reranking again.

Runs keep only ranked ``(unit_id, doc_id)`` pairs (a unit is a document, chunk or parent); texts
are looked up in the collection when needed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator, Mapping, Sequence

from ragsift.errors import ConfigError
from ragsift.eval.first_stage import Components, FirstStage, assemble, assemble_routed, retrieve_components
from ragsift.eval.gate import GATED, NO_GATE, gate_probabilities, gated_ranking
from ragsift.eval.rerank_stage import EvalReranker, rerank_head
from ragsift.eval.retrievers import retriever_options, retriever_spec
from ragsift.eval.tuning import FusionTuning, fusion_overrides, tune_fusion, tune_interpolation
from ragsift.index.collection import Collection
from ragsift.ingest import BeirDataset
from ragsift.pipeline.rerank import RerankOptions
from ragsift.pipeline.search import SERVER_HYBRID, Searcher
from ragsift.query.policy import POLICY_FILE
from ragsift.types import Hit

__all__ = ["GridRun", "Grid", "SplitQueries"]

Progress = Callable[[Iterable, str], Iterable]


@dataclass
class SplitQueries:
    """The evaluated queries of one split: ids (sorted, possibly capped), texts and qrels."""

    data: BeirDataset
    qids: list[str]

    @property
    def split(self) -> str:
        return self.data.split

    @property
    def qrels(self):
        return {q: self.data.qrels[q] for q in self.qids}


@dataclass
class GridRun:
    """One cell of the grid: a ranking per query, per-query stage timings (ms) and parameters."""

    retriever: str
    reranker: str  # the spec; "none" for the first stage
    label: str  # the reranker's short name
    collection: str  # "main" or "parent-child"
    ranking: dict[str, list[tuple[str, str]]]  # qid → [(unit_id, doc_id), ...], best first
    stage_ms: dict[str, list[float]]
    params: dict = field(default_factory=dict)

    @property
    def name(self) -> str:
        return f"{self.retriever} × {self.label}"

    @property
    def is_reranked(self) -> bool:
        return self.reranker != "none"

    def doc_ids(self, n: int | None = None) -> dict[str, list[str]]:
        """Each query's ranked document ids (one per unit, so repeats are possible for chunks)."""
        return {qid: [doc for _, doc in units[:n]] for qid, units in self.ranking.items()}


def _ranking(hits: Mapping[str, Sequence[Hit]]) -> dict[str, list[tuple[str, str]]]:
    return {qid: [(h.id, h.doc_id) for h in hs] for qid, hs in hits.items()}


class Grid:
    """Runs ``retrievers`` × (first stage + ``rerankers``) on ``queries`` (see the module docstring).

    ``tune`` holds the tuning split's queries (needed by tuned retrievers and interpolation
    ``"auto"``); ``depth`` maps a collection kind to the number of units each first stage returns.
    Each collection's query policy (``COLL/query_policy.json``) is loaded as the Searcher loads it:
    its router routes the ``auto`` retriever, its gate decides the gated runs (``rerank_auto``).
    """

    def __init__(
        self,
        collections: Mapping[str, Collection],
        queries: SplitQueries,
        retrievers: Sequence[str],
        rerankers: Mapping[str, EvalReranker],
        *,
        depth: Mapping[str, int],
        candidates: int | None = None,
        interpolate: float | str | None = None,
        tune: SplitQueries | None = None,
        rerank_auto: bool = False,
        progress: Progress = lambda items, desc: items,
    ):
        self.collections = dict(collections)
        self.searchers = {kind: Searcher(c) for kind, c in self.collections.items()}
        self.queries = queries
        self.retrievers = list(retrievers)
        self.rerankers = dict(rerankers)
        self.depth = dict(depth)
        self.candidates = candidates
        self.interpolate = interpolate
        self.tune = tune
        self.rerank_auto = rerank_auto
        self.progress = progress
        self.tunings: dict[str, FusionTuning] = {}
        self.interpolations: dict[tuple[str, str], dict] = {}
        self._components: dict[tuple[str, str], Components] = {}
        self._first: dict[tuple[str, str], FirstStage] = {}
        self.routes: dict[tuple[str, str], dict[str, dict]] = {}  # (retriever, split) → qid → its route (mode="auto")
        self.gates: dict[tuple[str, str], dict[str, float]] = {}  # (retriever, split) → qid → the gate's P(gain)
        self._gate_ms: dict[tuple[str, str], float] = {}

    # ------------------------------------------------------------------ first stages
    def components(self, kind: str, queries: SplitQueries) -> Components:
        """BM25 and dense lists (and server-fused ones when asked for) of ``queries`` on collection ``kind``, searched once."""
        key = (kind, queries.split)
        if key not in self._components:
            coll = self.collections[kind]
            parts = ("bm25", "dense") if coll.config.dense else ("bm25",)
            if any(SERVER_HYBRID in retriever_spec(r).components for r in self.retrievers):
                parts += (SERVER_HYBRID,)  # Milvus' own fusion: its lists are searched like a component
            self._components[key] = retrieve_components(
                self.searchers[kind], queries.data.queries, queries.qids, parts, self.depth[kind],
                lambda items, desc: self.progress(items, f"{desc} ({kind}, {queries.split})"),
            )
        return self._components[key]

    @property
    def searches(self) -> int:
        """Searches run so far (each query once per component, collection and split)."""
        return sum(c.searches for c in self._components.values())

    def fusion_tuning(self, method: str) -> FusionTuning:
        """The RRF k or weighted-fusion weight tuned on the tuning split (once per method)."""
        if method not in self.tunings:
            if self.tune is None:
                raise ConfigError(f"tuned {method} fusion needs a tuning split (tune_split) with qrels")
            comps = self.components("main", self.tune)
            self.tunings[method] = tune_fusion(
                self.collections["main"], comps, self.tune.qrels, method, k=self.depth["main"], split=self.tune.split
            )
        return self.tunings[method]

    def _overrides(self, name: str) -> dict:
        spec = retriever_spec(name)
        if not spec.tuned:
            return {}
        method = spec.options["fusion"]
        return fusion_overrides(method, self.fusion_tuning(method).best)

    def first_stage(self, name: str, queries: SplitQueries | None = None) -> FirstStage:
        """Retriever ``name``'s first stage on ``queries`` (default: the evaluated split), memoized."""
        queries = queries or self.queries
        key = (name, queries.split)
        if key not in self._first:
            spec = retriever_spec(name)
            opts = retriever_options(name, self.depth[spec.collection], **self._overrides(name))
            comps = self.components(spec.collection, queries)
            if spec.options["mode"] == "auto":
                stage, routes = assemble_routed(
                    self.collections[spec.collection], comps, opts, queries.data.queries, self.policy(spec.collection)
                )
                self.routes[(name, queries.split)] = routes
            else:
                stage = assemble(self.collections[spec.collection], comps, opts)
            if spec.tuned:
                stage.params["tuned_on"] = self.tune.split if self.tune else None
            self._first[key] = stage
        return self._first[key]

    def policy(self, kind: str):
        """The query policy of collection ``kind`` (its ``query_policy.json``), or None."""
        return self.searchers[kind].policy

    def gate(self, kind: str):
        """The rerank gate of collection ``kind``'s policy, or None (then every query is reranked)."""
        policy = self.policy(kind)
        return policy.gate if policy is not None else None

    def gate_probabilities(self, name: str, queries: SplitQueries | None = None) -> dict[str, float] | None:
        """Each query's ``P(gain)`` under the gate, from the runs retriever ``name`` searched (None without a gate)."""
        queries = queries or self.queries
        spec = retriever_spec(name)
        gate = self.gate(spec.collection)
        if gate is None:
            return None
        key = (name, queries.split)
        if key not in self.gates:
            first = self.first_stage(name, queries)
            comps = self.components(spec.collection, queries)
            self.gates[key], self._gate_ms[key] = gate_probabilities(
                gate, self.collections[spec.collection], comps.runs, first.used, queries.data.queries
            )
        return self.gates[key]

    # ------------------------------------------------------------------ reranking
    def settings(self, bundle: EvalReranker) -> RerankOptions:
        """The rerank options of ``bundle``: the grid's explicit values, else the model's recorded ones, else defaults.

        With ``interpolate="auto"`` the weight is tuned (:meth:`interpolation`); the resolved
        options then carry the model's or the default weight, which is not used.
        """
        interpolate = None if self.interpolate == "auto" else self.interpolate
        return RerankOptions(candidates=self.candidates, interpolate=interpolate).resolve(bundle.reranker)

    def _rerank(self, bundle: EvalReranker, first: FirstStage, texts: Mapping[str, str], weight, desc: str,
                warnings: list[str] | None = None):
        opts = self.settings(bundle)
        hits: dict[str, list[Hit]] = {}
        charged = []
        for qid in self.progress(list(first.hits), desc):
            hits[qid], ms = rerank_head(
                bundle, texts[qid], first.hits[qid], opts.candidates, weight, opts.text_fields, warnings=warnings
            )
            charged.append(ms)
        return hits, charged

    def interpolation(self, name: str, bundle: EvalReranker) -> float | None:
        """The interpolation weight for ``name`` × ``bundle``: the model's or an explicit one, none, or tuned on the tuning split."""
        if self.interpolate != "auto":
            return self.settings(bundle).weight
        key = (name, bundle.spec)
        if key not in self.interpolations:
            if self.tune is None:
                raise ConfigError("interpolate='auto' needs a tuning split (tune_split) with qrels")
            first = self.first_stage(name, self.tune)
            texts = self.tune.data.queries

            def rerank(weight: float):
                return self._rerank(bundle, first, texts, weight, f"tune w {name} × {bundle.label}")[0]

            best, scores = tune_interpolation(rerank, self.tune.qrels)
            self.interpolations[key] = {
                "weight": best,
                "split": self.tune.split,
                "queries": len(self.tune.qids),
                "ndcg@10_by_weight": {f"{w:g}": s for w, s in scores.items()},
            }
        return self.interpolations[key]["weight"]

    # ------------------------------------------------------------------ the grid
    def __iter__(self) -> Iterator[GridRun]:
        cells = len(self.retrievers) * len(self.rerankers)
        done = 0
        for name in self.retrievers:
            first = self.first_stage(name)
            kind = retriever_spec(name).collection
            yield GridRun(name, "none", "none", kind, _ranking(first.hits), dict(first.stage_ms), dict(first.params))
            for bundle in self.rerankers.values():
                done += 1
                run = self._reranked(name, kind, first, bundle, f"[{done}/{cells}] rerank {name} × {bundle.label}")
                yield run
                if self.rerank_auto:
                    yield self._gated(name, kind, first, run)
            del self._first[(name, self.queries.split)]  # its rankings are in the runs; free the hits

    def _reranked(self, name: str, kind: str, first: FirstStage, bundle: EvalReranker, desc: str) -> GridRun:
        weight = self.interpolation(name, bundle)
        warnings: list[str] = []
        hits, rerank_ms = self._rerank(bundle, first, self.queries.data.queries, weight, desc, warnings)
        stage_ms = {
            "retrieve": first.stage_ms["retrieve"],
            "fuse": first.stage_ms["fuse"],
            "rerank": rerank_ms,
            "total": [a + b for a, b in zip(first.stage_ms["total"], rerank_ms)],
        }
        opts = self.settings(bundle)
        applied = opts.settings_report()
        if self.interpolate == "auto":
            applied["interpolate"] = {"value": weight, "source": f"tuned on {self.tune.split if self.tune else '?'}"}
        params = {**first.params, "candidates": opts.candidates, "interpolate": weight, "rerank_settings": applied,
                  "warnings": {w: warnings.count(w) for w in sorted(set(warnings))}}
        if (name, bundle.spec) in self.interpolations:
            tuning = self.interpolations[(name, bundle.spec)]
            params["tuning"] = {k: v for k, v in tuning.items() if k != "weight"}
        return GridRun(name, bundle.spec, bundle.label, kind, _ranking(hits), stage_ms, params)

    def _gated(self, name: str, kind: str, first: FirstStage, run: GridRun) -> GridRun:
        """``--rerank auto``: ``run``'s list where the gate says rerank, the first stage's elsewhere.

        The rerank latency of a query is the one charged to ``run`` when it is reranked, 0 when not.
        """
        gate = self.gate(kind)
        probs = self.gate_probabilities(name)
        qids = list(first.hits)
        take = {q: probs is None or probs[q] >= gate.threshold for q in qids}
        ranking = gated_ranking(_ranking(first.hits), run.ranking, take)
        rerank_ms = [ms if take[q] else 0.0 for q, ms in zip(qids, run.stage_ms["rerank"])]
        stage_ms = {
            "retrieve": first.stage_ms["retrieve"],
            "fuse": first.stage_ms["fuse"],
            "rerank": rerank_ms,
            "total": [a + b for a, b in zip(first.stage_ms["total"], rerank_ms)],
        }
        share = round(sum(take.values()) / max(len(take), 1), 4)
        if gate is None:
            info = {"trained": False, "threshold": None, "reranked": share, "reason": NO_GATE}
        else:
            policy = self.policy(kind)
            info = {"trained": True, "threshold": gate.threshold, "reranked": share,
                    "policy": str(Path(str(self.collections[kind].path)) / POLICY_FILE),
                    "decision_ms": round(self._gate_ms[(name, self.queries.split)], 4)}
            if policy.trained_on.get("reranker"):
                info["trained_for"] = policy.trained_on["reranker"]
        params = {**run.params, "gate": info}
        return GridRun(name, run.reranker + GATED, run.label + GATED, kind, ranking, stage_ms, params)
