"""Scale: build, open and search a collection of many synthetic chunks; embedded at 1M, Milvus at 100k.

The text is synthetic so that the measurement is about the engine, not the model: each chunk is
``--words`` words on average (uniform in [0.5, 1.5] × that), drawn from SciFact's own word
frequencies (``--data``), with a 6-word title. The vectors are cheap but structured: 384-d, the
L2-normalized sum of a fixed random vector per word over a chunk's first 32 words (so similar
texts get similar vectors and HNSW has real neighbourhoods). Queries are 3–8 words drawn the
same way.

Measured, each step in a fresh process where it matters:

* build: ``Collection.add`` of every chunk in one call (BM25, vectors, commit with the HNSW graph
  and the BM25 score cache), its wall time and peak RSS;
* open: ``open_collection`` in a new process, then the first search's extra cost (reading the
  saved graph and score matrix), the RSS after both;
* search: p50/p95 of bm25 / dense / hybrid (RRF, depth 100 each, k=10) through
  :class:`ragsift.pipeline.search.Searcher`, one query at a time;
* add one document: ``Collection.add`` of one new chunk (commit included, as ``ragsift index``
  does it: the BM25 score cache is rewritten), three in a row; then three writes the way
  ``ragsift serve`` applies them (fork, add with the caches deferred, warm the fork's indexes);
* disk: the collection directory's size.

    .venv/bin/python bench/scale.py --data ../shared/data/beir/scifact --chunks 1000000 --dir /tmp/scale-1m
    .venv/bin/python bench/scale.py --data ../shared/data/beir/scifact --chunks 100000 --backend milvus

Prints a table; writes bench/results/scale_<backend>_<chunks>.{json,md} with the CPU and load average.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np
from service_write import DIM, HashEmbedder, cpu_model  # bench/ is on sys.path when a script of it runs

RESULTS = Path(__file__).parent / "results"
WORDS_PER_VECTOR = 32


def vocabulary(data: str) -> tuple[list[str], np.ndarray]:
    """SciFact's words (lowercased) and their probabilities."""
    from ragsift.ingest import load_beir_corpus

    counts: Counter[str] = Counter()
    for doc in load_beir_corpus(data):
        counts.update(re.findall(r"[a-z0-9]+(?:-[a-z0-9]+)*", f"{doc.title} {doc.text}".lower()))
    words = sorted(counts)
    freq = np.array([counts[w] for w in words], dtype=np.float64)
    return words, freq / freq.sum()


class TableEmbedder(HashEmbedder):
    """Cheap structured vectors: normalized sum of one fixed random vector per word (first 32 words)."""

    def __init__(self, words: list[str]):
        rng = np.random.default_rng(7)
        self.table = rng.standard_normal((len(words), DIM)).astype(np.float32)
        self.ids = {w: i for i, w in enumerate(words)}

    def _encode(self, texts) -> np.ndarray:
        out = np.zeros((len(texts), DIM), np.float32)
        for row, text in enumerate(texts):
            ids = [self.ids[w] for w in text.split()[:WORDS_PER_VECTOR] if w in self.ids]
            if ids:
                out[row] = self.table[ids].sum(axis=0)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.maximum(norms, 1e-9)


def synthetic(words: list[str], probs: np.ndarray, n: int, mean_words: int, seed: int, prefix: str = "s"):
    """``n`` Documents of synthetic text (one chunk each with chunking ``none``)."""
    from ragsift.types import Document

    rng = np.random.default_rng(seed)
    vocab = np.array(words, dtype=object)
    docs = []
    for start in range(0, n, 50_000):
        m = min(50_000, n - start)
        lengths = rng.integers(mean_words // 2, mean_words * 3 // 2 + 1, size=m)
        drawn = vocab[rng.choice(len(words), size=int(lengths.sum()) + 6 * m, p=probs)]
        at = 0
        for i, length in enumerate(lengths):
            title = " ".join(drawn[at: at + 6])
            text = " ".join(drawn[at + 6: at + 6 + length])
            at += 6 + int(length)
            docs.append(Document(f"{prefix}{start + i}", text, title))
    return docs


def queries(words: list[str], probs: np.ndarray, n: int) -> list[str]:
    rng = np.random.default_rng(11)
    # Queries favour rarer words, as real ones do: drawn from the square root of the frequencies.
    p = np.sqrt(probs)
    p /= p.sum()
    return [" ".join(rng.choice(words, size=int(rng.integers(3, 9)), p=p)) for _ in range(n)]


def rss_mb() -> dict[str, float]:
    out = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = round(int(value.split()[0]) / 1024, 1)
    return out


def disk_mb(path: str) -> float | None:
    if "://" in path:
        return None
    sizes = {}  # by inode: generations hard-link the segments they share
    for p in Path(path).rglob("*"):
        if p.is_file():
            st = p.stat()
            sizes[(st.st_dev, st.st_ino)] = st.st_size
    return round(sum(sizes.values()) / 2**20, 1)


def pct(values, q):
    return round(float(np.percentile(values, q)), 1)


def step_build(args) -> dict:
    from ragsift.index.backends import create_collection
    from ragsift.index.collection import CollectionConfig
    from ragsift.ingest import ChunkingConfig

    words, probs = vocabulary(args.data)
    start = time.perf_counter()
    docs = synthetic(words, probs, args.chunks, args.words, seed=1)
    gen_s = time.perf_counter() - start
    coll = create_collection(args.dir, CollectionConfig(dense=True, chunking=ChunkingConfig(mode="none")),
                             embedder=TableEmbedder(words))
    start = time.perf_counter()
    coll.add(docs, show_progress=True)
    build_s = time.perf_counter() - start
    return {"generate_s": round(gen_s, 1), "build_s": round(build_s, 1), "build_peak_rss_mb": rss_mb()["VmHWM"],
            "disk_mb": disk_mb(args.dir)}


def step_serve(args) -> dict:
    from ragsift.index.backends import open_collection
    from ragsift.pipeline.search import Searcher, SearchOptions

    words, probs = vocabulary(args.data)
    emb = TableEmbedder(words)
    base_rss = rss_mb()["VmRSS"]
    start = time.perf_counter()
    coll = open_collection(args.dir, embedder=emb)
    open_s = time.perf_counter() - start
    open_rss = rss_mb()["VmRSS"]
    searcher = Searcher(coll)
    start = time.perf_counter()
    searcher.search("warm up query", SearchOptions(mode="hybrid", k=10))
    first_s = time.perf_counter() - start
    qs = queries(words, probs, args.queries)
    out = {"open_s": round(open_s, 2), "first_search_s": round(first_s, 2),
           "rss_after_open_mb": round(open_rss - base_rss, 1)}
    for mode in ("bm25", "dense", "hybrid"):
        opts = SearchOptions(mode=mode, k=10)
        times = []
        for q in qs:
            t = time.perf_counter()
            searcher.search(q, opts)
            times.append((time.perf_counter() - t) * 1000)
        out[f"{mode}_p50_ms"], out[f"{mode}_p95_ms"] = pct(times, 50), pct(times, 95)
    out["rss_serving_mb"] = round(rss_mb()["VmRSS"] - base_rss, 1)
    out["rss_serving_process_mb"] = rss_mb()["VmRSS"]
    new = synthetic(words, probs, 3, args.words, seed=99, prefix="new")
    adds = []
    for doc in new:
        t = time.perf_counter()
        coll.add([doc])
        adds.append((time.perf_counter() - t) * 1000)
    hits = searcher.search(new[-1].text, SearchOptions(mode="bm25", k=3)).hits
    out["add_one_ms"] = [round(a, 1) for a in adds]
    out["added_doc_found"] = bool(hits) and hits[0].doc_id == new[-1].id
    if hasattr(coll, "fork") and "://" not in args.dir:
        # What `ragsift serve` does per write: fork, add with derived data deferred, build the
        # fork's indexes, swap. The score cache and the old generation's removal run after answering.
        served = []
        coll.defer_cleanup = True
        for doc in synthetic(words, probs, 3, args.words, seed=98, prefix="svc"):
            t = time.perf_counter()
            fork = coll.fork()
            fork.add([doc])
            fork.warm_up_indexes()
            served.append((time.perf_counter() - t) * 1000)
            coll = fork
            coll.write_caches()
            coll.remove_old_generations()
        out["service_write_ms"] = [round(a, 1) for a in served]
    out["peak_rss_mb"] = rss_mb()["VmHWM"]
    out["disk_mb_after_adds"] = disk_mb(args.dir)
    return out


def child(args, step: str) -> dict:
    out = Path(tempfile.mkdtemp()) / f"{step}.json"
    cmd = [sys.executable, __file__, "--step", step, "--step-out", str(out), "--data", args.data, "--chunks",
           str(args.chunks), "--words", str(args.words), "--queries", str(args.queries), "--dir", args.dir]
    subprocess.run(cmd, check=True)
    return json.loads(out.read_text())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, help="a BEIR dataset directory whose words the text is drawn from")
    ap.add_argument("--chunks", type=int, default=1_000_000)
    ap.add_argument("--words", type=int, default=100, help="mean words per chunk")
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--backend", choices=("embedded", "milvus"), default="embedded")
    ap.add_argument("--dir", help="collection directory (embedded; default: a temporary one, removed after)")
    ap.add_argument("--reuse", action="store_true", help="skip the build when --dir already holds a collection")
    ap.add_argument("--step", choices=("build", "serve"), help=argparse.SUPPRESS)
    ap.add_argument("--step-out", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.step:
        result = step_build(args) if args.step == "build" else step_serve(args)
        Path(args.step_out).write_text(json.dumps(result))
        return

    load_before = os.getloadavg()
    server = None
    temporary = None
    if args.backend == "milvus":
        from ragsift.index.milvus_local import LocalMilvus

        temporary = tempfile.mkdtemp(prefix="scale-milvus-")
        server = LocalMilvus(Path(temporary) / "milvus").start()
        args.dir = server.uri("scale")
    elif not args.dir:
        temporary = args.dir = tempfile.mkdtemp(prefix="scale-")
        shutil.rmtree(args.dir)
    try:
        exists = "://" not in args.dir and (Path(args.dir) / "manifest.json").exists()
        build = {"reused": True} if args.reuse and exists else child(args, "build")
        serve = child(args, "serve")
        if server is not None:  # the Milvus server's own memory and disk, next to the client's
            status = Path(f"/proc/{server.proc.pid}/status").read_text().splitlines()
            rss = {k: int(v.split()[0]) / 1024 for k, _, v in (line.partition(":") for line in status) if k in ("VmRSS", "VmHWM")}
            serve["server_rss_mb"], serve["server_peak_rss_mb"] = round(rss["VmRSS"], 1), round(rss["VmHWM"], 1)
            build["disk_mb"] = disk_mb(str(server.data_dir))
    finally:
        if server is not None:
            server.stop()
        if temporary:
            shutil.rmtree(temporary, ignore_errors=True)
    meta = {"cpu": cpu_model(), "cores": os.cpu_count(), "loadavg_before": load_before, "loadavg_after": os.getloadavg(),
            "command": " ".join(sys.argv), "backend": args.backend, "chunks": args.chunks, "mean_words": args.words,
            "queries": args.queries}
    result = {"meta": meta, "build": build, "serve": serve}
    RESULTS.mkdir(exist_ok=True)
    stem = f"scale_{args.backend}_{args.chunks}"
    (RESULTS / f"{stem}.json").write_text(json.dumps(result, indent=2))
    rows = [
        ("build (one add, commit incl. HNSW graph and score cache)", f"{build.get('build_s', '–')} s"),
        ("build peak RSS", f"{build.get('build_peak_rss_mb', '–')} MB"),
        ("open (new process)", f"{serve['open_s']} s"),
        ("first search after open (reads graph, score matrix)", f"{serve['first_search_s']} s"),
        ("RSS after open / while serving (above the interpreter)", f"{serve['rss_after_open_mb']} / {serve['rss_serving_mb']} MB"),
        ("bm25 p50 / p95", f"{serve['bm25_p50_ms']} / {serve['bm25_p95_ms']} ms"),
        ("dense p50 / p95", f"{serve['dense_p50_ms']} / {serve['dense_p95_ms']} ms"),
        ("hybrid p50 / p95", f"{serve['hybrid_p50_ms']} / {serve['hybrid_p95_ms']} ms"),
        ("add one document (3 in a row)", " / ".join(f"{a} ms" for a in serve["add_one_ms"])),
        ("added document found", str(serve["added_doc_found"])),
        ("a service write (fork, add, indexes; caches after answering)",
         " / ".join(f"{a} ms" for a in serve.get("service_write_ms", [])) or "–"),
        ("disk", f"{build.get('disk_mb', '–')} MB" + (" (milvus-lite data directory)" if server else "")),
    ]
    if "server_rss_mb" in serve:
        rows.append(("milvus-lite server RSS now / peak", f"{serve['server_rss_mb']} / {serve['server_peak_rss_mb']} MB"))
    md = (f"{args.chunks:,} chunks ({args.backend}), ~{args.words} words each, {args.queries} queries. "
          f"CPU: {meta['cpu']} ({meta['cores']} cores), load average before {load_before[0]:.2f}, after "
          f"{meta['loadavg_after'][0]:.2f}.\n\n| measure | value |\n|---|---|\n"
          + "\n".join(f"| {a} | {b} |" for a, b in rows) + "\n")
    (RESULTS / f"{stem}.md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()
