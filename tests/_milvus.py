"""A real Milvus-API server for tests (the ``milvus`` fixture in conftest.py): ``milvus-lite server`` on 127.0.0.1 at a free port, or ``RAGSIFT_MILVUS_URI``.

``RAGSIFT_MILVUS_URI=milvus://HOST:PORT`` runs the same tests against any Milvus (standalone or a
cluster); each test then creates and drops its own uniquely named collections there.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class MilvusServer:
    """Where the tests' Milvus is (``base``: ``milvus://HOST:PORT``) and a fresh collection URI per call."""

    def __init__(self, base: str):
        self.base = base.rstrip("/")

    def uri(self, prefix: str = "t") -> str:
        return f"{self.base}/{prefix}_{uuid.uuid4().hex[:12]}"


def start_lite(data_dir: Path, timeout: float = 60.0) -> tuple[subprocess.Popen, int]:
    """Start ``milvus-lite server`` on 127.0.0.1; return the process and its port once it accepts connections."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "milvus_lite", "server", "--host", "127.0.0.1", "--port", str(port), "--data-dir", str(data_dir)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"milvus-lite server exited with {proc.returncode}: {proc.stderr.read().decode()[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc, port
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"milvus-lite server did not listen on 127.0.0.1:{port} within {timeout:.0f} s")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
