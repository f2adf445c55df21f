"""Checks every JSON body passes before a route sees it: valid text and numbers in range.

JSON can carry values that parse but are not usable: a lone UTF-16 surrogate (``"\\ud800"``),
which is not text and cannot be encoded as UTF-8, and numbers too large for a float or an
integer of any model (``1`` followed by 400 zeros, ``1e400``). Rather than checking each field
of each route, the body limit middleware hands every body to :func:`check_json_body`, which
answers 400 naming the field (``query.text``, ``passages[3].text``) before routing. A surrogate
counts whether it is escaped or sent as raw bytes (which ``json.loads`` accepts); UTF-16 and UTF-32
bodies, which ``json.loads`` also reads, are always parsed and checked. UTF-8 bodies without such
escapes, bytes or long numbers — nearly all — cost one regular-expression scan.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from ragsift.errors import BadInputError
from ragsift.ingest.limits import check_text

__all__ = ["check_json_body", "MAX_JSON_INT"]

MAX_JSON_INT = 2**63 - 1
"""Largest integer magnitude a request may carry."""

# A surrogate arrives escaped (``\\ud800``) or as its raw 3-byte UTF-8 form (``ED A0..BF xx``), which
# is not valid UTF-8 but which Python's ``json.loads`` of bytes decodes with ``surrogatepass``.
_SUSPECT = re.compile(
    rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}|\xed[\xa0-\xbf]|[0-9]{19,}|[eE][+-]?[0-9]{3,}|NaN|Infinity"
)


def check_json_body(body: bytes) -> None:
    """BadInputError (400) naming the first field with a lone surrogate or an out-of-range number."""
    if not _SUSPECT.search(body) and not _utf16_or_32(body):
        return
    try:
        value = json.loads(body)
    except (ValueError, RecursionError):
        return  # malformed JSON: the route's parser answers it
    _walk(value)


def _utf16_or_32(body: bytes) -> bool:
    """Whether ``json.loads`` would read ``body`` as UTF-16 or UTF-32 (a BOM, or a NUL in the first
    character), where the scan for escapes and long numbers sees interleaved NULs and cannot match."""
    return body[:2] in (b"\xff\xfe", b"\xfe\xff") or b"\x00" in body[:4]


def _walk(value: Any) -> None:
    stack: list[tuple[Any, str]] = [(value, "")]
    while stack:
        item, where = stack.pop()
        if isinstance(item, dict):
            for key, sub in item.items():
                check_text(key, f"a key of {where or 'the body'}")
                stack.append((sub, f"{where}.{key}" if where else key))
        elif isinstance(item, list):
            stack.extend((sub, f"{where}[{n}]") for n, sub in enumerate(item))
        elif isinstance(item, str):
            check_text(item, where or "the body")
        elif isinstance(item, bool):
            continue
        elif isinstance(item, int) and abs(item) > MAX_JSON_INT:
            raise BadInputError(
                f"{where or 'the body'} is a {len(str(abs(item)))}-digit number, out of range; send a number "
                f"between -{MAX_JSON_INT} and {MAX_JSON_INT}"
            )
        elif isinstance(item, float) and not math.isfinite(item):
            raise BadInputError(f"{where or 'the body'} is out of range ({item!r}); send a finite number")
