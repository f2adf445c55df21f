"""Shared fixtures. Tests never reach a model hub: HF_HUB_OFFLINE is forced on."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# ragsift's cache (trained rerankers) is isolated per test session; RERANKER_* settings of the
# developer's shell must not leak into tests.
os.environ["RAGSIFT_HOME"] = tempfile.mkdtemp(prefix="ragsift-home-")
for _var in [v for v in os.environ if v.startswith("RERANKER_")]:
    del os.environ[_var]

SCIFACT = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "beir" / "scifact"


@pytest.fixture(scope="session")
def scifact_dir() -> Path:
    """The real SciFact BEIR directory; tests using it skip cleanly when it is absent."""
    path = Path(os.environ.get("RAGSIFT_SCIFACT", SCIFACT))
    if not (path / "corpus.jsonl").is_file():
        pytest.skip(f"SciFact not found at {path} (set RAGSIFT_SCIFACT)")
    return path


@pytest.fixture(scope="session")
def tiny_st_model(tmp_path_factory) -> Path:
    """A tiny real sentence-transformers model (2-layer BERT, random weights) built locally."""
    from _models import build_tiny_sentence_transformer

    return build_tiny_sentence_transformer(tmp_path_factory.mktemp("tiny-st"))


@pytest.fixture(scope="session")
def tiny_cross_encoder(tmp_path_factory) -> Path:
    """A tiny real cross-encoder (2-layer BERT, random head) built locally; untrained, for mechanics only."""
    from _rerank_models import build_tiny_cross_encoder

    return build_tiny_cross_encoder(tmp_path_factory.mktemp("tiny-ce"))


@pytest.fixture
def redis_server(tmp_path_factory):
    """A real ``redis-server`` on 127.0.0.1 at a free port, stopped after the test.

    ``.url`` is its URL; ``.kill()`` and ``.start()`` take it down and bring it back on the same port.

    Skips when the binary is missing (``make install`` installs Debian's ``redis-server``) or
    redis-py is (``pip install 'ragsift[redis]'``).
    """
    from _redis import RedisServer, redis_binary

    if redis_binary() is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server, or `make install` as root)")
    pytest.importorskip("redis", reason="redis-py is not installed (pip install 'ragsift[redis]')")
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def milvus(tmp_path_factory):
    """A Milvus server for the session (``.uri()``: a fresh collection URI on it).

    ``RAGSIFT_MILVUS_URI=milvus://HOST:PORT`` runs the Milvus tests against that server (standalone
    or a cluster); otherwise a ``milvus-lite server`` is started on 127.0.0.1 at a free port with a
    temporary data directory and stopped at the end. Skips without pymilvus / milvus-lite
    (``pip install 'ragsift[milvus]' milvus-lite``).
    """
    from _milvus import MilvusServer

    from ragsift.index.milvus_local import LocalMilvus

    pytest.importorskip("pymilvus", reason="pymilvus is not installed (pip install 'ragsift[milvus]')")
    given = os.environ.get("RAGSIFT_MILVUS_URI")
    if given:
        yield MilvusServer(given)
        return
    pytest.importorskip("milvus_lite", reason="milvus-lite is not installed (pip install milvus-lite)")
    with LocalMilvus(tmp_path_factory.mktemp("milvus")) as server:
        yield MilvusServer(server.base)
