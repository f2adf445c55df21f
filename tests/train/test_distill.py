"""Distillation: the losses, a student that follows its teacher rather than the labels, the cached teacher scores."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from ragsift.errors import ConfigError
from ragsift.train.distill import DistillLoss, distill_loss, teacher_scores
from ragsift.train.models import load_base
from ragsift.train.reranker import Group, Loss, RerankerTrainConfig, fit_groups, score_pairs, train_reranker

WORDS = ["volcano", "glacier", "insulin", "quasar", "enzyme", "pulsar"]


def test_kl_is_zero_only_when_the_distributions_agree():
    import torch

    teacher = torch.tensor([3.0, 1.0, 0.0, -1.0, 2.0, 2.0, 0.0, 1.0])
    assert float(distill_loss(torch, teacher.clone(), teacher, 4, DistillLoss.KL)) == pytest.approx(0.0, abs=1e-7)
    # a constant shift per group changes no softmax
    shifted = teacher + torch.tensor([5.0] * 4 + [-2.0] * 4)
    assert float(distill_loss(torch, shifted, teacher, 4, DistillLoss.KL)) == pytest.approx(0.0, abs=1e-6)
    assert float(distill_loss(torch, teacher.flip(0), teacher, 4, DistillLoss.KL)) > 0.1
    # a higher temperature softens both distributions: a smaller divergence before the T² scale
    flipped = teacher.flip(0)
    t1 = float(distill_loss(torch, flipped, teacher, 4, DistillLoss.KL, 1.0))
    t4 = float(distill_loss(torch, flipped, teacher, 4, DistillLoss.KL, 4.0)) / 16
    assert t4 < t1


def test_margin_mse_reads_margins_to_the_first_passage():
    import torch

    teacher = torch.tensor([3.0, 1.0, 0.0, -1.0])
    assert float(distill_loss(torch, teacher + 7.0, teacher, 4, DistillLoss.MARGIN_MSE)) == pytest.approx(0.0, abs=1e-6)
    student = torch.tensor([3.0, 1.0, 0.0, 1.0])  # the last margin is 2 instead of 4
    assert float(distill_loss(torch, student, teacher, 4, DistillLoss.MARGIN_MSE)) == pytest.approx(4.0 / 3)


def groups_with_a_teacher() -> tuple[list[Group], list[list[float]]]:
    """Groups whose labels say passage 0, and a teacher that prefers passage 2 ("matters")."""
    groups, targets = [], []
    for i, word in enumerate(WORDS):
        others = [WORDS[(i + k) % len(WORDS)] for k in (1, 2, 3)]
        groups.append(Group(word, [f"{others[0]} irrelevant", f"{others[1]} irrelevant", f"{word} matters",
                                   f"{others[2]} irrelevant"], "judged"))
        targets.append([-2.0, -2.0, 4.0, -2.0])
    return groups, targets


def teacher_wins(model, tokenizer, groups) -> int:
    return sum(row.index(max(row)) == 2 for row in score_pairs(model, tokenizer, groups, 32))


@pytest.mark.parametrize("loss", list(DistillLoss))
def test_a_student_follows_its_teacher_not_the_labels(tiny_cross_encoder, loss):
    base = load_base(str(tiny_cross_encoder), seed=0)
    groups, targets = groups_with_a_teacher()
    before = teacher_wins(base.model, base.tokenizer, groups)
    cfg = SimpleNamespace(batch_groups=3, max_length=32, lr=1e-3, head_lr=1e-2, warmup=0.1, weight_decay=0.0,
                          loss=Loss.LISTWISE, max_minutes=None, seed=0, show_progress=False,
                          distill_loss=loss, distill_temperature=1.0, distill_label_weight=0.0)
    log = fit_groups(base.model, base.tokenizer, groups * 20, cfg, targets=targets * 20)
    assert log.steps == 40
    rows = score_pairs(base.model, base.tokenizer, groups, 32)
    after = sum(row.index(max(row)) == 2 for row in rows)
    assert after >= len(groups) - 1 and after > before
    assert not any(row.index(max(row)) == 0 for row in rows)  # the labelled positive never wins


def test_teacher_scores_are_cached_by_teacher_and_groups(tmp_path, tiny_cross_encoder):
    groups, _ = groups_with_a_teacher()
    first, summary = teacher_scores(tiny_cross_encoder, groups, 32, cache_dir=tmp_path)
    assert summary["cached"] is False and summary["pairs"] == 24
    assert [len(r) for r in first] == [4] * len(groups)
    again, summary2 = teacher_scores(tiny_cross_encoder, groups, 32, cache_dir=tmp_path)
    assert summary2["cached"] is True and summary2["key"] == summary["key"]
    assert [v for r in again for v in r] == pytest.approx([v for r in first for v in r], abs=1e-6)
    # other groups or another max_length: another key
    _, other = teacher_scores(tiny_cross_encoder, groups[:3], 32, cache_dir=tmp_path)
    assert other["cached"] is False and other["key"] != summary["key"]
    assert len(list(tmp_path.glob("*.npy"))) == 2


def test_teacher_must_be_a_cross_encoder(tmp_path, tiny_st_model):
    groups, _ = groups_with_a_teacher()
    with pytest.raises(ConfigError, match="not a cross-encoder"):
        teacher_scores(tiny_st_model, groups, 32, cache_dir=tmp_path)
    assert not any(tmp_path.iterdir())


def test_config_defaults_and_checks(tmp_path):
    cfg = RerankerTrainConfig(data_dir=tmp_path, out_dir=tmp_path / "o")
    assert cfg.freeze_layers == 3 and cfg.distill_from is None and cfg.distill_loss is DistillLoss.KL
    pruned = RerankerTrainConfig(data_dir=tmp_path, out_dir=tmp_path / "o", num_layers=2, distill_from="T")
    assert pruned.freeze_layers == 0  # a pruned student trains every layer it keeps
    assert pruned.recipe()["distill_loss"] == "kl" and pruned.recipe()["distill_from"] == "T"
    with pytest.raises(ConfigError, match="distill_loss"):
        RerankerTrainConfig(data_dir=tmp_path, out_dir=tmp_path / "o", distill_loss="mse")
    with pytest.raises(ConfigError, match="distill_temperature"):
        RerankerTrainConfig(data_dir=tmp_path, out_dir=tmp_path / "o", distill_temperature=0)
    with pytest.raises(ConfigError, match="distill_from is empty"):
        RerankerTrainConfig(data_dir=tmp_path, out_dir=tmp_path / "o", distill_from=" ")


def test_train_reranker_distils_a_pruned_student(tmp_path, tiny_beir, tiny_collection, tiny_cross_encoder):
    """--distill-from: the student starts from the teacher's first layer; the teacher's scores are cached for the next run."""
    from ragsift.config import home

    def run(out, **extra):
        cfg = RerankerTrainConfig(
            data_dir=tiny_beir, out_dir=out, collection_dir=tiny_collection, num_layers=1, distill_from=str(tiny_cross_encoder),
            negatives=2, negative_pool=4, title_ratio=0.5, epochs=1, batch_groups=2, max_length=48, show_progress=False,
            holdout=0.0, record=False, **extra,
        )
        return train_reranker(cfg)

    manifest = run(tmp_path / "s1")
    assert manifest["layers"] == 1 and not manifest["new_head"]
    assert manifest["base"] == str(tiny_cross_encoder)
    d = manifest["distillation"]
    assert d["cached"] is False and d["loss"] == "kl" and d["pairs"] == 3 * manifest["data"]["groups"]
    assert (home() / "distill" / f"{d['key']}.npy").is_file()
    assert json.loads((tmp_path / "s1" / "config.json").read_text())["num_hidden_layers"] == 1
    second = run(tmp_path / "s2", distill_loss="margin-mse", distill_label_weight=0.5)
    assert second["distillation"]["cached"] is True and second["distillation"]["key"] == d["key"]
    assert second["recipe"]["distill_loss"] == "margin-mse" and second["distillation"]["label_weight"] == 0.5


def test_cli_distill_flags(tmp_path, tiny_beir, tiny_collection, tiny_st_model, capsys):
    from ragsift.train.commands import main

    code = main(["train-reranker", "--data", str(tiny_beir), "--out", str(tmp_path / "o"), "--collection", str(tiny_collection),
                 "--distill-from", str(tiny_st_model), "--quiet", "--no-record"])
    assert code == 2
    assert "not a cross-encoder" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
