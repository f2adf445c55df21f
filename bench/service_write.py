"""One ``POST /v1/documents`` at 100k documents, and search latency while it runs: this code vs a git ref.

The service applies a write to the served collection. Before issue 10 it re-opened the whole
collection from disk for every write (copy-on-write by re-reading); now it forks the in-memory
state (shared arrays, copied containers), applies the change under the writer lock and swaps the
fork in. This script measures both in one run, on the same data and machine:

* builds a collection of ``--docs`` SciFact documents (the corpus replicated, ``chunking=none``),
  once BM25-only and once with 384-d vectors from a cheap hashing embedder (so that building
  100k vectors takes seconds, not hours; the write path is the same as with a real model);
* serves it with the real app under uvicorn on 127.0.0.1 (in a thread of this process);
* measures search latency when idle, then posts ``--writes`` single documents one after the
  other while a reader process searches continuously, and records each POST's latency, the
  searches that ran during writes, and that each written document is found right after;
* runs itself a second time under ``PYTHONPATH`` of a checkout of ``--ref`` (the code before),
  so both rows come from one run.

    .venv/bin/python bench/service_write.py --data ../shared/data/beir/scifact --docs 100000 --ref f453162

Prints a table; writes bench/results/service_write.{json,md}. Reports the CPU and load average.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).parent / "results"
DIM = 384


class HashEmbedder:
    """Deterministic bag-of-hashed-words vectors (L2-normalized): cheap stand-in for a model."""

    dim = DIM
    max_seq_length = 256

    def load(self) -> None:
        pass

    def _encode(self, texts):
        out = np.zeros((len(texts), DIM), np.float32)
        for row, text in enumerate(texts):
            for word in text.lower().split()[:256]:
                h = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=8).digest(), "little")
                out[row, h % DIM] += 1.0 if (h >> 32) & 1 else -1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.maximum(norms, 1e-9)

    def encode_documents(self, texts, *, show_progress=False, batch_size=None):
        return self._encode(list(texts))

    def encode_queries(self, texts, *, batch_size=None):
        return self._encode(list(texts))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pct(values, q):
    return float(np.percentile(values, q)) if values else None


def measure(data: str, docs: int, writes: int, dense: bool) -> dict:
    import httpx
    import uvicorn

    from ragsift.index.collection import Collection, CollectionConfig
    from ragsift.ingest import ChunkingConfig, load_beir_corpus
    from ragsift.rerank.identity import FirstStageReranker
    from ragsift.service import ServiceSettings, create_app
    from ragsift.types import Document

    base = load_beir_corpus(data)
    corpus = [Document(f"{d.id}-{i // len(base)}", d.text, d.title) for i, d in ((i, base[i % len(base)]) for i in range(docs))]
    tmp = tempfile.mkdtemp(prefix="svc-write-")
    config = CollectionConfig(dense=dense, chunking=ChunkingConfig(mode="none"))
    start = time.perf_counter()
    coll = Collection.create(Path(tmp) / "c", config, embedder=HashEmbedder() if dense else None)
    coll.add(corpus)
    build_s = time.perf_counter() - start
    del corpus
    settings = ServiceSettings(log_json=False, log_level="warning", request_timeout_s=600)
    app = create_app(settings, reranker=FirstStageReranker(), collection=coll)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    mode = "hybrid" if dense else "bm25"
    with httpx.Client(base_url=url, timeout=600) as client:
        while True:
            try:
                if client.get("/v1/health/ready").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.2)

        def search(query="cell biology protein expression"):
            t = time.perf_counter()
            r = client.post("/v1/search", json={"query": query, "mode": mode, "k": 10})
            assert r.status_code == 200, r.text
            return (time.perf_counter() - t) * 1000, [h["doc_id"] for h in r.json()["hits"]]

        idle = [search()[0] for _ in range(30)]
        # The reader is another process, as clients are: in this one it would compete with the
        # server's threads for the GIL and slow the write it measures.
        ctx = multiprocessing.get_context("spawn")
        stop, searching, results = ctx.Event(), ctx.Event(), ctx.Queue()
        rt = ctx.Process(target=reader, args=(url, mode, stop, searching, results))
        rt.start()
        searching.wait(120)
        post_ms, found = [], 0
        try:
            for i in range(writes):
                text = f"zqxwriteprobe{i} a brand new document about unusual quantum gardening number {i}"
                t = time.perf_counter()
                r = client.post("/v1/documents", json={"documents": [{"id": f"new-{i}", "text": text}]})
                post_ms.append((time.perf_counter() - t) * 1000)
                assert r.status_code == 200, r.text
                found += f"new-{i}" in search(f"zqxwriteprobe{i}")[1]
        finally:
            stop.set()
            during = results.get(timeout=120)
            rt.join(60)
    server.should_exit = True
    thread.join(30)
    return {
        "dense": dense,
        "documents": docs,
        "build_s": round(build_s, 1),
        "post_ms": [round(x, 1) for x in post_ms],
        "post_p50_ms": round(statistics.median(post_ms), 1),
        "post_max_ms": round(max(post_ms), 1),
        "search_idle_p50_ms": round(pct(idle, 50), 1),
        "search_idle_p95_ms": round(pct(idle, 95), 1),
        "searches_during_writes": len(during),
        "search_during_p50_ms": round(pct(during, 50), 1),
        "search_during_p95_ms": round(pct(during, 95), 1),
        "search_during_max_ms": round(max(during), 1),
        "written_found": f"{found}/{writes}",
    }


def reader(url: str, mode: str, stop, searching, results) -> None:
    """Search in a loop until ``stop`` is set (``searching`` once it runs); put the latencies (ms) on ``results``."""
    import httpx

    during = []
    with httpx.Client(base_url=url, timeout=600) as client:
        while not stop.is_set():
            t = time.perf_counter()
            client.post("/v1/search", json={"query": "cell biology protein expression", "mode": mode, "k": 10})
            during.append((time.perf_counter() - t) * 1000)
            searching.set()
    results.put(during)


def run_child(args, src: str | None, label: str) -> list[dict]:
    out = Path(tempfile.mkdtemp()) / "out.json"
    env = dict(os.environ)
    if src:
        env["PYTHONPATH"] = src
    cmd = [sys.executable, __file__, "--child", str(out), "--data", args.data, "--docs", str(args.docs),
           "--writes", str(args.writes)]
    subprocess.run(cmd, check=True, env=env)
    rows = json.loads(out.read_text())
    for row in rows:
        row["code"] = label
    return rows


def checkout(ref: str) -> str:
    root = Path(__file__).resolve().parents[1]
    work = Path(tempfile.mkdtemp(prefix="ragsift-ref-"))
    subprocess.run(["git", "-C", str(root), "worktree", "add", "--detach", str(work), ref], check=True, capture_output=True)
    return str(work / "src")


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True)
    ap.add_argument("--docs", type=int, default=100_000)
    ap.add_argument("--writes", type=int, default=5)
    ap.add_argument("--ref", help="git ref of the code to compare against (e.g. the commit before the change)")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        rows = [measure(args.data, args.docs, args.writes, dense) for dense in (False, True)]
        Path(args.child).write_text(json.dumps(rows))
        return
    load_before = os.getloadavg()
    rows = []
    if args.ref:
        src = checkout(args.ref)
        try:
            rows += run_child(args, src, f"before ({args.ref})")
        finally:
            root = Path(__file__).resolve().parents[1]
            subprocess.run(["git", "-C", str(root), "worktree", "remove", "--force", str(Path(src).parent)], check=False)
    rows += run_child(args, str(Path(__file__).resolve().parents[1] / "src"), "after (this tree)")
    meta = {"cpu": cpu_model(), "cores": os.cpu_count(), "loadavg_before": load_before, "loadavg_after": os.getloadavg(),
            "command": " ".join(sys.argv)}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "service_write.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=2))
    head = ("| code | vectors | POST p50 ms | POST max ms | search idle p50/p95 ms | search during writes p50/p95/max ms "
            "(n) | written doc found |\n|---|---|---|---|---|---|---|")
    lines = [head]
    for r in rows:
        lines.append(
            f"| {r['code']} | {'hash 384-d, flat' if r['dense'] else 'none (BM25)'} | {r['post_p50_ms']} | "
            f"{r['post_max_ms']} | {r['search_idle_p50_ms']} / {r['search_idle_p95_ms']} | {r['search_during_p50_ms']} / "
            f"{r['search_during_p95_ms']} / {r['search_during_max_ms']} ({r['searches_during_writes']}) | "
            f"{r['written_found']} |"
        )
    md = (f"{args.docs:,} documents, {args.writes} single-document POSTs each. CPU: {meta['cpu']} ({meta['cores']} cores), "
          f"load average before {load_before[0]:.2f}, after {meta['loadavg_after'][0]:.2f}.\n\n" + "\n".join(lines) + "\n")
    (RESULTS / "service_write.md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()
