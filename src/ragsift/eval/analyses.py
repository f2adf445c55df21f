"""The sections of ``results.json`` built from the grid's runs: curves, cost–accuracy, judge, tuning, plots."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Mapping, Sequence

from ragsift.errors import ConfigError
from ragsift.eval.significance import run_key
from ragsift.eval.cost import cost_accuracy, mean_tokens, token_counter
from ragsift.eval.first_stage import docs_run
from ragsift.eval.gate import GATED, gate_curve
from ragsift.eval.grid import Grid, GridRun, SplitQueries
from ragsift.eval.metrics import evaluate
from ragsift.eval.rag_metrics import context_recall_curve
from ragsift.index.collection import Collection

__all__ = [
    "unit_text",
    "recall_curves",
    "cost_section",
    "judge_section",
    "fusion_tuning_section",
    "gate_section",
    "plot_section",
    "best_run",
]


def unit_text(collection: Collection, unit_id: str) -> str:
    """The text of a ranked unit: a parent in parent–child collections, else a chunk (or document)."""
    parent = collection.parents.get(unit_id)
    return parent.text if parent is not None else collection.chunk(unit_id).text


def recall_curves(runs: Sequence[GridRun], qrels, max_k: int) -> dict[str, list[float]]:
    """Mean Recall@k for k = 1..max_k of every run (document level, as :mod:`ragsift.eval.metrics`)."""
    metrics = [f"recall@{k}" for k in range(1, max_k + 1)]
    out = {}
    for run in runs:
        values = evaluate(qrels, docs_run(run.doc_ids()), metrics)
        out[run_key(run.retriever, run.reranker)] = [values[m] for m in metrics]
    return out


def best_run(records: Sequence[Mapping], metric: str, *, reranked: bool | None = None) -> Mapping | None:
    """The record with the highest ``metric`` (optionally only reranked / only first-stage runs)."""
    pool = [r for r in records if reranked is None or (r["reranker"] != "none") == reranked]
    return max(pool, key=lambda r: r["metrics"].get(metric, float("-inf")), default=None)


def cost_section(runs: Sequence[GridRun], records, qrels, collections: Mapping[str, Collection], cfg) -> dict:
    """Context recall@N (N = 1..max_n) of every first stage and every reranked run, and N_reranked."""
    n_base, max_n = cfg.cost_n_base, cfg.cost_max_n
    first = {r.retriever: r for r in runs if not r.is_reranked}
    model = next(iter(collections.values())).config.embed_model
    count, counter_name = token_counter(model)
    tokens: dict[str, float] = {}
    entries = []
    for run in runs:
        if not run.is_reranked:
            continue
        base = first[run.retriever]
        if run.retriever not in tokens:
            coll = collections[base.collection]
            texts = (unit_text(coll, uid) for units in base.ranking.values() for uid, _ in units[:n_base])
            tokens[run.retriever] = mean_tokens(texts, count)
        study = cost_accuracy(
            qrels, base.doc_ids(max_n), run.doc_ids(max_n), retriever=run.retriever, reranker=run.reranker,
            n_base=n_base, max_n=max_n, tokens_per_passage=tokens[run.retriever], token_counter=counter_name,
        )
        entries.append({**study.to_dict(), "reranker_label": run.label})
    best = best_run(records, cfg.metrics[0], reranked=True)
    return {
        "n_base": n_base,
        "max_n": max_n,
        "token_counter": counter_name,
        "focus": best["retriever"] if best else None,
        "first_stage": {name: context_recall_curve(qrels, r.doc_ids(max_n), max_n) for name, r in first.items()},
        "runs": entries,
    }


def fusion_tuning_section(grid: Grid, records: Sequence[Mapping]) -> dict:
    """Each tuned fusion: the chosen value, the grid's scores on the tuning split, and the test numbers."""
    test = {r["retriever"]: r["metrics"] for r in records if r["reranker"] == "none"}
    out = {}
    for method, tuning in grid.tunings.items():
        entry = tuning.to_dict()
        default, tuned = test.get(f"hybrid-{method}"), test.get(f"hybrid-{method}-tuned")
        if default is not None and tuned is not None:
            entry["test"] = {"default": default.get(tuning.metric), "tuned": tuned.get(tuning.metric)}
        out[method] = entry
    return out


def gate_section(runs: Sequence[GridRun], per_query: Mapping[str, Mapping], grid: Grid, metrics: Sequence[str]) -> dict | None:
    """The rerank gate's threshold curve of every gated run with a trained gate (:func:`ragsift.eval.gate.gate_curve`).

    Read from each query's primary metric reranked (the always-rerank run) and not (the first stage)
    and its gate probability; None when no gated run has a trained gate.
    """
    metric = "ndcg@10" if "ndcg@10" in metrics else metrics[0]
    curves = []
    for run in runs:
        gate = run.params.get("gate") or {}
        if not gate.get("trained"):
            continue
        spec = run.reranker[: -len(GATED)]
        values = [{q: v[metric] for q, v in per_query[run_key(run.retriever, name)].items()} for name in (spec, "none")]
        curve = gate_curve(*values, grid.gates[(run.retriever, grid.queries.split)], gate["threshold"])
        curves.append({"retriever": run.retriever, "reranker": spec, "reranker_label": run.label[: -len(GATED)], **curve})
    return {"metric": metric, "curves": curves} if curves else None


def _judge_selection(records: Sequence[Mapping], cfg, baseline: str) -> list[str]:
    keys = [run_key(r["retriever"], r["reranker"]) for r in records]
    if cfg.judge_runs and list(cfg.judge_runs) == ["all"]:
        return keys
    if cfg.judge_runs:
        unknown = [k for k in cfg.judge_runs if k not in keys]
        if unknown:
            raise ConfigError(f"judge_runs {unknown} name no run of this grid; runs are: {', '.join(keys)}")
        return list(cfg.judge_runs)
    best = best_run(records, cfg.metrics[0])
    return list(dict.fromkeys([baseline, run_key(best["retriever"], best["reranker"])]))


def _embedder(collections: Mapping[str, Collection]):
    for coll in collections.values():
        if coll.config.dense:
            return coll.embedder.encode_queries
    from ragsift.index.embedder import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder(None).encode_queries


def judge_section(
    runs: Sequence[GridRun], records: Sequence[dict], queries: SplitQueries, collections, cfg, baseline: str
) -> dict:
    """Faithfulness and answer relevancy of the selected runs; details go to ``OUT/judge.jsonl``."""
    from ragsift.eval.judge import JudgeItem, LLMJudge
    from ragsift.files import atomic_write_text

    selected = _judge_selection(records, cfg, baseline)
    judge = LLMJudge(cfg.judge, _embedder(collections))
    by_key = {run_key(r.retriever, r.reranker): (r, rec) for r, rec in zip(runs, records)}
    qids = queries.qids[: cfg.judge_queries] if cfg.judge_queries else queries.qids
    lines = []
    for key in selected:
        run, record = by_key[key]
        coll = collections[run.collection]
        items = [
            JudgeItem(q, queries.data.queries[q], [unit_text(coll, uid) for uid, _ in run.ranking[q][: cfg.judge.contexts]])
            for q in qids
            if run.ranking.get(q)
        ]
        report = judge.evaluate(items)
        record["judge"] = report.summary()
        record["rag"].update({k: v for k, v in report.summary().items() if k in ("faithfulness", "answer_relevancy") and v is not None})
        lines += [json.dumps({"run": key, **row}, ensure_ascii=False) for row in report.details]
    atomic_write_text(Path(cfg.out_dir) / "judge.jsonl", "\n".join(lines) + "\n")
    return {
        "model": cfg.judge.model,
        "base_url": cfg.judge.base_url,
        "contexts": cfg.judge.contexts,
        "runs": selected,
        "queries": len(qids),
        "details": "judge.jsonl",
    }


def plot_section(out_dir, results: Mapping, curves: Mapping[str, list[float]]) -> list[str]:
    """Write the PNG plots next to the results; return their file names."""
    from ragsift.eval.plots import write_plots

    return [p.name for p in write_plots(Path(out_dir), results, curves)]
