"""Three writer processes (two CLI loops, one server taking HTTP writes) and readers on one collection.

Each writer owns its own id namespace and makes random adds (new ids and replacements) and
deletes; it logs every operation that was acknowledged (CLI exit 0, HTTP 200). Meanwhile a reader
process runs ``ragsift search`` in a loop and the test searches over HTTP. At the end the
collection on disk must hold exactly what the acknowledged operations say — every document the
last acknowledged add of its id wrote, none that an acknowledged delete removed — and no reader
may have failed.
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import httpx
import pytest

from ragsift.index.collection import Collection, CollectionConfig
from ragsift.ingest import ChunkingConfig
from ragsift.types import Document

OPS_PER_CLI = 67
OPS_SERVER = 66  # 200 in total

CLI_WRITER = textwrap.dedent(
    """
    import json, random, sys
    from pathlib import Path
    from ragsift.cli import main

    coll, name, n, seed, log_path, work = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], Path(sys.argv[6])
    rng = random.Random(seed)
    live, log = set(), []
    for step in range(n):
        if live and rng.random() < 0.35:
            doc_id = rng.choice(sorted(live))
            code = main(["delete", coll, doc_id, "--lock-timeout", "120"])
            op = {"op": "delete", "id": doc_id}
            if code == 0:
                live.discard(doc_id)
        else:
            doc_id = f"{name}-{rng.randrange(n // 2)}"
            text = f"{name} step{step} common words shared by every writer"
            src = work / f"{name}-{step}.jsonl"
            src.write_text(json.dumps({"id": doc_id, "text": text}) + "\\n")
            code = main(["index", str(src), "-c", coll, "-q", "--lock-timeout", "120"])
            op = {"op": "add", "id": doc_id, "text": text}
            if code == 0:
                live.add(doc_id)
        op["ok"] = code == 0
        log.append(op)
    Path(log_path).write_text(json.dumps(log))
    """
)

CLI_READER = textwrap.dedent(
    """
    import contextlib, io, sys, time
    from pathlib import Path
    from ragsift.cli import main

    coll, stop_file, out = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    runs = failures = 0
    errors = []
    while not stop_file.exists():
        err = io.StringIO()
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
            code = main(["search", coll, "common words step", "--mode", "bm25", "-k", "5", "--json"])
        runs += 1
        if code != 0:
            failures += 1
            errors.append(err.getvalue()[-300:])
    out.write_text(f"{runs} {failures}\\n" + "\\n".join(errors))
    """
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def expected_state(logs: list[list[dict]]) -> dict[str, str]:
    state: dict[str, str] = {}
    for log in logs:
        for op in log:
            assert op["ok"], f"an operation was not acknowledged: {op}"
            if op["op"] == "add":
                state[op["id"]] = op["text"]
            else:
                state.pop(op["id"], None)
    return state


def serve(path, port, env):
    log = Path(path).parent / f"serve-{port}.log"  # a file, not a pipe: an unread pipe would block the server
    with open(log, "w") as fh:
        proc = subprocess.Popen(
            [sys.executable, "-m", "ragsift.cli", "serve", "--collection", str(path), "--reranker-type", "none",
             "--port", str(port)],
            stdout=subprocess.DEVNULL, stderr=fh, text=True, env=env,
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()[-2000:]
        try:
            if httpx.get(f"http://127.0.0.1:{port}/v1/health/ready", timeout=2).status_code == 200:
                return proc
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    proc.kill()
    pytest.fail("server never became ready")


def server_writer(base: str, rng: random.Random, log: list[dict]) -> None:
    live: set[str] = set()
    with httpx.Client(base_url=base, timeout=120) as client:
        for step in range(OPS_SERVER):
            if live and rng.random() < 0.35:
                doc_id = rng.choice(sorted(live))
                response = client.delete(f"/v1/documents/{doc_id}")
                op = {"op": "delete", "id": doc_id}
                if response.status_code == 200:
                    live.discard(doc_id)
            else:
                doc_id = f"srv-{rng.randrange(OPS_SERVER // 2)}"
                text = f"srv step{step} common words shared by every writer"
                response = client.post("/v1/documents", json={"documents": [{"id": doc_id, "text": text}]})
                op = {"op": "add", "id": doc_id, "text": text}
                if response.status_code == 200:
                    live.add(doc_id)
            op["ok"] = response.status_code == 200
            op["status"] = response.status_code
            log.append(op)


def http_reader(base: str, stop: threading.Event, results: list[int]) -> None:
    with httpx.Client(base_url=base, timeout=60) as client:
        while not stop.is_set():
            response = client.post("/v1/search", json={"query": "common words", "mode": "bm25", "k": 5})
            results.append(response.status_code)
            time.sleep(0.02)


def test_three_writers_and_readers_lose_nothing(tmp_path):
    path = tmp_path / "coll"
    Collection.create(path, CollectionConfig(dense=False, chunking=ChunkingConfig(mode="none"))).add(
        [Document("seed", "common words to start with")]
    )
    env = {**os.environ, "RAGSIFT_LOG_JSON": "false", "RAGSIFT_LOG_LEVEL": "warning",
           "RAGSIFT_WRITE_LOCK_TIMEOUT_S": "120", "RAGSIFT_REQUEST_TIMEOUT_S": "120"}
    writer_py, reader_py = tmp_path / "writer.py", tmp_path / "reader.py"
    writer_py.write_text(CLI_WRITER)
    reader_py.write_text(CLI_READER)
    port = free_port()
    server = serve(path, port, env)
    stop_file, reader_out = tmp_path / "stop", tmp_path / "reader.txt"
    base = f"http://127.0.0.1:{port}"
    try:
        reader = subprocess.Popen([sys.executable, str(reader_py), str(path), str(stop_file), str(reader_out)], env=env)
        writers = [
            subprocess.Popen(
                [sys.executable, str(writer_py), str(path), f"cli{i}", str(OPS_PER_CLI), str(100 + i),
                 str(tmp_path / f"cli{i}.json"), str(tmp_path)],
                env=env, stderr=subprocess.PIPE, text=True,
            )
            for i in range(2)
        ]
        stop, http_reads, server_log = threading.Event(), [], []
        reading = threading.Thread(target=http_reader, args=(base, stop, http_reads))
        reading.start()
        server_writer(base, random.Random(7), server_log)
        for w in writers:
            _, err = w.communicate(timeout=600)
            assert w.returncode == 0, err[-2000:]
        stop.set()
        reading.join(60)
        stop_file.write_text("stop")
        reader.wait(timeout=120)
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()

    logs = [json.loads((tmp_path / f"cli{i}.json").read_text()) for i in range(2)] + [server_log]
    assert sum(len(log) for log in logs) == 200
    expected = {"seed": "common words to start with", **expected_state(logs)}
    final = Collection.open(path)
    assert {i: d.text for i, d in final.documents.items()} == expected
    first, *errors = reader_out.read_text().split("\n")
    runs, failures = map(int, first.split())
    assert runs > 0 and failures == 0, errors
    assert http_reads and set(http_reads) == {200}
