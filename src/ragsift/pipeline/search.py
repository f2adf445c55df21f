"""Search over a collection: BM25, dense, or both fused; parents expanded; optionally reranked.

``retrieve (per retriever, own depth, filters applied) → fuse → expand parents → top k
[→ rerank → top n]``, with per-stage timings in milliseconds on every result. The retrievers are
the collection backend's (:mod:`ragsift.index.retriever`); :func:`assemble_hits` turns their
rankings into hits, for the searcher and for the evaluation grid alike.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Any, Mapping, Sequence


from ragsift._enums import parse_enum
from ragsift.errors import ConfigError
from ragsift.fusion import FusionMethod, fuse
from ragsift.index.collection import Collection
from ragsift.index.filters import FilterLike, as_filter
from ragsift.index.retriever import Ranking, Retriever, open_retrievers
from ragsift.ingest.limits import safe_metadata
from ragsift.pipeline.rerank import RerankOptions, rerank_hits
from ragsift.types import Hit

__all__ = ["Mode", "SearchOptions", "SearchResult", "Searcher", "assemble_hits", "expand_hits"]

DEFAULT_DEPTH = 100
#: The retriever a backend that fuses server-side offers (``SearchOptions.server_fusion``).
SERVER_HYBRID = "server-hybrid"


class Mode(str, Enum):
    BM25 = "bm25"
    DENSE = "dense"
    HYBRID = "hybrid"
    AUTO = "auto"  # each query routed by its analysis (ragsift.query.router)


@dataclass
class SearchOptions:
    """What to retrieve and how to fuse it.

    ``bm25_depth`` / ``dense_depth``: candidates each retriever contributes before fusion
    (default ``max(k, 100)``; seed 002 uses BM25 500 and dense 50). ``weights`` apply to the
    fusion (``{"bm25": 0.4, "dense": 0.6}``). ``parents``: in parent–child collections return
    each parent once with its best child's score (True) or the children themselves (False).
    ``filters``: keep only chunks whose metadata passes them, applied by each retriever before
    its top-k cut (so ``k`` hits come back whenever ``k`` matching chunks score); a
    :class:`~ragsift.index.filters.Filter`, a dict (``{"year": {"$gte": 2020}}``) or expressions
    (``["year>=2020", "source in (10-K,10-Q)"]``), all parsed once into a ``Filter`` here.
    ``server_fusion``: a hybrid search on a Milvus collection is fused by Milvus' ``hybrid_search``
    (its RRF or weighted ranker, with ``rrf_k`` / ``weights`` and the depths) instead of by ragsift.
    ``expansion``: a :class:`ragsift.query.expansion.QueryExpansion` (a Solr synonyms file, RM3
    feedback) applied to the BM25 query at search time; embedded collections only.
    """

    mode: Mode | str = Mode.HYBRID
    k: int = 10
    fusion: FusionMethod | str = FusionMethod.RRF
    rrf_k: float = 60.0
    weights: Mapping[str, float] | None = None
    normalization: str = "minmax"
    bm25_depth: int | None = None
    dense_depth: int | None = None
    parents: bool = True
    filters: FilterLike = None
    server_fusion: bool = False
    expansion: Any = None  # a ragsift.query.expansion.QueryExpansion: synonyms and/or RM3 for BM25

    def __post_init__(self) -> None:
        self.mode = parse_enum(Mode, self.mode, param="mode")
        if self.expansion is not None and not self.expansion:
            self.expansion = None
        self.filters = as_filter(self.filters)
        self.fusion = parse_enum(FusionMethod, self.fusion, param="fusion")
        if self.server_fusion and (self.mode is not Mode.HYBRID or self.fusion not in (FusionMethod.RRF, FusionMethod.WEIGHTED)):
            raise ConfigError(
                f"server_fusion needs mode='hybrid' and fusion 'rrf' or 'weighted' (got mode={self.mode.value!r}, "
                f"fusion={self.fusion.value!r})"
            )
        if not isinstance(self.k, int) or self.k < 1:
            raise ConfigError(f"k={self.k!r} must be an integer >= 1")
        for name in ("bm25_depth", "dense_depth"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ConfigError(f"{name}={value!r} must be an integer >= 1")

    def depth(self, retriever: str) -> int:
        value = self.bm25_depth if retriever == "bm25" else self.dense_depth
        return value if value is not None else max(self.k, DEFAULT_DEPTH)

    def retrievers(self) -> tuple[str, ...]:
        """The retrievers this search runs (their rankings are then fused, or taken as is when one)."""
        if self.server_fusion:
            return (SERVER_HYBRID,)
        if self.mode is Mode.AUTO:
            raise ConfigError("mode='auto' picks the retrievers per query (Searcher routes it); ask a routed query's mode")
        return ("bm25", "dense") if self.mode is Mode.HYBRID else (self.mode.value,)


@dataclass
class SearchResult:
    """Hits and per-stage timings; with reranking, ``rerank_settings`` (each applied setting with its
    source: option, environment variable, model, default) and ``warnings`` (``query_truncated``,
    ``rerank_skipped``: see :func:`ragsift.pipeline.rerank.rerank_hits`). ``route`` (``mode="auto"``),
    ``rerank_gate`` (``RerankOptions(auto=True)``) and ``validation`` (``validate=True``) say what
    the query side decided."""

    hits: list[Hit]
    timings_ms: dict[str, float] = field(default_factory=dict)
    rerank_settings: dict[str, dict] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    route: dict | None = None  # mode="auto": the query's analysis and the mode it took
    rerank_gate: dict | None = None  # rerank auto: {"rerank": bool, "probability", "threshold"}
    validation: dict | None = None  # validate=True: ragsift.query.validate.ResultValidator's verdict
    signals: dict | None = None  # the query's features (ragsift.query.features) when the query side needed them
    analysis: Any = field(default=None, repr=False, compare=False)  # its QueryAnalysis, with signals


class Searcher:
    """Runs searches against one :class:`Collection`, with an optional reranker for the second stage.

    The first-stage retrievers are the collection backend's (:func:`~ragsift.index.retriever.open_retrievers`):
    ``"bm25"`` and, when the collection has vectors, ``"dense"``.
    """

    def __init__(self, collection: Collection, reranker=None, *, policy: Any = "collection"):
        """``policy``: the learned query policy (:class:`ragsift.query.policy.QueryPolicy`, or a path to
        one); by default the collection's own ``query_policy.json`` when ``ragsift train-router``
        wrote one, else None (the rules)."""
        from ragsift.query.policy import load_policy

        self.collection = collection
        self.reranker = reranker
        self.retrievers: dict[str, Retriever] = open_retrievers(collection)
        if isinstance(policy, str) and policy == "collection":
            path = getattr(collection, "path", None)
            policy = load_policy(path) if path is not None and not str(path).startswith("milvus") else None
        elif policy is not None and not hasattr(policy, "router"):
            policy = load_policy(policy)
        self.policy = policy
        self._router = None  # built on the first mode="auto" search
        self._validator = None

    def warm_up(self) -> None:
        """Load the embedding model, build the vector index and the reranker before the first query."""
        for retriever in self.retrievers.values():
            retriever.warm_up()
        if self.reranker is not None:
            self.reranker.warm_up()

    def search(
        self, query: str, options: SearchOptions | None = None, *, rerank: RerankOptions | None = None, **kwargs
    ) -> SearchResult:
        """Search one query. ``kwargs`` build :class:`SearchOptions` when ``options`` is None.

        With ``rerank``, the first stage returns ``rerank.candidates`` hits (overriding ``k``)
        and the reranker keeps ``rerank.top_n`` of them. Options left unset take the reranker
        model's recorded settings (:meth:`RerankOptions.resolve`).
        """
        return self.search_many([query], options, rerank=rerank, **kwargs)[0]

    def search_many(
        self,
        queries: Sequence[str],
        options: SearchOptions | None = None,
        *,
        rerank: RerankOptions | None = None,
        validate: bool = False,
        signals: bool = False,
        **kwargs,
    ) -> list[SearchResult]:
        """Search several queries; dense query embeddings are computed in one batch.

        ``validate=True`` adds each result's verdict and, on fail, suggested terms
        (:class:`ragsift.query.validate.ResultValidator`). ``rerank.auto`` reranks only the queries
        the trained gate expects to gain (every query when the collection has no gate). ``signals=True``
        keeps each query's features and analysis on its result (:meth:`decide_rerank` and
        :meth:`validate_result` read them; the service reranks and validates in separate steps).
        """
        opts = options or SearchOptions(**kwargs)
        for q in queries:
            if not isinstance(q, str) or not q.strip():
                raise ConfigError(f"query={q!r} must be a non-empty string")
        if rerank is not None:
            if self.reranker is None:
                raise ConfigError("rerank options were given but this Searcher has no reranker")
            rerank = rerank.resolve(self.reranker)
            opts = replace(opts, k=rerank.candidates)
        if opts.server_fusion and SERVER_HYBRID not in self.retrievers:
            raise ConfigError(
                f"server_fusion needs a collection whose engine fuses (a milvus:// collection); {self.collection.path} "
                "is fused by ragsift: drop server_fusion"
            )
        if opts.expansion is not None and not hasattr(self.retrievers.get("bm25"), "search_expanded"):
            raise ConfigError(f"query expansion (synonyms, RM3) needs an embedded collection; {self.collection.path} cannot expand")
        analyses = None
        if opts.mode is Mode.AUTO:
            runs, timings, analyses = self._routed_runs(queries, opts)
        else:
            if opts.mode is not Mode.BM25 and "dense" not in self.retrievers:
                raise ConfigError(
                    f"mode={opts.mode.value!r} needs dense vectors, but {self.collection.path} was built with --no-dense; "
                    "use mode='bm25' or rebuild the collection with dense vectors"
                )
            runs, timings = self._runs(queries, opts, opts.retrievers(), range(len(queries)))
        results = []
        for i, (run, t) in enumerate(zip(runs, timings)):
            query_opts = opts if analyses is None else replace(opts, mode=analyses[i].route)
            names = query_opts.retrievers()
            result = self._finish({n: run[n] for n in names if n in run}, query_opts, t)
            if analyses is not None:
                result.route = analyses[i].to_dict()
            results.append(result)
        need_values = validate or signals or (rerank is not None and rerank.auto)
        values = self._query_values(queries, runs, analyses) if need_values else None
        if values is not None:
            for (analysis, vals), result in zip(values, results):
                result.analysis, result.signals = analysis, vals
        if rerank is not None:
            for query, result in zip(queries, results):
                if rerank.auto:
                    result.rerank_gate = self.decide_rerank(result)
                    if not result.rerank_gate["rerank"]:
                        result.hits = result.hits[: rerank.top_n]
                        result.rerank_settings = rerank.settings_report()
                        continue
                result.hits, ms = rerank_hits(self.reranker, query, result.hits, rerank, warnings=result.warnings)
                result.rerank_settings = rerank.settings_report()
                result.timings_ms["rerank"] = ms
                result.timings_ms["total"] += ms
        if validate:
            for result in results:
                start = time.perf_counter()
                result.validation = self.validate_result(result)
                result.timings_ms["validate"] = _ms(start)
                result.timings_ms["total"] += result.timings_ms["validate"]
        return results

    def _runs(
        self, queries: Sequence[str], opts: SearchOptions, names: Sequence[str], which: Sequence[int],
        runs: list[dict[str, Ranking]] | None = None, timings: list[dict[str, float]] | None = None,
    ) -> tuple[list[dict[str, Ranking]], list[dict[str, float]]]:
        """Run each retriever of ``names`` over the queries at positions ``which``, into ``runs``/``timings``."""
        runs = runs if runs is not None else [{} for _ in queries]
        timings = timings if timings is not None else [{} for _ in queries]
        which = list(which)
        if not which:
            return runs, timings
        batch = [queries[i] for i in which]
        for name in names:
            start = time.perf_counter()
            retriever = self.retrievers[name]
            if name == SERVER_HYBRID:
                rankings = retriever.search_fused(batch, opts)
            elif name == "bm25" and opts.expansion is not None:
                rankings = retriever.search_expanded(batch, opts.depth(name), opts.filters, opts.expansion)
            else:
                rankings = retriever.search_many(batch, opts.depth(name), opts.filters)
            ms = _ms(start) / len(batch)  # a batch's time, shared evenly by its queries
            for i, ranking in zip(which, rankings):
                runs[i][name], timings[i][name] = ranking, ms
        return runs, timings

    def _query_router(self):
        from ragsift.query.router import QueryRouter

        if self._router is None:
            self._router = QueryRouter(self.collection, self.policy.router if self.policy is not None else None)
        return self._router

    def _routed_runs(self, queries: Sequence[str], opts: SearchOptions):
        """``mode="auto"``: analyze each query and run the retrievers of its route.

        The rules route from the text alone. A learned router (``ragsift train-router``) also reads
        the BM25 run, so BM25 runs first for every query, and only queries routed to dense or
        hybrid pay for the query embedding.
        """
        router = self._query_router()
        start = time.perf_counter()
        analyses = [router.analyze(q) for q in queries]
        route_ms = _ms(start) / max(len(queries), 1)
        runs, timings = [{} for _ in queries], [{"route": route_ms} for _ in queries]
        if router.learned:
            self._runs(queries, opts, ("bm25",), range(len(queries)), runs, timings)
            start = time.perf_counter()
            for analysis, run in zip(analyses, runs):
                router.decide(analysis, run)
            ms = _ms(start) / max(len(queries), 1)
            for t in timings:
                t["route"] += ms
        for name in ("bm25", "dense"):
            need = [i for i, a in enumerate(analyses) if name in replace(opts, mode=a.route).retrievers() and name not in runs[i]]
            self._runs(queries, opts, (name,), need, runs, timings)
        return runs, timings, analyses

    def decide_rerank(self, result: SearchResult) -> dict:
        """``--rerank auto``'s decision for a result searched with ``signals=True``: ``{"rerank": bool, ...}``."""
        if result.signals is None:
            raise ConfigError("decide_rerank needs a result searched with signals=True")
        return _gate(self.policy.gate if self.policy is not None else None, result.signals)

    def validate_result(self, result: SearchResult) -> dict:
        """The verdict on ``result``'s current hits (after any reranking), from a search with ``signals=True``."""
        if result.signals is None:
            raise ConfigError("validate_result needs a result searched with signals=True")
        return self._result_validator().validate(result.analysis, result.signals, result.hits)

    def _query_values(self, queries, runs, analyses):
        """Each query's analysis and features (:func:`ragsift.query.features.features`)."""
        from ragsift.query.features import features

        router = self._query_router()
        out = []
        for i, query in enumerate(queries):
            analysis = analyses[i] if analyses is not None else router.analyze(query)
            out.append((analysis, features(analysis, router.idf, runs[i])))
        return out

    def _result_validator(self):
        from ragsift.query.validate import ResultValidator

        if self._validator is None:
            self._validator = ResultValidator(self.collection, self.policy.validator if self.policy is not None else None)
        return self._validator

    def _finish(self, runs: Mapping[str, Ranking], opts: SearchOptions, t: dict[str, float]) -> SearchResult:
        hits, stage_ms = assemble_hits(self.collection, runs, opts)
        t.update(stage_ms)
        t["total"] = sum(t.values())
        return SearchResult(hits=hits, timings_ms=t)


def assemble_hits(
    coll: Collection, runs: Mapping[str, Ranking], opts: SearchOptions
) -> tuple[list[Hit], dict[str, float]]:
    """The retrievers' rankings of one query → its top ``opts.k`` hits, and ``{"fuse", "expand"}`` ms.

    One ranking is taken as is; several are fused with ``opts``' method and parameters. Parents
    are then expanded (:func:`expand_hits`). The searcher and the evaluation grid both build
    their hits here, so they rank identically.
    """
    start = time.perf_counter()
    if len(runs) == 1:
        fused = next(iter(runs.values()))
    else:
        fused = fuse(runs, opts.fusion, k=opts.rrf_k, weights=opts.weights, normalization=opts.normalization)
    fuse_ms = _ms(start)
    start = time.perf_counter()
    hits = expand_hits(coll, fused, runs, opts)
    return hits, {"fuse": fuse_ms, "expand": _ms(start)}


def expand_hits(
    coll: Collection, fused: Sequence[tuple[str, float]], runs: Mapping[str, Sequence[tuple[str, float]]], opts: SearchOptions
) -> list[Hit]:
    """Fused chunk ids → the top ``opts.k`` hits; in parent–child collections each parent once, at its best child.

    ``runs`` are the per-retriever lists the fusion consumed; each hit's ``source_scores`` keeps
    its chunk's raw score from each of them.
    """
    source = {name: dict(run) for name, run in runs.items()}
    expand = opts.parents and bool(coll.parents)
    hits: list[Hit] = []
    seen: set[str] = set()
    for chunk_id, score in fused:
        chunk = coll.chunk(chunk_id)
        unit = coll.parents[chunk.parent_id] if expand and chunk.parent_id else chunk
        if unit.id in seen:
            continue  # a better child of this parent came first
        seen.add(unit.id)
        scores = {name: s[chunk_id] for name, s in source.items() if chunk_id in s}
        meta = safe_metadata(unit.metadata)  # stored before the limits existed: never break a result
        if unit.headings:
            meta["headings"] = list(unit.headings)
        if unit is not chunk:
            meta["best_child"] = chunk.id
        hits.append(Hit(unit.id, unit.doc_id, float(score), unit.text, unit.title, scores, meta))
        if len(hits) == opts.k:
            break
    return hits


def _gate(gate, values: Mapping[str, float]) -> dict:
    """The rerank gate's decision for one query; without a trained gate every query is reranked."""
    if gate is None:
        return {"rerank": True, "probability": None, "threshold": None, "reason": "no trained gate (ragsift train-router --reranker-model): reranking every query"}
    p = gate.model.probability(values)
    return {"rerank": p >= gate.threshold, "probability": round(p, 4), "threshold": gate.threshold}


def _ms(start: float) -> float:
    return (time.perf_counter() - start) * 1000.0
