"""Evaluate retrievers × rerankers on a BEIR dataset; write ``results.json``, ``results.md`` and plots.

``run_eval(cfg)``:

1. loads the split (and the tuning split when a tuned retriever or ``interpolate="auto"`` needs it),
   builds or reuses the main collection (and the parent–child one when ``parent-child`` runs);
2. runs the grid (:class:`ragsift.eval.grid.Grid`): each retriever's first stage once, then every
   reranker over the head of ``candidates`` hits (the tail keeps its first-stage order, so metrics
   at larger k stay comparable), one shared score cache per reranker; with ``rerank_auto`` each
   reranked run is followed by its gated run (``--rerank auto``: :mod:`ragsift.eval.gate`);
3. scores each run (metrics, context precision/recall, latency p50/p95/p99 per stage), gives each
   reranked run its first-stage ``baseline`` and ``delta``, and tests significance (each reranked run
   vs its first stage, every run vs the baseline run);
4. adds the cost–accuracy study, the rerank gate's threshold curves (``rerank_auto`` with a trained
   gate), the optional LLM judge, the plots, and writes ``results.json`` / ``results.md`` /
   ``per_query.json`` / ``curves.json``.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from ragsift._enums import parse_enum
from ragsift.errors import BadInputError, ConfigError
from ragsift.eval import analyses
from ragsift.eval.anchors import anchors_for
from ragsift.eval.first_stage import docs_run, ranked_run
from ragsift.eval.gate import NO_GATE
from ragsift.eval.grid import Grid, GridRun, SplitQueries
from ragsift.eval.judge import JudgeConfig
from ragsift.eval.latency import percentiles
from ragsift.eval.metrics import evaluate_per_query, parse_metrics
from ragsift.eval.rag_metrics import context_metrics
from ragsift.eval.report_sections import STAGES
from ragsift.eval.report import write_results
from ragsift.files import atomic_write_text
from ragsift.eval.rerank_stage import EvalReranker, build_eval_reranker, parse_reranker_spec, reranker_label, training_manifest
from ragsift.eval.retrievers import GRID_RETRIEVERS, RETRIEVERS, check_retrievers, retriever_options, retriever_spec
from ragsift.eval.significance import SignificanceTest, annotate_significance, resolve_baseline, run_key
from ragsift.index.backends import collection_exists, create_collection, open_collection
from ragsift.index.collection import Collection, CollectionConfig
from ragsift.ingest import ChunkingConfig, ChunkMode, load_beir
from ragsift.pipeline.rerank import RerankOptions

__all__ = [
    "RETRIEVERS",
    "GRID_RETRIEVERS",
    "DEFAULT_METRICS",
    "EvalConfig",
    "run_eval",
    "retriever_options",
    "ranked_run",
    "parse_reranker_spec",
    "build_reranker",
]

log = logging.getLogger(__name__)

DEFAULT_METRICS = (
    "ndcg@10", "mrr@10", "recall@5", "recall@10", "recall@100", "precision@5", "precision@10", "precision@100",
    "map@100", "hit@5",
)


def _default_parent_child() -> ChunkingConfig:
    return ChunkingConfig(mode=ChunkMode.RECURSIVE, unit="tokens", size=128, overlap=32, parent_size=512)


@dataclass
class EvalConfig:
    """What to evaluate. ``retrievers`` are names of :data:`RETRIEVERS`; ``rerankers`` are specs
    (``"none"``, a cross-encoder path or hub name, or ``"TYPE=MODEL"``).

    ``grid=True`` drops tuned retrievers (with a note) when the tuning split has no qrels, instead
    of failing. ``baseline`` is ``RETRIEVER[:RERANKER]`` (default ``bm25:none``, else the first run).
    ``cost_n_base``/``cost_max_n``: the cost–accuracy reference N and the largest N measured.
    ``context_k``: N of context precision/recall and of the passages the judge reads.
    ``rerank_auto``: beside each reranked run, a gated one (``--rerank auto``): reranked only where
    the gate of the collection's query policy expects a gain (every query when it has no gate).
    """

    data_dir: Path
    out_dir: Path
    split: str = "test"
    retrievers: Sequence[str] = ("bm25", "dense", "hybrid")
    metrics: Sequence[str] = DEFAULT_METRICS
    collection_dir: Path | str | None = None  # a directory or milvus://HOST:PORT/NAME
    embed_model: str = "all-MiniLM-L6-v2"
    chunking: ChunkingConfig = field(default_factory=lambda: ChunkingConfig(mode=ChunkMode.NONE))
    analyzer: str = "en"
    depth: int = 100
    max_queries: int | None = None
    rerankers: Sequence[str] = ("none",)
    candidates: int | None = None  # None: each model's recorded depth, else 45
    interpolate: float | str | None = None  # a weight in [0, 1], "auto" (tuned on tune_split), "none" (off); None: the model's
    tune_split: str = "train"
    tune_queries: int | None = 200
    show_progress: bool = True
    grid: bool = False
    parent_child_dir: Path | str | None = None
    parent_child_chunking: ChunkingConfig = field(default_factory=_default_parent_child)
    baseline: str | None = None
    significance: str = "randomization"
    permutations: int = 10_000
    alpha: float = 0.05
    cost_n_base: int = 10
    cost_max_n: int = 20
    context_k: int = 5
    recall_curve_k: int = 100
    judge: JudgeConfig | None = None
    judge_runs: Sequence[str] | None = None  # run keys "RETRIEVER:RERANKER", or ["all"]
    judge_queries: int | None = None
    plots: bool = False
    command: str | None = None
    reranker_backend: str | None = None  # torch, onnx, onnx-int8 (local cross-encoders); None: RERANKER_BACKEND, else the default
    rerank_auto: bool = False  # add a gated run (--rerank auto) beside each reranked run

    def __post_init__(self) -> None:
        self.retrievers = check_retrievers(self.retrievers)
        if not self.rerankers:
            raise ConfigError("rerankers must name at least one entry ('none' = first stage only)")
        if self.rerank_auto and all(spec.strip() == "none" for spec in self.rerankers):
            raise ConfigError("rerank_auto gates a reranker, but rerankers names none; add one (e.g. --rerankers none,MODEL)")
        if self.interpolate not in (None, "auto", "none"):
            RerankOptions(candidates=self.candidates, interpolate=float(self.interpolate))  # validates
        RerankOptions(candidates=self.candidates)
        self.metrics = [str(m) for m in parse_metrics(self.metrics)]
        self.significance = parse_enum(SignificanceTest, self.significance, param="significance").value
        _positive(self, "depth", "permutations", "cost_n_base", "cost_max_n", "context_k", "recall_curve_k")
        if self.cost_n_base > self.cost_max_n:
            raise ConfigError(f"cost_n_base={self.cost_n_base} must be <= cost_max_n={self.cost_max_n}")
        if not self.parent_child_chunking.parent_child:
            raise ConfigError("parent_child_chunking needs parent_size (parents larger than the children)")


def _positive(cfg: EvalConfig, *names: str) -> None:
    for name in names:
        value = getattr(cfg, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"{name}={value!r} must be a positive integer")


# --------------------------------------------------------------------------------- the pipeline


def run_eval(cfg: EvalConfig) -> dict:
    """Run the configured grid on the dataset's split; write and return the results."""
    started = time.perf_counter()
    if cfg.plots:
        from ragsift._lazy import require

        require("matplotlib", extra="plots")  # fail before the grid, not after it
    queries = _split_queries(cfg, cfg.split, cfg.max_queries)
    notes: list[str] = []
    tune = _tuning_queries(cfg, notes)
    retrievers = _runnable_retrievers(cfg, tune, notes)
    collections = _collections(cfg, queries.data.corpus, retrievers)
    rerankers = {spec: build_reranker(spec, cfg.reranker_backend) for spec in cfg.rerankers if spec.strip() != "none"}
    grid = Grid(
        collections, queries, retrievers, rerankers, depth=_depths(cfg, collections), candidates=cfg.candidates,
        interpolate=cfg.interpolate, tune=tune, rerank_auto=cfg.rerank_auto, progress=_progress(cfg.show_progress),
    )
    if cfg.rerank_auto:
        notes += [f"rerank auto on {coll.path}: {NO_GATE}" for kind, coll in collections.items() if grid.gate(kind) is None]
    runs, records, per_query = _score_grid(grid, queries.qrels, cfg)
    results = _results(cfg, queries, collections, records, grid, notes)
    gates = analyses.gate_section(runs, per_query, grid, cfg.metrics)
    if gates:
        results["rerank_gate"] = gates
    results["significance"] = annotate_significance(
        records, per_query, cfg.metrics, baseline=resolve_baseline(cfg.baseline, records),
        test=cfg.significance, alpha=cfg.alpha, n_resamples=cfg.permutations,
    )
    curves = analyses.recall_curves(runs, queries.qrels, cfg.recall_curve_k)
    results["cost_accuracy"] = analyses.cost_section(runs, records, queries.qrels, collections, cfg)
    if cfg.judge is not None:
        baseline = results["significance"]["baseline"]
        results["judge"] = analyses.judge_section(runs, records, queries, collections, cfg, baseline)
    if cfg.plots:
        results["plots"] = analyses.plot_section(cfg.out_dir, results, curves)
    results["wall_time_s"] = round(time.perf_counter() - started, 1)
    write_results(cfg.out_dir, results)
    routes = {run_key(name, "none"): r for (name, split), r in grid.routes.items() if split == queries.split}
    probs = {name: {q: round(p, 6) for q, p in ps.items()} for (name, split), ps in grid.gates.items() if split == queries.split}
    _write_json(Path(cfg.out_dir) / "per_query.json", {
        "metrics": list(cfg.metrics), "runs": per_query, **({"routes": routes} if routes else {}),
        **({"rerank_gate": probs} if probs else {}),
    })
    _write_json(Path(cfg.out_dir) / "curves.json", {"recall@k": curves})
    return results


def build_reranker(spec: str, backend: str | None = None) -> EvalReranker:
    """The grid reranker a spec names (looked up at call time, so callers may memoize it across runs)."""
    return build_eval_reranker(spec, backend=backend)


def _split_queries(cfg: EvalConfig, split: str, limit: int | None) -> SplitQueries:
    data = load_beir(cfg.data_dir, split=split)
    qids = sorted(data.queries)
    return SplitQueries(data, qids[:limit] if limit else qids)


def _needs_tuning(cfg: EvalConfig) -> bool:
    return cfg.interpolate == "auto" or any(retriever_spec(r).tuned for r in cfg.retrievers)


def _tuning_queries(cfg: EvalConfig, notes: list[str]) -> SplitQueries | None:
    if not _needs_tuning(cfg):
        return None
    if cfg.tune_split == cfg.split:
        raise ConfigError(f"tune_split={cfg.tune_split!r} is the evaluated split; tune on another (e.g. train)")
    try:
        tune = _split_queries(cfg, cfg.tune_split, None)
    except BadInputError as exc:
        if not cfg.grid or cfg.interpolate == "auto":
            raise
        notes.append(f"tuned retrievers skipped: no usable tuning split {cfg.tune_split!r} ({exc})")
        return None
    qids = _unseen_by_rerankers(cfg, tune, notes) if cfg.interpolate == "auto" else tune.qids
    if not qids:
        raise ConfigError(f"no query of tuning split {cfg.tune_split!r} is left to tune on (see the notes: {notes})")
    return SplitQueries(tune.data, qids[: cfg.tune_queries] if cfg.tune_queries else qids)


def _unseen_by_rerankers(cfg: EvalConfig, tune: SplitQueries, notes: list[str]) -> list[str]:
    """Tuning queries no trained reranker learned from: a model trained on the tuning split is tuned on its hold-out only."""
    qids = list(tune.qids)
    for spec in cfg.rerankers:
        data = (training_manifest(spec) or {}).get("data") or {}
        if data.get("split") != tune.split or data.get("dataset") != tune.data.name:
            continue
        heldout = set(data.get("heldout_query_ids") or ())
        label = reranker_label(spec)
        if heldout:
            qids = [q for q in qids if q in heldout]
            notes.append(
                f"interpolate=auto (and fusion tuning) use only the {tune.split} queries that reranker {label} held out "
                f"of training ({len(qids)} left)"
            )
        else:
            notes.append(
                f"reranker {label} was trained on all of split {tune.split!r}: interpolate=auto tunes on queries it has "
                "seen, which favours the reranker (train it with --holdout 0.2 to keep tuning queries out)"
            )
            log.warning(notes[-1])
    return qids


def _runnable_retrievers(cfg: EvalConfig, tune: SplitQueries | None, notes: list[str]) -> list[str]:
    if tune is not None or not any(retriever_spec(r).tuned for r in cfg.retrievers):
        return list(cfg.retrievers)
    kept = [r for r in cfg.retrievers if not retriever_spec(r).tuned]
    log.warning(notes[-1])
    return kept


# --------------------------------------------------------------------------------- collections


def _collections(cfg: EvalConfig, corpus, retrievers: Sequence[str]) -> dict[str, Collection]:
    kinds = {retriever_spec(r).collection for r in retrievers}
    out: dict[str, Collection] = {}
    if "main" in kinds:
        needs_dense = any(set(retriever_spec(r).components) & {"dense", "server-hybrid"}
                          for r in retrievers if retriever_spec(r).collection == "main")
        path = cfg.collection_dir if cfg.collection_dir else Path(cfg.out_dir) / "collection"
        out["main"] = _open_or_build(path, cfg, corpus, cfg.chunking, needs_dense)
    if "parent-child" in kinds:
        path = cfg.parent_child_dir if cfg.parent_child_dir else Path(cfg.out_dir) / "collection-parent-child"
        coll = _open_or_build(path, cfg, corpus, cfg.parent_child_chunking, True)
        if not coll.config.chunking.parent_child:
            raise ConfigError(
                f"collection {path} is not a parent–child collection (no parent_size); pass another "
                "--parent-child-collection or delete it to rebuild"
            )
        out["parent-child"] = coll
    return out


def _open_or_build(path, cfg: EvalConfig, corpus, chunking: ChunkingConfig, needs_dense: bool) -> Collection:
    """The collection at ``path`` (a directory or a Milvus URI), built from ``corpus`` when it does not exist."""
    if collection_exists(path):
        coll = open_collection(path)
        if set(coll.documents) != {d.id for d in corpus if not d.is_empty}:
            raise BadInputError(
                f"collection {path} holds different documents than {cfg.data_dir}; "
                "pass another --collection or delete it to rebuild"
            )
        if needs_dense and not coll.config.dense:
            raise ConfigError(f"collection {path} has no dense vectors; rebuild it or evaluate bm25 only")
        return coll
    config = CollectionConfig(analyzer=cfg.analyzer, dense=needs_dense, embed_model=cfg.embed_model, chunking=chunking)
    coll = create_collection(path, config)
    coll.add(corpus, show_progress=cfg.show_progress)
    return coll


def _depths(cfg: EvalConfig, collections: dict[str, Collection]) -> dict[str, int]:
    """Units each first stage returns: enough for every metric cutoff, the curves and the cost study;
    three times that when units are chunks (documents are counted once, at their best unit)."""
    need = max(cfg.depth, cfg.recall_curve_k, cfg.cost_max_n, *(int(m.split("@")[1]) for m in cfg.metrics))
    counts = {kind: c.stats() for kind, c in collections.items()}
    return {kind: need * 3 if n["chunks"] > n["documents"] else need for kind, n in counts.items()}


# --------------------------------------------------------------------------------- scoring


def _score_grid(grid: Grid, qrels, cfg: EvalConfig) -> tuple[list[GridRun], list[dict], dict[str, dict]]:
    """Every run's record and per-query metric values (``per_query[run_key][qid][metric]``)."""
    runs: list[GridRun] = []
    records: list[dict] = []
    per_query: dict[str, dict] = {}
    first: dict[str, dict] = {}
    for run in grid:
        values = evaluate_per_query(qrels, docs_run(run.doc_ids()), cfg.metrics)
        record = _record(run, values, qrels, cfg)
        if run.is_reranked:
            base = first[run.retriever]["metrics"]
            record["baseline"] = base
            record["delta"] = {m: record["metrics"][m] - base[m] for m in record["metrics"]}
        else:
            first[run.retriever] = record
        log.info("%s: %s", run.name, record["metrics"])
        if cfg.show_progress:
            first_metric = cfg.metrics[0]
            _announce(f"{run.name}: {first_metric} {record['metrics'][first_metric]:.4f}")
        runs.append(run)
        records.append(record)
        per_query[run_key(run.retriever, run.reranker)] = values
    return runs, records, per_query


def _record(run: GridRun, values: dict, qrels, cfg: EvalConfig) -> dict:
    if not values:
        raise ConfigError("no evaluated query has a relevant document (grade > 0); check the qrels split")
    metrics = {m: float(sum(v[m] for v in values.values()) / len(values)) for m in cfg.metrics}
    record = {
        "retriever": run.retriever,
        "reranker": run.reranker,
        "metrics": metrics,
        "latency_ms": percentiles(run.stage_ms["total"]),
        "params": run.params,
        "stage_latency_ms": {s: percentiles(run.stage_ms[s]) for s in STAGES if s in run.stage_ms},
        "rag": context_metrics(qrels, run.doc_ids(), cfg.context_k),
    }
    if run.label != run.reranker:
        record["reranker_label"] = run.label
    return record


def _results(cfg: EvalConfig, queries: SplitQueries, collections, records, grid: Grid, notes) -> dict:
    results = {
        "dataset": queries.data.name,
        "split": cfg.split,
        "queries": len(queries.qids),
        "documents": len(queries.data.corpus),
        "skipped_empty_documents": _empty_documents(queries.data.corpus),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "runs": records,
        "config": _config_section(cfg, collections),
    }
    if cfg.command:
        results["command"] = cfg.command
    if grid.tunings:
        results["fusion_tuning"] = analyses.fusion_tuning_section(grid, records)
    results["rerank_cache"] = {b.label: b.stats() for b in grid.rerankers.values()}
    results["first_stage_searches"] = grid.searches
    if notes:
        results["notes"] = notes
    anchors = anchors_for(queries.data.name)
    if anchors:
        results["anchors"] = anchors
    return results


def _empty_documents(corpus) -> dict:
    """Documents with no title and no text: not indexed (never retrievable); qrels judging them stay valid."""
    ids = [d.id for d in corpus if d.is_empty]
    return {"count": len(ids), "ids": ids[:20]}


def _config_section(cfg: EvalConfig, collections: dict[str, Collection]) -> dict:
    out = {
        "depth": cfg.depth,
        "candidates": cfg.candidates,
        "rerankers": list(cfg.rerankers),
        "context_k": cfg.context_k,
        "tune_split": cfg.tune_split,
        "tune_queries": cfg.tune_queries,
    }
    if cfg.rerank_auto:
        out["rerank_auto"] = True
    for kind, coll in collections.items():
        prefix = "" if kind == "main" else "parent_child_"
        out[f"{prefix}collection"] = str(coll.path)
        out[f"{prefix}chunking"] = coll.config.chunking.to_dict()
        if kind == "main":
            out["analyzer"] = coll.config.analyzer
            out["bm25"] = {"k1": coll.config.k1, "b": coll.config.b}
            out["embed_model"] = coll.config.embed_model if coll.config.dense else None
    return out


def _write_json(path: Path, data: dict) -> None:
    atomic_write_text(path, json.dumps(data, ensure_ascii=False, separators=(",", ":")) + "\n")


def _announce(text: str) -> None:
    from tqdm.auto import tqdm

    tqdm.write(text, file=sys.stderr)


def _progress(show: bool):
    if not show:
        return lambda items, desc: items
    from tqdm.auto import tqdm

    return lambda items, desc: tqdm(items, desc=desc, unit="q", leave=False)
