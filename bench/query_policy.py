"""The query side on a BEIR test split: routing, the rerank gate, validation, RM3 and synonyms.

Everything is learned on the train split beforehand (``ragsift train-router --reranker-model M
--out POLICY``); this script only reads the test split, once:

- ``--mode auto`` (rules and learned router) vs always-hybrid: NDCG@10, and mean / p95 latency of
  live ``Searcher.search`` calls, the modes interleaved query by query in one run;
- ``--rerank auto``: every test query's hybrid candidates reranked once (the model's recorded
  settings), then the curve over the gate threshold (share reranked, NDCG@10, mean latency), and
  the numbers at the trained threshold against always- and never-rerank;
- validation: precision and recall of "fail" against "no relevant document in the top 5";
- BM25 expansion: RM3 (Pyserini's defaults) and a synonyms file mined from the corpus
  (abbreviation definitions, "long form (SF)"), the synonym weight chosen on train.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/query_policy.py --data ../shared/data/beir/scifact \
        --policy /tmp/qp/policy.json --reranker-model /tmp/i12/M --out bench/results/query_policy_scifact
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
from service_write import cpu_model  # bench/ is on sys.path when a script of it runs

from ragsift.eval.gate import curve_point
from ragsift.index.collection import Collection
from ragsift.ingest.beir import load_beir
from ragsift.pipeline.rerank import RerankOptions
from ragsift.pipeline.search import SearchOptions, Searcher, assemble_hits
from ragsift.query.expansion import RM3, QueryExpansion, Synonyms
from ragsift.query.policy import load_policy
from ragsift.query.training import _docs, collect, ndcg10, rerank_gains
from ragsift.train.data import open_or_build_collection


def load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def pct(values, q) -> float:
    return float(np.percentile(values, q)) if len(values) else float("nan")


# ------------------------------------------------------------------ synonyms mined from the corpus
_DEF = re.compile(r"((?:[A-Za-z][\w-]*\s+){1,8})\(([A-Za-z][A-Za-z0-9-]{1,9})\)")


def _long_form(words: list[str], short: str) -> str | None:
    """Schwartz–Hearst, simplified: the shortest run of trailing words whose initials spell ``short``'s letters."""
    letters = [c.lower() for c in short if c.isalpha()]
    if len(letters) < 2 or not any(c.isupper() for c in short):
        return None
    for n in range(len(letters) - 1, min(len(words), len(letters) + 2) + 1):
        cand = words[-n:] if n else []
        if not cand:
            continue
        initials = "".join(w[0].lower() for w in cand)
        if initials == "".join(letters) or (initials.startswith(letters[0]) and _subseq(letters, "".join(w.lower() for w in cand)) and len(cand) >= len(letters) - 1 and cand[0][0].lower() == letters[0]):
            return " ".join(cand)
    return None


def _subseq(letters, text) -> bool:
    i = 0
    for c in text:
        if i < len(letters) and c == letters[i]:
            i += 1
    return i == len(letters)


def mine_synonyms(corpus, min_count: int = 2) -> list[str]:
    pairs: dict[str, Counter] = defaultdict(Counter)
    for doc in corpus:
        for m in _DEF.finditer(f"{doc.title}. {doc.text}"):
            words = m.group(1).split()
            short = m.group(2)
            long = _long_form(words, short)
            if long:
                pairs[short.lower()][long.lower()] += 1
    lines = []
    for short, longs in sorted(pairs.items()):
        long, count = longs.most_common(1)[0]
        if count >= min_count and long != short:
            lines.append(f"{short}, {long}")
    return lines


# ------------------------------------------------------------------ helpers
def expanded_runs(coll, searcher, queries, qids, expansion, dense_runs, qrels, depth=100):
    """NDCG@10 per query for bm25 and hybrid with the BM25 query expanded (dense runs reused)."""
    retr = searcher.retrievers["bm25"]
    out = {"bm25": {}, "hybrid": {}}
    for qid in qids:
        bm25 = retr.search_expanded([queries[qid]], depth, None, expansion)[0]
        for mode in ("bm25", "hybrid"):
            opts = SearchOptions(mode=mode, k=depth)
            runs = {"bm25": bm25} if mode == "bm25" else {"bm25": bm25, "dense": dense_runs[qid]}
            hits, _ = assemble_hits(coll, runs, opts)
            out[mode][qid] = ndcg10(_docs(hits), qrels[qid])
    return {m: float(np.mean(list(v.values()))) for m, v in out.items()}


def measure_latency(searcher, test, qids) -> dict:
    """Live ``Searcher.search`` per query, the modes interleaved query by query (same load for each)."""
    lat = {"hybrid": [], "auto": [], "bm25": []}
    live_nd = {"hybrid": [], "auto": []}
    for qid in qids:
        for mode in ("hybrid", "auto", "bm25"):
            start = time.perf_counter()
            res = searcher.search(test.queries[qid], SearchOptions(mode=mode, k=10))
            lat[mode].append((time.perf_counter() - start) * 1000)
            if mode in live_nd:
                live_nd[mode].append(ndcg10(_docs(res.hits), test.qrels[qid]))
    return {
        "latency_ms": {m: {"mean": round(float(np.mean(v)), 2), "p50": round(pct(v, 50), 2), "p95": round(pct(v, 95), 2)} for m, v in lat.items()},
        "live_ndcg@10": {m: round(float(np.mean(v)), 4) for m, v in live_nd.items()},
        "load_after_latency": load(),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--collection", help="default: the mining collection under $RAGSIFT_HOME")
    ap.add_argument("--policy", required=True)
    ap.add_argument("--reranker-model")
    ap.add_argument("--out", default="bench/results/query_policy_scifact")
    ap.add_argument("--skip-latency", action="store_true")
    ap.add_argument("--latency-only", action="store_true",
                    help="only the live latency of hybrid / auto / bm25 (re-measure on an idle machine); writes latency.json")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.time()
    result: dict = {"cpu": cpu_model(), "cores": os.cpu_count(), "load_before": load()}
    test = load_beir(args.data, "test")
    train = load_beir(args.data, "train")
    coll = Collection.open(args.collection) if args.collection else open_or_build_collection(None, test.corpus, test.name)
    policy = load_policy(args.policy)
    reranker = None
    if args.reranker_model:
        from ragsift.config import reranker_spec
        from ragsift.rerank.registry import build

        reranker = build(reranker_spec("cross-encoder", args.reranker_model, model_source="bench"))
        reranker.warm_up()
    searcher = Searcher(coll, reranker, policy=policy)
    searcher.warm_up()
    progress = lambda items, desc: items  # noqa: E731
    if args.latency_only:
        qids = sorted(q for q in test.queries if any(g > 0 for g in test.qrels.get(q, {}).values()))
        result.update(measure_latency(searcher, test, qids))
        result["load_after"] = load()
        (out / "latency.json").write_text(json.dumps(result, indent=1) + "\n")
        print(json.dumps(result, indent=1))
        return 0
    print("collecting test first stage ...", file=sys.stderr)
    data = collect(searcher, test.queries, test.qrels, progress=progress)
    qids = data["qids"]
    router = searcher._query_router()
    # ---------------- routing (offline from the collected runs: the same rankings the live path builds)
    routes_rules, routes_learned = {}, {}
    for qid in qids:  # the live path's decision: QueryRouter.decide reads the BM25 run only
        analysis = router.analyze(test.queries[qid])
        routes_rules[qid] = analysis.route
        routes_learned[qid] = router.decide(analysis, data["runs"][qid]).route if router.learned else "hybrid"
    nd = {m: np.array([data["ndcg"][q][m] for q in qids]) for m in ("bm25", "dense", "hybrid")}
    routing = {"queries": len(qids), "ndcg@10": {m: round(float(v.mean()), 4) for m, v in nd.items()}}
    for name, routes in (("auto (rules)", routes_rules), ("auto (learned)", routes_learned)):
        score = float(np.mean([data["ndcg"][q][routes[q]] for q in qids]))
        shares = Counter(routes.values())
        routing["ndcg@10"][name] = round(score, 4)
        routing[f"shares {name}"] = {m: round(shares.get(m, 0) / len(qids), 4) for m in ("bm25", "dense", "hybrid")}
    routing["delta learned vs hybrid"] = round(routing["ndcg@10"]["auto (learned)"] - routing["ndcg@10"]["hybrid"], 4)
    result["routing"] = routing
    print(json.dumps(routing, indent=1), file=sys.stderr)
    # ---------------- live latency: hybrid vs auto (learned), interleaved
    if not args.skip_latency:
        result.update(measure_latency(searcher, test, qids))
        print(json.dumps(result["latency_ms"], indent=1), json.dumps(result["live_ndcg@10"]), file=sys.stderr)
    # ---------------- validation
    if policy.validator is not None:
        truth = {q: not any(test.qrels[q].get(d, 0) > 0 for d in _docs(data["hits"][q]["hybrid"])[:5]) for q in qids}
        probs = {q: policy.validator.model.probability(data["features"][q]) for q in qids}
        pred = {q: probs[q] >= policy.validator.threshold or data["features"][q]["oov_frac"] >= 1.0 for q in qids}
        tp = sum(1 for q in qids if pred[q] and truth[q])
        fp = sum(1 for q in qids if pred[q] and not truth[q])
        fn = sum(1 for q in qids if not pred[q] and truth[q])
        curve = []
        for t in np.linspace(0.1, 0.9, 17):
            f = [q for q in qids if probs[q] >= t]
            tpt = sum(truth[q] for q in f)
            curve.append({"threshold": round(float(t), 3), "fail_share": round(len(f) / len(qids), 4),
                          "precision": round(tpt / len(f), 4) if f else None, "recall": round(tpt / max(sum(truth.values()), 1), 4)})
        result["validation"] = {
            "threshold": policy.validator.threshold, "target_precision": policy.validator.target_precision,
            "no_relevant_in_top5": sum(truth.values()), "failed": tp + fp,
            "precision": round(tp / (tp + fp), 4) if tp + fp else None, "recall": round(tp / (tp + fn), 4) if tp + fn else None,
            "curve": curve,
        }
        print(json.dumps({k: v for k, v in result["validation"].items() if k != "curve"}), file=sys.stderr)
    # ---------------- expansion (BM25 at query time; dense runs reused for hybrid)
    dense_test = {q: data["runs"][q]["dense"] for q in qids}
    exp = {"none": {"bm25": routing["ndcg@10"]["bm25"], "hybrid": routing["ndcg@10"]["hybrid"]}}
    exp["rm3 (10 docs, 10 terms, 0.5)"] = expanded_runs(coll, searcher, test.queries, qids, QueryExpansion(rm3=RM3()), dense_test, test.qrels)
    lines = mine_synonyms(test.corpus)
    syn_path = out / "scifact_abbreviations_synonyms.txt"
    syn_path.write_text("# mined from the SciFact corpus: 'long form (SF)' definitions seen at least twice\n" + "\n".join(lines) + "\n")
    train_qids = [q for q in train.queries if any(g > 0 for g in train.qrels.get(q, {}).values())]
    bm25_only = {}
    for w in (0.25, 0.5, 1.0):  # chosen on train, BM25 alone (the dense runs of train are not collected here)
        syn = Synonyms.load(syn_path, weight=w)
        retr = searcher.retrievers["bm25"]
        scores = []
        for q in train_qids:
            ranking = retr.search_expanded([train.queries[q]], 100, None, QueryExpansion(synonyms=syn))[0]
            hits, _ = assemble_hits(coll, {"bm25": ranking}, SearchOptions(mode="bm25", k=100))
            scores.append(ndcg10(_docs(hits), train.qrels[q]))
        bm25_only[w] = float(np.mean(scores))
    best_w = max(bm25_only, key=bm25_only.get)
    exp[f"synonyms ({len(lines)} mined pairs, weight {best_w} chosen on train)"] = expanded_runs(
        coll, searcher, test.queries, qids, QueryExpansion(synonyms=Synonyms.load(syn_path, weight=best_w)), dense_test, test.qrels)
    result["expansion"] = {"test_ndcg@10": {k: {m: round(v, 4) for m, v in d.items()} for k, d in exp.items()},
                           "synonym_weight_train_bm25_ndcg@10": {str(k): round(v, 4) for k, v in bm25_only.items()},
                           "synonym_pairs": len(lines)}
    print(json.dumps(result["expansion"], indent=1), file=sys.stderr)
    # ---------------- rerank gate
    if reranker is not None and policy.gate is not None:
        print("reranking the test candidates once ...", file=sys.stderr)
        gains = rerank_gains(searcher, data, test.queries, test.qrels, qids, RerankOptions(), progress=progress)
        first_ms = float(np.mean([data["ms"]["bm25"][i] + data["ms"]["dense"][i] for i in range(len(qids))]))
        probs = {q: policy.gate.model.probability(data["features"][q]) for q in qids}
        never = float(np.mean([gains["before"][q] for q in qids]))
        always = float(np.mean([gains["after"][q] for q in qids]))
        rr_ms = {q: gains["ms"][q] for q in qids}

        def at(t):  # the grid's curve point (ragsift.eval.gate), plus the latency of the queries reranked
            point = curve_point(gains["after"], gains["before"], probs, t)
            score = point["value"]
            on = [q for q in qids if probs[q] >= t]
            mean_ms = first_ms + sum(rr_ms[q] for q in on) / len(qids)
            kept = (score - never) / (always - never) if always != never else None
            return {"threshold": round(float(t), 4), "reranked": round(len(on) / len(qids), 4), "ndcg@10": round(score, 4),
                    "mean_latency_ms": round(mean_ms, 1), "gain_kept": round(kept, 4) if kept is not None else None}

        curve = [at(t) for t in sorted(set(np.round(np.linspace(0, 1, 41), 4)) | {policy.gate.threshold})]
        default = at(policy.gate.threshold)
        result["rerank_gate"] = {
            "settings": gains["settings"], "first_stage_mean_ms": round(first_ms, 1),
            "rerank_ms": {"mean": round(float(np.mean(list(rr_ms.values()))), 1), "p95": round(pct(list(rr_ms.values()), 95), 1)},
            "never": {"ndcg@10": round(never, 4), "mean_latency_ms": round(first_ms, 1)},
            "always": {"ndcg@10": round(always, 4), "mean_latency_ms": round(first_ms + float(np.mean(list(rr_ms.values()))), 1)},
            "gate (default threshold)": default,
            "compute_saved": round(1 - default["reranked"], 4),
            "curve": curve,
        }
        print(json.dumps({k: v for k, v in result["rerank_gate"].items() if k != "curve"}, indent=1), file=sys.stderr)
        try:
            import matplotlib

            matplotlib.use("Agg")
            import matplotlib.pyplot as plt

            fig, ax = plt.subplots(1, 2, figsize=(10, 4))
            xs = [c["reranked"] for c in curve]
            ax[0].plot([c["threshold"] for c in curve], [c["ndcg@10"] for c in curve], marker=".")
            ax[0].axvline(policy.gate.threshold, ls="--", c="grey")
            ax[0].set_xlabel("gate threshold (rerank when P(gain) >= t)")
            ax[0].set_ylabel("NDCG@10 (test)")
            ax[1].plot(xs, [c["ndcg@10"] for c in curve], marker=".")
            ax[1].scatter([default["reranked"]], [default["ndcg@10"]], c="red", zorder=3, label="default gate")
            ax[1].set_xlabel("share of queries reranked")
            ax[1].set_ylabel("NDCG@10 (test)")
            ax[1].legend()
            fig.suptitle("--rerank auto on SciFact test (gate trained on train)")
            fig.tight_layout()
            fig.savefig(out / "rerank_gate_curve.png", dpi=110)
        except ImportError:
            pass
    result["load_after"] = load()
    result["seconds"] = round(time.time() - started, 1)
    (out / "results.json").write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k not in ("rerank_gate", "validation")}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
