"""Metadata filters: one typed model, built in Python, parsed from the CLI grammar or a JSON body.

A :class:`Filter` is an AND of :class:`Condition` s, each ``field op value`` on a chunk's
metadata (which is its document's metadata, copied onto every chunk at indexing, plus ``section``
and ``page`` for chunks of PDF, DOCX and HTML files: :mod:`ragsift.ingest.structured`). It is parsed
and validated once; the retrievers apply it *before* their top-k cut (see
:mod:`ragsift.index.retriever`). Build one with :func:`as_filter`, which accepts each form below.

String grammar (``ragsift search --filter``, and a JSON list of strings)::

    FIELD = VALUE              equal                      source=10-K
    FIELD != VALUE             not equal                  lang != en
    FIELD > VALUE              range (also >=, <, <=)     year>=2020
    FIELD in (V1, V2, ...)     equal to any of            source in (10-K, 10-Q)
    FIELD not in (V1, V2, ...) equal to none of           source not in (10-K, 10-Q)

``==`` is accepted for ``=``; ``in``/``not in`` are case-insensitive. FIELD is a metadata key
(no spaces, quotes, parentheses, commas or ``=!<>``). An unquoted VALUE that reads as a JSON
number, ``true``, ``false`` or ``null`` is that value; anything else is a string. Quote a value
('...' or "...") to keep it a string (``zip="02139"``) or to put a comma in an ``in`` list.

JSON object form (``filters`` in the body of ``POST /v1/search``, or a Python dict)::

    {"lang": "en"}                               equal
    {"year": [2020, 2021]}                       in
    {"year": {"$gte": 2020, "$lt": 2024}}        operators $eq $ne $gt $gte $lt $lte $in $nin

Semantics: equality is JSON equality (``true`` never equals ``1``; ``2020`` equals ``2020.0``).
``=``, ``in`` and ranges need the key to be present; ``!=`` and ``not in`` are their exact
complements, so a chunk without the key passes them. Ranges compare numbers with numbers and
strings with strings (ISO dates order correctly as strings); any other pair does not match.
A metadata value that is a list or an object is compared as a whole, never element-wise.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from enum import Enum
from typing import Any, Iterable, Mapping, Sequence, Union

from ragsift.errors import BadInputError

__all__ = ["Condition", "Filter", "FilterLike", "Op", "as_filter", "MISSING"]

Scalar = Union[str, int, float, bool, None]

FORMS = (
    "FIELD=VALUE, FIELD!=VALUE, FIELD>VALUE, FIELD>=VALUE, FIELD<VALUE, FIELD<=VALUE, "
    "FIELD in (V1,V2,...), FIELD not in (V1,V2,...)"
)


class Op(str, Enum):
    """A condition's operator; the value is its spelling in the string grammar."""

    EQ = "="
    NE = "!="
    GT = ">"
    GE = ">="
    LT = "<"
    LE = "<="
    IN = "in"
    NOT_IN = "not in"


JSON_OPS = {
    "$eq": Op.EQ,
    "$ne": Op.NE,
    "$gt": Op.GT,
    "$gte": Op.GE,
    "$lt": Op.LT,
    "$lte": Op.LE,
    "$in": Op.IN,
    "$nin": Op.NOT_IN,
}
_LISTS = (Op.IN, Op.NOT_IN)
_RANGES = (Op.GT, Op.GE, Op.LT, Op.LE)


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()
"""Stands for a metadata key that a chunk does not have (see :meth:`Condition.test`)."""


@dataclass(frozen=True, eq=False)
class Condition:
    """``field op value``; ``value`` is a tuple for ``in``/``not in``. Validated on construction.

    Equal conditions have equal values *and types* (``flag=true`` is not ``flag=1``, although
    Python says ``True == 1``), so a condition can key a cache.
    """

    field: str
    op: Op
    value: Any

    def __post_init__(self) -> None:
        if not isinstance(self.field, str) or not self.field.strip():
            raise BadInputError(f"filter field {self.field!r} must be a non-empty metadata key")
        op = _op(self.op, self)
        object.__setattr__(self, "op", op)
        if op in _LISTS:
            object.__setattr__(self, "value", _values(self.value, self))
        else:
            _check_scalar(self.value, self, ranged=op in _RANGES)

    def _key(self) -> tuple:
        return (self.field, self.op, _typed(self.value))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Condition) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def test(self, value: Any) -> bool:
        """Whether a metadata value (or :data:`MISSING`) passes this condition."""
        op = self.op
        if op is Op.NE:
            return not _positive(Op.EQ, self.value, value)
        if op is Op.NOT_IN:
            return not _positive(Op.IN, self.value, value)
        return _positive(op, self.value, value)

    def __str__(self) -> str:
        if self.op in _LISTS:
            return f"{self.field} {self.op.value} ({', '.join(_show(v) for v in self.value)})"
        return f"{self.field}{self.op.value}{_show(self.value)}"


@dataclass(frozen=True)
class Filter:
    """An AND of conditions. ``matches(metadata)`` tells whether one chunk's metadata passes."""

    conditions: tuple[Condition, ...]

    def __post_init__(self) -> None:
        conditions = tuple(self.conditions)
        if not conditions:
            raise BadInputError("a filter needs at least one condition; pass filters=None for no filter")
        for c in conditions:
            if not isinstance(c, Condition):
                raise BadInputError(f"filter conditions must be Condition objects, got {type(c).__name__}")
        object.__setattr__(self, "conditions", conditions)

    def matches(self, metadata: Mapping[str, Any]) -> bool:
        return all(c.test(metadata.get(c.field, MISSING)) for c in self.conditions)

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(c.field for c in self.conditions))

    def to_strings(self) -> list[str]:
        """The conditions in the string grammar (``as_filter(f.to_strings()) == f``)."""
        return [str(c) for c in self.conditions]

    def __str__(self) -> str:
        return " AND ".join(self.to_strings())

    @classmethod
    def parse(cls, *expressions: str) -> "Filter":
        """Parse string-grammar expressions, ANDed: ``Filter.parse("year>=2020", "source=10-K")``."""
        return cls(tuple(parse_condition(e) for e in expressions))

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> "Filter":
        """Build from the JSON object form (see the module docstring)."""
        conditions: list[Condition] = []
        for field, spec in obj.items():
            conditions.extend(_json_conditions(str(field), spec))
        return cls(tuple(conditions))


FilterLike = Union[Filter, Mapping[str, Any], str, Sequence[Union[str, Condition]], Condition, None]


def as_filter(value: FilterLike) -> Filter | None:
    """Any accepted form → a :class:`Filter`; ``None`` and empty forms → ``None`` (no filter)."""
    if value is None or isinstance(value, Filter):
        return value
    if isinstance(value, Condition):
        return Filter((value,))
    if isinstance(value, str):
        return Filter.parse(value)
    if isinstance(value, Mapping):
        return Filter.from_json(value) if value else None
    if isinstance(value, (list, tuple)):
        if not value:
            return None
        return Filter(tuple(v if isinstance(v, Condition) else parse_condition(v) for v in value))
    raise BadInputError(
        f"filters={value!r} is not valid; give a Filter, a dict such as {{'year': {{'$gte': 2020}}}}, "
        f"or expressions such as ['year>=2020'] (forms: {FORMS})"
    )


# ---------------------------------------------------------------------------- the string grammar
_FIELD = r"(?P<field>[^\s=!<>(),'\"]+)"
_IN = re.compile(rf"^{_FIELD}\s+(?P<neg>not\s+)?in\s*\((?P<items>.*)\)$", re.IGNORECASE | re.DOTALL)
_COMPARE = re.compile(rf"^{_FIELD}\s*(?P<op>==|!=|>=|<=|=|>|<)\s*(?P<value>.*)$", re.DOTALL)
_INT = re.compile(r"^[+-]?\d+$")
_FLOAT = re.compile(r"^[+-]?(\d+\.\d*|\.\d+|\d+(\.\d*)?[eE][+-]?\d+)$")


def parse_condition(expression: str) -> Condition:
    """One string-grammar expression → a :class:`Condition`; errors name it and list the forms."""
    if not isinstance(expression, str):
        raise BadInputError(f"filter {expression!r} must be a string such as 'year>=2020' (forms: {FORMS})")
    text = expression.strip()
    match = _IN.match(text)
    if match:
        op = Op.NOT_IN if match["neg"] else Op.IN
        items = [_literal(item, expression) for item in _split_items(match["items"], expression)]
        return _condition(match["field"], op, items, expression)
    match = _COMPARE.match(text)
    if not match:
        hint = " (an in list needs parentheses: FIELD in (V1,V2))" if re.search(r"\s(not\s+)?in\s", text, re.I) else ""
        raise BadInputError(f"filter {expression!r} is not valid{hint}; use one of the forms {FORMS}")
    raw = match["value"].strip()
    if not raw:
        raise BadInputError(f"filter {expression!r} has no value after {match['op']!r}; forms: {FORMS}")
    if raw[0] in "=!<>":
        raise BadInputError(
            f"filter {expression!r}: the value {raw!r} starts with an operator character; "
            f"write the operator once (=, !=, >, >=, <, <=), or quote the value"
        )
    op = Op.EQ if match["op"] == "==" else Op(match["op"])
    return _condition(match["field"], op, _literal(raw, expression), expression)


def _condition(field: str, op: Op, value: Any, expression: str) -> Condition:
    try:
        return Condition(field, op, value)
    except BadInputError as exc:
        raise BadInputError(f"filter {expression!r}: {exc}") from None


def _split_items(text: str, expression: str) -> list[str]:
    """Split an ``in`` list on commas outside quotes; keep the quotes for :func:`_literal`."""
    items, current, quote = [], [], None
    for ch in text:
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == ",":
            items.append("".join(current))
            current = []
            continue
        current.append(ch)
    if quote:
        raise BadInputError(f"filter {expression!r} has an unclosed {quote} quote")
    items.append("".join(current))
    if len(items) == 1 and not items[0].strip():
        raise BadInputError(f"filter {expression!r} has an empty list, which matches nothing; give at least one value")
    if any(not item.strip() for item in items):
        raise BadInputError(f"filter {expression!r} has an empty item in its list; write FIELD in (V1,V2,...)")
    return items


def _literal(text: str, expression: str) -> Scalar:
    """An unquoted JSON number/true/false/null, a quoted string, or else the bare string."""
    text = text.strip()
    if len(text) >= 2 and text[0] in "'\"":
        if text[-1] != text[0]:
            raise BadInputError(f"filter {expression!r} has an unclosed {text[0]} quote")
        return text[1:-1]
    if text in ("true", "false"):
        return text == "true"
    if text == "null":
        return None
    if _INT.match(text):
        return int(text)
    if _FLOAT.match(text):
        return float(text)
    return text


# ---------------------------------------------------------------------------- the JSON form
def _json_conditions(field: str, spec: Any) -> list[Condition]:
    where = f"filters[{field!r}]"
    if isinstance(spec, Mapping):
        if not spec:
            raise BadInputError(f"{where} is an empty object; give operators such as {{'$gte': 2020}} or drop the key")
        unknown = [op for op in spec if op not in JSON_OPS]
        if unknown:
            raise BadInputError(f"{where} has unknown operator {unknown[0]!r}; allowed: {', '.join(JSON_OPS)}")
        return [_json_condition(field, JSON_OPS[op], value, f"{where}[{op!r}]") for op, value in spec.items()]
    if isinstance(spec, (list, tuple)):
        if not spec:
            raise BadInputError(
                f"{where} is an empty list, which matches nothing; give at least one value or drop the key"
            )
        return [_json_condition(field, Op.IN, spec, where)]
    return [_json_condition(field, Op.EQ, spec, where)]


def _json_condition(field: str, op: Op, value: Any, where: str) -> Condition:
    try:
        return Condition(field, op, value)
    except BadInputError as exc:
        raise BadInputError(f"{where}: {exc}") from None


# ---------------------------------------------------------------------------- checks and tests
def _op(op: Any, cond: Condition) -> Op:
    if isinstance(op, Op):
        return op
    for member in Op:
        if isinstance(op, str) and op.strip().lower() in (member.value, member.name.lower()):
            return member
    valid = ", ".join(repr(m.value) for m in Op)
    raise BadInputError(f"filter operator {op!r} on {cond.field!r} is not valid; choose one of {valid}")


def _check_scalar(value: Any, cond: Condition, *, ranged: bool) -> None:
    if isinstance(value, float) and not math.isfinite(value):
        raise BadInputError(f"{cond.field} {cond.op.value} {_json(value)}: the value must be a finite number")
    if ranged:
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise BadInputError(
                f"{cond.field} {cond.op.value} {_json(value)}: a range compares with a number or a string "
                "(e.g. year>=2020, date<2024-01-01)"
            )
    elif value is not None and not isinstance(value, (str, int, float, bool)):
        raise BadInputError(
            f"{cond.field} {cond.op.value} {_json(value)}: the value must be a string, number, true, false or null; "
            f"use 'in' for a list (forms: {FORMS})"
        )


def _values(value: Any, cond: Condition) -> tuple:
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise BadInputError(f"{cond.field} {cond.op.value} needs a list of values, got {_json(value)}")
    values = tuple(value)
    if not values:
        raise BadInputError(
            f"{cond.field} {cond.op.value} () has an empty list, which matches nothing; give at least one value"
        )
    for v in values:
        _check_scalar(v, cond, ranged=False)
    return values


def _positive(op: Op, target: Any, value: Any) -> bool:
    if value is MISSING:
        return False
    if op is Op.EQ:
        return _equal(value, target)
    if op is Op.IN:
        return any(_equal(value, t) for t in target)
    if not _comparable(value, target):
        return False
    if op is Op.GT:
        return value > target
    if op is Op.GE:
        return value >= target
    if op is Op.LT:
        return value < target
    return value <= target


def _equal(a: Any, b: Any) -> bool:
    """JSON equality: ``true`` is not ``1`` (Python says it is); containers never equal a scalar."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, (list, dict)) or isinstance(b, (list, dict)):
        return False
    return a == b


def _comparable(a: Any, b: Any) -> bool:
    if isinstance(a, str) and isinstance(b, str):
        return True
    numbers = (int, float)
    return isinstance(a, numbers) and isinstance(b, numbers) and not isinstance(a, bool) and not isinstance(b, bool)


def _typed(value: Any) -> Any:
    if isinstance(value, tuple):
        return tuple(_typed(v) for v in value)
    return (type(value).__name__, value)


def _json(value: Any) -> str:
    """A value as JSON spells it (``true``, ``null``), for error messages."""
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return repr(value)


def _show(value: Any) -> str:
    """A value in the string grammar, quoted when it would otherwise read as something else."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if not value or value != value.strip() or re.search(r"[,'\"()=!<>]", value) or _literal(value, value) != value:
        quote = "'" if '"' in value else '"'
        return f"{quote}{value}{quote}"
    return value
