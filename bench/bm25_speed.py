"""BM25 stage speed: ragsift vs bm25s called directly vs rank_bm25 (LangChain's BM25Retriever).

Same corpus, same queries, one query at a time (as a service sees them), top-100, in one run.
Prints a table and writes bench/results/bm25_speed.{json,md}.

    .venv/bin/python bench/bm25_speed.py --data ../shared/data/beir/scifact
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).parent / "results"


def best_of(fn, repeats: int) -> float:
    """Best wall time of ``repeats`` runs (noisy shared machines: the minimum is the signal)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, help="BEIR directory")
    ap.add_argument("--split", default="test")
    ap.add_argument("-k", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--rank-bm25-queries", type=int, default=300, help="queries for the slow rank_bm25 baseline")
    args = ap.parse_args()

    import bm25s
    import Stemmer
    from rank_bm25 import BM25Okapi

    from ragsift.index.analyzers import get_analyzer
    from ragsift.index.sparse import SparseIndex
    from ragsift.ingest import load_beir

    data = load_beir(args.data, split=args.split)
    texts = [f"{d.title}\n{d.text}" for d in data.corpus]
    queries = [data.queries[q] for q in sorted(data.queries)]
    k = args.k
    print(f"{data.name}: {len(texts)} docs, {len(queries)} queries, top-{k}, best of {args.repeats}")

    analyzer = get_analyzer("en")
    ours = SparseIndex(analyzer)
    start = time.perf_counter()
    ours.add(texts)
    t_index_ours = time.perf_counter() - start

    stemmer = Stemmer.Stemmer("english")
    start = time.perf_counter()
    ref = bm25s.BM25()
    ref.index(bm25s.tokenize(texts, stopwords="en", stemmer=stemmer, show_progress=False), show_progress=False)
    t_index_bm25s = time.perf_counter() - start

    corpus_tokens = [analyzer(t) for t in texts]
    start = time.perf_counter()
    okapi = BM25Okapi(corpus_tokens)
    t_index_rank = time.perf_counter() - start

    def run_ours():
        for q in queries:
            ours.search(q, k)

    def run_bm25s():
        for q in queries:
            toks = bm25s.tokenize(q, stopwords="en", stemmer=stemmer, show_progress=False)
            ref.retrieve(toks, k=k, show_progress=False, n_threads=0)

    pretokenized = [bm25s.tokenize(q, stopwords="en", stemmer=stemmer, show_progress=False) for q in queries]

    def run_bm25s_scoring_only():
        for toks in pretokenized:
            ref.retrieve(toks, k=k, show_progress=False, n_threads=0)

    rank_queries = queries[: args.rank_bm25_queries]

    def run_rank():
        for q in rank_queries:
            scores = okapi.get_scores(analyzer(q))
            np.argsort(-scores)[:k]

    t_ours = best_of(run_ours, args.repeats)
    t_bm25s = best_of(run_bm25s, args.repeats)
    t_floor = best_of(run_bm25s_scoring_only, args.repeats)
    t_rank = best_of(run_rank, 1)

    qps = {
        "ragsift": len(queries) / t_ours,
        "bm25s (direct)": len(queries) / t_bm25s,
        "bm25s retrieve only (query pre-tokenized)": len(queries) / t_floor,
        "rank_bm25": len(rank_queries) / t_rank,
    }
    index_s = {
        "ragsift": t_index_ours,
        "bm25s (direct)": t_index_bm25s,
        "bm25s retrieve only (query pre-tokenized)": t_index_bm25s,
        "rank_bm25": t_index_rank,
    }
    overhead = qps["bm25s (direct)"] / qps["ragsift"] - 1.0
    speedup = qps["ragsift"] / qps["rank_bm25"]

    # Agreement: top-10 overlap between ragsift and rank_bm25 on the same tokens.
    overlaps = []
    for q in rank_queries[:100]:
        mine = set(ours.search(q, 10)[0].tolist())
        theirs = set(np.argsort(-okapi.get_scores(analyzer(q)))[:10].tolist())
        overlaps.append(len(mine & theirs) / 10)

    rows = [
        (name, qps[name], 1000.0 / qps[name], index_s[name], qps[name] / qps["rank_bm25"])
        for name in qps
    ]
    header = "| implementation | queries/s | ms/query | index build (s) | × rank_bm25 |\n|---|---|---|---|---|"
    table = "\n".join([header] + [f"| {n} | {q:,.0f} | {ms:.2f} | {ix:.2f} | {x:.1f}× |" for n, q, ms, ix, x in rows])
    summary = (
        f"ragsift vs rank_bm25: **{speedup:.1f}× faster**; overhead vs bm25s direct: **{overhead * 100:+.1f}%** "
        f"(target ≤ 15%); top-10 overlap with rank_bm25 (same tokens, k1=1.5 b=0.75): {np.mean(overlaps):.3f}"
    )
    print(table)
    print(summary)

    RESULTS.mkdir(exist_ok=True)
    payload = {
        "dataset": data.name,
        "docs": len(texts),
        "queries": len(queries),
        "rank_bm25_queries": len(rank_queries),
        "k": k,
        "qps": qps,
        "index_seconds": index_s,
        "speedup_vs_rank_bm25": speedup,
        "overhead_vs_bm25s": overhead,
        "top10_overlap_vs_rank_bm25": float(np.mean(overlaps)),
        "machine": platform.platform(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    (RESULTS / "bm25_speed.json").write_text(json.dumps(payload, indent=2))
    (RESULTS / "bm25_speed.md").write_text(f"{table}\n\n{summary}\n")


if __name__ == "__main__":
    main()
