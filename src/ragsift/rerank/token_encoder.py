"""Token vectors of a BERT-style encoder, for the late-interaction reranker and its store.

:class:`TokenEncoder` wraps ``transformers.AutoModel`` and its tokenizer (torch is imported only
when a model is loaded or run): a text's token vectors are the last hidden states of the
transformer, special tokens ([CLS], [SEP], padding) dropped, each row L2-normalised.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ragsift._lazy import require
from ragsift.errors import ModelNotFoundError

__all__ = ["TokenEncoder"]

logger = logging.getLogger(__name__)

# Models whose position ids start after the padding index (usable positions = max - pad - 1).
_OFFSET_POSITION_MODELS = frozenset({"roberta", "xlm-roberta", "xlm-roberta-xl", "camembert", "data2vec-text"})


class TokenEncoder:
    """Token vectors of a BERT-style encoder: last hidden states without special tokens, L2-normalised.

    :meth:`load` reads a sentence-transformers or Hugging Face folder (or hub name; None: the
    bundled all-MiniLM-L6-v2) with ``transformers.AutoModel``. ``max_length`` arguments are
    capped to the model's position limit (:meth:`cap`).
    """

    def __init__(self, model: Any, tokenizer: Any, *, name: str, device: str = "cpu"):
        self.model, self.tokenizer, self.name, self.device = model, tokenizer, name, device
        self.dim = int(model.config.hidden_size)
        config = model.config
        self.max_positions = int(getattr(config, "max_position_embeddings", 0) or 0)
        if self.max_positions and getattr(config, "model_type", "") in _OFFSET_POSITION_MODELS:
            self.max_positions -= int(getattr(config, "pad_token_id", 0) or 0) + 1

    @classmethod
    def load(cls, encoder: str | os.PathLike[str] | None = None, *, device: str = "cpu") -> TokenEncoder:
        """Load ``encoder``; ModelNotFoundError naming the fix when it cannot be loaded.

        ``name`` (what a store records) is the bundled model's name for None and its aliases, the
        absolute path of a folder, or the hub name: each loads again elsewhere.
        """
        from ragsift.config import DEFAULT_EMBED_ALIASES, DEFAULT_EMBED_MODEL
        from ragsift.index.embedder import resolve_model

        given = DEFAULT_EMBED_MODEL if encoder is None else os.fspath(encoder).strip()
        source = resolve_model(given)
        name = DEFAULT_EMBED_MODEL if given.lower() in DEFAULT_EMBED_ALIASES else source
        transformers = require("transformers")
        require("torch")
        local = Path(source).is_dir()
        try:
            tokenizer = transformers.AutoTokenizer.from_pretrained(source, local_files_only=local)
            model = _encoder_model(transformers, source, local)
        except (OSError, ValueError) as exc:
            raise ModelNotFoundError(
                f"encoder={encoder!r} ({source}) is not a loadable transformer encoder ({exc}). Fix: pass a "
                "sentence-transformers or Hugging Face model folder, or leave it unset for the bundled all-MiniLM-L6-v2"
            ) from exc
        return cls(model.to(device).eval(), tokenizer, name=name, device=device)

    @property
    def specials(self) -> int:
        """Special tokens the tokenizer adds to one text ([CLS] and [SEP] for BERT)."""
        return int(self.tokenizer.num_special_tokens_to_add(pair=False))

    def cap(self, max_length: int) -> int:
        """``max_length`` capped to the model's position limit."""
        if self.max_positions and max_length > self.max_positions:
            logger.info("max_length=%d capped to %d, the position limit of encoder %r", max_length, self.max_positions, self.name)
            return self.max_positions
        return max_length

    def lengths(self, texts: Sequence[str], max_length: int) -> np.ndarray:
        """How many token vectors :meth:`encode` returns for each text (no model run)."""
        enc = self.tokenizer(list(texts), truncation=True, max_length=max_length, return_special_tokens_mask=True)
        return np.array([len(m) - sum(m) for m in enc["special_tokens_mask"]], dtype=np.int64)

    def encode(self, texts: Sequence[str], max_length: int) -> list[np.ndarray]:
        """One float32 ``(tokens, dim)`` array per text, L2-normalised rows, special tokens dropped."""
        torch = require("torch")
        enc = self.tokenizer(
            list(texts), truncation=True, max_length=max_length, padding=True,
            return_special_tokens_mask=True, return_tensors="pt",
        )
        keep = (enc.pop("special_tokens_mask") == 0) & (enc["attention_mask"] == 1)
        with torch.inference_mode():
            hidden = self.model(**{k: v.to(self.device) for k, v in enc.items()}).last_hidden_state
            hidden = torch.nn.functional.normalize(hidden.float(), dim=-1).cpu().numpy()
        mask = keep.numpy()
        return [hidden[b][mask[b]] for b in range(len(hidden))]


def _encoder_model(transformers, source: str, local: bool):
    """The transformer of ``source``: ``AutoModel``, or the encoder of a ``train-reranker`` cosine-head model.

    A cross-encoder trained by ``ragsift train-reranker`` (model type ``ragsift-cosine-bert``) is a
    domain-tuned BERT under a two-parameter head: its encoder (``base_model``) is used as is.
    """
    from ragsift.rerank import cosine_head

    config = Path(source) / "config.json"
    if local and config.is_file() and json.loads(config.read_text(encoding="utf-8")).get("model_type") == cosine_head.MODEL_TYPE:
        cosine_head.register()
        return transformers.AutoModelForSequenceClassification.from_pretrained(source, local_files_only=True).base_model
    return transformers.AutoModel.from_pretrained(source, local_files_only=local)
