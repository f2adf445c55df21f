"""ONNX Runtime backend for cross-encoders: export once, verify, optionally quantize, run.

Needs the ``onnx`` extra (``pip install 'ragsift[onnx]'``); imports are lazy.

Files written to ``onnx_dir`` (default: ``<model folder>/onnx``; for hub models
``<ragsift home>/onnx/<org--name>``, the home being ``$RAGSIFT_HOME`` or ``~/.cache/ragsift``,
see :func:`ragsift.config.home`):

* ``ragsift-fp32.onnx`` — ``torch.onnx.export(..., dynamo=False)`` of the model's logits with
  dynamic batch and sequence axes, opset :data:`OPSET`. Right after export it is checked against
  torch on a padded sample of a different shape than the one traced; a difference above
  :data:`EXPORT_ATOL` (times the largest logit when that exceeds 1) deletes it and raises :class:`OnnxExportError`.
* ``ragsift-int8.onnx`` — dynamic int8 quantization of the MatMul weights with
  ``per_channel=True, reduce_range=True`` (the library defaults lose too much accuracy).
* a ``.json`` sidecar per file (inputs, versions, measured difference).

An export is reused when it and its sidecar exist and it is newer than the model weights (the
int8 file: newer than the fp32 file); otherwise it is rebuilt. Files are written under a
temporary name and renamed into place, so concurrent processes never read half a file.
Sessions use one intra-op thread per available core.
"""

from __future__ import annotations

import json
import os
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ragsift._lazy import require
from ragsift.files import atomic_write, atomic_write_text
from ragsift.errors import ConfigError, RagsiftError

__all__ = [
    "EXPORT_ATOL",
    "FP32_FILE",
    "INT8_FILE",
    "OPSET",
    "OnnxExportError",
    "OnnxRunner",
    "available_cores",
    "default_onnx_dir",
    "ensure_onnx",
    "weights_mtime",
]

FP32_FILE = "ragsift-fp32.onnx"
INT8_FILE = "ragsift-int8.onnx"
OPSET = 17
EXPORT_ATOL = 1e-4
"""Largest allowed |logit(onnx fp32) - logit(torch)| on the verification sample."""

_WEIGHT_PATTERNS = ("*.safetensors", "pytorch_model*.bin")


class OnnxExportError(RagsiftError, RuntimeError):
    """The ONNX export of a model does not reproduce its torch outputs, or cannot be loaded."""


def available_cores() -> int:
    """CPU cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def default_onnx_dir(model_path: str, name: str) -> Path:
    """``<model folder>/onnx`` for a local model; a per-model folder in ragsift's cache for hub names."""
    if os.path.isdir(model_path):
        return Path(model_path) / "onnx"
    from ragsift.config import home

    return home() / "onnx" / name.replace("/", "--")


def weights_mtime(model_path: str) -> float | None:
    """Newest modification time of the model's weight files; None when they cannot be located."""
    folder = Path(model_path) if os.path.isdir(model_path) else _cached_snapshot(model_path)
    if folder is None:
        return None
    times = [p.stat().st_mtime for pattern in _WEIGHT_PATTERNS for p in folder.glob(pattern)]
    return max(times) if times else None


def _cached_snapshot(repo_id: str) -> Path | None:
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(repo_id, local_files_only=True))
    except Exception:  # not cached: the export is then treated as stale and rebuilt
        return None


def ensure_onnx(
    model: Any,
    *,
    input_names: Sequence[str],
    onnx_dir: Path,
    weights_mtime: float | None,
    trace_features: dict[str, np.ndarray],
    verify_features: dict[str, np.ndarray],
    quantize: str | None = None,
) -> Path:
    """Return the path of an up-to-date, verified ONNX file for ``model`` (exporting if needed)."""
    require("onnxruntime", extra="onnx")
    require("onnx", extra="onnx")
    _make_dir(onnx_dir)
    fp32 = onnx_dir / FP32_FILE
    if not _is_fresh(fp32, weights_mtime, input_names):
        export_verified(model, fp32, input_names, trace_features, verify_features)
    if quantize is None:
        return fp32
    if quantize != "int8":
        raise ConfigError(f"quantize={quantize!r} is not valid; choose 'int8' or None")
    int8 = onnx_dir / INT8_FILE
    if not _is_fresh(int8, fp32.stat().st_mtime, input_names):
        quantize_int8(fp32, int8, input_names, verify_features)
    return int8


def export_verified(
    model: Any,
    path: Path,
    input_names: Sequence[str],
    trace_features: dict[str, np.ndarray],
    verify_features: dict[str, np.ndarray],
) -> float:
    """Export ``model``'s logits to ``path``; raise OnnxExportError if it differs from torch."""
    torch = require("torch")
    names = list(input_names)
    wrapper = _logits_module(model, names).eval()
    args = tuple(torch.from_numpy(trace_features[n]) for n in names)
    axes = {n: {0: "batch", 1: "sequence"} for n in names} | {"logits": {0: "batch"}}

    def export(tmp: Path) -> float:
        # Tracer warnings (values treated as constants) are what the verification below checks.
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            warnings.filterwarnings("ignore", message=".*aten::index.*", category=UserWarning)
            torch.onnx.export(
                wrapper, args, str(tmp), input_names=names, output_names=["logits"],
                dynamic_axes=axes, opset_version=OPSET, do_constant_folding=True, dynamo=False,
            )  # fmt: skip
            expected = wrapper(*(torch.from_numpy(verify_features[n]) for n in names))[:, 0].numpy()
        got = OnnxRunner(tmp, names, threads=1)(verify_features)
        diff = float(np.max(np.abs(got - expected)))
        bound = EXPORT_ATOL * max(1.0, float(np.max(np.abs(expected))))  # fp32 rounding grows with the logits
        if not diff <= bound:
            raise OnnxExportError(
                f"the ONNX export of the model differs from torch by {diff:.2e} (> {bound:.2e}) on the "
                "verification sample, so it was discarded. Fix: use backend='torch' for this model, or "
                "report the model name and versions of torch/transformers/onnxruntime"
            )
        return diff

    diff = atomic_write(path, export)
    _write_sidecar(path, names, {"kind": "fp32", "max_abs_diff_vs_torch": diff})
    return diff


def quantize_int8(fp32: Path, int8: Path, input_names: Sequence[str], verify_features: dict[str, np.ndarray]) -> float:
    """Dynamic int8 quantization of MatMul weights (per channel, reduced range) to ``int8``."""
    quantization = require("onnxruntime.quantization", extra="onnx")
    names = list(input_names)

    def quantize(tmp: Path) -> float:
        quantization.quantize_dynamic(
            str(fp32), str(tmp), per_channel=True, reduce_range=True,
            op_types_to_quantize=["MatMul"], weight_type=quantization.QuantType.QInt8,
        )  # fmt: skip
        quantized = OnnxRunner(tmp, names, threads=1)(verify_features)
        return float(np.max(np.abs(quantized - OnnxRunner(fp32, names, threads=1)(verify_features))))

    diff = atomic_write(int8, quantize)
    _write_sidecar(int8, list(input_names), {"kind": "int8", "max_abs_diff_vs_fp32": diff})
    return diff


class OnnxRunner:
    """An ONNX Runtime CPU session returning the first logit of each row as float64."""

    def __init__(self, path: str | os.PathLike[str], input_names: Sequence[str], *, threads: int | None = None) -> None:
        ort = require("onnxruntime", extra="onnx")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or available_cores()
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        try:
            self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise OnnxExportError(
                f"ONNX Runtime cannot load {path} ({exc}). Fix: delete the file to re-export it"
            ) from exc
        self.input_names = list(input_names)
        found = sorted(i.name for i in self.session.get_inputs())
        if found != sorted(self.input_names):
            raise OnnxExportError(
                f"{path} takes inputs {found}, but the tokenizer produces {sorted(self.input_names)}. "
                "Fix: delete the file to re-export it"
            )

    def __call__(self, features: dict[str, np.ndarray]) -> np.ndarray:
        (logits,) = self.session.run(["logits"], {n: features[n] for n in self.input_names})
        return logits[:, 0].astype(np.float64)


def _logits_module(model: Any, names: Sequence[str]) -> Any:
    """Wrap a HF model so tracing sees positional tensor inputs and one logits tensor output."""
    torch = require("torch")

    class LogitsOnly(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, *tensors: Any) -> Any:
            return self.model(**dict(zip(names, tensors))).logits

    return LogitsOnly()


def _is_fresh(path: Path, source_mtime: float | None, input_names: Sequence[str]) -> bool:
    sidecar = path.with_suffix(".json")
    if source_mtime is None or not path.is_file() or not sidecar.is_file():
        return False
    try:
        meta = json.loads(sidecar.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return meta.get("inputs") == list(input_names) and path.stat().st_mtime > source_mtime


def _write_sidecar(path: Path, input_names: list[str], extra: dict) -> None:
    torch = require("torch")
    ort = require("onnxruntime", extra="onnx")
    meta = {
        "inputs": input_names,
        "opset": OPSET,
        "torch": torch.__version__,
        "onnxruntime": ort.__version__,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        **extra,
    }
    atomic_write_text(path.with_suffix(".json"), json.dumps(meta, indent=2) + "\n")


def _make_dir(onnx_dir: Path) -> None:
    try:
        onnx_dir.mkdir(parents=True, exist_ok=True)
        probe = onnx_dir / f".write-test-{os.getpid()}"
        probe.touch()
        probe.unlink()
    except OSError as exc:
        raise ConfigError(
            f"onnx_dir={str(onnx_dir)!r} cannot be written ({exc}). Fix: pass onnx_dir=<a writable folder>"
        ) from exc
