"""``ragsift serve`` starts a real server process that answers NIM requests and shuts down on SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_process_end_to_end(tiny_cross_encoder, tmp_path):
    pytest.importorskip("fastapi")
    port = free_port()
    exe = Path(sys.executable).with_name("ragsift")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "RAGSIFT_LOG_JSON": "false"}
    proc = subprocess.Popen(
        [str(exe), "serve", "--reranker-model", str(tiny_cross_encoder), "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/v1/health/ready", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None, proc.stdout.read()
            time.sleep(0.3)
        else:
            pytest.fail("server never became ready")
        body = {"model": "ignored", "query": {"text": "cats"}, "passages": [{"text": "dogs bark"}, {"text": "cats purr"}],
                "truncate": "END"}
        models = httpx.get(f"{base}/v1/models", timeout=10).json()
        body["model"] = models["data"][0]["id"]
        resp = httpx.post(f"{base}/v1/ranking", json=body, timeout=30)
        assert resp.status_code == 200, resp.text
        rankings = resp.json()["rankings"]
        assert sorted(r["index"] for r in rankings) == [0, 1]
        assert rankings[0]["logit"] >= rankings[1]["logit"]
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            pytest.fail("server did not shut down within 30 s of SIGTERM")
