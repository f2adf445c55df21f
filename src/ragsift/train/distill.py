"""Distil a smaller reranker from a trained one (``train-reranker --num-layers N --distill-from TEACHER``).

The student learns the teacher's scores on the same training groups the labelled recipe uses
(judged queries with mined hard negatives, plus the unlabelled title → body groups of the corpus):

* ``kl`` (default): KL divergence from the teacher's softmax over each group to the student's,
  at temperature ``T`` (scaled by ``T²``), so the student learns the teacher's whole ordering of
  the group, not only which passage is the positive;
* ``margin-mse`` (Hofstätter et al., 2020): mean squared error between the student's and the
  teacher's margins ``s(first) − s(other)`` within each group.

``label_weight`` adds the labelled listwise loss (the first passage of a group is its positive)
on top. The teacher scores every group once, in eval mode with torch fp32 (ONNX int8 scores
depend on their batch mates), before training starts; the scores are cached under
``$RAGSIFT_HOME/distill/`` keyed by the teacher's weights, ``max_length`` and the groups' texts,
so a second student (``--num-layers 3`` after ``2``) reuses them.
"""

from __future__ import annotations

import hashlib
import logging
import time
from enum import Enum
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from ragsift.errors import ConfigError

__all__ = ["DistillLoss", "teacher_scores", "distill_loss", "teacher_key", "manifest_entry", "check_teacher"]

log = logging.getLogger(__name__)


class DistillLoss(str, Enum):
    """How the student learns the teacher's scores over a group."""

    KL = "kl"
    MARGIN_MSE = "margin-mse"


def teacher_key(teacher_dir: Path, groups: Sequence[Any], max_length: int) -> str:
    """A stable key of (teacher weights, max_length, every group's query and passages)."""
    digest = hashlib.sha256()
    for name in ("config.json", "model.safetensors", "pytorch_model.bin"):
        f = teacher_dir / name
        if f.is_file():
            stat = f.stat()
            digest.update(f"{name}\t{stat.st_size}\t{stat.st_mtime_ns}\n".encode())
    digest.update(f"max_length={max_length}\n".encode())
    for g in groups:
        digest.update(g.query.encode())
        for p in g.passages:
            digest.update(b"\x00" + p.encode())
        digest.update(b"\x01")
    return digest.hexdigest()[:20]


def check_teacher(teacher: str | Path) -> Path:
    """The teacher's folder; ConfigError unless it is a cross-encoder (checked before any long work starts)."""
    from ragsift.train.models import is_cross_encoder, resolve_base_dir

    src = resolve_base_dir(str(teacher))
    if not is_cross_encoder(src):
        raise ConfigError(
            f"--distill-from {str(teacher)!r} is not a cross-encoder (no single-logit classification head). "
            "Fix: pass a train-reranker output folder or a cross-encoder"
        )
    return src


def teacher_scores(
    teacher: str | Path,
    groups: Sequence[Any],
    max_length: int,
    *,
    cache_dir: Path | None = None,
    progress: Callable[[int], None] | None = None,
) -> tuple[list[list[float]], dict[str, Any]]:
    """The teacher's logits for every passage of every group, and a summary (seconds, pairs, cached).

    ``teacher`` must be a cross-encoder folder (a ``train-reranker`` output or any single-logit
    sequence-classification model). ``cache_dir`` holds earlier results for the same key.
    """
    from ragsift.files import atomic_write
    from ragsift.train.models import load_base
    from ragsift.train.reranker import score_pairs

    src = check_teacher(teacher)
    sizes = [len(g.passages) for g in groups]
    key = teacher_key(src, groups, max_length)
    cached = None if cache_dir is None else cache_dir / f"{key}.npy"
    summary: dict[str, Any] = {"teacher": str(src), "pairs": sum(sizes), "max_length": max_length, "key": key}
    if cached is not None and cached.is_file():
        flat = np.load(cached)
        if flat.shape == (sum(sizes),):
            summary.update(cached=True, seconds=0.0)
            if progress:
                progress(len(groups))
            return _split(flat, sizes), summary
        log.warning("ignoring teacher-score cache %s: it holds %d scores, the groups need %d", cached, flat.size, sum(sizes))
    begin = time.perf_counter()
    base = load_base(str(src))
    rows = score_pairs(base.model, base.tokenizer, list(groups), max_length, progress=progress)
    flat = np.asarray([v for row in rows for v in row], dtype=np.float32)
    if not np.isfinite(flat).all():
        raise ConfigError(f"the teacher {str(src)!r} produced non-finite scores; it cannot be distilled from")
    if cached is not None:
        cached.parent.mkdir(parents=True, exist_ok=True)

        def write(tmp: Path) -> None:
            with tmp.open("wb") as f:
                np.save(f, flat)

        atomic_write(cached, write)
    summary.update(cached=False, seconds=round(time.perf_counter() - begin, 1),
                   teacher_layers=int(getattr(base.model.config, "num_hidden_layers", 0)))
    return rows, summary


def _split(flat: np.ndarray, sizes: Sequence[int]) -> list[list[float]]:
    out, k = [], 0
    for n in sizes:
        out.append(flat[k : k + n].tolist())
        k += n
    return out


def distill_loss(torch, student, teacher, size: int, loss: DistillLoss, temperature: float = 1.0):
    """The distillation loss of a batch: ``student`` logits (flat, grad) against ``teacher`` logits (flat)."""
    s = student.view(-1, size)
    t = teacher.view(-1, size).to(s.dtype)
    if loss is DistillLoss.KL:
        f = torch.nn.functional
        return f.kl_div(f.log_softmax(s / temperature, dim=1), f.log_softmax(t / temperature, dim=1),
                        log_target=True, reduction="batchmean") * temperature ** 2
    return torch.nn.functional.mse_loss(s[:, :1] - s[:, 1:], t[:, :1] - t[:, 1:])


def manifest_entry(summary: dict[str, Any], cfg) -> dict[str, Any]:
    """What the model's ``ragsift_train.json`` records about the distillation."""
    return {**summary, "loss": cfg.distill_loss.value, "temperature": cfg.distill_temperature,
            "label_weight": cfg.distill_label_weight}
