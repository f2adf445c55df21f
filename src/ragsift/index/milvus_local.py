"""A local Milvus-API server for development, tests and benchmarks: ``milvus-lite server`` on 127.0.0.1.

    with LocalMilvus(data_dir) as server:
        coll = MilvusCollection.create(server.uri("docs"))

milvus-lite (``pip install milvus-lite``) implements the Milvus API in Python; it is not the
Milvus engine (see docs/distributed.md for what a run against it does and does not prove).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from ragsift.errors import ConfigError

__all__ = ["LocalMilvus", "free_port"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LocalMilvus:
    """``milvus-lite server --host 127.0.0.1 --port P --data-dir D``; stopped by :meth:`stop` or on exit of ``with``."""

    def __init__(self, data_dir: str | os.PathLike, *, port: int | None = None, timeout: float = 60.0):
        self.data_dir = Path(data_dir)
        self.port = port or free_port()
        self.timeout = timeout
        self.proc: subprocess.Popen | None = None

    @property
    def base(self) -> str:
        """``milvus://127.0.0.1:PORT`` (append ``/NAME`` for a collection)."""
        return f"milvus://127.0.0.1:{self.port}"

    def uri(self, name: str) -> str:
        return f"{self.base}/{name}"

    @property
    def log_path(self) -> Path:
        """The server's log (its stderr), in the data directory."""
        return self.data_dir / "milvus-lite.log"

    def start(self) -> "LocalMilvus":
        try:
            import milvus_lite  # noqa: F401
        except ImportError as exc:
            raise ConfigError("a local Milvus server needs milvus-lite. Fix: pip install milvus-lite==3.2.2") from exc
        self.data_dir.mkdir(parents=True, exist_ok=True)
        # Its log goes to a file: an unread pipe fills up (gRPC logs a lot under load) and the
        # server then blocks on its next write, which looks like a server that stopped answering.
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "milvus_lite", "server", "--host", "127.0.0.1", "--port", str(self.port),
                 "--data-dir", str(self.data_dir)],
                stdout=subprocess.DEVNULL, stderr=log,
            )
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.log_path.read_bytes()[-2000:].decode(errors="replace")
                raise ConfigError(f"milvus-lite server exited with {self.proc.returncode}: {err}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise ConfigError(f"milvus-lite server did not listen on 127.0.0.1:{self.port} within {self.timeout:.0f} s")

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)

    def __enter__(self) -> "LocalMilvus":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
