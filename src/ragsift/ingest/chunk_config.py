"""Chunking settings: the modes, the length unit, and the validated config stored in manifests."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from enum import Enum
from typing import Any, Mapping, Sequence

from ragsift._enums import parse_enum
from ragsift.errors import ConfigError
from ragsift.ingest.recursive import DEFAULT_SEPARATORS, check_separators, check_size_overlap

__all__ = ["ChunkMode", "LengthUnit", "ChunkingConfig"]


class ChunkMode(str, Enum):
    """How documents are cut: not at all, recursively by separators, or by Markdown structure."""

    NONE = "none"
    RECURSIVE = "recursive"
    MARKDOWN = "markdown"


class LengthUnit(str, Enum):
    """What ``size`` and ``overlap`` count: embedding-model tokens or characters."""

    TOKENS = "tokens"
    CHARS = "chars"


@dataclass(frozen=True)
class ChunkingConfig:
    """Validated chunking settings.

    ``size``/``overlap`` bound the indexed chunks (children in parent–child mode), counted in
    ``unit``. The defaults (400 tokens, 50 overlap) follow the seeds; a collection caps a token size
    to what its embedding model reads (254 for the bundled all-MiniLM-L6-v2) and says so.
    ``parent_size`` switches on parent–child chunking: documents are first cut into parents of
    that size (with ``parent_overlap``), and each parent into children of ``size``.
    ``heading_prefix`` (Markdown mode) starts each chunk with its heading path.
    """

    mode: ChunkMode = ChunkMode.RECURSIVE
    unit: LengthUnit = LengthUnit.TOKENS
    size: int = 400
    overlap: int = 50
    separators: tuple[str, ...] = DEFAULT_SEPARATORS
    parent_size: int | None = None
    parent_overlap: int = 0
    heading_prefix: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "mode", parse_enum(ChunkMode, self.mode, param="mode"))
        object.__setattr__(self, "unit", parse_enum(LengthUnit, self.unit, param="unit"))
        object.__setattr__(self, "separators", check_separators(self.separators))
        check_size_overlap(self.size, self.overlap, size_name="size", overlap_name="overlap")
        if not isinstance(self.heading_prefix, bool):
            raise ConfigError(f"heading_prefix={self.heading_prefix!r} must be true or false")
        if self.parent_size is not None:
            self._check_parent()

    def _check_parent(self) -> None:
        if self.mode is ChunkMode.NONE:
            raise ConfigError(
                f"parent_size={self.parent_size!r} needs mode 'recursive' or 'markdown', got mode='none'; "
                "drop parent_size or change mode"
            )
        check_size_overlap(
            self.parent_size, self.parent_overlap, size_name="parent_size", overlap_name="parent_overlap"
        )
        if self.parent_size <= self.size:  # type: ignore[operator]
            raise ConfigError(
                f"parent_size={self.parent_size!r} must be larger than size={self.size!r}; "
                f"parents are cut into children of size, so use e.g. parent_size={self.size * 4}"
            )

    @property
    def parent_child(self) -> bool:
        """True when documents are cut into parents and children."""
        return self.parent_size is not None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (enums as their string values) that :meth:`from_dict` reads back."""
        data = asdict(self)
        data["mode"] = self.mode.value
        data["unit"] = self.unit.value
        data["separators"] = list(self.separators)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "ChunkingConfig":
        """Build a config from :meth:`to_dict` output; unknown keys are an error."""
        if not isinstance(data, Mapping):
            raise ConfigError(f"chunking config must be a mapping, got {type(data).__name__}")
        known = [f.name for f in fields(cls)]
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise ConfigError(f"unknown chunking setting(s) {unknown}; valid keys are {known}")
        values = dict(data)
        if isinstance(values.get("separators"), Sequence) and not isinstance(values["separators"], str):
            values["separators"] = tuple(values["separators"])
        return cls(**values)
