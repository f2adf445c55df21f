"""Lazy imports of optional heavy dependencies with an actionable error."""

from __future__ import annotations

import importlib
from types import ModuleType

from ragsift.errors import MissingDependencyError


def require(module: str, *, extra: str | None = None, package: str | None = None) -> ModuleType:
    """Import ``module`` or raise :class:`MissingDependencyError` naming the pip command.

    ``extra`` names the ragsift extra that installs it (``pip install 'ragsift[extra]'``);
    ``package`` is the PyPI name when it differs from the module name.
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        if extra:
            fix = f"pip install 'ragsift[{extra}]'"
        else:
            fix = f"pip install {package or module}"
        raise MissingDependencyError(
            f"{module!r} is required for this feature but is not installed ({exc}). Fix: {fix}"
        ) from exc
