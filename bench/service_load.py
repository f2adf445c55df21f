"""Service under concurrent load: micro-batching on vs off, and what happens past the queue bound.

For each mode (``micro_batching`` on, then off) the script starts the real service in its own
process (``ragsift.service.run`` under uvicorn on 127.0.0.1, a free port) serving the same
cross-encoder: ``--model-dir`` (e.g. a trained model), else a MiniLM cross-encoder built locally
with :func:`ragsift.rerank.build.build_cross_encoder_from_encoder` (``--layers``, default 6;
random head: weights do not change speed), at ``--max-length`` 256 with ``--backend`` (default:
the CPU default of :func:`ragsift.rerank.cross_encoder.cpu_default_backend`, reported).
A separate process (this one) is the load generator: ``httpx.AsyncClient`` with N concurrent
clients, each posting NIM ``/v1/ranking`` requests of ``--passages`` (45) passages back to back
for ``--duration`` seconds (and at most ``--requests`` requests per step, for smoke runs), for N
in ``--clients`` (1 4 16); requests in flight at the deadline are awaited, so a step lasts
``duration`` plus the drain. Then one overload step with ``--overload-clients`` (64; 0: none)
clients against ``--queue-max`` (16) waiting requests.

With micro-batching on, the requests collected in one model turn (up to ``--batch-max-size``
pairs: 180 = four requests of 45) are scored by one ``score_many`` call, so the pairs of
different queries share length-sorted forward passes; off, every request is its own turn.

Passages are SciFact abstracts (title + text) from ``--data`` with the test queries, one
(query, 45 random abstracts) body per request, cycled; a synthetic corpus stands in when the
data is absent (reported). ``truncate=END``: long abstracts are cut at ``max_length``.

Recorded per step: requests/s (completed requests / step wall time, drain included), p50/p95/p99
latency of the 200s, the count by status (and timeouts or transport errors), ``lost`` (requests
that got no complete answer: timeouts, transport errors, truncated bodies), the 1-minute load
average at the end of the step, and from the server's ``/v1/metrics`` the mean requests per model
turn (how much the batcher actually merged) and forward passes per request
(``ragsift_model_forward_passes_total``). The report gives the on/off throughput ratio per client
count and whether it reaches ``--target-speedup`` (1.5) at the largest one. The machine section
names the CPU model, its relevant flags and the load average at start and end.

Checks (in the JSON and the report):

* ``within_bound``: steps with N ≤ ``queue_max`` clients: every request answered 200 — none lost,
  none failed;
* ``overload``: past the bound, every answer is 200, 429 or 503; every 429/503 carries
  ``Retry-After``; at least one 429 was returned; no request timed out or hung (every request
  completed within ``--request-timeout``, the client's limit). Overload clients sleep
  ``min(Retry-After, --max-backoff)`` after a 429/503, as a well-behaved client would.

Loops are bounded by time and count; all traffic goes to 127.0.0.1. Run from the repository root::

    .venv/bin/python bench/service_load.py --data ../shared/data/beir/scifact --duration 10

Prints a side-by-side table and writes ``<--out>/<--name>.{json,md}`` (default
bench/results/service_load). A smoke run that checks the script end to end in about a minute::

    .venv/bin/python bench/service_load.py --layers 1 --requests 4 --duration 2 --clients 1 4 \
        --overload-clients 0 --out /tmp/service-load-smoke
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results"
DEFAULT_CACHE = Path(os.environ.get("RAGSIFT_CACHE_DIR") or Path.home() / ".cache" / "ragsift") / "bench"
SERVED_NAME = "ragsift/minilm-ce"
MAX_REQUESTS_PER_STEP = 100_000  # a safety cap on top of the time bound
READY_TIMEOUT_S = 300.0


# ---------------------------------------------------------------------------- workload


def load_workload(data_dir: Path | None, n_bodies: int, passages: int, seed: int = 0) -> tuple[list[dict], str]:
    """``n_bodies`` NIM request bodies (query + ``passages`` texts) and a description of the source."""
    rng = random.Random(seed)
    if data_dir is not None and (data_dir / "corpus.jsonl").is_file():
        corpus = [json.loads(line) for line in (data_dir / "corpus.jsonl").open(encoding="utf-8")]
        from ragsift.types import passage_text

        texts = [passage_text(d.get("title", ""), d["text"]) for d in corpus]  # what the Searcher sends a reranker
        queries = [json.loads(line)["text"] for line in (data_dir / "queries.jsonl").open(encoding="utf-8")]
        source = f"SciFact ({data_dir}): {len(texts)} abstracts, {len(queries)} queries"
    else:
        texts, queries = synthetic_corpus(rng)
        source = f"synthetic corpus (no SciFact at {data_dir}): {len(texts)} passages of ~180 words"
    bodies = []
    for i in range(n_bodies):
        query = queries[rng.randrange(len(queries))]
        chosen = rng.sample(texts, passages)
        bodies.append(
            {"model": SERVED_NAME, "query": {"text": query}, "passages": [{"text": t} for t in chosen], "truncate": "END"}
        )
    return bodies, source


def synthetic_corpus(rng: random.Random) -> tuple[list[str], list[str]]:
    words = [
        "cell", "protein", "gene", "expression", "patients", "risk", "cancer", "therapy", "mice", "receptor",
        "signal", "pathway", "increase", "reduced", "clinical", "trial", "cohort", "associated", "levels", "tissue",
        "immune", "response", "mutation", "binding", "activity", "model", "human", "disease", "effect", "study",
    ]
    texts = [" ".join(rng.choice(words) for _ in range(180)) + "." for _ in range(2000)]
    queries = [" ".join(rng.choice(words) for _ in range(8)) for _ in range(200)]
    return texts, queries


# ---------------------------------------------------------------------------- the server process


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve_main(args: argparse.Namespace) -> None:
    """``--serve``: run the real service (this is the server subprocess)."""
    from ragsift.service import ServiceSettings, run

    settings = ServiceSettings(
        host="127.0.0.1",
        port=args.port,
        reranker_type=args.reranker_type,
        reranker_model=str(args.model),
        served_model_name=SERVED_NAME,
        max_length=args.max_length if args.reranker_type == "cross-encoder" else None,
        reranker_backend=args.backend if args.reranker_type == "cross-encoder" else None,
        micro_batching=args.micro_batching == "on",
        queue_max=args.queue_max,
        batch_max_size=args.batch_max_size,
        batch_max_wait_ms=args.batch_max_wait_ms,
        request_timeout_s=args.server_timeout,
        log_json=True,
        log_level="warning",
    )
    run(settings)


class Server:
    """The service in a subprocess; ``with Server(...) as base_url``."""

    def __init__(self, args: argparse.Namespace, model_dir: Path, micro_batching: str, log_dir: Path):
        self.port = free_port()
        self.log_path = log_dir / f"server-batching-{micro_batching}.log"
        self.command = [
            sys.executable, str(Path(__file__).resolve()), "--serve",
            "--model", str(model_dir), "--port", str(self.port), "--micro-batching", micro_batching,
            "--max-length", str(args.max_length), "--queue-max", str(args.queue_max),
            "--batch-max-size", str(args.batch_max_size), "--batch-max-wait-ms", str(args.batch_max_wait_ms),
            "--server-timeout", str(args.server_timeout), "--backend", args.backend,
            "--reranker-type", args.reranker_type,
        ]  # fmt: skip
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> str:
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
        self._log = self.log_path.open("w")
        self.proc = subprocess.Popen(self.command, stdout=self._log, stderr=subprocess.STDOUT, env=env)
        base = f"http://127.0.0.1:{self.port}"
        self._wait_ready(base)
        return base

    def _wait_ready(self, base: str) -> None:
        import httpx

        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.tail()}")
            try:
                if httpx.get(f"{base}/v1/health/ready", timeout=2.0).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.5)
        raise RuntimeError(f"server not ready after {READY_TIMEOUT_S} s:\n{self.tail()}")

    def tail(self, n: int = 30) -> str:
        self._log.flush()
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])

    def __exit__(self, *exc) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # graceful: drain, then exit
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=30)
        self._log.close()


# ---------------------------------------------------------------------------- the load generator


async def run_step(base: str, bodies: list[dict], clients: int, duration: float, args: argparse.Namespace) -> dict:
    """``clients`` concurrent clients posting back to back for ``duration`` s; every request awaited."""
    import httpx

    records: list[dict] = []
    limits = httpx.Limits(max_connections=clients + 4, max_keepalive_connections=clients + 4)
    timeout = httpx.Timeout(args.request_timeout, connect=10.0)
    before = await scrape(base)
    cap = min(MAX_REQUESTS_PER_STEP, args.requests or MAX_REQUESTS_PER_STEP)
    sent = [0]  # requests started in this step (shared by the clients)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=timeout) as client:
        start = time.perf_counter()
        deadline = start + duration

        async def one_client(i: int) -> None:
            n = i
            while time.perf_counter() < deadline and sent[0] < cap:
                sent[0] += 1
                record = await post(client, bodies[n % len(bodies)])
                records.append(record)
                n += clients
                if record["status"] in (429, 503):
                    await asyncio.sleep(min(record["retry_after"] or 1.0, args.max_backoff))

        await asyncio.gather(*(one_client(i) for i in range(clients)))
        wall = time.perf_counter() - start
    after = await scrape(base)
    return summarize(records, clients, wall, before, after)


async def post(client, body: dict) -> dict:
    import httpx

    start = time.perf_counter()
    try:
        response = await client.post("/v1/ranking", json=body)
    except httpx.TimeoutException:
        return {"status": "timeout", "latency": time.perf_counter() - start, "retry_after": None}
    except httpx.TransportError as exc:
        return {"status": f"transport:{type(exc).__name__}", "latency": time.perf_counter() - start, "retry_after": None}
    latency = time.perf_counter() - start
    retry_after = response.headers.get("retry-after")
    ok_body = response.status_code != 200 or len(response.json().get("rankings", ())) == len(body["passages"])
    return {
        "status": response.status_code if ok_body else "incomplete",
        "latency": latency,
        "retry_after": float(retry_after) if retry_after is not None else None,
    }


async def scrape(base: str) -> dict[str, float]:
    """Batch sums and counts and the forward-pass counter from ``/v1/metrics``."""
    import httpx

    async with httpx.AsyncClient(base_url=base, timeout=10.0) as client:
        text = (await client.get("/v1/metrics")).text
    out = {}
    names = (
        "ragsift_batch_requests_sum", "ragsift_batch_requests_count", "ragsift_batch_pairs_sum",
        "ragsift_model_forward_passes_total",
    )
    for name in names:
        match = re.search(rf"^{name} ([0-9.eE+-]+)$", text, re.MULTILINE)
        out[name] = float(match.group(1)) if match else 0.0
    return out


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100.0
    lo, hi = int(pos), min(int(pos) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def summarize(records: list[dict], clients: int, wall: float, before: dict, after: dict) -> dict:
    ok = [r["latency"] for r in records if r["status"] == 200]
    statuses: dict[str, int] = {}
    for r in records:
        statuses[str(r["status"])] = statuses.get(str(r["status"]), 0) + 1
    rejected = [r for r in records if r["status"] in (429, 503)]
    turns = after["ragsift_batch_requests_count"] - before["ragsift_batch_requests_count"]
    served = after["ragsift_batch_requests_sum"] - before["ragsift_batch_requests_sum"]
    passes = after["ragsift_model_forward_passes_total"] - before["ragsift_model_forward_passes_total"]
    return {
        "clients": clients,
        "requests": len(records),
        "ok": len(ok),
        "wall_s": round(wall, 2),
        "ok_per_s": round(len(ok) / wall, 3) if wall else None,
        "p50_ms": _ms(percentile(ok, 50)),
        "p95_ms": _ms(percentile(ok, 95)),
        "p99_ms": _ms(percentile(ok, 99)),
        "max_ms": _ms(max(ok) if ok else None),
        "statuses": statuses,
        "rejected_p50_ms": _ms(percentile([r["latency"] for r in rejected], 50)),
        "rejected_without_retry_after": sum(1 for r in rejected if r["retry_after"] is None),
        "max_latency_any_ms": _ms(max((r["latency"] for r in records), default=None)),
        "requests_per_model_turn": round(served / turns, 2) if turns else None,
        "forward_passes_per_request": round(passes / served, 2) if served else None,
        "lost": sum(1 for r in records if not isinstance(r["status"], int)),
        "load_avg_1m_at_end": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
    }


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000.0, 1)


# ---------------------------------------------------------------------------- checks and report


def check_within_bound(step: dict, queue_max: int) -> dict:
    bad = {s: n for s, n in step["statuses"].items() if s != "200"}
    return {
        "clients": step["clients"],
        "applies": step["clients"] <= queue_max,
        "passed": not bad and step["ok"] == step["requests"] > 0,
        "non_200": bad,
    }


def check_overload(step: dict, timeout_s: float) -> dict:
    allowed = {"200", "429", "503"}
    unexpected = {s: n for s, n in step["statuses"].items() if s not in allowed}
    problems = []
    if unexpected:
        problems.append(f"unexpected outcomes {unexpected}")
    if step["rejected_without_retry_after"]:
        problems.append(f"{step['rejected_without_retry_after']} 429/503 without Retry-After")
    if not step["statuses"].get("429"):
        problems.append("no 429: the queue bound was never reached")
    if step["max_latency_any_ms"] is not None and step["max_latency_any_ms"] >= timeout_s * 1000:
        problems.append("a request ran into the client timeout")
    return {"clients": step["clients"], "passed": not problems, "problems": problems}


def run_mode(args, model_dir: Path, mode: str, bodies: list[dict], log_dir: Path) -> dict:
    print(f"\n== micro_batching={mode}: starting the server ...", flush=True)
    with Server(args, model_dir, mode, log_dir) as base:
        warm = asyncio.run(run_step(base, bodies[:2], 1, 0.1, args))  # warm the full-size path (not recorded)
        print(f"   warm-up request: {warm['max_latency_any_ms']} ms", flush=True)
        steps = []
        for clients in args.clients:
            step = asyncio.run(run_step(base, bodies, clients, args.duration, args))
            steps.append(step)
            print(f"   {clients:>3} clients: {_line(step)}", flush=True)
        overload = None
        if args.overload_clients:
            overload = asyncio.run(run_step(base, bodies, args.overload_clients, args.duration, args))
            print(f"   {args.overload_clients:>3} clients (overload): {_line(overload)}", flush=True)
    return {
        "warm_up_request_ms": warm["max_latency_any_ms"],
        "steps": steps,
        "overload": overload,
        "checks": {
            "within_bound": [check_within_bound(s, args.queue_max) for s in steps],
            "overload": check_overload(overload, args.request_timeout) if overload else None,
        },
    }


def _line(step: dict) -> str:
    return (
        f"{step['ok_per_s']} req/s, p50 {step['p50_ms']} ms, p95 {step['p95_ms']} ms, p99 {step['p99_ms']} ms, "
        f"statuses {step['statuses']}, lost {step['lost']}, requests/turn {step['requests_per_model_turn']}, "
        f"passes/request {step['forward_passes_per_request']}, wall {step['wall_s']} s, "
        f"load {step['load_avg_1m_at_end']}"
    )


def speedups(modes: dict) -> list[dict]:
    """Throughput with batching over without, per client count (both modes measured)."""
    on, off = modes.get("on"), modes.get("off")
    if not on or not off:
        return []
    out = []
    for a, b in zip(on["steps"], off["steps"]):
        ratio = round(a["ok_per_s"] / b["ok_per_s"], 2) if a["ok_per_s"] and b["ok_per_s"] else None
        out.append({"clients": a["clients"], "on_req_s": a["ok_per_s"], "off_req_s": b["ok_per_s"], "ratio": ratio})
    return out


def check_speedup(result: dict, target: float) -> dict | None:
    """The issue's bar: at the most clients, batching on gives ≥ ``target`` × the throughput of off."""
    rows = result["speedups"]
    if not rows:
        return None
    top = max(rows, key=lambda r: r["clients"])
    lost = sum(s["lost"] for m in result["modes"].values() for s in m["steps"])
    return {
        "clients": top["clients"], "ratio": top["ratio"], "target": target, "lost": lost,
        "passed": top["ratio"] is not None and top["ratio"] >= target and lost == 0,
    }


def to_markdown(result: dict) -> str:
    cfg, modes, machine = result["config"], result["modes"], result["machine"]
    lines = [
        "# Service under load: micro-batching on vs off (NIM /v1/ranking)",
        "",
        (f"Model: {cfg['model']}, max_length {cfg['max_length']}, backend {cfg['backend']} (CPU). "
         if cfg.get("reranker_type", "cross-encoder") == "cross-encoder" else
         f"Reranker: {cfg['reranker_type']}, store {cfg['model']} (CPU). ")
        + f"{cfg['passages']} "
        f"passages per request, truncate=END. Workload: {result['workload']}. Each step: N clients posting back to "
        f"back for {cfg['duration_s']} s (at most {cfg['requests'] or 'unlimited'} requests), in-flight requests "
        f"awaited (req/s = 200s / step wall time). Server: queue_max {cfg['queue_max']}, batch_max_size "
        f"{cfg['batch_max_size']} pairs, batch_max_wait_ms {cfg['batch_max_wait_ms']}, request_timeout_s "
        f"{cfg['server_timeout_s']}; client timeout {cfg['request_timeout_s']} s. Server and load generator are "
        f"separate processes on the same machine: {machine['cpu_model']} ({machine['cores']} cores; flags "
        f"{', '.join(machine['cpu_flags']) or 'none of avx2/avx512f/amx'}), load average at start "
        f"{machine['load_avg_at_start']}, at end {machine.get('load_avg_at_end')}.",
        "",
        "| clients | mode | req/s | on/off | p50 ms | p95 ms | p99 ms | req/turn | passes/req | lost | load 1m "
        "| statuses |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    ratio = {r["clients"]: r["ratio"] for r in result["speedups"]}
    for mode, data in modes.items():
        steps = data["steps"] + ([data["overload"]] if data.get("overload") else [])
        for i, st in enumerate(steps):
            label = f"{st['clients']}" + (" (overload)" if i >= len(data["steps"]) else "")
            shown = ratio.get(st["clients"], "–") if mode == "on" and i < len(data["steps"]) else "–"
            lines.append(
                f"| {label} | {mode} | {st['ok_per_s']} | {shown} | {st['p50_ms']} | {st['p95_ms']} | {st['p99_ms']} | "
                f"{st['requests_per_model_turn']} | {st['forward_passes_per_request']} | {st['lost']} | "
                f"{st['load_avg_1m_at_end']} | {_statuses(st)} |"
            )
    lines += [
        "",
        "req/s: 200 answers per second of step wall time; on/off: req/s with batching over req/s without; "
        "p50/p95/p99: latency of the 200 answers; req/turn: mean requests per model turn (server metrics; > 1 "
        "means the batcher merged requests); passes/req: model forward passes per request (fewer: pairs of "
        "different requests shared batches); lost: requests without a complete answer (timeout, transport "
        "error, truncated body); load 1m: 1-minute load average at the end of the step; statuses: answers by "
        "HTTP status.",
        "",
        "## Checks",
        "",
    ]
    speed = result.get("checks", {}).get("speedup")
    if speed:
        lines.append(
            f"- throughput at {speed['clients']} clients, on/off ≥ {speed['target']} with no request lost: "
            + ("**pass**" if speed["passed"] else "**not reached**")
            + f" (ratio {speed['ratio']}, lost {speed['lost']})"
        )
    for mode, data in modes.items():
        within = data["checks"]["within_bound"]
        passed = all(c["passed"] for c in within if c["applies"])
        lines.append(
            f"- micro_batching={mode}: within the queue bound (N ≤ {cfg['queue_max']}): "
            f"{'**pass** (every request 200)' if passed else '**FAIL** ' + str([c for c in within if not c['passed']])}"
        )
        ov, o = data["checks"].get("overload"), data.get("overload")
        if ov and o:
            lines.append(
                f"- micro_batching={mode}: overload ({ov['clients']} clients): "
                + ("**pass**" if ov["passed"] else "**FAIL** " + "; ".join(ov["problems"]))
                + f" — statuses {o['statuses']}, 429/503 answered in p50 {o['rejected_p50_ms']} ms, all with "
                f"Retry-After: {o['rejected_without_retry_after'] == 0}; slowest request {o['max_latency_any_ms']} ms "
                f"(client timeout {cfg['request_timeout_s'] * 1000:.0f} ms)"
            )
    lines += ["", result.get("note", "")]
    loads = [machine.get(k) for k in ("load_avg_at_start", "load_avg_at_end")]
    if any(load and load[0] > machine["cores"] for load in loads):
        lines += [
            "",
            "**The CPU was shared with other work during this run** (1-minute load average above the core count), "
            "so absolute numbers are slower and noisier than on an idle machine; on and off ran under similar "
            "load, but compare them with that in mind.",
        ]
    return "\n".join(lines) + "\n"


def _statuses(step: dict) -> str:
    return ", ".join(f"{k}: {v}" for k, v in sorted(step["statuses"].items()))


def cpu_model() -> tuple[str, list[str]]:
    """The CPU's model name and which of the flags that decide the backend it has (Linux)."""
    try:
        info = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return platform.processor() or platform.machine(), []
    name = re.search(r"^model name\s*:\s*(.+)$", info, re.MULTILINE)
    flags = re.search(r"^flags\s*:\s*(.+)$", info, re.MULTILINE)
    present = set(flags.group(1).split()) if flags else set()
    wanted = ("avx2", "fma", "avx512f", "avx512_vnni", "amx_bf16", "amx_int8")
    return (name.group(1).strip() if name else platform.machine()), [f for f in wanted if f in present]


def machine_info() -> dict:
    model, flags = cpu_model()
    return {
        "cpu": platform.processor() or platform.machine(),
        "cpu_model": model,
        "cpu_flags": flags,
        "cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "python": platform.python_version(),
        "load_avg_at_start": [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None,
    }


def build_model(layers: int, cache_dir: Path) -> Path:
    """The MiniLM cross-encoder with ``layers`` layers, built once into ``cache_dir`` (as bench/rerank_speed.py)."""
    from ragsift.rerank.build import BUILD_MANIFEST, build_cross_encoder_from_encoder

    out = cache_dir / f"minilm-l{layers}-ce"
    if not (out / BUILD_MANIFEST).is_file():
        build_cross_encoder_from_encoder(None, out, num_layers=layers, seed=0)
    return out


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", type=Path, default=Path("../shared/data/beir/scifact"))
    p.add_argument("--model-dir", type=Path, help="a cross-encoder folder (default: build MiniLM with --layers), "
                   "or with --reranker-type late-interaction a token store (ragsift late-index)")
    p.add_argument("--reranker-type", default="cross-encoder", choices=["cross-encoder", "late-interaction"],
                   help="what the service serves (default: cross-encoder)")
    p.add_argument("--layers", type=int, default=6)
    p.add_argument("--backend", help="torch, onnx or onnx-int8 (default: the CPU default for this machine)")
    p.add_argument("--max-length", type=int, default=256)
    p.add_argument("--passages", type=int, default=45)
    p.add_argument("--clients", type=int, nargs="+", default=[1, 4, 16])
    p.add_argument("--duration", type=float, default=20.0, help="seconds of sending per step")
    p.add_argument("--requests", type=int, default=0, help="at most this many requests per step (0: no cap)")
    p.add_argument("--overload-clients", type=int, default=64, help="clients of the overload step (0: skip it)")
    p.add_argument("--queue-max", type=int, default=16)
    p.add_argument("--batch-max-size", type=int, default=180, help="pairs per model turn (4 requests of 45)")
    p.add_argument("--batch-max-wait-ms", type=float, default=5.0)
    p.add_argument("--server-timeout", type=float, default=300.0, help="the service's request_timeout_s")
    p.add_argument("--request-timeout", type=float, default=600.0, help="the client's limit per request")
    p.add_argument("--max-backoff", type=float, default=2.0, help="cap on the sleep after a 429/503")
    p.add_argument("--modes", nargs="+", default=["on", "off"], choices=["on", "off"])
    p.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE)
    p.add_argument("--out", type=Path, default=RESULTS)
    p.add_argument("--name", default="service_load", help="file name of the results (.json, .md) under --out")
    p.add_argument("--target-speedup", type=float, default=1.5, help="on/off throughput asked for at the most clients")
    # the server subprocess
    p.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--model", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--port", type=int, help=argparse.SUPPRESS)
    p.add_argument("--micro-batching", choices=["on", "off"], help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    for name in ("layers", "max_length", "passages", "queue_max"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1")
    if args.overload_clients < 0 or args.requests < 0:
        p.error("--overload-clients and --requests must be >= 0")
    if not args.serve and args.backend is None:
        from ragsift.rerank.cross_encoder import cpu_default_backend

        args.backend = cpu_default_backend()
    if args.duration <= 0 or any(c < 1 for c in args.clients):
        p.error("--duration must be > 0 and every --clients value >= 1")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.serve:
        serve_main(args)
        return
    machine = machine_info()
    model_dir = args.model_dir.resolve() if args.model_dir else build_model(args.layers, args.cache_dir)
    bodies, source = load_workload(args.data, 64, args.passages)
    print(f"model {model_dir}; workload: {source}", flush=True)
    modes = {}
    with tempfile.TemporaryDirectory(prefix="ragsift-load-") as log_dir:
        for mode in args.modes:
            modes[mode] = run_mode(args, model_dir, mode, bodies, Path(log_dir))
    machine["load_avg_at_end"] = [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None
    result = {
        "benchmark": "service_load",
        "machine": machine,
        "workload": source,
        "config": {
            "model": str(args.model_dir) if args.model_dir else f"MiniLM cross-encoder, {args.layers} layers "
            "(built locally, random head)",
            "reranker_type": args.reranker_type,
            "backend": args.backend if args.reranker_type == "cross-encoder" else None,
            "requests": args.requests,
            "layers": args.layers,
            "max_length": args.max_length,
            "passages": args.passages,
            "clients": args.clients,
            "overload_clients": args.overload_clients,
            "duration_s": args.duration,
            "queue_max": args.queue_max,
            "batch_max_size": args.batch_max_size,
            "batch_max_wait_ms": args.batch_max_wait_ms,
            "server_timeout_s": args.server_timeout,
            "request_timeout_s": args.request_timeout,
            "max_backoff_s": args.max_backoff,
        },
        "modes": modes,
        "speedups": speedups(modes),
        "note": (
            "With batching on, the requests of one model turn are scored by one score_many call: the pairs of "
            "different queries share length-sorted forward passes (ragsift.service.batching). On a CPU the model "
            "is compute bound, so sharing passes saves per-pass overhead and padding, not the FLOPs of each pair; "
            "with ONNX int8 a pair's score also depends on its batch mates (dynamic activation quantization)."
        ),
    }
    result["checks"] = {"speedup": check_speedup(result, args.target_speedup)}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{args.name}.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    markdown = to_markdown(result)
    (args.out / f"{args.name}.md").write_text(markdown, encoding="utf-8")
    print("\n" + markdown)


if __name__ == "__main__":
    main()
