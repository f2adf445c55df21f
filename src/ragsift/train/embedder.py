"""Fine-tune the dense embedding model on a BEIR split's judgements (``ragsift train-embedder``).

Recipe: contrastive loss with in-batch negatives (MultipleNegativesRankingLoss: each query's
positive against every other passage of the batch, cosine similarity × ``scale``) plus
``hard_negatives`` mined hard negatives per query, drawn from ragsift's hybrid top
``negative_pool`` with the judged positives removed. A passage that is a positive of a query
is never used as a negative for it, even when it sits in the batch for another query.

Passages are embedded as the collection embeds them (``title`` newline ``text``), so a
collection built with ``--embed-model OUT_DIR`` sees what the model was trained on.

The loop is plain PyTorch over a ``SentenceTransformer`` (no ``datasets`` / ``accelerate``
needed); the output folder is a sentence-transformers model that
:class:`~ragsift.index.embedder.SentenceTransformerEmbedder`, ``ragsift index --embed-model``
and ``ragsift eval --embed-model`` load, with a ``ragsift_train.json`` manifest.
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Sequence

from ragsift._lazy import require
from ragsift.errors import ConfigError
from ragsift.train.data import judged_queries, open_or_build_collection, sample_negatives, split_dev, title_queries
from ragsift.train.loop import Schedule, StepClock, TrainLog, check_out_dir, fraction, positive, write_model_dir

__all__ = ["EmbedderTrainConfig", "Example", "make_examples", "train_embedder", "fit_examples", "document_text"]

TRAIN_MANIFEST = "ragsift_train.json"


@dataclass
class EmbedderTrainConfig:
    """Options of :func:`train_embedder`; validated on construction. See ``ragsift train-embedder --help``."""

    data_dir: Path
    out_dir: Path
    split: str = "train"
    base: str | None = None
    collection_dir: Path | None = None
    hard_negatives: int = 1
    negative_pool: int = 30
    title_ratio: float = 0.0
    epochs: float = 2.0
    batch_size: int = 32
    lr: float = 2e-5
    warmup: float = 0.1
    weight_decay: float = 0.01
    scale: float = 20.0
    max_seq_length: int | None = 256
    holdout: float = 0.0
    exclude_queries: Sequence[str] = ()
    max_minutes: float | None = None
    seed: int = 0
    show_progress: bool = True

    def __post_init__(self) -> None:
        self.data_dir, self.out_dir = Path(self.data_dir), Path(self.out_dir)
        positive(self.hard_negatives, "hard_negatives", allow_zero=True)
        positive(self.negative_pool, "negative_pool")
        if self.hard_negatives > self.negative_pool:
            raise ConfigError(
                f"negative_pool={self.negative_pool} is smaller than hard_negatives={self.hard_negatives}. Fix: raise negative_pool"
            )
        positive(self.title_ratio, "title_ratio", kind=float, allow_zero=True)
        positive(self.epochs, "epochs", kind=float)
        positive(self.batch_size, "batch_size")
        if self.batch_size < 2:
            raise ConfigError("batch_size=1 gives no in-batch negatives; use >= 2 (default 32)")
        positive(self.lr, "lr", kind=float)
        fraction(self.warmup, "warmup")
        positive(self.weight_decay, "weight_decay", kind=float, allow_zero=True)
        positive(self.scale, "scale", kind=float)
        positive(self.max_seq_length, "max_seq_length", allow_none=True)
        positive(self.max_minutes, "max_minutes", kind=float, allow_none=True)
        fraction(self.holdout, "holdout")

    def recipe(self) -> dict[str, Any]:
        d = asdict(self)
        for key in ("data_dir", "out_dir", "collection_dir", "exclude_queries", "holdout", "show_progress"):
            d.pop(key)
        return d


@dataclass
class Example:
    """A query, its positive passage, hard-negative passages, and the doc ids of all its positives (never negatives)."""

    query: str
    positive: str
    negatives: list[str]
    positive_ids: frozenset[str]
    doc_ids: list[str]  # ids of [positive, *negatives]


def document_text(title: str, text: str) -> str:
    """What a collection embeds for an unchunked document (see ``Collection.index_text``)."""
    return f"{title}\n{text}" if title else text


def make_examples(queries, docs: dict[str, Any], *, epochs: float, hard_negatives: int, negative_pool: int, seed: int) -> list[Example]:
    """``epochs`` shuffled passes over every (query, positive) pair, fresh hard negatives each pass."""
    rng = random.Random(seed)
    pairs = [(q, p) for q in queries for p in q.positives if len(q.candidates) >= hard_negatives]
    total = round(epochs * len(pairs))
    order: list = []
    while len(order) < total:
        epoch = pairs[:]
        rng.shuffle(epoch)
        order.extend(epoch)
    out = []
    for query, pos in order[:total]:
        negs = sample_negatives(query, hard_negatives, rng, pool=negative_pool) if hard_negatives else []
        out.append(
            Example(
                query.text,
                document_text(docs[pos].title, docs[pos].text),
                [document_text(docs[d].title, docs[d].text) for d in negs],
                frozenset(query.positives),
                [pos, *negs],
            )
        )
    return out


def train_embedder(cfg: EmbedderTrainConfig) -> dict[str, Any]:
    """Mine hard negatives, fine-tune, save; returns the manifest written to ``out_dir``."""
    from ragsift.index.embedder import SentenceTransformerEmbedder
    from ragsift.ingest import load_beir
    from ragsift.pipeline.search import Searcher
    from ragsift.train.data import mine_candidates

    start = time.perf_counter()
    data = load_beir(cfg.data_dir, split=cfg.split)
    check_out_dir(cfg.out_dir, TRAIN_MANIFEST)
    heldout = split_dev(data.qrels, cfg.holdout, seed=cfg.seed)[1] if cfg.holdout else []
    queries = judged_queries(data.queries, data.qrels, exclude={*cfg.exclude_queries, *heldout})
    if not queries:
        raise ConfigError(f"split {cfg.split!r} of {cfg.data_dir} has no judged query with a positive left to train on")
    n_pairs = sum(len(q.positives) for q in queries)
    if cfg.title_ratio:
        queries += title_queries(data.corpus, limit=round(cfg.title_ratio * n_pairs), seed=cfg.seed)
    docs = {d.id: d for d in data.corpus}
    mine_s = 0.0
    collection = None
    if cfg.hard_negatives:
        begin = time.perf_counter()
        coll = open_or_build_collection(cfg.collection_dir, data.corpus, data.name, show_progress=cfg.show_progress)
        mine_candidates(Searcher(coll), queries, depth=cfg.negative_pool)
        mine_s, collection = time.perf_counter() - begin, str(coll.path)
    examples = make_examples(queries, docs, epochs=cfg.epochs, hard_negatives=cfg.hard_negatives,
                             negative_pool=cfg.negative_pool, seed=cfg.seed)

    embedder = SentenceTransformerEmbedder(cfg.base, max_seq_length=cfg.max_seq_length)
    embedder.load()
    model = embedder.model
    train_start = time.perf_counter()
    train_log = fit_examples(model, examples, cfg)
    manifest = {
        "trainer": "ragsift.train.embedder.train_embedder",
        "base": cfg.base or "all-MiniLM-L6-v2 (bundled)",
        "base_path": embedder.model_path,
        "recipe": cfg.recipe(),
        "data": {
            "dataset": data.name,
            "split": cfg.split,
            "queries": sum(q.source == "judged" for q in queries),
            "title_queries": sum(q.source == "title" for q in queries),
            "excluded_queries": len({*cfg.exclude_queries, *heldout}),
            "heldout_query_ids": heldout,
            "examples": len(examples),
        },
        "mining": {"collection": collection, "depth": cfg.negative_pool, "seconds": round(mine_s, 1)},
        "training": {**train_log.summary(), "seconds": round(time.perf_counter() - train_start, 1)},
    }
    manifest["total_seconds"] = round(time.perf_counter() - start, 1)
    write_model_dir(cfg.out_dir, lambda staging: model.save(str(staging)), TRAIN_MANIFEST, manifest)
    return manifest


def fit_examples(model: Any, examples: list[Example], cfg) -> TrainLog:
    """Contrastive training loop over ``examples`` in batches of ``cfg.batch_size`` queries.

    ``cfg`` needs ``batch_size, lr, warmup, weight_decay, scale, max_minutes, seed, show_progress``.
    """
    torch = require("torch")
    torch.manual_seed(cfg.seed)
    steps = math.ceil(len(examples) / cfg.batch_size)
    decay = [p for n, p in model.named_parameters() if p.requires_grad and not (n.endswith("bias") or "LayerNorm" in n)]
    plain = [p for n, p in model.named_parameters() if p.requires_grad and (n.endswith("bias") or "LayerNorm" in n)]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": plain, "weight_decay": 0.0}], lr=cfg.lr
    )
    clock = StepClock(cfg.max_minutes)
    schedule = Schedule(steps, cfg.warmup, clock)
    train_log = TrainLog(every=max(1, min(10, steps // 20 or 1)))
    bar = None
    if cfg.show_progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=steps, desc="training embedder", unit="step")
    model.train()
    for step in range(steps):
        if clock.expired():
            train_log.stopped_early = f"max_minutes={cfg.max_minutes} reached after {step} of {steps} steps"
            break
        for group in optimizer.param_groups:
            group["lr"] = cfg.lr * schedule.factor(step)
        batch = examples[step * cfg.batch_size : (step + 1) * cfg.batch_size]
        loss = contrastive_loss(torch, model, batch, cfg.scale)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        value = float(loss.detach())
        train_log.add(value)
        if bar:
            bar.update(1)
            bar.set_postfix(loss=f"{value:.3f}")
    if bar:
        bar.close()
    model.eval()
    return train_log


def _embed(model: Any, texts: list[str]):
    prepare = getattr(model, "preprocess", None) or model.tokenize  # sentence-transformers >= 6 / older
    features = {k: v.to(model.device) if hasattr(v, "to") else v for k, v in prepare(texts).items()}
    out = model(features)["sentence_embedding"]
    return require("torch").nn.functional.normalize(out, dim=-1)


def contrastive_loss(torch, model: Any, batch: list[Example], scale: float):
    """In-batch + hard-negative softmax cross-entropy; a query's own positives elsewhere in the batch are masked out."""
    passages = [e.positive for e in batch] + [n for e in batch for n in e.negatives]
    ids = [e.doc_ids[0] for e in batch] + [d for e in batch for d in e.doc_ids[1:]]
    q = _embed(model, [e.query for e in batch])
    p = _embed(model, passages)
    scores = scale * q @ p.T
    mask = torch.tensor([[j != i and ids[j] in e.positive_ids for j in range(len(ids))] for i, e in enumerate(batch)])
    scores = scores.masked_fill(mask, float("-inf"))
    return torch.nn.functional.cross_entropy(scores, torch.arange(len(batch)))
