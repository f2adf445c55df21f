"""Token counts with the served cross-encoder's own tokenizer: NIM ``usage`` and Cohere ``max_tokens_per_doc``.

Only a local cross-encoder has a tokenizer here; for other rerankers :meth:`TokenCounter.for_reranker`
returns None, NIM answers without ``usage`` and ``max_tokens_per_doc`` is left to the reranker.
The tokenizer is loaded from the model's folder (or hub cache) after the model's warm-up, with
the public ``transformers.AutoTokenizer`` API.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from ragsift._lazy import require
from ragsift.rerank.base import Reranker
from ragsift.service.scoring import Truncate, iter_rerankers

__all__ = ["TokenCounter"]


class TokenCounter:
    """Counts (query, passage) pair tokens and cuts texts to a token budget."""

    def __init__(self, tokenizer: Any, max_length: int):
        self.tokenizer = tokenizer
        self.max_length = max_length

    @classmethod
    def for_reranker(cls, reranker: Reranker) -> "TokenCounter | None":
        """A counter for the first local cross-encoder inside ``reranker`` (after its warm-up), else None."""
        from ragsift.rerank.cross_encoder import CrossEncoderReranker

        ce = next((r for r in iter_rerankers(reranker) if isinstance(r, CrossEncoderReranker)), None)
        if ce is None:
            return None
        transformers = require("transformers", package="transformers")
        local = os.path.isdir(ce.model_path)
        tokenizer = transformers.AutoTokenizer.from_pretrained(ce.model_path, local_files_only=local)
        return cls(tokenizer, ce.effective_max_length)

    def pair_tokens(self, query: str, passages: Sequence[str], truncate: Truncate) -> int:
        """Tokens the model reads for all pairs, special tokens included, after ``END`` truncation."""
        if not passages:
            return 0
        kwargs: dict[str, Any] = {"return_attention_mask": False, "return_token_type_ids": False}
        if truncate is Truncate.END:
            kwargs.update(truncation="only_second", max_length=self.max_length)
        else:
            kwargs.update(truncation=False, verbose=False)
        enc = self.tokenizer([query] * len(passages), list(passages), **kwargs)
        return sum(len(ids) for ids in enc["input_ids"])

    def cut(self, texts: Sequence[str], max_tokens: int) -> list[str]:
        """Each text cut after its first ``max_tokens`` tokens (unchanged when shorter)."""
        if not getattr(self.tokenizer, "is_fast", False):
            return list(texts)  # offsets need a fast tokenizer; the model's END truncation still applies
        enc = self.tokenizer(
            list(texts), add_special_tokens=False, return_offsets_mapping=True, truncation=False, verbose=False
        )
        out = []
        for text, ids, offsets in zip(texts, enc["input_ids"], enc["offset_mapping"]):
            out.append(text[: offsets[max_tokens - 1][1]] if len(ids) > max_tokens else text)
        return out
