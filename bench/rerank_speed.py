"""Cross-encoder reranking throughput: ragsift (torch, ONNX fp32, ONNX int8) vs plain
``CrossEncoder.predict`` vs LangChain's ``CrossEncoderReranker``, side by side in one run.

Model: a 6-layer cross-encoder built locally from the bundled all-MiniLM-L6-v2 encoder with
``ragsift.rerank.build`` (its head is random; weights do not change speed). Everyone loads the
same folder.

Pairs: real SciFact text. The first test query (by sorted id) with 45 and 100 abstracts
(title + abstract) drawn at random from the corpus (``random.Random(0)``): the 45 are the first
45 of the 100.

Method: for each max_length, every method scores the same pairs, repeats are interleaved
(method A, B, C, ... then again) and the best of ``--repeats`` is kept (shared noisy CPU: the
minimum is the signal). Plain predict and LangChain use batch_size 32 (their default);
ragsift uses batch_size 32 as the upper bound of its length-aware batches.

Compute floor: FLOPs per pair from the actual token count ``n`` of that pair (after
truncation), per encoder layer with hidden size ``h`` and FFN size ``f``:

    8·n·h²   (Q, K, V and output projections)
  + 4·n·h·f  (the two FFN matmuls)
  + 4·n²·h   (QKᵀ and attention·V)

times the number of layers, plus the pooler and classifier (2h² + 2h, negligible). Padding is
not counted: the floor is the time of the useful work at the machine's measured fp32 peak (a
large square torch matmul, measured in this run). "% of floor" = floor time / measured time:
100 % would mean every cycle does useful fp32 math. int8 kernels can exceed 100 % against the
fp32 peak.

    .venv/bin/python bench/rerank_speed.py --data ../shared/data/beir/scifact

Prints a table and writes bench/results/rerank_speed.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

RESULTS = Path(__file__).parent / "results"
DEFAULT_CACHE = Path(os.environ.get("RAGSIFT_CACHE_DIR") or Path.home() / ".cache" / "ragsift") / "bench"


# -- shared with bench/rerank_latency.py ----------------------------------------------------------


def load_pairs(data_dir: str | Path, n: int, seed: int = 0) -> tuple[str, list[str]]:
    """The first test query (sorted id) and ``n`` random SciFact abstracts (title + text)."""
    data_dir = Path(data_dir)
    corpus = [json.loads(line) for line in (data_dir / "corpus.jsonl").open(encoding="utf-8")]
    queries = {q["_id"]: q["text"] for q in map(json.loads, (data_dir / "queries.jsonl").open(encoding="utf-8"))}
    test_ids = sorted(_test_query_ids(data_dir) or queries, key=lambda x: (len(x), x))
    docs = random.Random(seed).sample(corpus, n)
    return queries[test_ids[0]], [f"{d.get('title', '')} {d['text']}".strip() for d in docs]


def _test_query_ids(data_dir: Path) -> list[str]:
    qrels = data_dir / "qrels" / "test.tsv"
    if not qrels.is_file():
        return []
    lines = qrels.read_text(encoding="utf-8").splitlines()[1:]
    return sorted({line.split("\t")[0] for line in lines if line.strip()})


def build_model(num_layers: int, cache_dir: Path = DEFAULT_CACHE) -> Path:
    """A MiniLM cross-encoder with ``num_layers`` layers, built once into ``cache_dir``."""
    from ragsift.rerank.build import BUILD_MANIFEST, build_cross_encoder_from_encoder

    out = cache_dir / f"minilm-l{num_layers}-ce"
    if not (out / BUILD_MANIFEST).is_file():
        build_cross_encoder_from_encoder(None, out, num_layers=num_layers, seed=0)
    return out


def measure_peak_gflops(size: int = 2048, repeats: int = 8) -> float:
    """Best fp32 GFLOP/s of a ``size``² torch matmul with torch's current thread settings."""
    import torch

    a, b = torch.randn(size, size), torch.randn(size, size)
    a @ b
    best = min(_time(lambda: a @ b) for _ in range(repeats))
    return 2 * size**3 / best / 1e9


def pair_flops(tokens: int, layers: int, hidden: int, ffn: int) -> float:
    """FLOPs of one forward pass over ``tokens`` tokens (see the module docstring)."""
    per_layer = 8 * tokens * hidden**2 + 4 * tokens * hidden * ffn + 4 * tokens**2 * hidden
    return layers * per_layer + 2 * hidden**2 + 2 * hidden


def token_counts(model_dir: Path, query: str, docs: list[str], max_length: int) -> list[int]:
    """Tokens per pair after passage truncation to ``max_length``."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(model_dir), local_files_only=True)
    enc = tok([query] * len(docs), docs, truncation="only_second", max_length=max_length)
    return [len(ids) for ids in enc["input_ids"]]


def floor_seconds(model_dir: Path, counts: list[int], peak_gflops: float) -> float:
    config = json.loads((model_dir / "config.json").read_text())
    layers, hidden, ffn = config["num_hidden_layers"], config["hidden_size"], config["intermediate_size"]
    return sum(pair_flops(n, layers, hidden, ffn) for n in counts) / (peak_gflops * 1e9)


def machine_info() -> dict:
    import torch

    return {
        "cpu": platform.processor() or platform.machine(),
        "cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "load_avg_at_start": os.getloadavg() if hasattr(os, "getloadavg") else None,
    }


def _time(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


# -- this benchmark -------------------------------------------------------------------------------


def make_methods(model_dir: Path, max_length: int, batch_size: int) -> tuple[dict, object, object]:
    """(name -> callable(query, docs), ragsift torch reranker, CrossEncoder), all loaded and warm."""
    from langchain_classic.retrievers.document_compressors import CrossEncoderReranker as LCReranker
    from langchain_community.cross_encoders import HuggingFaceCrossEncoder
    from langchain_core.documents import Document
    from sentence_transformers import CrossEncoder

    from ragsift.rerank.cross_encoder import CrossEncoderReranker

    methods, rerankers = {}, {}
    for label, kwargs in [
        ("ragsift torch", {}),
        ("ragsift onnx fp32", {"backend": "onnx"}),
        ("ragsift onnx int8", {"backend": "onnx", "quantize": "int8"}),
    ]:
        r = rerankers[label] = CrossEncoderReranker(model_dir, max_length=max_length, batch_size=batch_size, **kwargs)
        r.warm_up()
        methods[label] = lambda q, d, r=r: r.rerank(q, d)
    ce = CrossEncoder(str(model_dir), max_length=max_length, local_files_only=True, device="cpu")
    methods["CrossEncoder.predict"] = lambda q, d: ce.predict([(q, x) for x in d], batch_size=32, show_progress_bar=False)
    hf = HuggingFaceCrossEncoder(
        model_name=str(model_dir), model_kwargs={"max_length": max_length, "local_files_only": True, "device": "cpu"}
    )
    lc = LCReranker(model=hf, top_n=10_000)
    methods["LangChain CrossEncoderReranker"] = lambda q, d: lc.compress_documents([Document(page_content=x) for x in d], q)
    for fn in methods.values():  # first-call costs out of the way
        fn("warm-up query", ["a short passage", "another, slightly longer passage about nothing"])
    return methods, rerankers["ragsift torch"], ce


def parity(ours, ce, query: str, docs: list[str]) -> float:
    """Largest |ragsift raw score - CrossEncoder.predict logit| on these pairs."""
    import torch

    logits = ce.predict([(query, x) for x in docs], activation_fn=torch.nn.Identity(), show_progress_bar=False)
    return max(abs(a - float(b)) for a, b in zip(ours.score(query, docs).raw, logits))


def run(args: argparse.Namespace) -> dict:
    model_dir = build_model(args.layers, Path(args.cache_dir))
    query, pool = load_pairs(args.data, max(args.pairs))
    peaks = [measure_peak_gflops()]
    print(f"model {model_dir} | query: {query!r} | fp32 peak {peaks[0]:.0f} GFLOP/s")
    measured = []
    for max_length in args.max_lengths:
        methods, ours, ce = make_methods(model_dir, max_length, args.batch_size)
        for n in args.pairs:
            docs = pool[:n]
            diff = parity(ours, ce, query, docs)
            counts = token_counts(model_dir, query, docs, max_length)
            peaks.append(measure_peak_gflops())
            times = {name: [] for name in methods}
            for _ in range(args.repeats):  # interleaved
                for name, fn in methods.items():
                    times[name].append(_time(lambda: fn(query, docs)))
            print(f"max_length {max_length}, {n} pairs: best " + ", ".join(
                f"{k} {min(v):.2f} s" for k, v in times.items()), flush=True)  # fmt: skip
            measured.append((max_length, n, counts, diff, times))
    # The floor uses the best peak seen in the run: contention only ever lowers a measurement.
    peak = max(peaks + [measure_peak_gflops()])
    rows = [row for m in measured for row in summarize(m, model_dir, peak)]
    return {
        "benchmark": "rerank_speed",
        "model": str(model_dir),
        "layers": args.layers,
        "query": query,
        "pairs_source": "first SciFact test query + random abstracts (random.Random(0)); 45 = first 45 of 100",
        "repeats": args.repeats,
        "batch_size": args.batch_size,
        "peak_fp32_gflops": peak,
        "peak_measurements_gflops": peaks,
        "machine": machine_info(),
        "rows": rows,
    }


def summarize(measured: tuple, model_dir: Path, peak: float) -> list[dict]:
    """One row per method for one (max_length, pairs) block."""
    max_length, n, counts, diff, times = measured
    floor = floor_seconds(model_dir, counts, peak)
    base = min(times["CrossEncoder.predict"])
    return [
        {
            "max_length": max_length,
            "pairs": n,
            "mean_tokens": sum(counts) / n,
            "method": name,
            "best_s": min(ts),
            "median_s": sorted(ts)[len(ts) // 2],
            "pairs_per_s": n / min(ts),
            "vs_predict": base / min(ts),
            "floor_s": floor,
            "pct_of_floor": 100 * floor / min(ts),
            "max_abs_diff_vs_predict_logits": diff if name == "ragsift torch" else None,
        }
        for name, ts in times.items()
    ]


HEADER = "| max_length | pairs | mean tokens | method | best s | median s | pairs/s | × predict | floor s | % of floor |"


def _format_row(r: dict) -> str:
    return (
        f"| {r['max_length']} | {r['pairs']} | {r['mean_tokens']:.0f} | {r['method']} | {r['best_s']:.2f} | {r['median_s']:.2f} | "
        f"{r['pairs_per_s']:.1f} | {r['vs_predict']:.2f} | {r['floor_s']:.2f} | {r['pct_of_floor']:.0f} % |"
    )


def to_markdown(result: dict) -> str:
    lines = [
        "# Cross-encoder rerank throughput",
        "",
        f"Model: MiniLM-L{result['layers']} cross-encoder built with ragsift.rerank.build (random head). "
        f"Pairs: {result['pairs_source']}. Best of {result['repeats']} interleaved repeats. "
        f"fp32 peak (torch 2048² matmul, best of the {len(result['peak_measurements_gflops'])} measurements "
        f"taken during this run): {result['peak_fp32_gflops']:.0f} GFLOP/s. "
        f"Machine: {result['machine']['cores']} cores, torch threads {result['machine']['torch_threads']}, "
        f"load average at start {result['machine']['load_avg_at_start']} (other processes may share the CPU).",
        "",
        HEADER,
        "|---|---|---|---|---|---|---|---|---|---|",
        *(_format_row(r) for r in result["rows"]),
        "",
        "Floor = FLOPs of the real tokens (no padding) / measured fp32 peak; see bench/rerank_speed.py. "
        "× predict and % of floor use the best time. ragsift torch vs predict logits, max |diff|: "
        + ", ".join(
            f"{r['max_length']}/{r['pairs']}: {r['max_abs_diff_vs_predict_logits']:.1e}"
            for r in result["rows"] if r["method"] == "ragsift torch"
        )
        + ".",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, help="SciFact BEIR directory")
    ap.add_argument("--pairs", type=int, nargs="+", default=[45, 100])
    ap.add_argument("--max-lengths", type=int, nargs="+", default=[512, 256])
    ap.add_argument("--layers", type=int, default=6)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--cache-dir", default=str(DEFAULT_CACHE), help="where built models are kept")
    args = ap.parse_args()
    result = run(args)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "rerank_speed.json").write_text(json.dumps(result, indent=2) + "\n")
    markdown = to_markdown(result)
    (RESULTS / "rerank_speed.md").write_text(markdown)
    print(markdown)


if __name__ == "__main__":
    main()
