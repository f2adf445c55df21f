"""The metadata filter model: the string grammar, the JSON form, semantics, errors, row masks."""

from __future__ import annotations

import numpy as np
import pytest

from ragsift.errors import BadInputError
from ragsift.index.filters import FORMS, MISSING, Condition, Filter, Op, as_filter
from ragsift.index.masks import RowMasks

# ---------------------------------------------------------------------------- the string grammar


@pytest.mark.parametrize(
    "expression, field, op, value",
    [
        ("source=10-K", "source", Op.EQ, "10-K"),
        ("source == 10-K", "source", Op.EQ, "10-K"),
        ("lang != en", "lang", Op.NE, "en"),
        ("year>=2020", "year", Op.GE, 2020),
        ("year > 2019", "year", Op.GT, 2019),
        ("score<0.5", "score", Op.LT, 0.5),
        ("score <= 1e3", "score", Op.LE, 1000.0),
        ("date<2024-01-01", "date", Op.LT, "2024-01-01"),
        ("flag=true", "flag", Op.EQ, True),
        ("owner=null", "owner", Op.EQ, None),
        ('zip="02139"', "zip", Op.EQ, "02139"),
        ("title='P/E ratio, trailing'", "title", Op.EQ, "P/E ratio, trailing"),
        ("title=a=b", "title", Op.EQ, "a=b"),
        ("source in (10-K, 10-Q)", "source", Op.IN, ("10-K", "10-Q")),
        ("source IN (10-K)", "source", Op.IN, ("10-K",)),
        ("year not in (2020, 2021)", "year", Op.NOT_IN, (2020, 2021)),
        ('name in ("Smith, J.", Doe)', "name", Op.IN, ("Smith, J.", "Doe")),
    ],
)
def test_string_grammar(expression, field, op, value):
    [cond] = Filter.parse(expression).conditions
    assert (cond.field, cond.op, cond.value) == (field, op, value)
    assert type(cond.value) is type(value)


def test_to_strings_round_trips():
    flt = as_filter(["year>=2020", 'source in (10-K, "10,Q")', "lang != en", 'zip="02139"', "x not in (1, true, null)"])
    assert as_filter(flt.to_strings()) == flt
    assert str(flt) == 'year>=2020 AND source in (10-K, "10,Q") AND lang!=en AND zip="02139" AND x not in (1, true, null)'


@pytest.mark.parametrize(
    "expression, words",
    [
        ("year", ["'year'", FORMS]),
        ("year=>2020", ["'year=>2020'", "starts with an operator"]),
        ("source in 10-K", ["needs parentheses"]),
        ("source in ()", ["empty list"]),
        ("source in (a,,b)", ["empty item"]),
        ("year>=", ["no value after '>='"]),
        ("year>true", ["a range compares with a number or a string"]),
        ('title="abc', ["unclosed"]),
        ("a b=1", [FORMS]),
    ],
)
def test_bad_expressions_name_themselves_and_the_fix(expression, words):
    with pytest.raises(BadInputError) as info:
        Filter.parse(expression)
    for word in words:
        assert word in str(info.value)


# ---------------------------------------------------------------------------- the JSON form


def test_json_form_builds_the_same_model():
    from_json = as_filter({"lang": "en", "source": ["10-K", "10-Q"], "year": {"$gte": 2020, "$lt": 2024}})
    from_strings = as_filter(["lang=en", "source in (10-K, 10-Q)", "year>=2020", "year<2024"])
    assert from_json == from_strings
    assert as_filter({"a": {"$ne": 1, "$nin": [2, 3], "$eq": 4, "$gt": 0, "$lte": 9, "$in": [4]}}).to_strings() == [
        "a!=1", "a not in (2, 3)", "a=4", "a>0", "a<=9", "a in (4)"
    ]


@pytest.mark.parametrize(
    "obj, words",
    [
        ({"lang": []}, ["filters['lang']", "empty list"]),
        ({"lang": {}}, ["filters['lang']", "empty object"]),
        ({"lang": {"$regex": "e.*"}}, ["unknown operator '$regex'", "$gte"]),
        ({"year": {"$gt": [1]}}, ["filters['year']['$gt']", "range"]),
        ({"year": {"$in": 3}}, ["needs a list"]),
        ({"year": {"$eq": {"a": 1}}}, ["must be a string, number"]),
        ({"year": float("nan")}, ["finite"]),
    ],
)
def test_bad_json_names_the_key(obj, words):
    with pytest.raises(BadInputError) as info:
        as_filter(obj)
    for word in words:
        assert word in str(info.value)


def test_as_filter_accepts_every_form_and_empty_means_none():
    cond = Condition("year", ">=", 2020)
    assert cond.op is Op.GE
    assert as_filter(cond) == as_filter("year>=2020") == as_filter(["year>=2020"]) == Filter((cond,))
    assert as_filter([cond, "lang=en"]).fields == ("year", "lang")
    assert as_filter(None) is as_filter({}) is as_filter([]) is None
    with pytest.raises(BadInputError, match="filters=5"):
        as_filter(5)
    with pytest.raises(BadInputError, match="operator 'like'"):
        Condition("a", "like", "x")
    with pytest.raises(BadInputError, match="non-empty metadata key"):
        Condition(" ", Op.EQ, "x")
    with pytest.raises(BadInputError, match="at least one condition"):
        Filter(())


# ---------------------------------------------------------------------------- semantics

ROWS = [
    {"source": "10-K", "year": 2021, "flag": True, "tags": ["a"]},
    {"source": "10-Q", "year": 2019.0, "flag": 1},
    {"source": "news", "year": "2020"},
    {},
]


@pytest.mark.parametrize(
    "expression, expected",
    [
        ("source=10-K", [0]),
        ("source!=10-K", [1, 2, 3]),  # a row without the key passes the negation
        ("source in (10-K, 10-Q)", [0, 1]),
        ("source not in (10-K, 10-Q)", [2, 3]),
        ("year>=2020", [0]),  # "2020" is a string: not comparable with a number
        ("year<2020", [1]),  # 2019.0 is a number
        ("year=2019", [1]),  # 2019 == 2019.0
        ('year="2020"', [2]),
        ("year>=2000-01-01", [2]),  # strings compare with strings
        ("flag=true", [0]),  # true is not 1
        ("flag=1", [1]),
        ("tags=a", []),  # a list is compared as a whole
        ("missing=null", []),  # = needs the key
    ],
)
def test_semantics(expression, expected):
    flt = Filter.parse(expression)
    assert [i for i, row in enumerate(ROWS) if flt.matches(row)] == expected
    assert np.flatnonzero(RowMasks(ROWS).mask(flt)).tolist() == expected


def test_conditions_are_anded_and_missing_is_explicit():
    flt = as_filter(["source in (10-K, 10-Q)", "year<2020"])
    assert [flt.matches(r) for r in ROWS] == [False, True, False, False]
    assert Condition("a", Op.NE, 1).test(MISSING) and not Condition("a", Op.EQ, None).test(MISSING)


def test_row_masks_match_the_row_by_row_answer_and_are_cached():
    rng = np.random.default_rng(0)
    rows = [
        {"year": int(rng.integers(2000, 2025)), "source": str(rng.choice(["10-K", "10-Q", "news"])), "n": i}
        for i in range(500)
    ]
    for row in rows[::7]:
        del row["source"]
    masks = RowMasks(rows)
    for expression in (["year>=2020"], ["source!=news", "year<2010"], ["n in (3, 7, 499)"], ["source not in (10-K)"]):
        flt = as_filter(expression)
        mask = masks.mask(flt)
        assert mask.tolist() == [flt.matches(r) for r in rows]
        assert masks.mask(flt) is mask and not mask.flags.writeable


def test_conditions_differing_only_in_type_are_different_filters():
    assert Filter.parse("flag=true") != Filter.parse("flag=1")
    assert hash(Condition("a", Op.IN, (1, 2))) == hash(Condition("a", "in", [1, 2]))
    masks = RowMasks(ROWS)
    assert masks.mask(Filter.parse("flag=true")).tolist() == [True, False, False, False]
    assert masks.mask(Filter.parse("flag=1")).tolist() == [False, True, False, False]  # not the cached mask
