"""Reranker training: the loop learns a separable task, the saved folder loads everywhere, CLI errors."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from ragsift.errors import ConfigError
from ragsift.train.commands import main
from ragsift.train.models import load_base, reset_pooler
from ragsift.train.reranker import TRAIN_MANIFEST, Group, RerankerTrainConfig, fit_groups, fit_platt, score_pairs, train_reranker

WORDS = ["volcano", "glacier", "insulin", "quasar", "enzyme", "pulsar"]


def separable_groups() -> list[Group]:
    """The positive says its topic "matters"; the negatives that it is "irrelevant" (a cue the tiny model can learn)."""
    groups = []
    for i, word in enumerate(WORDS):
        others = [WORDS[(i + k) % len(WORDS)] for k in (1, 2, 3)]
        groups.append(Group(word, [f"{word} matters"] + [f"{o} irrelevant" for o in others], "judged"))
    return groups


def positive_wins(model, tokenizer, groups) -> int:
    return sum(row.index(max(row)) == 0 for row in score_pairs(model, tokenizer, groups, 32))


def listwise_loss(model, tokenizer, groups) -> float:
    import math

    rows = score_pairs(model, tokenizer, groups, 32)
    return sum(math.log(sum(math.exp(x) for x in row)) - row[0] for row in rows) / len(rows)


def test_fit_groups_learns_a_separable_task(tiny_cross_encoder):
    from ragsift.train.reranker import Loss

    base = load_base(str(tiny_cross_encoder), seed=0)
    groups = separable_groups()
    wins, loss = positive_wins(base.model, base.tokenizer, groups), listwise_loss(base.model, base.tokenizer, groups)
    cfg = SimpleNamespace(batch_groups=3, max_length=32, lr=1e-3, head_lr=1e-2, warmup=0.1, weight_decay=0.0,
                          loss=Loss.LISTWISE, max_minutes=None, seed=0, show_progress=False)
    log = fit_groups(base.model, base.tokenizer, groups * 12, cfg)
    assert log.steps == 24 and len(log.losses) == 24
    assert listwise_loss(base.model, base.tokenizer, groups) < loss
    assert positive_wins(base.model, base.tokenizer, groups) > wins


def test_cosine_head_learns_a_separable_task_and_continues_training(tmp_path, tiny_st_model):
    from ragsift.train.reranker import Loss, calibrate_head

    base = load_base(str(tiny_st_model), head="cosine", seed=0)
    assert base.new_head and type(base.model).__name__ == "BertCosineForSequenceClassification"
    groups = separable_groups()
    loss = listwise_loss(base.model, base.tokenizer, groups)
    cfg = SimpleNamespace(batch_groups=3, max_length=32, lr=1e-3, head_lr=1e-2, warmup=0.1, weight_decay=0.0,
                          loss=Loss.LISTWISE, max_minutes=None, seed=0, show_progress=False)
    fit_groups(base.model, base.tokenizer, groups * 12, cfg)
    assert listwise_loss(base.model, base.tokenizer, groups) < loss
    assert positive_wins(base.model, base.tokenizer, groups) == len(groups)
    calibration = calibrate_head(base.model, base.tokenizer, groups, cfg)
    assert calibration["applied"]
    before = [x for row in score_pairs(base.model, base.tokenizer, groups, 32) for x in row]
    base.model.save_pretrained(tmp_path)
    base.tokenizer.save_pretrained(tmp_path)
    again = load_base(str(tmp_path), head="cls")  # an existing cross-encoder keeps its own head
    assert not again.new_head and type(again.model).__name__ == "BertCosineForSequenceClassification"
    after = [x for row in score_pairs(again.model, again.tokenizer, groups, 32) for x in row]
    assert after == pytest.approx(before, abs=1e-4)


def test_fit_platt_recovers_a_logistic_model():
    torch = pytest.importorskip("torch")
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(4000, generator=gen, dtype=torch.float64) * 3
    y = (torch.rand(4000, generator=gen, dtype=torch.float64) < torch.sigmoid(2 * x - 1)).double()
    a, b = fit_platt(torch, x, y, ridge=0.0)
    assert a == pytest.approx(2, abs=0.25) and b == pytest.approx(-1, abs=0.2)
    # the same data with large, offset logits (as a trained head produces) gives the same probabilities
    a2, b2 = fit_platt(torch, 30 * x + 500, y, ridge=0.0)
    assert a2 * 30 == pytest.approx(a, rel=1e-3) and a2 * 500 + b2 == pytest.approx(b, abs=1e-2)


def test_fit_platt_stays_finite_on_separable_data():
    torch = pytest.importorskip("torch")
    x = torch.tensor([5.0] * 10 + [-1.0] * 30, dtype=torch.float64)
    y = torch.tensor([1.0] * 10 + [0.0] * 30, dtype=torch.float64)
    a, b = fit_platt(torch, x, y)
    assert 0 < a < 10 and abs(b) < 20


def test_reset_pooler_identity(tiny_cross_encoder):
    torch = pytest.importorskip("torch")
    base = load_base(str(tiny_cross_encoder), pooler="keep")
    assert reset_pooler(base.model, "identity")
    assert torch.equal(base.model.bert.pooler.dense.weight, torch.eye(32))


@pytest.mark.parametrize("head", ["cosine", "cls"])
def test_train_reranker_end_to_end_from_an_encoder(tmp_path, tiny_beir, tiny_collection, tiny_st_model, head):
    """A new head on a BERT encoder, pruned to 1 layer; the folder loads with both loaders; it is recorded."""
    from sentence_transformers import CrossEncoder

    from ragsift.rerank.cross_encoder import CrossEncoderReranker
    from ragsift.config import latest_trained

    out = tmp_path / "ce"
    cfg = RerankerTrainConfig(
        data_dir=tiny_beir, out_dir=out, base=str(tiny_st_model), collection_dir=tiny_collection, num_layers=1,
        freeze_layers=0, negatives=2, negative_pool=4, title_ratio=0.5, epochs=1, batch_groups=2, max_length=48,
        head=head, show_progress=False, holdout=0.0,
    )
    manifest = train_reranker(cfg)
    assert manifest["recipe"]["head"] == head
    model_type = json.loads((out / "config.json").read_text())["model_type"]
    assert model_type == ("ragsift-cosine-bert" if head == "cosine" else "bert")
    assert manifest["layers"] == 1 and manifest["new_head"]
    assert manifest["data"]["judged_groups"] == 8 and manifest["data"]["title_groups"] == 4
    assert manifest["training"]["steps"] == 6
    assert json.loads((out / TRAIN_MANIFEST).read_text())["recipe"]["loss"] == "listwise"
    assert json.loads((out / "config.json").read_text())["num_hidden_layers"] == 1
    assert latest_trained() == out.resolve()

    reranker = CrossEncoderReranker(str(out), max_length=64, backend="torch")
    results = reranker.rerank("what happens to the volcano", ["The volcano erupted.", "A glacier melted."])
    assert len(results) == 2
    ce = CrossEncoder(str(out), device="cpu", local_files_only=True)
    assert ce.predict([("what happens to the volcano", "The volcano erupted.")]).shape == (1,)


def continued_config(tiny_beir, tiny_collection, tiny_cross_encoder, out, **overrides) -> RerankerTrainConfig:
    """A quick run that continues the tiny cross-encoder on the tiny BEIR set (``overrides`` on top)."""
    base = dict(
        data_dir=tiny_beir, out_dir=out, base=str(tiny_cross_encoder), collection_dir=tiny_collection, freeze_layers=1,
        negatives=2, negative_pool=4, title_ratio=0.0, max_length=48, show_progress=False, record=False,
    )
    return RerankerTrainConfig(**{**base, **overrides})


def test_train_reranker_continues_a_cross_encoder_with_holdout(tmp_path, tiny_beir, tiny_collection, tiny_cross_encoder):
    out = tmp_path / "ce2"
    cfg = continued_config(tiny_beir, tiny_collection, tiny_cross_encoder, out, holdout=0.25)
    manifest = train_reranker(cfg)
    assert not manifest["new_head"] and manifest["layers"] == 2
    assert len(manifest["data"]["heldout_query_ids"]) == 2
    assert manifest["data"]["judged_queries"] == 6


def test_holdout_default_and_recorded_settings(tmp_path, tiny_beir, tiny_collection, tiny_cross_encoder):
    """By default 20 % of the queries are held out; the weight and depth are tuned on them and recorded."""
    from ragsift.rerank.settings import SETTINGS_FILE, read_model_settings
    from ragsift.train.data import corpus_fingerprint
    from ragsift.ingest import load_beir

    assert RerankerTrainConfig(data_dir=tmp_path, out_dir=tmp_path / "o").holdout == 0.2
    out = tmp_path / "ce3"
    cfg = continued_config(tiny_beir, tiny_collection, tiny_cross_encoder, out, inference_max_length=64, depths=(2, 4))
    manifest = train_reranker(cfg)
    dev = manifest["data"]["heldout_query_ids"]
    assert len(dev) == 2  # round(0.2 * 9 judged queries)
    settings = read_model_settings(out)
    assert settings.path == out / SETTINGS_FILE
    assert settings.candidates in (2, 4) and 0.0 <= settings.interpolate <= 1.0
    assert settings.max_length == 64 and settings.text_fields == ("title", "text")
    assert settings.first_stage["mode"] == "hybrid" and settings.first_stage["fusion"] == "rrf"
    assert settings.fingerprint == corpus_fingerprint(load_beir(tiny_beir, split="train").corpus)
    tuning = settings.tuning
    assert tuning["queries"] == 2 and set(tuning["by_depth"]) == {"2", "4"}
    assert tuning["by_depth"][str(settings.candidates)]["interpolate"] == settings.interpolate
    assert manifest["settings"]["settings"]["candidates"] == settings.candidates


def test_holdout_zero_records_settings_without_tuning(tmp_path, tiny_beir, tiny_collection, tiny_cross_encoder):
    from ragsift.rerank.settings import read_model_settings

    out = tmp_path / "ce4"
    cfg = continued_config(tiny_beir, tiny_collection, tiny_cross_encoder, out, holdout=0.0)
    train_reranker(cfg)
    settings = read_model_settings(out)
    assert settings.interpolate is None and settings.candidates is None and settings.max_length == 256
    assert "holdout=0" in settings.tuning["skipped"]


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(negatives=8, negative_pool=4), "negative_pool=4 is smaller than negatives=8"),
        (dict(loss="hinge"), "loss='hinge' is not valid; choose one of 'listwise', 'bce'"),
        (dict(pooler="mean"), "pooler='mean'"),
        (dict(head="mean"), "head='mean' is not valid; choose one of 'cosine', 'cls'"),
        (dict(epochs=0), "epochs=0"),
        (dict(holdout=1.0), "holdout=1.0"),
    ],
)
def test_config_validation(tmp_path, kwargs, match):
    with pytest.raises(ConfigError, match=match):
        RerankerTrainConfig(data_dir=tmp_path, out_dir=tmp_path / "o", **kwargs)


def test_cli_missing_data_dir(tmp_path, capsys):
    code = main(["train-reranker", "--data", str(tmp_path / "nope"), "--out", str(tmp_path / "o"), "-q"])
    err = capsys.readouterr().err
    assert code == 2 and "BEIR dataset folder not found" in err and "nope" in err


def test_cli_bad_split_lists_available(tmp_path, capsys, tiny_beir):
    code = main(["train-reranker", "--data", str(tiny_beir), "--split", "dev", "--out", str(tmp_path / "o"), "-q"])
    err = capsys.readouterr().err
    assert code == 2 and "split='dev'" in err and "'test', 'train'" in err


def test_cli_refuses_to_overwrite_a_foreign_folder(tmp_path, capsys, tiny_beir):
    out = tmp_path / "o"
    out.mkdir()
    (out / "precious.txt").write_text("x")
    code = main(["train-reranker", "--data", str(tiny_beir), "--out", str(out), "-q"])
    assert code == 2 and "refusing to overwrite" in capsys.readouterr().err


def test_registering_the_commands_stays_light():
    """The CLI imports ragsift.train.commands to register the subcommands: no torch or transformers."""
    import subprocess
    import sys

    code = (
        "import sys, argparse; from ragsift.train.commands import register;"
        "register(argparse.ArgumentParser().add_subparsers());"
        "print(','.join(m for m in ('torch', 'transformers', 'sentence_transformers') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.strip() == ""
