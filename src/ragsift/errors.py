"""One exception hierarchy for ragsift.

Every error raised on purpose by ragsift derives from :class:`RagsiftError`, so callers can
catch one type. Messages name the parameter or input, the bad value, what is allowed, and the fix.
"""

from __future__ import annotations

__all__ = [
    "RagsiftError",
    "ConfigError",
    "BadInputError",
    "MissingDependencyError",
    "ModelNotFoundError",
    "CollectionError",
]


class RagsiftError(Exception):
    """Base class of every error ragsift raises on purpose."""


class ConfigError(RagsiftError, ValueError):
    """A parameter or setting has a value that is not allowed."""


class BadInputError(RagsiftError, ValueError):
    """Input data is malformed. Carries the file and line when known."""

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None):
        self.path = path
        self.line = line
        where = ""
        if path is not None:
            where = f"{path}:{line}: " if line is not None else f"{path}: "
        super().__init__(f"{where}{message}")


class MissingDependencyError(RagsiftError, ImportError):
    """An optional dependency is not installed; the message gives the pip command."""


class ModelNotFoundError(RagsiftError, OSError):
    """A model name or path could not be loaded; the message says how to fix it."""


class CollectionError(RagsiftError):
    """A collection directory is missing, unreadable, or of an unsupported version."""
