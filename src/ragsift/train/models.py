"""Starting points for training: resolve a base model and turn it into a single-logit cross-encoder.

``base`` is ``None`` (the bundled all-MiniLM-L6-v2 encoder), a local folder or a Hugging Face
hub name. A *cross-encoder* (``*ForSequenceClassification`` with one label) continues training
as it is; an *encoder* gets a new scoring head (BERT encoders through
:func:`ragsift.rerank.build.build_cross_encoder_from_encoder`, others through
``AutoModelForSequenceClassification(num_labels=1)``).

The head of ``BertForSequenceClassification`` reads the last layer's ``[CLS]`` vector through
the *pooler* (``tanh(W·h_cls + b)``). A bi-encoder such as all-MiniLM-L6-v2 was trained with mean
pooling, so its pooler weights never served its sentence task; :func:`reset_pooler` sets them to
the identity (``tanh(h_cls)``, the ``[CLS]`` vector passes through) or re-draws them at random.
``head="cosine"`` avoids the question: a new head on a BERT encoder is then the cosine of the
mean-pooled query and passage tokens (:mod:`ragsift.rerank.cosine_head`), the comparison the
bi-encoder was trained for.
"""

from __future__ import annotations

import json
import os
import tempfile
from enum import Enum
from pathlib import Path
from typing import Any

from ragsift._lazy import require
from ragsift.errors import ConfigError, ModelNotFoundError

__all__ = ["Head", "Pooler", "BaseModel", "load_base", "prune_layers", "reset_pooler", "freeze_bottom", "resolve_base_dir", "count_layers"]


class Head(str, Enum):
    """The scoring head of a new cross-encoder (see :mod:`ragsift.rerank.cosine_head`)."""

    COSINE = "cosine"  # w·cos(mean(query tokens), mean(passage tokens)) + b over the joint encoding
    CLS = "cls"  # BertForSequenceClassification: a linear layer over the pooled [CLS] vector


class Pooler(str, Enum):
    """What to do with the ``[CLS]`` pooler of a new scoring head."""

    AUTO = "auto"  # identity for a new head, keep for an existing cross-encoder
    IDENTITY = "identity"  # W = I, b = 0: the head sees tanh(h_cls)
    KEEP = "keep"  # the base model's pooler weights as they are
    RANDOM = "random"  # re-drawn like a fresh BERT layer (seeded)


class BaseModel:
    """A loaded starting point: ``model`` (sequence classification, one logit), ``tokenizer`` and a description."""

    def __init__(self, model: Any, tokenizer: Any, *, source: str, new_head: bool) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.source = source
        self.new_head = new_head


def resolve_base_dir(base: str | os.PathLike | None) -> Path:
    """A local folder for ``base``: the bundled encoder, an existing folder, or a hub name from the local cache / a download."""
    if base is None or (isinstance(base, str) and base.strip().lower() in {"default", "all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2"}):
        from ragsift.index.embedder import default_model_path

        return Path(default_model_path())
    value = os.fspath(base).strip()
    path = Path(value).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ModelNotFoundError(f"--base {value!r} is a folder without config.json; pass a transformers model folder")
        return path.resolve()
    from ragsift.config import hub_offline, looks_like_path

    if looks_like_path(value):
        raise ModelNotFoundError(f"--base {value!r}: no such directory ({path.resolve()}). Fix: pass an existing model folder or a hub name 'org/name'")
    hub = require("huggingface_hub")
    try:
        return Path(hub.snapshot_download(value, local_files_only=True))
    except Exception:  # not cached
        if hub_offline():
            raise ModelNotFoundError(
                f"--base {value!r} is not in the local Hugging Face cache and offline mode (HF_HUB_OFFLINE) is on. "
                "Fix: download it first (`hf download NAME`) or pass a local folder (default: the bundled all-MiniLM-L6-v2)"
            ) from None
    try:
        return Path(hub.snapshot_download(value))
    except Exception as exc:
        raise ModelNotFoundError(f"--base {value!r} could not be downloaded ({type(exc).__name__}: {exc})") from exc


def _config(src: Path) -> dict:
    return json.loads((src / "config.json").read_text(encoding="utf-8"))


def is_cross_encoder(src: Path) -> bool:
    config = _config(src)
    archs = config.get("architectures") or []
    return any(a.endswith("ForSequenceClassification") for a in archs)


def load_base(
    base: str | os.PathLike | None,
    *,
    num_layers: int | None = None,
    pooler: Pooler | str = Pooler.AUTO,
    head: Head | str = Head.CLS,
    seed: int = 0,
) -> BaseModel:
    """Load ``base`` as a single-logit sequence-classification model (see the module docstring).

    ``head`` applies to a new head only: an existing cross-encoder keeps its own.
    """
    from ragsift._enums import parse_enum
    from ragsift.rerank import cosine_head

    pooler = parse_enum(Pooler, pooler, param="pooler")
    head = parse_enum(Head, head, param="head")
    transformers = require("transformers")
    torch = require("torch")
    src = resolve_base_dir(base)
    new_head = not is_cross_encoder(src)
    model_type = _config(src).get("model_type")
    cosine_head.register()
    if new_head and head is Head.COSINE:
        if model_type != "bert":
            raise ConfigError(
                f"--head cosine needs a BERT encoder (it reads token_type_ids); --base {str(src)!r} has "
                f"model_type={model_type!r}. Fix: pass --head cls, or a BERT encoder"
            )
        model = cosine_head.new_cosine_model(src, num_layers=num_layers)  # no random weights: nothing to seed
        tokenizer = transformers.AutoTokenizer.from_pretrained(src, local_files_only=True)
        return BaseModel(model, tokenizer, source=str(src), new_head=True)
    if new_head and model_type == "bert":
        from ragsift.rerank.build import build_cross_encoder_from_encoder

        with tempfile.TemporaryDirectory(prefix="ragsift-base-") as tmp:
            built = build_cross_encoder_from_encoder(src, Path(tmp) / "ce", num_layers=num_layers, seed=seed)
            model = transformers.AutoModelForSequenceClassification.from_pretrained(built, local_files_only=True)
            tokenizer = transformers.AutoTokenizer.from_pretrained(built, local_files_only=True)
    else:
        torch.manual_seed(seed)
        kwargs = {"num_labels": 1} if new_head else {}
        model = transformers.AutoModelForSequenceClassification.from_pretrained(src, local_files_only=True, **kwargs)
        tokenizer = transformers.AutoTokenizer.from_pretrained(src, local_files_only=True)
        if getattr(model.config, "num_labels", 1) != 1:
            raise ConfigError(
                f"--base {str(src)!r} has num_labels={model.config.num_labels}; a reranker needs one relevance logit. "
                "Fix: start from an encoder (a new head is added) or a single-logit cross-encoder"
            )
        if num_layers is not None:
            prune_layers(model, num_layers)
    if pooler is Pooler.IDENTITY or (pooler is Pooler.AUTO and new_head):
        reset_pooler(model, "identity", seed=seed)
    elif pooler is Pooler.RANDOM:
        reset_pooler(model, "random", seed=seed)
    return BaseModel(model, tokenizer, source=str(src), new_head=new_head)


def _encoder_layers(model: Any):
    layers = getattr(getattr(model.base_model, "encoder", None), "layer", None)
    if layers is None:
        raise ConfigError(
            f"model type {model.config.model_type!r} has no encoder.layer list; layer pruning and freezing "
            "support BERT-like encoders. Fix: drop --num-layers / --freeze-layers"
        )
    return layers


def count_layers(model: Any) -> int:
    return len(_encoder_layers(model))


def prune_layers(model: Any, num_layers: int) -> None:
    """Keep the first ``num_layers`` encoder layers (in place)."""
    layers = _encoder_layers(model)
    if isinstance(num_layers, bool) or not isinstance(num_layers, int) or not 1 <= num_layers <= len(layers):
        raise ConfigError(f"num_layers={num_layers!r} is not valid; the model has {len(layers)} layers. Fix: use 1..{len(layers)}")
    model.base_model.encoder.layer = layers[:num_layers]
    model.config.num_hidden_layers = num_layers


def reset_pooler(model: Any, how: str, *, seed: int = 0) -> bool:
    """Set the ``[CLS]`` pooler to the identity or to seeded random weights; False when the model has no pooler."""
    torch = require("torch")
    dense = getattr(getattr(model.base_model, "pooler", None), "dense", None)
    if dense is None:
        return False
    with torch.no_grad():
        if how == "identity":
            dense.weight.copy_(torch.eye(dense.weight.shape[0], dense.weight.shape[1]))
        else:
            gen = torch.Generator().manual_seed(seed)
            std = getattr(model.config, "initializer_range", 0.02)
            dense.weight.copy_(torch.randn(dense.weight.shape, generator=gen) * std)
        dense.bias.zero_()
    return True


def freeze_bottom(model: Any, n: int) -> None:
    """Freeze the embeddings and the first ``n`` encoder layers (``n=0``: train everything)."""
    if n == 0:
        return
    layers = _encoder_layers(model)
    if not 0 <= n <= len(layers):
        raise ConfigError(f"freeze_layers={n!r} is not valid; the model has {len(layers)} layers. Fix: use 0..{len(layers)}")
    for p in model.base_model.embeddings.parameters():
        p.requires_grad = False
    for layer in layers[:n]:
        for p in layer.parameters():
            p.requires_grad = False
