"""Embedder training: the contrastive loop reduces its loss, masking, end to end save + load."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from ragsift.errors import ConfigError
from ragsift.train.commands import main
from ragsift.train.embedder import EmbedderTrainConfig, Example, contrastive_loss, fit_examples, train_embedder

WORDS = ["volcano", "glacier", "insulin", "quasar", "enzyme", "pulsar", "neuron", "coral"]


def examples() -> list[Example]:
    return [Example(f"about {w}", f"{w} {w} report", [], frozenset({f"d{i}"}), [f"d{i}"]) for i, w in enumerate(WORDS)]


def eval_loss(model, batch) -> float:
    import torch

    model.eval()
    with torch.no_grad():
        return float(contrastive_loss(torch, model, batch, 20.0))


def test_fit_examples_reduces_the_loss(tiny_st_model):
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(tiny_st_model), device="cpu", local_files_only=True)
    batch = examples()
    before = eval_loss(model, batch)
    cfg = SimpleNamespace(batch_size=8, lr=3e-3, warmup=0.1, weight_decay=0.0, scale=20.0, max_minutes=None, seed=0,
                          show_progress=False)
    log = fit_examples(model, batch * 10, cfg)
    assert log.steps == 10
    assert eval_loss(model, batch) < before


def test_a_query_s_other_positives_are_never_negatives(tiny_st_model):
    """Two examples of the same query with different positives: each positive is masked for the other row."""
    import torch
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(tiny_st_model), device="cpu", local_files_only=True).eval()
    pos = frozenset({"a", "b"})
    same = [Example("q", "alpha text", [], pos, ["a"]), Example("q", "beta text", [], pos, ["b"])]
    with torch.no_grad():
        loss = float(contrastive_loss(torch, model, same, 20.0))
    assert loss == pytest.approx(0.0, abs=1e-6)  # each row has only its own positive left


def test_train_embedder_end_to_end(tmp_path, tiny_beir, tiny_collection, tiny_st_model):
    from ragsift.index.embedder import SentenceTransformerEmbedder

    out = tmp_path / "emb"
    cfg = EmbedderTrainConfig(
        data_dir=tiny_beir, out_dir=out, base=str(tiny_st_model), collection_dir=tiny_collection, hard_negatives=1,
        negative_pool=3, epochs=2, batch_size=4, max_seq_length=64, show_progress=False,
    )
    manifest = train_embedder(cfg)
    assert manifest["data"]["examples"] == 16 and manifest["training"]["steps"] == 4
    assert (out / "ragsift_train.json").is_file()
    vectors = SentenceTransformerEmbedder(str(out)).encode_queries(["what happens to the volcano"])
    assert vectors.shape == (1, 32) and np.isclose(np.linalg.norm(vectors), 1.0)


def test_in_batch_only_needs_no_collection(tmp_path, tiny_beir, tiny_st_model):
    cfg = EmbedderTrainConfig(data_dir=tiny_beir, out_dir=tmp_path / "e", base=str(tiny_st_model), hard_negatives=0,
                              epochs=1, batch_size=4, max_seq_length=64, show_progress=False)
    manifest = train_embedder(cfg)
    assert manifest["mining"]["collection"] is None and manifest["training"]["steps"] == 2


def test_config_validation(tmp_path):
    with pytest.raises(ConfigError, match="batch_size=1"):
        EmbedderTrainConfig(data_dir=tmp_path, out_dir=tmp_path / "o", batch_size=1)
    with pytest.raises(ConfigError, match="negative_pool=2 is smaller than hard_negatives=3"):
        EmbedderTrainConfig(data_dir=tmp_path, out_dir=tmp_path / "o", hard_negatives=3, negative_pool=2)


def test_cli_bad_split(tmp_path, capsys, tiny_beir):
    code = main(["train-embedder", "--data", str(tiny_beir), "--split", "validation", "--out", str(tmp_path / "o"), "-q"])
    err = capsys.readouterr().err
    assert code == 2 and "available splits: 'test', 'train'" in err
