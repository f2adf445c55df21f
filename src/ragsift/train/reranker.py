"""Train a cross-encoder reranker on a BEIR split's own judgements (``ragsift train-reranker``).

The default recipe (measurements and the ablation in ``docs/training.md``):

1. **groups, not pairs**: each training example is one query with one positive and
   ``negatives`` hard negatives sampled from ragsift's hybrid top ``negative_pool`` (positives
   removed; see :mod:`ragsift.train.data`);
2. **listwise loss**: softmax cross-entropy over the group (the positive must win), which gives
   every step a relative signal instead of the label prior that pointwise BCE settles on;
3. **unsupervised title → body groups** mixed in (``title_ratio`` per judged group);
4. **a head that starts from what the encoder knows**: by default the cosine head
   (:mod:`ragsift.rerank.cosine_head`: ``w·cos`` of the mean-pooled query and passage tokens of
   the joint encoding), which ranks reasonably before any step; ``head="cls"`` uses
   ``BertForSequenceClassification`` with its pooler reset to the identity. Head learning rate
   ``head_lr`` (1e-3) against ``lr`` (8e-5) for the encoder, linear warm-up then decay;
5. **calibration**: a logistic fit of the logits on the last trained groups is folded into the
   head (``w·x + b``), so ``sigmoid(logit)`` is a probability (interpolation and thresholds use
   it) while the ranking is unchanged.

With ``distill_from`` (``--distill-from TEACHER``) the model learns a trained teacher's scores
over the same groups instead of (or, with ``distill_label_weight``, besides) the labels: see
:mod:`ragsift.train.distill`. The student then starts from the teacher itself (``base``
defaults to it), so ``--num-layers 2`` keeps the teacher's first two layers and its head.

The output folder is a ``ragsift-cosine-bert`` model (``head="cls"``: a plain
``BertForSequenceClassification``; continued training keeps the base's architecture) with its
tokenizer and a ``ragsift_train.json`` manifest (recipe, data, loss curve, timings).
:class:`~ragsift.rerank.cross_encoder.CrossEncoderReranker` loads it (sentence-transformers'
``CrossEncoder`` too, after :func:`ragsift.rerank.cosine_head.register`);
:func:`~ragsift.config.record_trained` makes it the default reranker of ``--rerank`` and
the quickstart.
"""

from __future__ import annotations

import logging
import math
import random
import time
from dataclasses import asdict, dataclass, replace
from enum import Enum
from pathlib import Path
from typing import Any, Sequence

from ragsift._enums import parse_enum
from ragsift._lazy import require
from ragsift.errors import ConfigError
from ragsift.types import passage_text
from ragsift.train.data import (
    TrainingQuery,
    judged_queries,
    mine_candidates,
    open_or_build_collection,
    sample_negatives,
    split_dev,
    title_queries,
)
from ragsift.train.distill import DistillLoss, check_teacher, distill_loss, manifest_entry, teacher_scores
from ragsift.train.loop import (
    Schedule,
    StepClock,
    TrainLog,
    check_out_dir,
    fraction,
    positive,
    write_model_dir,
)
from ragsift.train.models import Head, Pooler, count_layers, freeze_bottom, load_base
from ragsift.train.tune import DEPTHS, FIRST_STAGE, INFERENCE_MAX_LENGTH, reserve_minutes

__all__ = ["Loss", "RerankerTrainConfig", "TRAIN_MANIFEST", "Group", "make_groups", "train_reranker", "fit_groups", "score_pairs", "calibrate_head", "fit_platt"]

log = logging.getLogger(__name__)

TRAIN_MANIFEST = "ragsift_train.json"


class Loss(str, Enum):
    """Training objective over a group (1 positive + k negatives)."""

    LISTWISE = "listwise"  # softmax cross-entropy: the positive against its negatives
    BCE = "bce"  # pointwise binary cross-entropy on every pair


@dataclass
class RerankerTrainConfig:
    """Options of :func:`train_reranker`; validated on construction. See ``ragsift train-reranker --help``."""

    data_dir: Path
    out_dir: Path
    split: str = "train"
    base: str | None = None
    collection_dir: Path | None = None
    num_layers: int | None = None
    #: None: 3, or 0 with ``num_layers`` (a pruned student trains every layer it keeps).
    freeze_layers: int | None = None
    negatives: int = 3
    negative_pool: int = 30
    title_ratio: float = 1.0
    epochs: float = 3.0
    batch_groups: int = 4
    max_length: int = 128
    lr: float = 8e-5
    head_lr: float = 1e-3
    warmup: float = 0.1
    weight_decay: float = 0.01
    loss: Loss | str = Loss.LISTWISE
    pooler: Pooler | str = Pooler.AUTO
    head: Head | str = Head.COSINE
    calibrate: bool = True
    holdout: float = 0.2
    exclude_queries: Sequence[str] = ()
    max_minutes: float | None = 30.0
    inference_max_length: int = INFERENCE_MAX_LENGTH
    depths: Sequence[int] = DEPTHS
    seed: int = 0
    show_progress: bool = True
    record: bool = True
    distill_from: str | None = None
    distill_loss: DistillLoss | str = DistillLoss.KL
    distill_temperature: float = 1.0
    distill_label_weight: float = 0.0

    def __post_init__(self) -> None:
        self.data_dir, self.out_dir = Path(self.data_dir), Path(self.out_dir)
        self.loss = parse_enum(Loss, self.loss, param="loss")
        self.pooler = parse_enum(Pooler, self.pooler, param="pooler")
        self.head = parse_enum(Head, self.head, param="head")
        positive(self.num_layers, "num_layers", allow_none=True)
        if self.freeze_layers is None:
            self.freeze_layers = 0 if self.num_layers else 3
        positive(self.freeze_layers, "freeze_layers", allow_zero=True)
        self.distill_loss = parse_enum(DistillLoss, self.distill_loss, param="distill_loss")
        positive(self.distill_temperature, "distill_temperature", kind=float)
        positive(self.distill_label_weight, "distill_label_weight", kind=float, allow_zero=True)
        if self.distill_from is not None and not str(self.distill_from).strip():
            raise ConfigError("distill_from is empty. Fix: pass the teacher's model folder, or leave it out")
        positive(self.negatives, "negatives")
        positive(self.negative_pool, "negative_pool")
        if self.negative_pool < self.negatives:
            raise ConfigError(
                f"negative_pool={self.negative_pool} is smaller than negatives={self.negatives}; "
                "hard negatives are drawn from the top negative_pool first-stage hits. Fix: raise negative_pool"
            )
        positive(self.title_ratio, "title_ratio", kind=float, allow_zero=True)
        positive(self.epochs, "epochs", kind=float)
        positive(self.batch_groups, "batch_groups")
        positive(self.max_length, "max_length")
        positive(self.lr, "lr", kind=float)
        positive(self.head_lr, "head_lr", kind=float)
        fraction(self.warmup, "warmup")
        positive(self.weight_decay, "weight_decay", kind=float, allow_zero=True)
        positive(self.max_minutes, "max_minutes", kind=float, allow_none=True)
        fraction(self.holdout, "holdout")
        positive(self.inference_max_length, "inference_max_length")
        self.depths = tuple(positive(d, "depths") for d in self.depths) or DEPTHS
        if self.max_length < 16:
            raise ConfigError(f"max_length={self.max_length} is too short for a (query, passage) pair; use >= 16")

    def recipe(self) -> dict[str, Any]:
        d = asdict(self)
        for key in ("data_dir", "out_dir", "collection_dir", "exclude_queries", "holdout", "show_progress", "record",
                    "inference_max_length", "depths"):
            d.pop(key)
        d["loss"], d["pooler"], d["head"] = self.loss.value, self.pooler.value, self.head.value
        d["distill_loss"] = self.distill_loss.value
        return d


@dataclass
class Group:
    """One training example: a query, its positive passage first, then the negatives."""

    query: str
    passages: list[str]
    source: str


def make_groups(
    judged: list[TrainingQuery],
    titles: list[TrainingQuery],
    texts: dict[str, str],
    *,
    epochs: float,
    title_ratio: float,
    negatives: int,
    negative_pool: int,
    seed: int,
    title_texts: dict[str, str] | None = None,
) -> list[Group]:
    """The shuffled training groups: ``epochs`` passes over every (judged query, positive), plus title groups.

    Each pass draws fresh negatives. Title groups number ``round(title_ratio × judged groups
    used)``, each title query used once. Queries with fewer than ``negatives`` candidates are skipped.
    Judged groups read ``texts``; title groups read ``title_texts`` (default: ``texts``), the bodies
    without their titles, since their query is a title.
    """
    title_texts = texts if title_texts is None else title_texts
    rng = random.Random(seed)
    pairs = [(q, p) for q in judged for p in q.positives if len(q.candidates) >= negatives]
    groups: list[Group] = []
    n_judged = round(epochs * len(pairs))
    order: list = []
    while len(order) < n_judged:
        epoch = pairs[:]
        rng.shuffle(epoch)
        order.extend(epoch)
    for query, pos in order[:n_judged]:
        negs = sample_negatives(query, negatives, rng, pool=negative_pool)
        groups.append(Group(query.text, [texts[pos]] + [texts[d] for d in negs], "judged"))
    usable_titles = [q for q in titles if len(q.candidates) >= negatives]
    for query in usable_titles[: round(title_ratio * n_judged)]:
        negs = sample_negatives(query, negatives, rng, pool=negative_pool)
        groups.append(Group(query.text, [title_texts[query.positives[0]]] + [title_texts[d] for d in negs], "title"))
    rng.shuffle(groups)
    return groups


def train_reranker(cfg: RerankerTrainConfig) -> dict[str, Any]:
    """Mine, train, calibrate and save a reranker; returns the manifest written to ``out_dir``."""
    from ragsift.ingest import load_beir

    start = time.perf_counter()
    _preload()
    data = load_beir(cfg.data_dir, split=cfg.split)
    check_out_dir(cfg.out_dir, TRAIN_MANIFEST)
    if cfg.distill_from is not None:
        check_teacher(cfg.distill_from)
    heldout = split_dev(data.qrels, cfg.holdout, seed=cfg.seed)[1] if cfg.holdout else []
    judged = judged_queries(data.queries, data.qrels, exclude={*cfg.exclude_queries, *heldout})
    if not judged:
        raise ConfigError(f"split {cfg.split!r} of {cfg.data_dir} has no judged query with a positive left to train on")
    n_pairs = sum(len(q.positives) for q in judged)
    n_titles = round(cfg.title_ratio * round(cfg.epochs * n_pairs))
    titles = title_queries(data.corpus, limit=n_titles + 64, seed=cfg.seed) if n_titles else []
    texts = {d.id: passage_text(d.title, d.text) for d in data.corpus}
    bodies = {d.id: d.text for d in data.corpus}

    mining, coll = _mine(cfg, data, judged + titles)
    groups = make_groups(
        judged, titles, texts, epochs=cfg.epochs, title_ratio=cfg.title_ratio,
        negatives=cfg.negatives, negative_pool=cfg.negative_pool, seed=cfg.seed, title_texts=bodies,
    )
    if not groups:
        raise ConfigError(f"no training group could be made (need >= {cfg.negatives} mined candidates per query)")

    targets, distillation = _teacher_targets(cfg, groups)
    base = load_base(cfg.base or cfg.distill_from, num_layers=cfg.num_layers, pooler=cfg.pooler, head=cfg.head, seed=cfg.seed)
    freeze_bottom(base.model, cfg.freeze_layers)
    train_start = time.perf_counter()
    dev_queries = [q for q in heldout if q in data.queries]
    train_log = fit_groups(base.model, base.tokenizer, groups, _training_budget(cfg, start, len(dev_queries)), targets=targets)
    train_s = time.perf_counter() - train_start
    calibration = calibrate_head(base.model, base.tokenizer, groups, cfg) if cfg.calibrate else None

    manifest = {
        "trainer": "ragsift.train.reranker.train_reranker",
        "base": cfg.base or cfg.distill_from or "all-MiniLM-L6-v2 (bundled)",
        "base_path": base.source,
        "new_head": base.new_head,
        "layers": count_layers(base.model),
        "parameters": sum(p.numel() for p in base.model.parameters()),
        "recipe": cfg.recipe(),
        "data": {
            "dataset": data.name,
            "split": cfg.split,
            "judged_queries": len(judged),
            "excluded_queries": len({*cfg.exclude_queries, *heldout}),
            "heldout_query_ids": heldout,
            "groups": len(groups),
            "judged_groups": sum(g.source == "judged" for g in groups),
            "title_groups": sum(g.source == "title" for g in groups),
        },
        "mining": mining,
        "training": {**train_log.summary(), "seconds": round(train_s, 1)},
        "calibration": calibration,
    }
    if distillation is not None:
        manifest["distillation"] = distillation

    def write(staging: Path) -> None:
        base.model.save_pretrained(staging, safe_serialization=True)
        base.tokenizer.save_pretrained(staging)

    manifest["total_seconds"] = round(time.perf_counter() - start, 1)
    write_model_dir(cfg.out_dir, write, TRAIN_MANIFEST, manifest)
    settings = _record_settings(cfg, data, coll, dev_queries)
    manifest["settings"] = settings.to_dict()
    manifest["total_seconds"] = round(time.perf_counter() - start, 1)
    _rewrite_manifest(cfg.out_dir, manifest)
    if cfg.record:
        from ragsift.config import record_trained

        record_trained(cfg.out_dir)
    return manifest


def _mine(cfg: RerankerTrainConfig, data, queries: list[TrainingQuery]) -> dict[str, Any]:
    from ragsift.pipeline.search import Searcher

    begin = time.perf_counter()
    coll = open_or_build_collection(cfg.collection_dir, data.corpus, data.name, show_progress=cfg.show_progress)
    opened = time.perf_counter() - begin
    begin = time.perf_counter()
    bar = _bar(len(queries), "mining hard negatives", "q", cfg.show_progress)
    mine_candidates(Searcher(coll), queries, depth=cfg.negative_pool, progress=bar.update if bar else None)
    if bar:
        bar.close()
    summary = {
        "collection": str(coll.path), "collection_seconds": round(opened, 1), "queries": len(queries),
        "depth": cfg.negative_pool, "seconds": round(time.perf_counter() - begin, 1),
    }
    return summary, coll


def _teacher_targets(cfg: RerankerTrainConfig, groups: list[Group]) -> tuple[list[list[float]] | None, dict | None]:
    """The teacher's scores of every group (None without ``distill_from``) and the manifest's entry."""
    if cfg.distill_from is None:
        return None, None
    from ragsift.config import home

    bar = _bar(len(groups), "teacher scoring groups", "group", cfg.show_progress)
    scores, summary = teacher_scores(cfg.distill_from, groups, cfg.max_length, cache_dir=home() / "distill",
                                     progress=bar.update if bar else None)
    if bar:
        bar.close()
    return scores, manifest_entry(summary, cfg)


def _preload() -> None:
    """Import now what the end of the run needs, so a long run fails at its start, not after training."""
    import ragsift.files  # noqa: F401
    import ragsift.pipeline.search  # noqa: F401
    import ragsift.rerank.cache  # noqa: F401
    import ragsift.rerank.cross_encoder  # noqa: F401
    import ragsift.rerank.settings  # noqa: F401
    import ragsift.train.data  # noqa: F401

def _training_budget(cfg: RerankerTrainConfig, start: float, dev_queries: int) -> RerankerTrainConfig:
    """``cfg`` with ``max_minutes`` cut so that the whole run from ``start`` fits ``cfg.max_minutes``.

    The run is everything a first ``train-reranker`` on a corpus does: building the mining
    collection (when it is not reused), mining, training and the dev tuning after it.
    """
    if cfg.max_minutes is None:
        return cfg
    spent = (time.perf_counter() - start) / 60.0
    left = cfg.max_minutes - spent - reserve_minutes(dev_queries, cfg.depths)
    if left < 1.0:
        log.warning("max_minutes=%g leaves %.1f min for training after mining and the dev-tuning reserve; training 1 min",
                    cfg.max_minutes, left)
    return replace(cfg, max_minutes=max(left, 1.0))


def _record_settings(cfg: RerankerTrainConfig, data, coll, dev_queries: list[str]):
    """Tune interpolation and depth on the held-out queries; write ``ragsift_reranker.json``; return the settings."""
    from ragsift.pipeline.search import Searcher
    from ragsift.rerank.cross_encoder import CrossEncoderReranker
    from ragsift.rerank.settings import ModelSettings, write_model_settings
    from ragsift.train.data import corpus_fingerprint
    from ragsift.train.tune import tune_settings
    from ragsift.types import TEXT_FIELDS

    trained_on = {
        "dataset": data.name,
        "split": cfg.split,
        "corpus_fingerprint": corpus_fingerprint(data.corpus),
        "documents": len(data.corpus),
        "collection": str(coll.path),
    }
    tuning: dict[str, Any] = {"skipped": "holdout=0: no dev queries to tune on"}
    interpolate = candidates = None
    if dev_queries:
        reranker = CrossEncoderReranker(cfg.out_dir, max_length=cfg.inference_max_length)
        reranker.warm_up()
        bar = _bar(len(dev_queries), "tuning on dev queries", "q", cfg.show_progress)
        tuning = tune_settings(
            reranker, Searcher(coll), {q: data.queries[q] for q in dev_queries}, data.qrels,
            depths=cfg.depths, text_fields=TEXT_FIELDS, progress=bar.update if bar else None,
        )
        if bar:
            bar.close()
        tuning["split"] = f"{cfg.split} (held-out queries, data.heldout_query_ids of {TRAIN_MANIFEST})"
        interpolate, candidates = tuning["interpolate"], tuning["candidates"]
    settings = ModelSettings(
        interpolate=interpolate, candidates=candidates, max_length=cfg.inference_max_length,
        text_fields=TEXT_FIELDS, first_stage=FIRST_STAGE, trained_on=trained_on, tuning=tuning,
    )
    write_model_settings(cfg.out_dir, settings)
    return settings


def _rewrite_manifest(out_dir: Path, manifest: dict[str, Any]) -> None:
    import json

    from ragsift.files import atomic_write_text

    atomic_write_text(out_dir / TRAIN_MANIFEST, json.dumps(manifest, indent=2) + "\n")


def _bar(total: int, desc: str, unit: str, show: bool):
    if not show:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit=unit)


def _param_groups(model: Any, cfg) -> list[dict]:
    head, body_decay, body_plain = [], [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        if name.startswith("classifier") or ".pooler." in name or name.startswith("pooler"):
            head.append(p)
        elif name.endswith("bias") or "LayerNorm" in name or "layer_norm" in name:
            body_plain.append(p)
        else:
            body_decay.append(p)
    return [
        {"params": head, "lr": cfg.head_lr, "weight_decay": 0.0, "base_lr": cfg.head_lr},
        {"params": body_decay, "lr": cfg.lr, "weight_decay": cfg.weight_decay, "base_lr": cfg.lr},
        {"params": body_plain, "lr": cfg.lr, "weight_decay": 0.0, "base_lr": cfg.lr},
    ]


def _group_loss(torch, logits, size: int, loss: Loss):
    scores = logits.view(-1, size)
    if loss is Loss.LISTWISE:
        return torch.nn.functional.cross_entropy(scores, torch.zeros(scores.shape[0], dtype=torch.long))
    labels = torch.zeros_like(scores)
    labels[:, 0] = 1.0
    return torch.nn.functional.binary_cross_entropy_with_logits(scores, labels)


def fit_groups(model: Any, tokenizer: Any, groups: list[Group], cfg, *, targets: list[list[float]] | None = None) -> TrainLog:
    """The training loop: ``cfg.batch_groups`` groups per step, AdamW with two learning rates, warm-up then linear decay
    to zero at the last step that fits ``cfg.max_minutes`` (:class:`~ragsift.train.loop.Schedule`).

    ``cfg`` needs ``batch_groups, max_length, lr, head_lr, warmup, weight_decay, loss, max_minutes, seed, show_progress``;
    with ``targets`` (a teacher's logits, one row per group) also ``distill_loss, distill_temperature,
    distill_label_weight``: the loss is then the distillation loss plus ``distill_label_weight`` × the labelled loss.
    """
    torch = require("torch")
    torch.manual_seed(cfg.seed)
    size = len(groups[0].passages)
    steps = math.ceil(len(groups) / cfg.batch_groups)
    optimizer = torch.optim.AdamW([g for g in _param_groups(model, cfg) if g["params"]])
    clock = StepClock(cfg.max_minutes)
    schedule = Schedule(steps, cfg.warmup, clock)
    train_log = TrainLog(every=max(1, min(10, steps // 20 or 1)))
    bar = _bar(steps, "training reranker", "step", cfg.show_progress)
    model.train()
    for step in range(steps):
        if clock.expired():
            train_log.stopped_early = f"max_minutes={cfg.max_minutes} reached after {step} of {steps} steps"
            break
        factor = schedule.factor(step)
        for group in optimizer.param_groups:
            group["lr"] = group["base_lr"] * factor
        batch = groups[step * cfg.batch_groups : (step + 1) * cfg.batch_groups]
        features = _tokenize(tokenizer, batch, cfg.max_length)
        logits = model(**features).logits[:, 0]
        if targets is None:
            loss = _group_loss(torch, logits, size, cfg.loss)
        else:
            teacher = torch.tensor([v for row in targets[step * cfg.batch_groups : (step + 1) * cfg.batch_groups] for v in row])
            loss = distill_loss(torch, logits, teacher, size, cfg.distill_loss, cfg.distill_temperature)
            if cfg.distill_label_weight:
                loss = loss + cfg.distill_label_weight * _group_loss(torch, logits, size, cfg.loss)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        value = float(loss.detach())
        train_log.add(value)
        if bar:
            bar.update(1)
            bar.set_postfix(loss=f"{(train_log.losses or [value])[-1]:.3f}")
    if bar:
        bar.close()
    model.eval()
    return train_log


def _tokenize(tokenizer: Any, groups: list[Group], max_length: int):
    queries = [g.query for g in groups for _ in g.passages]
    passages = [p for g in groups for p in g.passages]
    return tokenizer(queries, passages, truncation="only_second", max_length=max_length, padding=True, return_tensors="pt")


def score_pairs(
    model: Any, tokenizer: Any, groups: list[Group], max_length: int, batch_groups: int = 4, *, progress=None
) -> list[list[float]]:
    """Logits of every passage of every group (eval mode, no gradients); ``progress(n)`` after each batch of ``n`` groups."""
    torch = require("torch")
    out = []
    model.eval()
    with torch.inference_mode():
        for i in range(0, len(groups), batch_groups):
            batch = groups[i : i + batch_groups]
            logits = model(**_tokenize(tokenizer, batch, max_length)).logits[:, 0].tolist()
            k = 0
            for g in batch:
                out.append(logits[k : k + len(g.passages)])
                k += len(g.passages)
            if progress:
                progress(len(batch))
    return out


def calibrate_head(model: Any, tokenizer: Any, groups: list[Group], cfg, n_groups: int = 48) -> dict[str, Any]:
    """Fit ``sigmoid(a·logit + b)`` to the labels of the last ``n_groups`` trained groups; fold it into the head."""
    torch = require("torch")
    sample = groups[-n_groups:]
    logits = score_pairs(model, tokenizer, sample, cfg.max_length)
    x = torch.tensor([v for row in logits for v in row], dtype=torch.float64)
    y = torch.tensor([1.0 if j == 0 else 0.0 for row in logits for j in range(len(row))], dtype=torch.float64)
    a, b = fit_platt(torch, x, y)
    if not a > 0:
        return {"applied": False, "reason": f"fitted scale {a:.4g} is not positive (the scores do not separate the labels)"}
    head = _final_linear(model)
    with torch.no_grad():
        head.weight.mul_(a)
        head.bias.mul_(a).add_(b)
    return {"applied": True, "scale": round(a, 6), "shift": round(b, 6), "pairs": int(x.numel()), "on": "last trained groups"}


def fit_platt(torch, x, y, iters: int = 100, ridge: float = 1e-2) -> tuple[float, float]:
    """Logistic regression of ``y`` on ``x``: ``(a, b)`` of ``sigmoid(a·x + b)``.

    Fitted on standardized ``x`` by damped Newton steps (backtracking line search), with an L2
    penalty ``ridge`` on the standardized slope so that separable data keeps a finite fit.
    """
    mu, sd = x.mean(), x.std().clamp_min(1e-12)
    z = (x - mu) / sd

    def objective(w):
        logits = w[0] * z + w[1]
        return torch.nn.functional.binary_cross_entropy_with_logits(logits, y) + 0.5 * ridge * w[0] ** 2

    w = torch.zeros(2, dtype=torch.float64)
    for _ in range(iters):
        p = torch.sigmoid(w[0] * z + w[1])
        r, h = p - y, (p * (1 - p)).clamp_min(1e-12)
        n = float(len(z))
        grad = torch.stack([(r * z).sum() / n + ridge * w[0], r.sum() / n])
        hess = torch.stack([
            torch.stack([(h * z * z).sum() / n + ridge, (h * z).sum() / n]),
            torch.stack([(h * z).sum() / n, h.sum() / n + 1e-9]),
        ])
        step = torch.linalg.solve(hess, grad)
        t, current = 1.0, objective(w)
        while t > 1e-6 and objective(w - t * step) > current:
            t /= 2
        w = w - t * step
        if float((t * step).abs().max()) < 1e-10:
            break
    a = w[0] / sd
    return float(a), float(w[1] - a * mu)


def _final_linear(model: Any):
    """The last Linear layer of the scoring head (``classifier`` or ``classifier.out_proj``)."""
    head = model.classifier
    return getattr(head, "out_proj", head)
