"""Tests for the holdout-rule language."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from lawagent.errors import TaskError
from lawagent.holdout import BoolOp, Compare, Quantile, parse_holdout


@pytest.fixture()
def df() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "g": ["a"] * 5 + ["b"] * 5,
            "params": [1, 2, 3, 4, 5, 10, 20, 30, 40, 50],
            "tokens": [5, 4, 3, 2, 1, 5, 4, 3, 2, 1],
        }
    )


def rows(mask: np.ndarray) -> list[int]:
    return [int(i) for i in np.flatnonzero(mask)]


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ("params >= 30", [7, 8, 9]),
        ("params > 30", [8, 9]),
        ("params <= 2", [0, 1]),
        ("params < 2", [0]),
        ("params == 4", [3]),
        ("params != 4", [0, 1, 2, 4, 5, 6, 7, 8, 9]),
        ("params >= 3e1", [7, 8, 9]),
        ("params >= 0.5e2", [9]),
        ("tokens > -1 and params < 2", [0]),
    ],
)
def test_comparisons(df: pd.DataFrame, rule: str, expected: list[int]) -> None:
    assert rows(parse_holdout(rule).select(df, None)) == expected


def test_and_binds_tighter_than_or(df: pd.DataFrame) -> None:
    # params == 1 or (params >= 40 and tokens == 1)
    r = parse_holdout("params == 1 or params >= 40 and tokens == 1")
    assert isinstance(r.node, BoolOp) and r.node.op == "or"
    assert rows(r.select(df, None)) == [0, 9]
    # parentheses change it: (params == 1 or params >= 40) and tokens == 1
    assert rows(parse_holdout("(params == 1 or params >= 40) and tokens == 1").select(df, None)) == [9]


def test_keywords_case_insensitive(df: pd.DataFrame) -> None:
    assert rows(parse_holdout("params == 1 OR params == 2").select(df, None)) == [0, 1]
    assert rows(parse_holdout("LARGEST 1 BY params").select(df, None)) == [9]


def test_quantile_per_group(df: pd.DataFrame) -> None:
    assert rows(parse_holdout("largest 20% by params").select(df, "g")) == [4, 9]
    assert rows(parse_holdout("top 40% by params").select(df, "g")) == [3, 4, 8, 9]
    assert rows(parse_holdout("smallest 2 by tokens").select(df, "g")) == [3, 4, 8, 9]
    assert rows(parse_holdout("bottom 1 by params").select(df, "g")) == [0, 5]
    # without a group column it is global
    assert rows(parse_holdout("largest 20% by params").select(df, None)) == [8, 9]
    assert rows(parse_holdout("largest 3 by params").select(df, None)) == [7, 8, 9]


def test_quantile_ties_go_together() -> None:
    d = pd.DataFrame({"x": [1, 2, 3, 3, 3]})
    assert rows(parse_holdout("largest 1 by x").select(d, None)) == [2, 3, 4]


def test_quantile_combined(df: pd.DataFrame) -> None:
    assert rows(parse_holdout("largest 40% by params and tokens < 2").select(df, "g")) == [4, 9]


def test_parsed_structure_and_columns() -> None:
    r = parse_holdout("largest 20% by params or tokens >= 1e9")
    assert r.columns() == ["params", "tokens"]
    assert r.node == BoolOp("or", (Quantile("params", True, 20.0, True), Compare("tokens", ">=", 1e9)))


def test_backquoted_column() -> None:
    d = pd.DataFrame({"my col": [1.0, 2.0, 3.0]})
    assert rows(parse_holdout("`my col` > 2").select(d, None)) == [2]


def test_unknown_column_lists_available(df: pd.DataFrame) -> None:
    with pytest.raises(TaskError, match=r"unknown column 'flops'.*params, tokens"):
        parse_holdout("flops > 3").select(df, None)


def test_non_numeric_column() -> None:
    d = pd.DataFrame({"x": ["1", "two", "3"]})
    with pytest.raises(TaskError, match=r"numeric column 'x'.*row 2.*'two'"):
        parse_holdout("x > 1").select(d, None)


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ("", "empty holdout rule"),
        ("params >=", "expected a number, found end of rule"),
        ("params 3", "expected a comparison operator"),
        ("params = 3", "unexpected character '='"),
        ("params > 3 and", "expected a comparison"),
        ("(params > 3", "expected ')'"),
        ("params > 3)", "expected 'and', 'or' or end of rule"),
        ("largest 20% params", "expected 'by'"),
        ("largest 120% by params", "percentage must be in"),
        ("largest 2.5 by params", "positive integer"),
        ("largest by params", "expected an amount such as"),
        ("params > 3 params < 4", "expected 'and', 'or'"),
        ("params > x", "expected a number"),
    ],
)
def test_malformed(rule: str, message: str) -> None:
    with pytest.raises(TaskError, match=re.escape(message)):
        parse_holdout(rule)


def test_malformed_points_at_position() -> None:
    with pytest.raises(TaskError, match=r"position 11") as exc:
        parse_holdout("params >= and")
    assert "^" in str(exc.value)


@pytest.mark.parametrize(
    "rule",
    [
        "__import__('os')",
        "__import__('os').system('echo hi') > 1",
        "params > 1; import os",
        "params.__class__ > 1",
        "params > 1 or exec('x')",
        "lambda: 1",
        "params > [1]",
    ],
)
def test_hostile_text_rejected(df: pd.DataFrame, rule: str) -> None:
    with pytest.raises(TaskError):
        parse_holdout(rule).select(df, None)


def test_selects_nothing_or_everything(df: pd.DataFrame) -> None:
    with pytest.raises(TaskError, match="selects no rows"):
        parse_holdout("params > 1e9").select(df, None)
    with pytest.raises(TaskError, match="selects all 10 rows"):
        parse_holdout("params > 0").select(df, None)
