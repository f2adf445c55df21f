"""Service under concurrent load: micro-batching on vs off, and what happens past the queue bound.

For each mode (``micro_batching`` on, then off) the script starts the real service in its own
process (``ragsift.service.run`` under uvicorn on 127.0.0.1, a free port) serving a MiniLM
cross-encoder built locally with :func:`ragsift.rerank.build.build_cross_encoder_from_encoder`
(``--layers``, default 6; random head: weights do not change speed) at ``--max-length`` 256.
A separate process (this one) is the load generator: ``httpx.AsyncClient`` with N concurrent
clients, each posting NIM ``/v1/ranking`` requests of ``--passages`` (45) passages back to back
for ``--duration`` seconds, for N in ``--clients`` (1 4 16); requests in flight at the deadline
are awaited, so a step lasts ``duration`` plus the drain. Then one overload step with
``--overload-clients`` (64) clients against ``--queue-max`` (16) waiting requests.

Passages are SciFact abstracts (title + text) from ``--data`` with the test queries, one
(query, 45 random abstracts) body per request, cycled; a synthetic corpus stands in when the
data is absent (reported). ``truncate=END``: long abstracts are cut at ``max_length``.

Recorded per step: requests/s (completed requests / step wall time, drain included), p50/p95/p99
latency of the 200s, the count by status (and timeouts or transport errors), and from the server's
``/v1/metrics`` the mean requests per model turn (how much the batcher actually merged).

Checks (in the JSON and the report):

* ``within_bound``: steps with N ≤ ``queue_max`` clients: every request answered 200 — none lost,
  none failed;
* ``overload``: past the bound, every answer is 200, 429 or 503; every 429/503 carries
  ``Retry-After``; at least one 429 was returned; no request timed out or hung (every request
  completed within ``--request-timeout``, the client's limit). Overload clients sleep
  ``min(Retry-After, --max-backoff)`` after a 429/503, as a well-behaved client would.

Loops are bounded by time and count; all traffic goes to 127.0.0.1. Run from the repository root::

    .venv/bin/python bench/service_load.py --data ../shared/data/beir/scifact --duration 10

Prints a side-by-side table and writes bench/results/service_load.{json,md}.
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
        texts = [f"{d.get('title', '')} {d['text']}".strip() for d in corpus]
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
        reranker_type="cross-encoder",
        reranker_model=str(args.model),
        served_model_name=SERVED_NAME,
        max_length=args.max_length,
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
            "--server-timeout", str(args.server_timeout),
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
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=timeout) as client:
        start = time.perf_counter()
        deadline = start + duration

        async def one_client(i: int) -> None:
            n = i
            while time.perf_counter() < deadline and len(records) < MAX_REQUESTS_PER_STEP:
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
    """Sum and count of ``ragsift_batch_requests`` and ``ragsift_batch_pairs`` from ``/v1/metrics``."""
    import httpx

    async with httpx.AsyncClient(base_url=base, timeout=10.0) as client:
        text = (await client.get("/v1/metrics")).text
    out = {}
    for name in ("ragsift_batch_requests_sum", "ragsift_batch_requests_count", "ragsift_batch_pairs_sum"):
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
        overload = asyncio.run(run_step(base, bodies, args.overload_clients, args.duration, args))
        print(f"   {args.overload_clients:>3} clients (overload): {_line(overload)}", flush=True)
    return {
        "warm_up_request_ms": warm["max_latency_any_ms"],
        "steps": steps,
        "overload": overload,
        "checks": {
            "within_bound": [check_within_bound(s, args.queue_max) for s in steps],
            "overload": check_overload(overload, args.request_timeout),
        },
    }


def _line(step: dict) -> str:
    return (
        f"{step['ok_per_s']} req/s, p50 {step['p50_ms']} ms, p95 {step['p95_ms']} ms, p99 {step['p99_ms']} ms, "
        f"statuses {step['statuses']}, requests/turn {step['requests_per_model_turn']}, wall {step['wall_s']} s"
    )


def to_markdown(result: dict) -> str:
    cfg, modes = result["config"], result["modes"]
    on, off = modes.get("on"), modes.get("off")
    lines = [
        "# Service under load: micro-batching on vs off (NIM /v1/ranking)",
        "",
        f"Model: MiniLM cross-encoder, {cfg['layers']} layers (built locally, random head), max_length "
        f"{cfg['max_length']}, torch CPU. {cfg['passages']} passages per request, truncate=END. Workload: "
        f"{result['workload']}. Each step: N clients posting back to back for {cfg['duration_s']} s, in-flight "
        f"requests awaited (req/s = 200s / step wall time). Server: queue_max {cfg['queue_max']}, "
        f"batch_max_size {cfg['batch_max_size']} pairs, batch_max_wait_ms {cfg['batch_max_wait_ms']}, "
        f"request_timeout_s {cfg['server_timeout_s']}; client timeout {cfg['request_timeout_s']} s. Server and load "
        f"generator are separate processes on the same machine ({result['machine']['cores']} cores, load average at "
        f"start {result['machine']['load_avg_at_start']}, at end {result['machine'].get('load_avg_at_end')}: other "
        "processes may share the CPU).",
        "",
        "| clients | req/s on | req/s off | p50 ms on | p50 ms off | p95 ms on | p95 ms off | p99 ms on | p99 ms off "
        "| req/turn on | req/turn off | statuses on | statuses off |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    legend = (
        "req/s: 200 answers per second of step wall time; p50/p95/p99: latency of the 200 answers; req/turn: "
        "mean requests per model turn (server metrics; > 1 means the batcher merged requests); statuses: "
        "answers by HTTP status (or timeout/transport error)."
    )
    blank = {"clients": None, "ok_per_s": "–", "p50_ms": "–", "p95_ms": "–", "p99_ms": "–",
             "requests_per_model_turn": "–", "statuses": {}}
    runs = [m for m in (on, off) if m]
    n_steps = max(len(m["steps"]) for m in runs)
    rows = []
    for i in range(n_steps + 1):
        pair = []
        for m in (on, off):
            steps = (m["steps"] + [m["overload"]]) if m else []
            pair.append(steps[i] if i < len(steps) else blank)
        rows.append(pair)
    for i, (a, b) in enumerate(rows):
        clients = a["clients"] if a["clients"] is not None else b["clients"]
        label = f"{clients}" + (" (overload)" if i == len(rows) - 1 else "")
        lines.append(
            f"| {label} | {a['ok_per_s']} | {b['ok_per_s']} | {a['p50_ms']} | {b['p50_ms']} | {a['p95_ms']} | "
            f"{b['p95_ms']} | {a['p99_ms']} | {b['p99_ms']} | {a['requests_per_model_turn']} | "
            f"{b['requests_per_model_turn']} | {_statuses(a)} | {_statuses(b)} |"
        )
    lines += ["", legend, "", "## Checks", ""]
    for mode, data in modes.items():
        within = data["checks"]["within_bound"]
        passed = all(c["passed"] for c in within if c["applies"])
        lines.append(
            f"- micro_batching={mode}: within the queue bound (N ≤ {cfg['queue_max']}): "
            f"{'**pass** (every request 200)' if passed else '**FAIL** ' + str([c for c in within if not c['passed']])}"
        )
        ov = data["checks"]["overload"]
        o = data["overload"]
        lines.append(
            f"- micro_batching={mode}: overload ({ov['clients']} clients): "
            + ("**pass**" if ov["passed"] else "**FAIL** " + "; ".join(ov["problems"]))
            + f" — statuses {o['statuses']}, 429/503 answered in p50 {o['rejected_p50_ms']} ms, all with "
            f"Retry-After: {o['rejected_without_retry_after'] == 0}; slowest request {o['max_latency_any_ms']} ms "
            f"(client timeout {cfg['request_timeout_s'] * 1000:.0f} ms)"
        )
    lines += ["", result.get("note", "")]
    loads = [result["machine"].get(k) for k in ("load_avg_at_start", "load_avg_at_end")]
    if any(load and load[0] > result["machine"]["cores"] for load in loads):
        lines += [
            "",
            "**The CPU was shared with other work during this run** (1-minute load average above the core count), "
            "so absolute numbers are slower and noisier than on an idle machine; on and off ran under similar "
            "load, but compare them with that in mind.",
        ]
    return "\n".join(lines) + "\n"


def _statuses(step: dict) -> str:
    return ", ".join(f"{k}: {v}" for k, v in sorted(step["statuses"].items()))


def machine_info() -> dict:
    return {
        "cpu": platform.processor() or platform.machine(),
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
    p.add_argument("--layers", type=int, default=6)
    p.add_argument("--max-length", type=int, default=256)
    p.add_argument("--passages", type=int, default=45)
    p.add_argument("--clients", type=int, nargs="+", default=[1, 4, 16])
    p.add_argument("--duration", type=float, default=20.0, help="seconds of sending per step")
    p.add_argument("--overload-clients", type=int, default=64)
    p.add_argument("--queue-max", type=int, default=16)
    p.add_argument("--batch-max-size", type=int, default=180, help="pairs per model turn (4 requests of 45)")
    p.add_argument("--batch-max-wait-ms", type=float, default=5.0)
    p.add_argument("--server-timeout", type=float, default=300.0, help="the service's request_timeout_s")
    p.add_argument("--request-timeout", type=float, default=600.0, help="the client's limit per request")
    p.add_argument("--max-backoff", type=float, default=2.0, help="cap on the sleep after a 429/503")
    p.add_argument("--modes", nargs="+", default=["on", "off"], choices=["on", "off"])
    p.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE)
    p.add_argument("--out", type=Path, default=RESULTS)
    # the server subprocess
    p.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--model", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--port", type=int, help=argparse.SUPPRESS)
    p.add_argument("--micro-batching", choices=["on", "off"], help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    for name in ("layers", "max_length", "passages", "overload_clients", "queue_max"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1")
    if args.duration <= 0 or any(c < 1 for c in args.clients):
        p.error("--duration must be > 0 and every --clients value >= 1")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.serve:
        serve_main(args)
        return
    machine = machine_info()
    model_dir = build_model(args.layers, args.cache_dir)
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
        "note": (
            "The batcher merges requests into one model turn, but only requests with the same query share a "
            "forward pass (ragsift.service.batching); this workload has a different query per request, so "
            "batching can save hand-offs, not compute. The CPU is the bottleneck (2 cores)."
        ),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "service_load.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    markdown = to_markdown(result)
    (args.out / "service_load.md").write_text(markdown, encoding="utf-8")
    print("\n" + markdown)


if __name__ == "__main__":
    main()
