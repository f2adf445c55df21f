"""SciFact test through the Milvus backend vs the embedded collection: NDCG@10 and latency of each retriever.

Starts a milvus-lite server (:class:`ragsift.index.milvus_local.LocalMilvus`, a temporary data
directory), then runs the real ``ragsift eval`` twice on the test split, in this process's
Python: once over ``milvus://…/scifact`` (built by the eval: BM25 over ragsift's tokens, the
same bundled all-MiniLM-L6-v2 vectors, HNSW) with bm25, dense, hybrid (ragsift's RRF) and
hybrid-server (Milvus' hybrid_search, RRF k=60); once over an embedded collection (``--embedded
DIR``, reused when it exists, else built) with bm25, dense, hybrid. Prints the table, writes
bench/results/milvus_scifact.{json,md}, with the CPU and the load average.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/milvus_scifact.py --data ../shared/data/beir/scifact \
        --embedded /tmp/scifact-embedded
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from service_write import cpu_model  # bench/ is on sys.path when a script of it runs

RESULTS = Path(__file__).parent / "results"


def run_eval(data: str, collection: str, retrievers: str, out: Path) -> dict:
    cmd = [sys.executable, "-m", "ragsift.cli", "eval", "--data", data, "--split", "test", "--retrievers", retrievers,
           "--collection", collection, "--out", str(out), "-q"]
    start = time.perf_counter()
    subprocess.run(cmd, check=True)
    rows = json.loads((out / "results.json").read_text())["runs"]
    return {"wall_s": round(time.perf_counter() - start, 1), "command": " ".join(cmd[2:]),
            "runs": {r["retriever"]: {"ndcg@10": r["metrics"]["ndcg@10"], "recall@100": r["metrics"]["recall@100"],
                                      "p50_ms": r["latency_ms"]["p50"], "p95_ms": r["latency_ms"]["p95"]} for r in rows}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True)
    ap.add_argument("--embedded", required=True, help="embedded SciFact collection directory (built when missing)")
    args = ap.parse_args()
    from ragsift.index.milvus_local import LocalMilvus

    load_before = os.getloadavg()
    work = Path(tempfile.mkdtemp(prefix="milvus-scifact-"))
    with LocalMilvus(work / "milvus") as server:
        milvus = run_eval(args.data, server.uri("scifact"), "bm25,dense,hybrid,hybrid-server", work / "milvus-eval")
    embedded = run_eval(args.data, args.embedded, "bm25,dense,hybrid", work / "embedded-eval")
    meta = {"cpu": cpu_model(), "cores": os.cpu_count(), "loadavg_before": load_before, "loadavg_after": os.getloadavg(),
            "command": " ".join(sys.argv), "milvus_lite": _version("milvus-lite"), "pymilvus": _version("pymilvus")}
    lines = ["| retriever | embedded NDCG@10 | Milvus NDCG@10 | Δ | embedded p50 / p95 ms | Milvus p50 / p95 ms |",
             "|---|---|---|---|---|---|"]
    for name in ("bm25", "dense", "hybrid", "hybrid-server"):
        m = milvus["runs"].get(name)
        e = embedded["runs"].get("hybrid" if name == "hybrid-server" else name)
        if m is None or e is None:
            continue
        label = "hybrid (Milvus hybrid_search) vs embedded hybrid" if name == "hybrid-server" else name
        lines.append(f"| {label} | {e['ndcg@10']:.4f} | {m['ndcg@10']:.4f} | {m['ndcg@10'] - e['ndcg@10']:+.4f} | "
                     f"{e['p50_ms']:.1f} / {e['p95_ms']:.1f} | {m['p50_ms']:.1f} / {m['p95_ms']:.1f} |")
    table = "\n".join(lines)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "milvus_scifact.json").write_text(json.dumps({"meta": meta, "milvus": milvus, "embedded": embedded}, indent=2))
    (RESULTS / "milvus_scifact.md").write_text(
        f"{table}\n\nCPU: {meta['cpu']} ({meta['cores']} cores); load average before {load_before}, after "
        f"{meta['loadavg_after']}. milvus-lite {meta['milvus_lite']}, pymilvus {meta['pymilvus']}. "
        f"Build + eval wall: Milvus {milvus['wall_s']} s, embedded {embedded['wall_s']} s.\n"
    )
    print(table)


def _version(dist: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return None


if __name__ == "__main__":
    main()
