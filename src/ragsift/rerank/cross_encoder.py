"""Local cross-encoder reranker (torch or ONNX Runtime) with length-aware batching.

:class:`CrossEncoderReranker` scores ``(query, passage)`` pairs with a single-logit
sequence-classification model (``BertForSequenceClassification`` and friends, e.g.
``cross-encoder/ms-marco-MiniLM-L-6-v2`` or a folder built by
:func:`ragsift.rerank.build.build_cross_encoder_from_encoder`).

How a request is scored:

1. every pair is tokenized once with the model's tokenizer;
2. identical pairs run once; pairs are sorted by token length and cut into batches of at most
   ``batch_size`` pairs and ``max_batch_tokens`` padded tokens (pairs × longest pair; one longer
   pair runs alone) that minimize padded compute (:func:`plan_batches`); each batch is padded to
   its own longest pair, never to ``max_length``;
3. the model runs under ``torch.inference_mode()`` (or in an ONNX Runtime session) and the
   logits are put back in input order. ``raw`` is the logit, ``relevance`` is ``sigmoid(logit)``.

Several requests (:meth:`CrossEncoderReranker.score_many`, what the service's micro-batcher
calls): every request is tokenized, truncated or rejected on its own, exactly as :meth:`score`
would, then the pairs of all requests that passed go through step 2 *together*, so pairs of
different queries share forward passes and short pairs of one request pad with short pairs of
another. Each request gets its own scores back in its input order, equal to scoring it alone up
to float rounding of the batch shapes (about 1e-6); a request rejected in step 1 (e.g. an over-long
passage with ``truncate="NONE"``) fails alone with ``return_exceptions=True``. ``forward_passes``
and ``rows_scored`` count the batches and pairs run so far.

Over-long pairs (``max_length`` is capped to the model's position limit):

* ``truncate="END"`` (default) cuts the end of the passage (``truncation="only_second"``). A query
  longer than :data:`MAX_QUERY_SHARE` of the window is first cut to that share (as
  sentence-transformers' ``longest_first`` truncation would), with a WARNING, and counted in
  ``queries_truncated``;
* ``truncate="NONE"`` raises :class:`~ragsift.errors.PassageTooLongError` before running the
  model, naming the first over-long passage, its token count and the limit (NIM semantics); a query
  that leaves no room for the passage raises :class:`~ragsift.errors.QueryTooLongError`;

``max_length`` defaults to the model's recorded setting (``ragsift_reranker.json``, written by
``ragsift train-reranker``; :mod:`ragsift.rerank.settings`), else 512; ``max_length_source`` says which.
* ``long_passages="window"`` scores passages longer than the budget in overlapping windows of
  ``budget`` passage tokens (``budget = max_length - query tokens - special tokens``) whose starts
  are ``window_stride`` tokens apart (default ``budget // 2``; at most ``budget`` so no token is
  skipped). The passage's score is the maximum over its windows (MaxP, Dai & Callan 2019). The
  last window holds the remaining tail, which is more than ``budget - window_stride`` tokens.
  Windows multiply the compute for long passages. No passage is cut or rejected in this mode.

Loading never falls back silently: a local folder that is not a single-logit
sequence-classification model, or a hub name that is neither cached nor downloadable, raises
:class:`~ragsift.errors.ModelNotFoundError`. With ``HF_HUB_OFFLINE=1`` an uncached hub name fails
at once instead of retrying for a minute.

Threads: ragsift never changes torch's global thread settings. Set them yourself
(``torch.set_num_threads`` or ``OMP_NUM_THREADS``). ONNX Runtime sessions use one intra-op thread
per available core.
"""

from __future__ import annotations

import functools
import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

import numpy as np

from ragsift._enums import parse_enum
from ragsift._lazy import require
from ragsift.errors import ConfigError, ModelNotFoundError, PassageTooLongError, QueryTooLongError
from ragsift.rerank.base import Reranker, ScoreOutcome, ScoreRequest, Scores, Truncate, positive_int, sigmoid
from ragsift.rerank.settings import ModelSettings, read_model_settings

__all__ = [
    "Activation",
    "Backend",
    "CrossEncoderReranker",
    "DEFAULT_MAX_BATCH_TOKENS",
    "DEFAULT_MAX_LENGTH",
    "MAX_QUERY_SHARE",
    "LongPassages",
    "Quantize",
    "Truncate",
    "plan_batches",
]

logger = logging.getLogger(__name__)

# Per-batch fixed cost of a forward pass, in token equivalents (measured on 2 AVX2 cores with
# MiniLM-L6: ~5-25 ms per call against ~0.2 ms per token). Used only to plan batches.
_BATCH_OVERHEAD_TOKENS = 64
# Models whose position ids start after the padding index (usable positions = max - pad - 1).
_OFFSET_POSITION_MODELS = frozenset({"roberta", "xlm-roberta", "xlm-roberta-xl", "camembert", "data2vec-text"})
_WARM_UP_QUERY, _WARM_UP_PASSAGE = "warm up", "a short passage to warm up the model"
#: ``max_length`` of a model that records none.
DEFAULT_MAX_LENGTH = 512
#: Padded tokens (pairs × longest pair) per forward batch by default: 32 pairs of 256 tokens, 16 of
#: 512. It bounds a batch's activation memory when the service merges many requests.
DEFAULT_MAX_BATCH_TOKENS = 8192
#: Under ``truncate="END"`` a query keeps at most this share of the window (max_length minus the
#: special tokens); the passage always keeps the rest.
MAX_QUERY_SHARE = 0.5


class LongPassages(str, Enum):
    """How passages longer than the token budget are scored."""

    TRUNCATE = "truncate"  # one pair per passage; see Truncate
    WINDOW = "window"  # overlapping windows, max score over windows (MaxP)


class Backend(str, Enum):
    """Inference engine."""

    TORCH = "torch"
    ONNX = "onnx"


class Quantize(str, Enum):
    """Weight quantization (ONNX backend only)."""

    INT8 = "int8"  # dynamic int8 on MatMul weights, per channel, reduced range


class Activation(str, Enum):
    """How the logit becomes the normalized ``relevance`` in [0, 1]."""

    SIGMOID = "sigmoid"  # relevance = sigmoid(logit): single-logit cross-encoders
    NONE = "none"  # the head already outputs a probability: relevance = clip(raw, 0, 1)


@dataclass(frozen=True)
class EncodedPairs:
    """Token ids of every row to run; ``owner[r]`` is the input passage row ``r`` belongs to."""

    input_ids: list[list[int]]
    token_type_ids: list[list[int]] | None
    owner: list[int]


class CrossEncoderReranker(Reranker):
    """Rerank with a local cross-encoder; see the module docstring for the scoring pipeline.

    ``model`` is a local folder or a Hugging Face hub name of a single-logit sequence
    classification model. The constructor validates options only; :meth:`warm_up` loads the
    model (and, for ``backend="onnx"``, exports/quantizes it once into ``onnx_dir``, see
    :mod:`ragsift.rerank.onnx_backend`) and runs one tiny batch. Scoring before
    :meth:`warm_up` warms up on first use.
    """

    truncation_modes = frozenset(Truncate)
    model_option = "model"
    options = frozenset({
        "max_length", "batch_size", "max_batch_tokens", "truncate", "device", "backend", "quantize",
        "long_passages", "window_stride", "activation", "onnx_dir",
    })
    required_options = frozenset({"model"})

    def __init__(
        self,
        model: str | os.PathLike[str],
        *,
        max_length: int | None = None,
        batch_size: int = 32,
        max_batch_tokens: int = DEFAULT_MAX_BATCH_TOKENS,
        truncate: Truncate | str = Truncate.END,
        device: str = "cpu",
        backend: Backend | str | None = None,
        quantize: Quantize | str | None = None,
        long_passages: LongPassages | str = LongPassages.TRUNCATE,
        window_stride: int | None = None,
        activation: Activation | str = Activation.SIGMOID,
        onnx_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        self.model_path = resolve_cross_encoder(model)
        self.name = os.fspath(model).strip()
        self.model_settings: ModelSettings | None = read_model_settings(self.model_path)
        recorded = self.model_settings.max_length if self.model_settings else None
        if max_length is not None:
            self.max_length_source = "option"
        elif recorded is not None:
            max_length, self.max_length_source = recorded, "model"
        else:
            max_length, self.max_length_source = DEFAULT_MAX_LENGTH, "default"
        self.max_length = positive_int(max_length, "max_length", minimum=8)
        #: Queries cut to :data:`MAX_QUERY_SHARE` of the window so far (``truncate="END"``).
        self.queries_truncated = 0
        self.batch_size = positive_int(batch_size, "batch_size")
        self.max_batch_tokens = positive_int(max_batch_tokens, "max_batch_tokens")
        #: Forward batches and (query, passage) rows run so far (warm-up included).
        self.forward_passes = 0
        self.rows_scored = 0
        self.truncate = parse_enum(Truncate, truncate, param="truncate")
        self.backend_source = "option" if backend is not None else "default"
        backend, quantize = _backend_choice(backend, quantize, device)
        self.backend = parse_enum(Backend, backend, param="backend")
        self.quantize = None if quantize is None else parse_enum(Quantize, quantize, param="quantize")
        self.long_passages = parse_enum(LongPassages, long_passages, param="long_passages")
        self.window_stride = None if window_stride is None else positive_int(window_stride, "window_stride")
        self.activation = parse_enum(Activation, activation, param="activation")
        self.device = _check_device(device, self.backend)
        if self.quantize is not None and self.backend is not Backend.ONNX:
            raise ConfigError(
                f"quantize={self.quantize.value!r} needs backend='onnx' (got backend={self.backend.value!r}). "
                "Fix: pass backend='onnx', or quantize=None"
            )
        if onnx_dir is not None and self.backend is not Backend.ONNX:
            raise ConfigError("onnx_dir is only used with backend='onnx'. Fix: drop onnx_dir or pass backend='onnx'")
        self.onnx_dir = None if onnx_dir is None else Path(onnx_dir).expanduser()
        self._tokenizer: Any = None
        self._run: Any = None  # callable: features (numpy) -> logits (numpy, shape (n,))
        self._max_len = self.max_length

    def __repr__(self) -> str:
        state = "loaded" if self._run is not None else "not loaded"
        engine = self.backend.value + (f"-{self.quantize.value}" if self.quantize else "")
        return f"CrossEncoderReranker(model={self.name!r}, backend={engine!r}, max_length={self.max_length}, {state})"

    @property
    def effective_max_length(self) -> int:
        """``max_length`` capped to the model's position limit (known after :meth:`warm_up`)."""
        return self._max_len

    def warm_up(self) -> None:
        """Load the model and tokenizer (once) and score one tiny pair so no request is cold."""
        if self._run is not None:
            return
        model, tokenizer = load_cross_encoder(self.model_path, self.name, device=self.device)
        self._max_len = _cap_max_length(self.max_length, model.config, self.name)
        self._tokenizer = tokenizer
        if self.backend is Backend.ONNX:
            self._run = self._onnx_runner(model)
        else:
            self._run = TorchRunner(model, self.device)
        self.score(_WARM_UP_QUERY, [_WARM_UP_PASSAGE])

    def score(self, query: str, documents: Sequence[str]) -> Scores:
        """Raw logits and sigmoid relevance for every document, in input order."""
        (scores,) = self.score_many([(query, documents)])
        return scores  # type: ignore[return-value]

    def score_many(
        self, requests: Sequence[ScoreRequest], *, return_exceptions: bool = False
    ) -> list[ScoreOutcome]:
        """Scores of several requests whose pairs share length-sorted forward passes (module docstring)."""
        if self._run is None:
            self.warm_up()
        batch = [(query, list(documents)) for query, documents in requests]
        results: list[ScoreOutcome | None] = [None if docs else Scores([], []) for _, docs in batch]
        encoded = self._encode_each(batch, results, return_exceptions)
        if not encoded:
            return results  # type: ignore[return-value]
        try:
            logits = self._forward(concat_pairs(list(encoded.values())))
        except Exception as exc:  # the model itself failed, so every request that reached it did
            if not return_exceptions:
                raise
            return [exc if i in encoded else r for i, r in enumerate(results)]  # type: ignore[misc]
        start = 0
        for i, enc in encoded.items():
            stop = start + len(enc.input_ids)
            raw = _max_per_owner(logits[start:stop], enc.owner, len(batch[i][1]))
            results[i] = Scores(raw=raw, relevance=[self._relevance(x) for x in raw])
            start = stop
        return results  # type: ignore[return-value]

    def _encode_each(
        self, batch: list[tuple[str, list[str]]], results: list, return_exceptions: bool
    ) -> dict[int, EncodedPairs]:
        """Each non-empty request encoded on its own; one rejected (too long...) gets its error in ``results``."""
        encoded: dict[int, EncodedPairs] = {}
        for i, (query, documents) in enumerate(batch):
            if not documents:
                continue
            try:
                encoded[i] = self._encode(query, documents)
            except Exception as exc:
                if not return_exceptions:
                    raise
                results[i] = exc
        return encoded

    # -- internals -----------------------------------------------------------------------------

    def _forward(self, encoded: EncodedPairs) -> np.ndarray:
        """Logit of every row, in row order: identical rows run once, batches by :func:`plan_batches`."""
        unique, back = dedupe_rows(encoded)
        lengths = [len(ids) for ids in unique.input_ids]
        logits = np.empty(len(lengths), dtype=np.float64)
        pad_id, names = self._pad_id(), self._input_names()
        for rows in plan_batches(lengths, self.batch_size, max_tokens=self.max_batch_tokens):
            logits[rows] = self._run(pad_batch(unique, rows, pad_id, names))
            self.forward_passes += 1
            self.rows_scored += len(rows)
        return logits[back]

    def _relevance(self, raw: float) -> float:
        if self.activation is Activation.SIGMOID:
            return sigmoid(raw)
        return min(1.0, max(0.0, raw))

    def _pad_id(self) -> int:
        pad = self._tokenizer.pad_token_id
        return 0 if pad is None else int(pad)

    def _input_names(self) -> tuple[str, ...]:
        names = self._tokenizer.model_input_names
        return ("input_ids", "attention_mask") + (("token_type_ids",) if "token_type_ids" in names else ())

    def _encode(self, query: str, documents: list[str]) -> EncodedPairs:
        if self.truncate is Truncate.END or self.long_passages is LongPassages.WINDOW:
            query = self._bounded_query(query)
        budget = self._passage_budget(query)
        if self.long_passages is LongPassages.WINDOW:
            step = min(self.window_stride or max(1, budget // 2), budget)
            return encode_pairs(self._tokenizer, query, documents, self._max_len, overlap=budget - step)
        if self.truncate is Truncate.END:
            return encode_pairs(self._tokenizer, query, documents, self._max_len)
        encoded = encode_pairs(self._tokenizer, query, documents, None)
        _reject_too_long(encoded, self._max_len, self._query_tokens(query), self._specials())
        return encoded

    def _query_tokens(self, query: str) -> int:
        return len(self._tokenizer(query, add_special_tokens=False)["input_ids"])

    def _specials(self) -> int:
        return self._tokenizer.num_special_tokens_to_add(pair=True)

    def _bounded_query(self, query: str) -> str:
        """``query`` cut to :data:`MAX_QUERY_SHARE` of the window when it is longer (a WARNING, counted)."""
        share = max(1, int(MAX_QUERY_SHARE * (self._max_len - self._specials())))
        enc = self._tokenizer(query, add_special_tokens=False, return_offsets_mapping=True)
        if len(enc["input_ids"]) <= share:
            return query
        cut = query[: enc["offset_mapping"][share - 1][1]]
        self.queries_truncated += 1
        logger.warning(
            "query of %d tokens cut to %d (%.0f%% of max_length=%d) so the passages keep the rest; "
            "truncate='NONE' refuses it instead", len(enc["input_ids"]), share, 100 * MAX_QUERY_SHARE, self._max_len,
        )
        return cut

    def _passage_budget(self, query: str) -> int:
        """Passage tokens left once the query and special tokens are in; QueryTooLongError if none."""
        q_tokens = self._query_tokens(query)
        budget = self._max_len - q_tokens - self._specials()
        if budget < 1:
            raise QueryTooLongError(
                f"the query is {q_tokens} tokens long, which leaves no room for the passage within "
                f"max_length={self._max_len} (including {self._specials()} special tokens) and truncate='NONE'. "
                "Fix: use truncate='END' (the query is then cut to half the window), shorten the query or raise "
                "max_length (up to the model's limit)",
                tokens=q_tokens, limit=self._max_len,
            )
        return budget

    def _onnx_runner(self, model: Any) -> Any:
        from ragsift.rerank import onnx_backend

        onnx_dir = self.onnx_dir or onnx_backend.default_onnx_dir(self.model_path, self.name)
        weights = onnx_backend.weights_mtime(self.model_path)
        trace, verify = (_sample_features(self._tokenizer, n, self._input_names(), self._max_len) for n in (2, 3))
        path = onnx_backend.ensure_onnx(
            model,
            input_names=self._input_names(),
            onnx_dir=onnx_dir,
            weights_mtime=weights,
            trace_features=trace,
            verify_features=verify,
            quantize=self.quantize.value if self.quantize else None,
        )
        return onnx_backend.OnnxRunner(path, self._input_names())


#: Names ``backend=`` accepts besides the :class:`Backend` values: the engine with int8 weights.
BACKEND_ALIASES = {"onnx-int8": (Backend.ONNX, Quantize.INT8), "onnx_int8": (Backend.ONNX, Quantize.INT8)}


@functools.lru_cache(maxsize=1)
def _cpuinfo() -> str:
    """``/proc/cpuinfo`` once per process ("" where there is none)."""
    try:
        return Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def cpu_default_backend(cpuinfo: str | None = None) -> str:
    """The backend on CPU when none is chosen (``--reranker-backend`` / ``RERANKER_BACKEND``).

    Chosen by measurement (docs/benchmarks.md, ``bench/backend_compare.py``): on x86 CPUs without
    AVX-512 (the 2-core AMD EPYC: AVX2 + FMA) ONNX int8 scored 1.26–2.0× the pairs/s of torch
    with NDCG@10 within 0.002 on SciFact test, so ``"onnx-int8"``; on a Xeon with AVX-512, VNNI and
    AMX int8 was slower than torch (0.96×), so there, and wherever it was never measured (other
    architectures, no ``/proc/cpuinfo``), ``"torch"``. ``cpuinfo``: the text of ``/proc/cpuinfo``
    (read when None).
    """
    if cpuinfo is None:
        cpuinfo = _cpuinfo()
    flags: set[str] = set()
    for line in cpuinfo.splitlines():
        if line.startswith("flags"):
            flags = set(line.split(":", 1)[1].split())
            break
    if "avx2" in flags and "avx512f" not in flags:
        return "onnx-int8"
    return Backend.TORCH.value


def _backend_choice(backend: Any, quantize: Any, device: Any) -> tuple[Any, Any]:
    """``(backend, quantize)`` after aliases (``onnx-int8``) and the CPU default."""
    if backend is None:  # quantize alone still needs backend="onnx" (a ConfigError says so)
        on_cpu = str(device or "cpu").strip().lower() == "cpu"
        backend = cpu_default_backend() if on_cpu and quantize is None else Backend.TORCH.value
    if isinstance(backend, str) and backend.strip().lower() in BACKEND_ALIASES:
        engine, quant = BACKEND_ALIASES[backend.strip().lower()]
        if quantize is not None and parse_enum(Quantize, quantize, param="quantize") is not quant:
            raise ConfigError(f"backend={backend!r} already sets quantize={quant.value!r}; drop quantize={quantize!r}")
        return engine, quant
    return backend, quantize


class TorchRunner:
    """Runs a sequence-classification model on padded numpy features; returns the first logit."""

    def __init__(self, model: Any, device: str) -> None:
        self.torch = require("torch")
        self.model = model.eval()
        self.device = device

    def __call__(self, features: dict[str, np.ndarray]) -> np.ndarray:
        torch = self.torch
        with torch.inference_mode():
            inputs = {k: torch.from_numpy(v).to(self.device) for k, v in features.items()}
            logits = self.model(**inputs).logits
            return logits[:, 0].float().cpu().numpy()


# -- tokenization and batching (pure functions of the tokenizer output) --------------------------


def encode_pairs(
    tokenizer: Any, query: str, passages: list[str], max_length: int | None, *, overlap: int | None = None
) -> EncodedPairs:
    """Tokenize ``(query, passage)`` pairs; only the passage is ever truncated.

    ``max_length=None`` keeps every token. ``overlap`` (with ``max_length``) turns on windows:
    over-long passages yield several rows that share ``overlap`` tokens.
    """
    kwargs: dict[str, Any] = {"return_attention_mask": False}
    if max_length is None:
        kwargs.update(truncation=False, verbose=False)
    else:
        kwargs.update(truncation="only_second", max_length=max_length)
    if overlap is not None:
        kwargs.update(return_overflowing_tokens=True, stride=overlap)
    enc = tokenizer([query] * len(passages), passages, **kwargs)
    owner = list(enc["overflow_to_sample_mapping"]) if overlap is not None else list(range(len(passages)))
    return EncodedPairs(enc["input_ids"], enc.get("token_type_ids"), owner)


def _reject_too_long(encoded: EncodedPairs, limit: int, q_tokens: int, specials: int) -> None:
    for i, ids in enumerate(encoded.input_ids):
        if len(ids) > limit:
            raise PassageTooLongError(
                f"documents[{i}] is too long: {len(ids)} tokens with the query ({q_tokens} query + "
                f"{len(ids) - q_tokens - specials} passage + {specials} special tokens) exceed the "
                f"limit of {limit} (max_length) and truncate='NONE'. Fix: use truncate='END' to cut "
                "the passage, long_passages='window' to score it in windows, or chunk it",
                index=i,
                tokens=len(ids),
                limit=limit,
            )


def plan_batches(
    lengths: Sequence[int],
    batch_size: int,
    overhead: int = _BATCH_OVERHEAD_TOKENS,
    *,
    max_tokens: int | None = None,
) -> list[list[int]]:
    """Split rows into batches of at most ``batch_size`` rows that minimize padded compute.

    Rows are sorted by length (longest first); the optimal split of that order into contiguous
    batches is found by dynamic programming over the cost ``rows × longest + overhead`` per batch
    (``overhead``: the fixed cost of one forward pass in token equivalents). ``max_tokens`` also
    caps ``rows × longest`` (padded tokens) per batch; a single row longer than that runs alone.
    Returns row indices.
    """
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    n = len(order)
    best = [0.0] + [float("inf")] * n  # best[j]: cost of batching order[:j]
    cut = [0] * (n + 1)
    for j in range(1, n + 1):
        for i in range(j - 1, max(0, j - batch_size) - 1, -1):  # batch order[i:j], longest row first
            padded = (j - i) * lengths[order[i]]
            if max_tokens is not None and j - i > 1 and padded > max_tokens:
                break  # a smaller i only adds rows and length
            cost = best[i] + padded + overhead
            if cost <= best[j]:  # ties: the larger batch
                best[j], cut[j] = cost, i
    batches, j = [], n
    while j > 0:
        batches.append(order[cut[j] : j])
        j = cut[j]
    return batches[::-1]


def pad_batch(encoded: EncodedPairs, rows: Sequence[int], pad_id: int, names: Sequence[str]) -> dict[str, np.ndarray]:
    """int64 arrays ``(len(rows), longest)`` for ``names``, padded on the right."""
    width = max(len(encoded.input_ids[r]) for r in rows)
    ids = np.full((len(rows), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(rows), width), dtype=np.int64)
    types = np.zeros((len(rows), width), dtype=np.int64)
    for k, r in enumerate(rows):
        n = len(encoded.input_ids[r])
        ids[k, :n] = encoded.input_ids[r]
        mask[k, :n] = 1
        if encoded.token_type_ids is not None:
            types[k, :n] = encoded.token_type_ids[r]
    arrays = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
    return {name: arrays[name] for name in names}


def concat_pairs(parts: Sequence[EncodedPairs]) -> EncodedPairs:
    """The rows of ``parts`` one after another (``owner`` stays each part's own)."""
    types = None if any(p.token_type_ids is None for p in parts) else [t for p in parts for t in p.token_type_ids]
    return EncodedPairs([ids for p in parts for ids in p.input_ids], types, [o for p in parts for o in p.owner])


def dedupe_rows(encoded: EncodedPairs) -> tuple[EncodedPairs, np.ndarray]:
    """``encoded`` without repeated rows, and for each original row the index of its unique row."""
    seen: dict[tuple, int] = {}
    keep: list[int] = []
    back = np.empty(len(encoded.input_ids), dtype=np.int64)
    for r, ids in enumerate(encoded.input_ids):
        types = None if encoded.token_type_ids is None else tuple(encoded.token_type_ids[r])
        k = seen.setdefault((tuple(ids), types), len(keep))
        if k == len(keep):
            keep.append(r)
        back[r] = k
    if len(keep) == len(back):
        return encoded, back
    types_kept = None if encoded.token_type_ids is None else [encoded.token_type_ids[r] for r in keep]
    return EncodedPairs([encoded.input_ids[r] for r in keep], types_kept, [encoded.owner[r] for r in keep]), back


def _max_per_owner(row_logits: np.ndarray, owner: Sequence[int], n: int) -> list[float]:
    best = np.full(n, -np.inf)
    np.maximum.at(best, np.asarray(owner, dtype=np.int64), row_logits)
    return [float(x) for x in best]


def _sample_features(tokenizer: Any, n: int, names: Sequence[str], max_length: int) -> dict[str, np.ndarray]:
    """A padded batch of ``n`` pairs of different lengths (ONNX tracing and verification)."""
    passages = [" ".join(["relevance ranking of passages"] * (3 * k + 1)) for k in range(n)]
    encoded = encode_pairs(tokenizer, "sample query", passages, min(128, max_length))
    return pad_batch(encoded, list(range(n)), tokenizer.pad_token_id or 0, names)


# -- model resolution and loading -----------------------------------------------------------------


def resolve_cross_encoder(model: Any) -> str:
    """Absolute path of an existing local folder, or a hub repo id unchanged; errors name the fix."""
    from ragsift.config import looks_like_path

    if not isinstance(model, (str, os.PathLike)) or not os.fspath(model).strip():
        raise ConfigError(
            f"model={model!r} is not valid; pass a local cross-encoder folder (build one offline with "
            "ragsift.rerank.build.build_cross_encoder_from_encoder) or a Hugging Face model name such as "
            "'cross-encoder/ms-marco-MiniLM-L-6-v2'"
        )
    value = os.fspath(model).strip()
    path = Path(value).expanduser()
    if path.is_dir():
        return str(path.resolve())
    if path.exists():
        raise ModelNotFoundError(f"model={value!r} is a file, not a model folder. Fix: pass the folder with config.json")
    if looks_like_path(value):
        raise ModelNotFoundError(
            f"model={value!r}: no such directory ({path.resolve()}). Fix: pass an existing local "
            "cross-encoder folder or a Hugging Face model name such as 'org/name'"
        )
    return value


def load_cross_encoder(model_path: str, name: str, *, device: str = "cpu") -> tuple[Any, Any]:
    """Load ``(hf_model, tokenizer)`` through sentence-transformers' ``CrossEncoder``.

    A local folder loads from disk only; a hub name is looked up in the local cache first, fails
    at once in offline mode, and is otherwise probed with one quick request before downloading.
    """
    st = require("sentence_transformers")
    from ragsift.rerank.cosine_head import register

    register()  # folders trained with `--head cosine` (model type ragsift-cosine-bert)
    if os.path.isdir(model_path):
        _check_local_config(model_path, name)
        ce = _load_local(st, model_path, name, device)
    else:
        ce = _load_hub(st, model_path, device)
    model = ce.model
    _check_single_logit(model.config, name)
    return model.eval(), ce.tokenizer


def _load_local(st: Any, path: str, name: str, device: str) -> Any:
    try:
        return st.CrossEncoder(path, device=device, local_files_only=True)
    except (OSError, ValueError) as exc:
        raise ModelNotFoundError(
            f"model={name!r}: the folder {path} is not a loadable cross-encoder ({exc}). Fix: pass a "
            "folder saved by CrossEncoder.save() / save_pretrained(), or build one with "
            "ragsift.rerank.build.build_cross_encoder_from_encoder"
        ) from exc


def _load_hub(st: Any, name: str, device: str) -> Any:
    from ragsift.config import hub_offline

    try:  # the local Hugging Face cache first: no network at all
        return st.CrossEncoder(name, device=device, local_files_only=True)
    except OSError:
        pass
    if hub_offline():
        raise _hub_not_found(name, "it is not in the local cache and offline mode (HF_HUB_OFFLINE) is on")
    _probe_hub(name)
    try:
        return st.CrossEncoder(name, device=device)
    except OSError as exc:
        raise _hub_not_found(name, f"the download failed ({exc})") from exc


def _probe_hub(name: str) -> None:
    """One metadata request without retries; ModelNotFoundError when the hub or model is unreachable."""
    from huggingface_hub import HfApi

    from ragsift.index.embedder import HUB_PROBE_TIMEOUT_S

    try:
        HfApi().model_info(name, timeout=HUB_PROBE_TIMEOUT_S)
    except Exception as exc:  # RepositoryNotFound, gated, DNS/TLS/timeouts: all mean "cannot load"
        raise _hub_not_found(name, f"{type(exc).__name__}: {exc}") from exc


def _hub_not_found(name: str, reason: str) -> ModelNotFoundError:
    return ModelNotFoundError(
        f"cross-encoder model {name!r} could not be found locally (not a folder, not in the Hugging Face "
        f"cache) or downloaded: {reason}. Fix: connect to the internet (and unset HF_HUB_OFFLINE) or "
        f"pre-download it with `hf download {name}`; or pass a local folder; or build one offline with "
        "ragsift.rerank.build.build_cross_encoder_from_encoder"
    )


def _check_local_config(path: str, name: str) -> None:
    """Refuse encoder-only folders before transformers silently adds a random head."""
    config_file = Path(path) / "config.json"
    if not config_file.is_file():
        return  # e.g. a sentence-transformers layout; checked after loading
    architectures = json.loads(config_file.read_text(encoding="utf-8")).get("architectures") or []
    if architectures and not any(a.endswith("ForSequenceClassification") for a in architectures):
        raise ModelNotFoundError(
            f"model={name!r} is not a cross-encoder: its config.json has architectures={architectures}, "
            "not a *ForSequenceClassification model, so its scoring head would be random. Fix: pass a "
            "cross-encoder folder; build one from an encoder with "
            "ragsift.rerank.build.build_cross_encoder_from_encoder (then train it)"
        )


def _check_single_logit(config: Any, name: str) -> None:
    architectures = getattr(config, "architectures", None) or []
    if architectures and not any(a.endswith("ForSequenceClassification") for a in architectures):
        raise ModelNotFoundError(
            f"model={name!r} is not a cross-encoder (architectures={architectures}). Fix: pass a "
            "*ForSequenceClassification model"
        )
    if getattr(config, "num_labels", 1) != 1:
        raise ConfigError(
            f"model={name!r} has num_labels={config.num_labels}; CrossEncoderReranker needs a "
            "single-logit relevance model (num_labels=1). Fix: use a reranker model with one output"
        )


def _cap_max_length(max_length: int, config: Any, name: str) -> int:
    limit = getattr(config, "max_position_embeddings", None)
    if not isinstance(limit, int):
        return max_length
    if config.model_type in _OFFSET_POSITION_MODELS:
        limit -= (config.pad_token_id or 0) + 1
    if max_length > limit:
        logger.info("max_length=%d capped to %d, the position limit of model %r", max_length, limit, name)
        return limit
    return max_length


# -- option validation ----------------------------------------------------------------------------


def _check_device(device: Any, backend: Backend) -> str:
    if not isinstance(device, str) or not device.strip():
        raise ConfigError(f"device={device!r} is not valid; use 'cpu', 'cuda', 'cuda:0', 'mps', ...")
    device = device.strip()
    if backend is Backend.ONNX and device != "cpu":
        raise ConfigError(
            f"device={device!r} is not supported with backend='onnx' (CPU execution provider only). "
            "Fix: use device='cpu', or backend='torch' for GPUs"
        )
    return device
