"""Build a cross-encoder folder offline from a BERT encoder (by default the bundled MiniLM).

No pretrained reranker weights can be downloaded on offline machines, so ragsift builds its own
starting point: a ``BertForSequenceClassification`` with one output (a relevance logit) whose
encoder weights are copied from a BERT encoder folder, optionally keeping only the first
``num_layers`` transformer layers (layer pruning: fewer layers, proportionally less compute).

**The classification head is random (seeded) until the model is trained.** Scores of a freshly
built model are meaningless for ranking quality; the folder is good for speed benchmarks, tests,
and as the starting point of fine-tuning. Compute per pair does not depend on the weights' values.

The output folder holds ``config.json``, ``model.safetensors``, the tokenizer files and a
``ragsift_build.json`` manifest; ``sentence_transformers.CrossEncoder(out_dir)``,
``AutoModelForSequenceClassification.from_pretrained(out_dir)`` and
:class:`~ragsift.rerank.cross_encoder.CrossEncoderReranker` load it.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from ragsift._lazy import require
from ragsift.files import atomic_write_dir
from ragsift.errors import ConfigError, ModelNotFoundError

__all__ = ["BUILD_MANIFEST", "build_cross_encoder_from_encoder"]

BUILD_MANIFEST = "ragsift_build.json"
"""File name of the manifest written into every built folder (source, layers, seed, head)."""

TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "tokenizer_config.json", "special_tokens_map.json")


def build_cross_encoder_from_encoder(
    src_encoder_dir: str | os.PathLike[str] | None,
    out_dir: str | os.PathLike[str],
    *,
    num_layers: int | None = None,
    seed: int = 0,
) -> Path:
    """Write a single-logit BERT cross-encoder built from ``src_encoder_dir`` to ``out_dir``.

    ``src_encoder_dir`` is a BERT encoder folder (``config.json`` with ``model_type: bert``, the
    weights and tokenizer files); ``None`` means the bundled all-MiniLM-L6-v2. ``num_layers``
    keeps the first N encoder layers (``None``: all). ``seed`` fixes the random classification
    head (and the pooler, when the source has none). ``out_dir`` must not exist, be empty, or be
    a previous build by this function (it is then replaced). The folder is written to a staging
    directory first and renamed into place, so a crash never leaves a half-written model.
    Returns ``out_dir``.
    """
    src = _source_dir(src_encoder_dir)
    out = Path(out_dir).expanduser()
    _check_out_dir(out)
    torch = require("torch")
    transformers = require("transformers")

    config = transformers.BertConfig.from_pretrained(src, local_files_only=True)
    total_layers = config.num_hidden_layers
    num_layers = _check_num_layers(num_layers, total_layers)
    encoder = transformers.BertModel.from_pretrained(src, local_files_only=True)
    state = _pruned_state(encoder.state_dict(), num_layers)

    config.num_hidden_layers = num_layers
    config.num_labels = 1
    config.architectures = ["BertForSequenceClassification"]
    torch.manual_seed(seed)
    model = transformers.BertForSequenceClassification(config)
    missing, unexpected = model.bert.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.startswith("pooler.")]
    if missing or unexpected:
        raise ModelNotFoundError(
            f"src_encoder_dir={str(src)!r}: its weights do not fit a BERT encoder "
            f"(missing {missing[:5]}, unexpected {unexpected[:5]}). Fix: pass a BertModel folder"
        )
    manifest = {
        "builder": "ragsift.rerank.build.build_cross_encoder_from_encoder",
        "source": str(src),
        "num_layers": num_layers,
        "source_layers": total_layers,
        "seed": seed,
        "head": "random (untrained): scores carry no relevance signal until the model is fine-tuned",
    }
    atomic_write_dir(out, lambda staging: _save(model, src, staging, manifest))
    return out


def _source_dir(src_encoder_dir: str | os.PathLike[str] | None) -> Path:
    if src_encoder_dir is None:
        from ragsift.index.embedder import default_model_path

        return Path(default_model_path())
    src = Path(src_encoder_dir).expanduser()
    if not (src / "config.json").is_file():
        raise ModelNotFoundError(
            f"src_encoder_dir={str(src_encoder_dir)!r} is not a model folder (no config.json). "
            "Fix: pass a local BERT encoder folder, or None for the bundled all-MiniLM-L6-v2"
        )
    model_type = json.loads((src / "config.json").read_text(encoding="utf-8")).get("model_type")
    if model_type != "bert":
        raise ConfigError(
            f"src_encoder_dir={str(src)!r} has model_type={model_type!r}; only 'bert' encoders "
            "are supported. Fix: pass a BERT encoder folder (e.g. the bundled all-MiniLM-L6-v2)"
        )
    return src.resolve()


def _check_num_layers(num_layers: int | None, total: int) -> int:
    if num_layers is None:
        return total
    if isinstance(num_layers, bool) or not isinstance(num_layers, int) or not 1 <= num_layers <= total:
        raise ConfigError(
            f"num_layers={num_layers!r} is not valid; the source encoder has {total} layers. "
            f"Fix: use an integer in 1..{total}, or None to keep all layers"
        )
    return num_layers


def _pruned_state(state: dict, num_layers: int) -> dict:
    """Drop the weights of encoder layers ``num_layers`` and above."""
    kept = {}
    for key, value in state.items():
        if key.startswith("encoder.layer."):
            if int(key.split(".")[2]) >= num_layers:
                continue
        kept[key] = value
    return kept


def _check_out_dir(out: Path) -> None:
    if not out.exists():
        return
    if not out.is_dir():
        raise ConfigError(f"out_dir={str(out)!r} is a file. Fix: pass a new or empty folder")
    if any(out.iterdir()) and not (out / BUILD_MANIFEST).is_file():
        raise ConfigError(
            f"out_dir={str(out)!r} is not empty and was not written by this builder; refusing to "
            "overwrite it. Fix: pass a new or empty folder"
        )


def _save(model, src: Path, staging: Path, manifest: dict) -> None:
    model.save_pretrained(staging, safe_serialization=True)
    for name in TOKENIZER_FILES:
        if (src / name).is_file():
            shutil.copy2(src / name, staging / name)
    if not (staging / "tokenizer.json").is_file() and not (staging / "vocab.txt").is_file():
        raise ModelNotFoundError(
            f"src_encoder_dir={str(src)!r} has no tokenizer files ({', '.join(TOKENIZER_FILES)}). "
            "Fix: pass a folder saved with its tokenizer"
        )
    (staging / BUILD_MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
