"""SentenceTransformerEmbedder on a tiny real model and the bundled MiniLM; model resolution."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from ragsift.errors import BadInputError, ConfigError, ModelNotFoundError
from ragsift.index.embedder import (
    DEFAULT_MODEL,
    Embedder,
    EmbedderNotLoadedError,
    SentenceTransformerEmbedder,
    default_model_path,
    get_embedder,
    resolve_model,
)

TEXTS = ["a cat sat on the mat", "stock markets fell sharply today", "", "a cat sat on the mat"]


@pytest.fixture(scope="module")
def tiny(tiny_st_model: Path) -> SentenceTransformerEmbedder:
    embedder = SentenceTransformerEmbedder(str(tiny_st_model), batch_size=2)
    embedder.load()
    return embedder


def test_tiny_model_encodes_normalized_float32_rows(tiny):
    assert isinstance(tiny, Embedder)
    assert tiny.dim == 32 and tiny.max_seq_length == 128
    vectors = tiny.encode_documents(TEXTS)
    assert vectors.shape == (4, 32) and vectors.dtype == np.float32
    assert vectors.flags["C_CONTIGUOUS"]
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    empty = tiny.encode_queries([])
    assert empty.shape == (0, 32) and empty.dtype == np.float32


def test_identical_texts_give_identical_vectors_in_input_order(tiny):
    vectors = tiny.encode_documents(TEXTS)
    np.testing.assert_allclose(vectors[0], vectors[3], atol=1e-6)
    reordered = tiny.encode_documents(TEXTS[::-1], batch_size=3)
    np.testing.assert_allclose(reordered, vectors[::-1], atol=1e-5)
    assert not np.allclose(vectors[0], vectors[1])


def test_prefixes_are_prepended(tiny_st_model):
    prefixed = SentenceTransformerEmbedder(str(tiny_st_model), query_prefix="query: ")
    plain = SentenceTransformerEmbedder(str(tiny_st_model))
    np.testing.assert_allclose(
        prefixed.encode_queries(["cats"]), plain.encode_documents(["query: cats"]), atol=1e-6
    )
    assert not np.allclose(prefixed.encode_queries(["cats"]), plain.encode_queries(["cats"]))


def test_properties_need_load_and_load_is_idempotent(tiny_st_model):
    embedder = get_embedder(str(tiny_st_model), max_seq_length=16)
    assert not embedder.is_loaded
    with pytest.raises(EmbedderNotLoadedError, match=r"call \.load\(\)"):
        _ = embedder.dim
    embedder.load()
    model = embedder._model
    embedder.load()
    assert embedder._model is model and embedder.max_seq_length == 16


def test_max_seq_length_beyond_positions_is_rejected(tiny_st_model):
    embedder = SentenceTransformerEmbedder(str(tiny_st_model), max_seq_length=512)
    with pytest.raises(ConfigError, match="max_seq_length=512.*128"):
        embedder.load()


def test_bundled_minilm_ranks_relevant_above_irrelevant():
    embedder = SentenceTransformerEmbedder()
    assert embedder.name == DEFAULT_MODEL
    embedder.load()
    assert embedder.dim == 384
    docs = embedder.encode_documents(
        ["The cat is a small domesticated carnivorous mammal.", "Interest rates rose by half a point."]
    )
    scores = docs @ embedder.encode_queries(["what kind of animal is a cat"])[0]
    assert scores[0] > scores[1] + 0.2


@pytest.mark.parametrize(
    "alias", [None, "default", "all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"]
)
def test_resolve_default_aliases_to_bundled_folder(alias):
    path = resolve_model(alias)
    assert path == default_model_path() and os.path.isdir(path)


def test_resolve_local_hub_and_missing(tmp_path, monkeypatch):
    (tmp_path / "my-model").mkdir()
    (tmp_path / "weights.bin").write_bytes(b"")
    monkeypatch.chdir(tmp_path)
    assert resolve_model("my-model") == str(tmp_path / "my-model")
    assert resolve_model("./my-model") == str(tmp_path / "my-model")
    assert resolve_model("BAAI/bge-small-en-v1.5") == "BAAI/bge-small-en-v1.5"
    assert resolve_model("bert-base-uncased") == "bert-base-uncased"
    for missing in ("./absent", str(tmp_path / "absent"), "~/ragsift-absent-model", "a/b/c"):
        with pytest.raises(ModelNotFoundError, match="no such directory"):
            resolve_model(missing)
    with pytest.raises(ModelNotFoundError, match="is a file"):
        resolve_model("weights.bin")
    with pytest.raises(ConfigError, match="model=''"):
        resolve_model("  ")


def test_missing_local_path_fails_in_constructor(tmp_path):
    with pytest.raises(ModelNotFoundError, match="no such directory"):
        SentenceTransformerEmbedder(str(tmp_path / "nope"))


def test_folder_that_is_not_a_model_fails_on_load(tmp_path):
    embedder = SentenceTransformerEmbedder(str(tmp_path))
    with pytest.raises(ModelNotFoundError, match="not a loadable"):
        embedder.load()


def test_unavailable_hub_name_offline_fails_fast_with_fix(monkeypatch):
    pytest.importorskip("sentence_transformers")  # import cost is not part of the failure time
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    name = "ragsift-tests/no-such-model"
    embedder = SentenceTransformerEmbedder(name)
    start = time.perf_counter()
    with pytest.raises(ModelNotFoundError) as info:
        embedder.load()
    assert time.perf_counter() - start < 10
    message = str(info.value)
    assert name in message and "could not be found locally" in message and "downloaded" in message
    assert "HF_HUB_OFFLINE" in message and "local folder" in message and DEFAULT_MODEL in message
    assert not embedder.is_loaded


def test_unreachable_hub_fails_fast_without_retries(monkeypatch):
    """Online mode with a hub that refuses connections: the probe fails at once (no 70 s retries)."""
    pytest.importorskip("sentence_transformers")
    from huggingface_hub import constants

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "ENDPOINT", "http://127.0.0.1:9")  # discard port: refused
    embedder = SentenceTransformerEmbedder("ragsift-tests/no-such-model")
    start = time.perf_counter()
    with pytest.raises(ModelNotFoundError, match="hub is unreachable") as info:
        embedder.load()
    assert time.perf_counter() - start < 10
    assert "ragsift-tests/no-such-model" in str(info.value)


def test_options_are_validated_without_loading():
    with pytest.raises(ConfigError, match="batch_size=0"):
        SentenceTransformerEmbedder(batch_size=0)
    with pytest.raises(ConfigError, match="max_seq_length=-3"):
        SentenceTransformerEmbedder(max_seq_length=-3)
    with pytest.raises(ConfigError, match="device"):
        SentenceTransformerEmbedder(device="")


def test_texts_must_be_a_list_of_strings(tiny):
    with pytest.raises(BadInputError, match="not a single string"):
        tiny.encode_documents("one text")
    with pytest.raises(BadInputError, match=r"texts\[1\]"):
        tiny.encode_queries(["ok", 3])


def test_import_and_constructor_do_not_import_torch():
    code = (
        "import sys\n"
        "from ragsift.index.embedder import SentenceTransformerEmbedder\n"
        "import ragsift.index.vectors\n"
        "SentenceTransformerEmbedder(batch_size=8)\n"
        "heavy = [m for m in ('torch', 'sentence_transformers', 'transformers', 'faiss') if m in sys.modules]\n"
        "print(heavy)\n"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
