"""Row masks: which rows of an embedded index pass a metadata :class:`~ragsift.index.filters.Filter`.

Each metadata field a filter names is factorized once into an integer code per row and the list
of its distinct values. A condition is then tested once per *distinct* value and broadcast to the
rows with one numpy ``take``, so a low-cardinality field (year, source, lang) costs a few Python
calls per query whatever the number of rows. Columns and the last few masks are cached; a
:class:`RowMasks` describes one fixed list of rows (build a new one when the rows change).
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from typing import Any, Mapping, Sequence

import numpy as np

from ragsift.index.filters import MISSING, Filter

__all__ = ["RowMasks"]

_CACHED_MASKS = 16


class RowMasks:
    """Boolean row masks of filters over ``rows`` (one metadata mapping per index row)."""

    def __init__(self, rows: Sequence[Mapping[str, Any]]):
        self._rows = rows
        self._columns: dict[str, tuple[np.ndarray, list[Any]]] = {}
        self._masks: OrderedDict[Filter, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._rows)

    def mask(self, flt: Filter) -> np.ndarray:
        """``True`` for each row whose metadata passes ``flt`` (read-only array, one per row)."""
        with self._lock:
            cached = self._masks.get(flt)
            if cached is not None:
                self._masks.move_to_end(flt)
                return cached
        mask = np.ones(len(self._rows), dtype=bool)
        for cond in flt.conditions:
            codes, values = self._column(cond.field)
            passes = np.fromiter((cond.test(v) for v in values), dtype=bool, count=len(values))
            mask &= passes[codes]
        mask.setflags(write=False)
        with self._lock:
            self._masks[flt] = mask
            while len(self._masks) > _CACHED_MASKS:
                self._masks.popitem(last=False)
        return mask

    def _column(self, field: str) -> tuple[np.ndarray, list[Any]]:
        column = self._columns.get(field)
        if column is None:
            column = self._columns[field] = _factorize(row.get(field, MISSING) for row in self._rows)
        return column

    def __repr__(self) -> str:
        return f"RowMasks(rows={len(self._rows)}, columns={sorted(self._columns)})"


def _factorize(values) -> tuple[np.ndarray, list[Any]]:
    """Codes per row and the distinct values; ``True``, ``1`` and ``1.0`` stay distinct."""
    codes: list[int] = []
    distinct: list[Any] = []
    seen: dict[Any, int] = {}
    for value in values:
        key = _key(value)
        code = seen.get(key)
        if code is None:
            code = seen[key] = len(distinct)
            distinct.append(value)
        codes.append(code)
    return np.asarray(codes, dtype=np.int64), distinct


def _key(value: Any) -> Any:
    if value is MISSING:
        return MISSING
    try:
        hash(value)
    except TypeError:  # a list or an object: compare it by its JSON text
        return ("json", json.dumps(value, sort_keys=True, default=str))
    return (type(value), value)
