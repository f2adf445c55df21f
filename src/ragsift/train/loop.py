"""Pieces shared by the training loops: schedule, optimizer groups, progress, time cap, atomic save."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ragsift.errors import ConfigError
from ragsift.files import atomic_write_dir

__all__ = ["Schedule", "StepClock", "TrainLog", "linear_warmup_decay", "check_out_dir", "write_model_dir", "positive", "fraction"]


def linear_warmup_decay(step: int, total: int, warmup: int) -> float:
    """LR multiplier at ``step`` (0-based): linear warm-up over ``warmup`` steps, then linear decay to 0 at ``total``."""
    if warmup > 0 and step < warmup:
        return (step + 1) / warmup
    return max(0.0, (total - step) / max(1, total - warmup))


@dataclass
class TrainLog:
    """Loss curve (mean loss per ``every`` steps) and timings, saved in the model's manifest."""

    every: int = 10
    losses: list[float] = field(default_factory=list)
    _window: list[float] = field(default_factory=list)
    steps: int = 0
    stopped_early: str | None = None

    def add(self, loss: float) -> None:
        self.steps += 1
        self._window.append(loss)
        if len(self._window) == self.every:
            self.flush()

    def flush(self) -> None:
        if self._window:
            self.losses.append(round(sum(self._window) / len(self._window), 5))
            self._window = []

    def summary(self) -> dict[str, Any]:
        self.flush()
        return {"steps": self.steps, "loss_every": self.every, "loss_curve": self.losses, "stopped_early": self.stopped_early}


class StepClock:
    """Wall-clock cap for a training loop: ``expired()`` once ``max_minutes`` have passed (never when None)."""

    def __init__(self, max_minutes: float | None) -> None:
        self.start = time.monotonic()
        self.deadline = None if max_minutes is None else self.start + 60.0 * max_minutes

    def expired(self) -> bool:
        return self.deadline is not None and time.monotonic() >= self.deadline

    def elapsed(self) -> float:
        return time.monotonic() - self.start


class Schedule:
    """The LR multiplier per step: linear warm-up, then linear decay to 0 at the last step that fits.

    Without a time cap the last step is the planned one. With a :class:`StepClock` deadline, the
    speed measured so far (from step :data:`PROBE_STEPS` on, re-measured every
    :data:`REPLAN_EVERY` steps) predicts how many steps fit before the deadline, and the warm-up
    and decay are re-planned over that many steps. So a run cut by ``--max-minutes`` still
    anneals its learning rate to zero instead of stopping at a high rate mid-schedule.
    """

    PROBE_STEPS = 10
    REPLAN_EVERY = 25

    def __init__(self, planned: int, warmup: float, clock: StepClock) -> None:
        self.planned = planned
        self.warmup_fraction = warmup
        self.clock = clock
        self.total = planned
        self._mark: tuple[int, float] | None = None

    @property
    def warmup(self) -> int:
        return int(self.warmup_fraction * self.total)

    def factor(self, step: int) -> float:
        """The multiplier for ``step`` (0-based), re-planning the total first when it is time."""
        if self.clock.deadline is not None:
            if step == self.PROBE_STEPS // 2:
                self._mark = (step, time.monotonic())  # the first steps (allocations, caches) are slower
            elif self._mark is not None and step >= self.PROBE_STEPS and (step - self.PROBE_STEPS) % self.REPLAN_EVERY == 0:
                done, since = self._mark
                per_step = (time.monotonic() - since) / max(1, step - done)
                fits = step + int(max(0.0, self.clock.deadline - time.monotonic()) / per_step)
                self.total = max(step + 1, min(self.planned, fits))
        return linear_warmup_decay(step, self.total, self.warmup)


def check_out_dir(out: Path, manifest_name: str) -> None:
    """``out`` must be new, empty, or a previous output of the same trainer (it is then replaced)."""
    if not out.exists():
        return
    if not out.is_dir():
        raise ConfigError(f"--out {str(out)!r} is a file. Fix: pass a new or empty folder")
    if any(out.iterdir()) and not (out / manifest_name).is_file():
        raise ConfigError(
            f"--out {str(out)!r} is not empty and was not written by this trainer; refusing to overwrite it. "
            "Fix: pass a new or empty folder"
        )


def write_model_dir(out: Path, write: Callable[[Path], None], manifest_name: str, manifest: dict) -> Path:
    """Call ``write(staging)``, add the manifest, then move the staging folder to ``out`` (replacing an old one)."""

    def fill(staging: Path) -> None:
        write(staging)
        (staging / manifest_name).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")

    return atomic_write_dir(out, fill)


def positive(value: Any, param: str, *, kind: type = int, allow_zero: bool = False, allow_none: bool = False):
    """Validate a positive (or non-negative) int/float option; ConfigError names the option."""
    if value is None and allow_none:
        return None
    ok = not isinstance(value, bool) and isinstance(value, (int, float) if kind is float else int)
    if ok and (value > 0 or (allow_zero and value == 0)):
        return kind(value)
    bound = ">= 0" if allow_zero else "> 0"
    raise ConfigError(f"{param}={value!r} is not valid; use {'a number' if kind is float else 'an integer'} {bound}")


def fraction(value: Any, param: str, *, upper_open: bool = True) -> float:
    """Validate a number in [0, 1) (or [0, 1])."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0 or value > 1 or (upper_open and value == 1):
        raise ConfigError(f"{param}={value!r} is not valid; use a number in [0, {'1)' if upper_open else '1]'}")
    return float(value)
