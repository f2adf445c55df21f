"""``ragsift train-router``: learn the query policy (router, rerank gate, validator) on a training split.

One pass over the training queries runs BM25 and the dense retriever once each (timing them), and
derives every query's rankings for bm25 / dense / hybrid from those runs, its features
(:mod:`ragsift.query.features`) and its NDCG@10 per mode. Then:

- **router**: for ``bm25`` and ``dense``, a logistic model of "this mode alone ranks at least as
  well as hybrid" over the router features (query + BM25 run). Out-of-fold probabilities (5-fold
  cross-validation) pick the two thresholds that minimize the expected first-stage latency
  (measured here: BM25 alone, dense alone, both) while the training NDCG@10 loss against always
  hybrid stays within ``max_loss``. When nothing qualifies, the router keeps every query on hybrid.
- **validator**: a logistic model of "no relevant document in the top 5" of the ``validate_mode``
  ranking over all features; the threshold is the lowest whose out-of-fold precision of "fail"
  reaches ``target_precision`` (most recall at that precision).
- **gate** (with a reranker): each gate query's candidates are reranked once (with the model's
  recorded settings); a logistic model of "reranking improves NDCG@10", each query weighted by how
  much it changes, gives ``P(gain)``; the threshold is the highest that keeps ``keep_gain`` of the
  total reranking gain on the out-of-fold predictions. When reranking does not improve the gate
  queries at all (no total gain), the threshold is above 1: ``--rerank auto`` keeps the first stage. The gate queries should be ones the
  reranker never trained on (``ragsift train-reranker`` records its held-out queries; they are
  used when present).

Everything is chosen on the training split; report on test (``bench/query_policy.py``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from ragsift.errors import ConfigError
from ragsift.query.features import ALL_FEATURES, ROUTER_FEATURES, features
from ragsift.query.policy import Gate, LinearModel, QueryPolicy, Router, Validator

__all__ = ["MAX_LOSS", "KEEP_GAIN", "TARGET_PRECISION", "collect", "train_policy", "ndcg10", "fit_logistic"]

MAX_LOSS = 0.002
"""Training NDCG@10 the router may lose against always-hybrid (the issue allows 0.005 on test)."""
KEEP_GAIN = 0.9
TARGET_PRECISION = 0.6
FOLDS = 5
DEPTH = 100


def ndcg10(ranked_docs: Sequence[str], judged: Mapping[str, int]) -> float:
    from ragsift.eval.metrics import evaluate_per_query

    run = {"q": {d: float(len(ranked_docs) - i) for i, d in enumerate(ranked_docs)}}
    values = evaluate_per_query({"q": dict(judged)}, run, ["ndcg@10"])
    return values.get("q", {}).get("ndcg@10", 0.0)


def _docs(hits) -> list[str]:
    return list(dict.fromkeys(h.doc_id for h in hits))


def fit_logistic(x: np.ndarray, y: np.ndarray, names: Sequence[str], weights: np.ndarray | None = None,
                 c: float = 0.5) -> LinearModel:
    """An L2 logistic regression (scikit-learn) on standardized features, as a :class:`LinearModel`."""
    from sklearn.linear_model import LogisticRegression

    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale == 0] = 1.0
    z = (x - mean) / scale
    if len(set(y.tolist())) < 2:  # one class only: a constant model
        p = float(np.clip(y.mean(), 1e-3, 1 - 1e-3))
        return LinearModel(list(names), mean.tolist(), scale.tolist(), [0.0] * len(names), float(np.log(p / (1 - p))))
    model = LogisticRegression(C=c, max_iter=2000)
    model.fit(z, y, sample_weight=weights)
    return LinearModel(list(names), mean.tolist(), scale.tolist(), model.coef_[0].tolist(), float(model.intercept_[0]))


def _oof(x: np.ndarray, y: np.ndarray, names, weights=None, seed: int = 0) -> np.ndarray:
    """Out-of-fold probabilities (each query predicted by a model that did not see it)."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(y))
    folds = np.array_split(order, FOLDS)
    out = np.zeros(len(y))
    for fold in folds:
        train = np.setdiff1d(order, fold)
        model = fit_logistic(x[train], y[train], names, None if weights is None else weights[train])
        out[fold] = [model.probability(dict(zip(names, row))) for row in x[fold]]
    return out


def collect(searcher, queries: Mapping[str, str], qrels: Mapping[str, Mapping[str, int]], *,
            progress: Callable[[Iterable, str], Iterable] = lambda items, desc: items) -> dict:
    """Per training query: features, NDCG@10 per mode, hits per mode, and the retrievers' times."""
    from ragsift.pipeline.search import SearchOptions, assemble_hits
    from ragsift.query.router import QueryRouter

    coll = searcher.collection
    if "dense" not in searcher.retrievers:
        raise ConfigError(f"train-router needs a collection with dense vectors; {coll.path} has none (nothing to route)")
    router = QueryRouter(coll)
    qids = [q for q in queries if any(g > 0 for g in qrels.get(q, {}).values())]
    if len(qids) < 2 * FOLDS:
        raise ConfigError(f"train-router needs at least {2 * FOLDS} judged queries; the split has {len(qids)}")
    out: dict[str, Any] = {"qids": qids, "features": {}, "ndcg": {}, "hits": {}, "runs": {}, "ms": {"bm25": [], "dense": []}}
    for qid in progress(qids, "first stage"):
        text = queries[qid]
        runs = {}
        for name in ("bm25", "dense"):
            start = time.perf_counter()
            runs[name] = searcher.retrievers[name].search(text, DEPTH)
            out["ms"][name].append((time.perf_counter() - start) * 1000)
        analysis = router.analyze(text)
        out["features"][qid] = features(analysis, router.idf, runs)
        out["runs"][qid] = runs
        out["hits"][qid], out["ndcg"][qid] = {}, {}
        for mode in ("bm25", "dense", "hybrid"):
            opts = SearchOptions(mode=mode, k=DEPTH, bm25_depth=DEPTH, dense_depth=DEPTH)
            hits, _ = assemble_hits(coll, {n: runs[n] for n in opts.retrievers()}, opts)
            out["hits"][qid][mode] = hits
            out["ndcg"][qid][mode] = ndcg10(_docs(hits), qrels[qid])
    return out


def train_router(data: dict, max_loss: float = MAX_LOSS) -> Router:
    qids = data["qids"]
    x = np.array([[data["features"][q][n] for n in ROUTER_FEATURES] for q in qids])
    nd = {m: np.array([data["ndcg"][q][m] for q in qids]) for m in ("bm25", "dense", "hybrid")}
    cost = {m: float(np.mean(data["ms"][m])) for m in ("bm25", "dense")}
    cost["hybrid"] = cost["bm25"] + cost["dense"]
    models, oof = {}, {}
    for m in ("bm25", "dense"):
        y = (nd[m] >= nd["hybrid"] - 1e-9).astype(int)
        models[m] = fit_logistic(x, y, ROUTER_FEATURES)
        oof[m] = _oof(x, y, ROUTER_FEATURES)
    grid = sorted(set(np.round(np.quantile(np.concatenate([oof["bm25"], oof["dense"]]), np.linspace(0, 1, 41)), 4)) | {2.0})
    hybrid = float(nd["hybrid"].mean())
    best = (cost["hybrid"], 2.0, 2.0, hybrid, {"bm25": 0.0, "dense": 0.0, "hybrid": 1.0})
    for tb in grid:
        to_b = oof["bm25"] >= tb
        for td in grid:
            to_d = ~to_b & (oof["dense"] >= td)
            to_h = ~to_b & ~to_d
            score = float(np.where(to_b, nd["bm25"], np.where(to_d, nd["dense"], nd["hybrid"])).mean())
            # the learned router runs BM25 for every query, so a dense route costs BM25 + dense
            latency = float(to_b.mean() * cost["bm25"] + (to_d.mean() + to_h.mean()) * cost["hybrid"])
            if hybrid - score <= max_loss and latency < best[0] - 1e-9:
                best = (latency, float(tb), float(td), score, {"bm25": float(to_b.mean()), "dense": float(to_d.mean()), "hybrid": float(to_h.mean())})
    latency, tb, td, score, shares = best
    report = {
        "queries": len(qids), "max_loss": max_loss, "cost_ms": {k: round(v, 3) for k, v in cost.items()},
        "train_ndcg@10": {"hybrid": round(hybrid, 4), "bm25": round(float(nd["bm25"].mean()), 4),
                          "dense": round(float(nd["dense"].mean()), 4), "routed (out-of-fold)": round(score, 4),
                          "oracle": round(float(np.maximum(np.maximum(nd["bm25"], nd["dense"]), nd["hybrid"]).mean()), 4)},
        "shares (out-of-fold)": {k: round(v, 4) for k, v in shares.items()},
        "expected_latency_ms": round(latency, 3),
    }
    return Router(models, {"bm25": tb, "dense": td}, report)


def train_validator(data: dict, qrels, mode: str = "hybrid", target_precision: float = TARGET_PRECISION) -> Validator:
    qids = data["qids"]
    x = np.array([[data["features"][q][n] for n in ALL_FEATURES] for q in qids])
    y = np.array([int(not any(qrels[q].get(d, 0) > 0 for d in _docs(data["hits"][q][mode])[:5])) for q in qids])
    model = fit_logistic(x, y, ALL_FEATURES)
    oof = _oof(x, y, ALL_FEATURES)
    threshold, chosen = 1.01, {"precision": None, "recall": 0.0, "fail_share": 0.0}
    for t in sorted(set(np.round(oof, 4)), reverse=True):
        fail = oof >= t
        precision = float((y[fail] == 1).mean()) if fail.any() else 0.0
        recall = float((fail & (y == 1)).sum() / max(y.sum(), 1))
        if precision >= target_precision and recall >= chosen["recall"]:
            threshold, chosen = float(t), {"precision": round(precision, 4), "recall": round(recall, 4), "fail_share": round(float(fail.mean()), 4)}
    report = {"queries": len(qids), "mode": mode, "no_relevant_in_top5": round(float(y.mean()), 4),
              "out-of-fold at the threshold": chosen}
    return Validator(model, threshold, target_precision, report)


def rerank_gains(searcher, data: dict, queries, qrels, qids: Sequence[str], rerank, *,
                 progress=lambda items, desc: items) -> dict:
    """Rerank each query's hybrid candidates once: NDCG@10 before/after and the ms per query."""
    from ragsift.pipeline.rerank import rerank_hits

    opts = rerank.resolve(searcher.reranker)
    out = {"before": {}, "after": {}, "ms": {}}
    for qid in progress(qids, "rerank"):
        hits = data["hits"][qid]["hybrid"][: opts.candidates]
        reranked, ms = rerank_hits(searcher.reranker, queries[qid], hits, replace(opts, top_n=len(hits)))
        out["before"][qid] = data["ndcg"][qid]["hybrid"]
        out["after"][qid] = ndcg10(_docs(reranked), qrels[qid])
        out["ms"][qid] = ms
    out["settings"] = opts.settings_report()
    return out


def train_gate(data: dict, gains: dict, keep_gain: float = KEEP_GAIN) -> Gate:
    qids = [q for q in data["qids"] if q in gains["after"]]
    x = np.array([[data["features"][q][n] for n in ALL_FEATURES] for q in qids])
    g = np.array([gains["after"][q] - gains["before"][q] for q in qids])
    y = (g > 0).astype(int)
    w = np.abs(g) + 0.05  # queries that move much count more; ties still teach "no gain"
    model = fit_logistic(x, y, ALL_FEATURES, w)
    oof = _oof(x, y, ALL_FEATURES, w)
    total = float(g.sum())
    curve = []
    threshold = 0.0
    for t in sorted(set(np.round(oof, 4)) | {0.0}):
        on = oof >= t
        kept = float(g[on].sum())
        curve.append({"threshold": float(t), "reranked": round(float(on.mean()), 4),
                      "gain_kept": round(kept / total, 4) if total > 0 else None})
        if total > 0 and kept >= keep_gain * total:
            threshold = float(t)  # thresholds ascend: the last that keeps enough reranks the fewest
    if total <= 0:  # reranking did not help these queries: the gate keeps the first stage
        threshold = 1.01
    on = oof >= threshold
    report = {
        "queries": len(qids), "keep_gain": keep_gain, "total_gain": round(total, 4),
        "train_ndcg@10": {"never": round(float(np.mean([gains["before"][q] for q in qids])), 4),
                          "always": round(float(np.mean([gains["after"][q] for q in qids])), 4),
                          "gated (out-of-fold)": round(float(np.mean([gains["after"][q] if o else gains["before"][q] for q, o in zip(qids, on)])), 4)},
        "reranked (out-of-fold)": round(float(on.mean()), 4),
        "gain_kept (out-of-fold)": round(float(g[on].sum()) / total, 4) if total > 0 else None,
        "improved": int((g > 0).sum()), "worsened": int((g < 0).sum()),
        "rerank_ms_mean": round(float(np.mean(list(gains["ms"].values()))), 1),
        "curve (out-of-fold)": curve,
    }
    return Gate(model, threshold, report)


def train_policy(searcher, queries, qrels, *, rerank=None, gate_qids: Sequence[str] | None = None,
                 max_loss: float = MAX_LOSS, keep_gain: float = KEEP_GAIN, target_precision: float = TARGET_PRECISION,
                 validate_mode: str = "hybrid", trained_on: dict | None = None,
                 progress=lambda items, desc: items) -> QueryPolicy:
    data = collect(searcher, queries, qrels, progress=progress)
    router = train_router(data, max_loss)
    validator = train_validator(data, qrels, validate_mode, target_precision)
    gate = None
    if rerank is not None:
        pool = [q for q in (gate_qids or data["qids"]) if q in data["features"]]
        if len(pool) < 2 * FOLDS:
            raise ConfigError(f"the rerank gate needs at least {2 * FOLDS} judged queries; got {len(pool)}")
        gains = rerank_gains(searcher, data, queries, qrels, pool, rerank, progress=progress)
        gate = train_gate(data, gains, keep_gain)
        gate.report["rerank_settings"] = gains["settings"]
    return QueryPolicy(router, gate, validator, dict(trained_on or {}))
