"""Parsing of string options into Enums with errors that list the valid values."""

from __future__ import annotations

from enum import Enum
from typing import TypeVar

from ragsift.errors import ConfigError

E = TypeVar("E", bound=Enum)


def parse_enum(cls: type[E], value: "E | str", *, param: str) -> E:
    """Return ``cls(value)``; on failure raise ConfigError naming ``param`` and the valid values."""
    if isinstance(value, cls):
        return value
    if isinstance(value, str):
        key = value.strip().lower()
        for member in cls:
            if str(member.value).lower() == key:
                return member
    valid = ", ".join(repr(m.value) for m in cls)
    raise ConfigError(f"{param}={value!r} is not valid; choose one of {valid}")
