"""Holdout rules: a tiny language that says which rows of a CSV are held out.

Grammar (keywords are case-insensitive; ``and`` binds tighter than ``or``)::

    rule       := and_expr ("or" and_expr)*
    and_expr   := atom ("and" atom)*
    atom       := "(" rule ")" | comparison | quantile
    comparison := COLUMN OP NUMBER            OP in >= > <= < == !=
    quantile   := ("largest" | "top" | "smallest" | "bottom") NUMBER ["%"] "by" COLUMN

Examples: ``params >= 1e9``, ``params >= 1e9 or tokens > 2e11``,
``largest 20% by sft_data_size``, ``top 3 by flops``.

A *validation* rule (:mod:`lawagent.selection.protocol`) may leave the amount
out: ``largest by params`` takes the protocol's share of the rows, so that
``--validation-fraction`` applies to it.

Quantile atoms are evaluated **per group** when the task has a group column
(otherwise over all rows): ``largest 20% by C`` holds out round(20% of the
group's rows) (at least 1) with the largest C; ``largest 3 by C`` holds out
3 rows per group. Rows tied with the last selected value are held out too, so
no scale value lands on both sides. A column name that is not a plain
identifier can be written in backquotes: ```my col` > 3``.

The rule text is tokenized and parsed here; nothing is ever evaluated as Python.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from lawagent.errors import TaskError

__all__ = ["BoolOp", "Compare", "HoldoutRule", "Quantile", "format_rule", "parse_holdout"]

_OPS = (">=", "<=", "==", "!=", ">", "<")
_LARGEST = {"largest", "top"}
_SMALLEST = {"smallest", "bottom"}
_KEYWORDS = {"and", "or", "by"} | _LARGEST | _SMALLEST

_TOKEN_RE = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
  | (?P<op>>=|<=|==|!=|>|<)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<quoted>`[^`]+`)
  | (?P<punct>[()%+-])
    """,
    re.VERBOSE,
)


@dataclass(frozen=True)
class _Token:
    kind: str  # number, op, ident, quoted, punct, end
    text: str
    pos: int


@dataclass(frozen=True)
class Compare:
    """``column op value``."""

    column: str
    op: str
    value: float


@dataclass(frozen=True)
class Quantile:
    """``largest/smallest amount[%] by column`` (per group); ``amount`` None = the protocol's share."""

    column: str
    largest: bool
    amount: float | None
    percent: bool


@dataclass(frozen=True)
class BoolOp:
    """``and`` / ``or`` of two or more parts."""

    op: str  # "and" | "or"
    parts: tuple["Node", ...]


Node = Compare | Quantile | BoolOp


def _where(text: str, pos: int) -> str:
    return f"at position {pos + 1} in holdout rule {text!r}:\n  {text}\n  {' ' * pos}^"


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN_RE.match(text, pos)
        if m is None:
            raise TaskError(f"unexpected character {text[pos]!r} {_where(text, pos)}")
        kind = m.lastgroup or ""
        if kind != "ws":
            tokens.append(_Token(kind, m.group(), pos))
        pos = m.end()
    tokens.append(_Token("end", "", len(text)))
    return tokens


class _Parser:
    def __init__(self, text: str, allow_share: bool = False) -> None:
        self.text = text
        self.allow_share = allow_share
        self.tokens = _tokenize(text)
        self.i = 0

    def peek(self) -> _Token:
        return self.tokens[self.i]

    def next(self) -> _Token:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def fail(self, what: str, tok: _Token) -> TaskError:
        found = "end of rule" if tok.kind == "end" else repr(tok.text)
        return TaskError(f"malformed holdout rule: expected {what}, found {found} {_where(self.text, tok.pos)}")

    def is_kw(self, tok: _Token, *words: str) -> bool:
        return tok.kind == "ident" and tok.text.lower() in words

    def parse(self) -> Node:
        if self.peek().kind == "end":
            raise TaskError("empty holdout rule; example: 'largest 20% by params' or 'params >= 1e9'")
        node = self.rule()
        if self.peek().kind != "end":
            raise self.fail("'and', 'or' or end of rule", self.peek())
        return node

    def rule(self) -> Node:
        parts = [self.and_expr()]
        while self.is_kw(self.peek(), "or"):
            self.next()
            parts.append(self.and_expr())
        return parts[0] if len(parts) == 1 else BoolOp("or", tuple(parts))

    def and_expr(self) -> Node:
        parts = [self.atom()]
        while self.is_kw(self.peek(), "and"):
            self.next()
            parts.append(self.atom())
        return parts[0] if len(parts) == 1 else BoolOp("and", tuple(parts))

    def atom(self) -> Node:
        tok = self.peek()
        if tok.kind == "punct" and tok.text == "(":
            self.next()
            node = self.rule()
            close = self.next()
            if not (close.kind == "punct" and close.text == ")"):
                raise self.fail("')'", close)
            return node
        if self.is_kw(tok, *(_LARGEST | _SMALLEST)):
            return self.quantile()
        if tok.kind in ("ident", "quoted") and not self.is_kw(tok, "and", "or", "by"):
            return self.comparison()
        raise self.fail("a comparison like 'params >= 1e9' or 'largest 20% by params'", tok)

    def column(self) -> str:
        tok = self.next()
        if tok.kind == "quoted":
            return tok.text[1:-1]
        if tok.kind == "ident" and tok.text.lower() not in _KEYWORDS:
            return tok.text
        raise self.fail("a column name", tok)

    def number(self) -> float:
        sign = 1.0
        tok = self.next()
        if tok.kind == "punct" and tok.text in "+-":
            sign = -1.0 if tok.text == "-" else 1.0
            tok = self.next()
        if tok.kind != "number":
            raise self.fail("a number", tok)
        return sign * float(tok.text)

    def comparison(self) -> Compare:
        col = self.column()
        op = self.next()
        if op.kind != "op":
            raise self.fail(f"a comparison operator ({', '.join(_OPS)}) after column {col!r}", op)
        return Compare(col, op.text, self.number())

    def quantile(self) -> Quantile:
        largest = self.next().text.lower() in _LARGEST
        amount_tok = self.peek()
        if self.is_kw(amount_tok, "by"):
            if not self.allow_share:
                raise self.fail("an amount such as '20%' or '3'", amount_tok)
            self.next()
            return Quantile(self.column(), largest, None, True)
        amount = self.number()
        percent = False
        if self.peek().kind == "punct" and self.peek().text == "%":
            self.next()
            percent = True
        if percent and not (0 < amount <= 100):
            raise TaskError(f"percentage must be in (0, 100], got {amount:g} {_where(self.text, amount_tok.pos)}")
        if not percent and (amount < 1 or amount != int(amount)):
            raise TaskError(
                f"row count must be a positive integer (or add '%'), got {amount:g} "
                f"{_where(self.text, amount_tok.pos)}"
            )
        by = self.next()
        if not self.is_kw(by, "by"):
            raise self.fail("'by'", by)
        return Quantile(self.column(), largest, amount, percent)


def _columns_of(node: Node) -> list[str]:
    if isinstance(node, BoolOp):
        out: list[str] = []
        for p in node.parts:
            out += [c for c in _columns_of(p) if c not in out]
        return out
    return [node.column]


def _numeric_column(df: pd.DataFrame, col: str, rule: str) -> np.ndarray:
    if col not in df.columns:
        raise TaskError(
            f"holdout rule {rule!r} uses unknown column {col!r}; available columns: {', '.join(map(str, df.columns))}"
        )
    raw = df[col]
    if pd.api.types.is_float_dtype(raw.dtype):  # already numbers (a task's loader reads features as floats)
        return raw.to_numpy(dtype=np.float64)
    values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    bad = np.isnan(values) & raw.notna().to_numpy() & (raw.astype(str).str.strip() != "").to_numpy()
    bad &= ~raw.astype(str).str.strip().str.lower().isin(["nan"]).to_numpy()
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise TaskError(
            f"holdout rule {rule!r} needs numeric column {col!r}, but row {i + 1} holds {raw.iloc[i]!r}"
        )
    return values


def _group_labels(df: pd.DataFrame, group_column: str | None) -> np.ndarray:
    if group_column is None:
        return np.zeros(len(df), dtype=np.int64)
    if group_column not in df.columns:
        raise TaskError(f"group column {group_column!r} not found; available columns: {', '.join(map(str, df.columns))}")
    column = df[group_column]
    if isinstance(column.dtype, pd.CategoricalDtype):  # the labels are its categories' text already
        return column.cat.codes.to_numpy()
    codes, _ = pd.factorize(column.astype(str), sort=False)
    return codes


def _quantile_mask(q: Quantile, values: np.ndarray, groups: np.ndarray) -> np.ndarray:
    if q.amount is None:
        raise TaskError(f"'{'largest' if q.largest else 'smallest'} by {q.column}' needs an amount here "
                        "(only validation rules may leave it to the protocol)")
    mask = np.zeros(len(values), dtype=bool)
    for g in np.unique(groups):
        idx = np.flatnonzero((groups == g) & ~np.isnan(values))
        n = len(idx)
        if n == 0:
            continue
        k = max(1, math.floor(q.amount * n / 100.0 + 0.5)) if q.percent else int(q.amount)
        k = min(k, n)
        v = values[idx]
        ordered = np.sort(v)
        if q.largest:
            threshold = ordered[n - k]
            mask[idx[v >= threshold]] = True
        else:
            threshold = ordered[k - 1]
            mask[idx[v <= threshold]] = True
    return mask


@dataclass(frozen=True)
class HoldoutRule:
    """A parsed holdout rule; ``select`` marks held-out rows (True = test)."""

    text: str
    node: Node

    def columns(self) -> list[str]:
        """Columns the rule refers to, in order of first use."""
        return _columns_of(self.node)

    def mask(self, df: pd.DataFrame, group_column: str | None = None) -> np.ndarray:
        """Boolean mask over ``df`` rows, True = selected; quantiles are per group. May select none or all."""
        cols = {c: _numeric_column(df, c, self.text) for c in self.columns()}
        return self._eval(self.node, cols, _group_labels(df, group_column))

    def select(self, df: pd.DataFrame, group_column: str | None = None) -> np.ndarray:
        """Like :meth:`mask`, for a holdout: selecting no row or every row is an error."""
        mask = self.mask(df, group_column)
        if not mask.any():
            raise TaskError(f"holdout rule {self.text!r} selects no rows: nothing would be held out")
        if mask.all():
            raise TaskError(f"holdout rule {self.text!r} selects all {len(mask)} rows: nothing would be left to fit")
        return mask

    def _eval(self, node: Node, cols: dict[str, np.ndarray], groups: np.ndarray) -> np.ndarray:
        if isinstance(node, BoolOp):
            masks = [self._eval(p, cols, groups) for p in node.parts]
            return np.logical_and.reduce(masks) if node.op == "and" else np.logical_or.reduce(masks)
        v = cols[node.column]
        if isinstance(node, Quantile):
            return _quantile_mask(node, v, groups)
        with np.errstate(invalid="ignore"):
            out = {
                ">=": v >= node.value,
                ">": v > node.value,
                "<=": v <= node.value,
                "<": v < node.value,
                "==": v == node.value,
                "!=": v != node.value,
            }[node.op]
        return out & ~np.isnan(v)


def parse_holdout(rule: str, allow_share: bool = False) -> HoldoutRule:
    """Parse a holdout rule (see module docstring); raises TaskError if malformed.

    ``allow_share`` admits quantiles without an amount (``largest by params``), as validation rules may.
    """
    if not isinstance(rule, str):
        raise TaskError(f"holdout rule must be a string, got {type(rule).__name__}")
    return HoldoutRule(rule, _Parser(rule, allow_share).parse())


def format_rule(node: Node) -> str:
    """The rule text of a parsed node (the inverse of parsing, up to spacing and redundant parentheses)."""
    if isinstance(node, BoolOp):
        return f" {node.op} ".join(f"({format_rule(p)})" if isinstance(p, BoolOp) else format_rule(p)
                                   for p in node.parts)
    col = node.column if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", node.column) and \
        node.column.lower() not in _KEYWORDS else f"`{node.column}`"
    if isinstance(node, Quantile):
        word = "largest" if node.largest else "smallest"
        if node.amount is None:
            return f"{word} by {col}"
        amount = f"{node.amount:g}%" if node.percent else f"{int(node.amount)}"
        return f"{word} {amount} by {col}"
    return f"{col} {node.op} {_shortest(node.value)}"


def _shortest(value: float) -> str:
    """The shortest text that reads back as exactly ``value`` (``1e9``, ``4.2e8``, ``0.25``)."""
    for digits in range(1, 18):
        text = f"{value:.{digits}g}"
        if float(text) == value:
            break
    mantissa, _, exponent = text.partition("e")
    return mantissa + (f"e{int(exponent)}" if exponent else "")
