"""Settings a reranker model carries with it: ``ragsift_reranker.json`` in the model folder.

``ragsift train-reranker`` tunes them on its held-out dev queries and writes them next to the
weights; everything that loads the model (``search --rerank``, ``serve``, ``eval``,
:class:`~ragsift.pipeline.search.Searcher` through :func:`ragsift.rerank.registry.get_reranker`)
uses them as defaults. The file (version 1)::

    {"format": "ragsift-reranker-settings", "version": 1,
     "settings": {"interpolate": 0.5, "candidates": 30, "max_length": 256,
                  "text_fields": ["title", "text"],
                  "first_stage": {"mode": "hybrid", "fusion": "rrf", "bm25_depth": 100, "dense_depth": 100}},
     "trained_on": {"dataset": "scifact", "split": "train", "corpus_fingerprint": "…", "documents": 5183},
     "tuning": {…how the values were chosen: dev queries, metric, scores per depth and weight…}}

Precedence, per setting (:func:`resolve`): an explicit option (flag, request field, argument) →
its environment variable where one exists (``RERANKER_MAX_LENGTH``) → the model's file → the
built-in default. When the candidate depth is set explicitly and differs from the recorded one,
the model's interpolation weight is the one tuned at the nearest depth (``tuning.by_depth``;
source ``"model@DEPTH"``), because the best weight depends on the depth. Each applied value carries its source (``"option"``, the variable's name,
``"model"``, ``"default"``), which results and ``--json`` report as ``rerank_settings``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from ragsift.errors import ConfigError
from ragsift.types import TEXT_FIELDS

__all__ = [
    "SETTINGS_FILE",
    "FORMAT",
    "VERSION",
    "ModelSettings",
    "Applied",
    "OFF",
    "read_model_settings",
    "write_model_settings",
    "resolve",
    "report",
]

SETTINGS_FILE = "ragsift_reranker.json"
FORMAT = "ragsift-reranker-settings"
VERSION = 1

#: An explicit "off" (``--interpolate none``): wins over the model's value and applies nothing.
OFF = "none"


@dataclass(frozen=True)
class ModelSettings:
    """The recommended settings of one model (any of them may be missing: None)."""

    interpolate: float | None = None
    candidates: int | None = None
    max_length: int | None = None
    text_fields: tuple[str, ...] = TEXT_FIELDS
    first_stage: Mapping[str, Any] = field(default_factory=dict)
    trained_on: Mapping[str, Any] = field(default_factory=dict)
    tuning: Mapping[str, Any] = field(default_factory=dict)
    path: Path | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        where = f" in {self.path}" if self.path else ""
        if self.interpolate is not None and not (isinstance(self.interpolate, (int, float)) and 0.0 <= self.interpolate <= 1.0):
            raise ConfigError(f"interpolate={self.interpolate!r}{where} must be a weight in [0, 1]")
        for name in ("candidates", "max_length"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ConfigError(f"{name}={value!r}{where} must be an integer >= 1")
        fields = tuple(self.text_fields)
        if not fields or any(f not in TEXT_FIELDS for f in fields):
            raise ConfigError(f"text_fields={list(fields)!r}{where} must be a non-empty list of 'title' and 'text'")
        object.__setattr__(self, "text_fields", fields)

    @property
    def fingerprint(self) -> str | None:
        """The fingerprint of the corpus the model was trained and tuned on (None: unknown)."""
        return self.trained_on.get("corpus_fingerprint")

    def interpolate_at(self, candidates: int) -> tuple[float | None, int | None]:
        """The weight tuned for ``candidates`` first-stage hits, and the depth it was tuned at.

        ``tuning.by_depth`` holds one tuned weight per depth tried; the nearest tried depth wins
        (ties: the deeper one). Without per-depth tuning: the recorded ``interpolate`` and
        ``candidates``.
        """
        tuned = {}
        for depth, entry in (self.tuning.get("by_depth") or {}).items():
            weight = entry.get("interpolate") if isinstance(entry, Mapping) else None
            try:
                depth = int(depth)
            except (TypeError, ValueError):
                continue
            if isinstance(weight, (int, float)) and not isinstance(weight, bool) and 0.0 <= weight <= 1.0 and depth >= 1:
                tuned[depth] = float(weight)
        if not tuned:
            return self.interpolate, self.candidates
        depth = min(tuned, key=lambda d: (abs(d - candidates), -d))
        return tuned[depth], depth

    def values(self) -> dict[str, Any]:
        """The settings that loaders apply, by name."""
        return {
            "interpolate": self.interpolate,
            "candidates": self.candidates,
            "max_length": self.max_length,
            "text_fields": list(self.text_fields),
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": VERSION,
            "settings": {**self.values(), "first_stage": dict(self.first_stage)},
            "trained_on": dict(self.trained_on),
            "tuning": dict(self.tuning),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], path: Path | None = None) -> "ModelSettings":
        where = str(path) if path else "reranker settings"
        if not isinstance(data, Mapping) or data.get("format") != FORMAT:
            raise ConfigError(f"{where} is not a ragsift reranker settings file (format {FORMAT!r} expected)")
        if data.get("version") != VERSION:
            raise ConfigError(f"{where} has version {data.get('version')!r}; this ragsift reads version {VERSION}")
        s = data.get("settings") or {}
        return cls(
            interpolate=s.get("interpolate"),
            candidates=s.get("candidates"),
            max_length=s.get("max_length"),
            text_fields=tuple(s.get("text_fields") or TEXT_FIELDS),
            first_stage=dict(s.get("first_stage") or {}),
            trained_on=dict(data.get("trained_on") or {}),
            tuning=dict(data.get("tuning") or {}),
            path=path,
        )


def read_model_settings(model: str | Path | None) -> ModelSettings | None:
    """The settings file of a local model folder; None when ``model`` is no folder or has no file.

    Models without the file (hub models, older trained ones) read only their body, as they were
    trained: ``ModelSettings(text_fields=("text",))`` is returned for a folder that has a
    ``ragsift_train.json`` but no settings file.
    """
    if model is None:
        return None
    folder = Path(model).expanduser()
    try:
        if not folder.is_dir():
            return None
    except OSError:
        return None
    path = folder / SETTINGS_FILE
    if not path.is_file():
        if (folder / "ragsift_train.json").is_file():
            return ModelSettings(text_fields=("text",), path=None)
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"reranker settings {path} are not readable JSON ({exc}); fix or delete the file") from exc
    return ModelSettings.from_dict(data, path)


def write_model_settings(model_dir: str | Path, settings: ModelSettings) -> Path:
    """Write ``settings`` into ``model_dir`` atomically (temp file, fsync, rename)."""
    from ragsift.files import atomic_write_text

    path = Path(model_dir) / SETTINGS_FILE
    atomic_write_text(path, json.dumps(settings.to_dict(), indent=2, allow_nan=False) + "\n")
    return path


@dataclass(frozen=True)
class Applied:
    """One applied setting: its value (None: off) and where it came from."""

    value: Any
    source: str

    def to_dict(self) -> dict[str, Any]:
        value = list(self.value) if isinstance(self.value, tuple) else self.value
        return {"value": value, "source": self.source}


def resolve(
    name: str,
    explicit: Any = None,
    *,
    env: tuple[Any, str] | None = None,
    model: ModelSettings | None = None,
    default: Any = None,
) -> Applied:
    """The value of setting ``name``: explicit option → environment ``(value, variable)`` → model → default.

    ``explicit=OFF`` (``"none"``) is an explicit "off": value None, source ``"option"``.
    """
    if isinstance(explicit, str) and explicit.strip().lower() == OFF:
        return Applied(None, "option")
    if explicit is not None:
        return Applied(explicit, "option")
    if env is not None:
        return Applied(env[0], env[1])
    value = getattr(model, name, None) if model is not None else None
    if value is not None:
        return Applied(value, "model")
    return Applied(default, "default")


def report(applied: Mapping[str, Applied]) -> dict[str, dict[str, Any]]:
    """``{name: {"value": …, "source": …}}`` for results and ``--json``."""
    return {name: a.to_dict() for name, a in applied.items()}
