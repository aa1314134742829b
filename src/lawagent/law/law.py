"""A candidate scaling law: sympy expressions over features and parameters."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, replace
from functools import cached_property, lru_cache
from typing import Iterable, Mapping, Sequence

import sympy
import sympy.printing.str

from lawagent.errors import FormulaError
from lawagent.law.guard import PARSE_SECONDS, bounded
from lawagent.law.parse import FUNCTIONS, MAX_NAME_LENGTH, parse_expression, split_formulas

MAX_COMPLEXITY = 400

Bounds = Mapping[str, tuple[float, float]]


def symbol(name: str) -> sympy.Symbol:
    """The one way lawagent makes a symbol: plain, no assumptions, any name."""
    return sympy.Symbol(name)


def complexity(expr: sympy.Expr) -> int:
    """Node count of the expression tree (PySR's measure)."""
    return sum(1 for _ in sympy.preorder_traversal(expr))


def exact_numbers(expr: sympy.Expr) -> sympy.Expr:
    """Floats that are small-denominator rationals become exact (``x^0.5`` is ``sqrt(x)``)."""
    sub = {}
    for f in expr.atoms(sympy.Float):
        v = float(f)
        for den in (1, 2, 3, 4):
            num = v * den
            if abs(num - round(num)) < 1e-12 * max(1.0, abs(num)) and abs(num) < 1e6:
                sub[f] = sympy.Rational(int(round(num)), den)
                break
    return expr.xreplace(sub) if sub else expr


@dataclass(frozen=True, eq=False)
class Law:
    """One expression per target; the free symbols that are not features are parameters.

    Build one with :meth:`parse` from text, or :meth:`from_sympy` from expressions.
    ``bounds`` and ``initial`` follow lmfit: named parameters with optional
    box constraints and starting values.

    A target written ``log(y) = g`` (its index in ``log_fitted``) is a fitted
    target transform: ``g`` is fitted to the log of the target, so every row's
    error counts relative to its size, and the law predicts ``exp(g)``.
    ``expressions`` hold the right-hand sides as written; :attr:`outputs` are
    the predictions, what everything but the fitter evaluates.
    """

    expressions: tuple[sympy.Expr, ...]
    features: tuple[str, ...]
    bounds: dict[str, tuple[float, float]] = field(default_factory=dict)
    initial: dict[str, float] = field(default_factory=dict)
    log_fitted: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if not self.expressions:
            raise FormulaError("a law needs at least one expression")
        names = {s.name for e in self.expressions for s in e.free_symbols}
        for name in self.bounds:
            if name not in names or name in self.features:
                raise FormulaError(f"bound given for {name!r}, which is not a parameter of the law")
            lo, hi = self.bounds[name]
            if not lo < hi:
                raise FormulaError(f"bound for {name!r} is empty: {lo} >= {hi}")
        if any(t not in range(len(self.expressions)) for t in self.log_fitted):
            raise FormulaError(f"log_fitted {self.log_fitted} names a target the law does not have")
        for name, value in self.initial.items():
            if not math.isfinite(value):
                raise FormulaError(f"initial value of {name!r} is not finite")

    # -- construction -----------------------------------------------------
    @classmethod
    def parse(
        cls,
        text: str | Sequence[str],
        features: Iterable[str],
        *,
        targets: Sequence[str] | None = None,
        budget: int | None = None,
        bounds: Bounds | None = None,
        initial: Mapping[str, float] | None = None,
    ) -> "Law":
        """Parse formula text (one string per target, or one string split on ';').

        A law is immutable, so the same text parses once: a proposer, the loop's
        deduplication and the evaluator all read it, with or without bounds and
        starting values (which only annotate the parsed expressions).
        """
        features = tuple(features)
        texts = tuple(split_formulas(text) if isinstance(text, str) else [t.strip() for t in text])
        law = _parse_once((cls, texts, features, None if targets is None else tuple(targets), budget))
        if not bounds and not initial:
            return law
        return _with_settings(law, tuple(sorted((k, tuple(v)) for k, v in (bounds or {}).items())),
                              tuple(sorted((initial or {}).items())))

    @classmethod
    def _parse(
        cls,
        texts: tuple[str, ...],
        features: tuple[str, ...],
        targets: Sequence[str] | None,
        budget: int | None,
        bounds: Bounds | None,
        initial: Mapping[str, float] | None,
    ) -> "Law":
        n_targets = len(targets) if targets else 1
        if len(texts) != n_targets:
            raise FormulaError(f"expected {n_targets} formula(s), one per target, separated by ';'; got {len(texts)}")
        feature_set = set(features)

        def make(name: str) -> sympy.Symbol:
            if name not in feature_set:
                if name.startswith("_"):
                    raise FormulaError(f"parameter name {name!r} may not start with '_'")
                if len(name) > MAX_NAME_LENGTH:
                    raise FormulaError(f"name {name[:20]!r}... is longer than {MAX_NAME_LENGTH} characters")
            return symbol(name)

        def build() -> "Law":
            exprs, logs = [], []
            for i, part in enumerate(texts):
                part, log = _strip_lhs(part, targets[i] if targets else None)
                if log:
                    logs.append(i)
                try:
                    exprs.append(parse_expression(part, make))
                except FormulaError as err:
                    where = f" (formula {i + 1}, for {targets[i]})" if targets and len(targets) > 1 else ""
                    raise FormulaError(f"{err}{where}") from None
            law = cls(tuple(exprs), features, dict(bounds or {}), dict(initial or {}), tuple(logs))
            law.validate(budget)
            return law

        return bounded(PARSE_SECONDS, "parsing the law", build)  # parse and checks together: no text can hang

    @classmethod
    def from_sympy(cls, expressions: sympy.Expr | Sequence[sympy.Expr], features: Iterable[str], **kwargs) -> "Law":
        """From sympy expressions you built; text must go through :meth:`parse`."""
        exprs = (expressions,) if isinstance(expressions, sympy.Basic) else tuple(expressions)
        for e in exprs:
            if not isinstance(e, sympy.Expr):
                raise FormulaError(f"Law.from_sympy takes sympy expressions, got {type(e).__name__}; use Law.parse for text")
        return cls(exprs, tuple(features), **kwargs)

    # -- properties -------------------------------------------------------
    @cached_property
    def parameters(self) -> tuple[str, ...]:
        """Parameter names in order of first appearance (reading order of the printed law)."""
        seen: dict[str, None] = {}
        for expr in self.expressions:
            for node in sympy.preorder_traversal(expr):
                if isinstance(node, sympy.Symbol) and node.name not in self.features:
                    seen.setdefault(node.name, None)
        return tuple(seen)

    @cached_property
    def used_features(self) -> tuple[str, ...]:
        names = {s.name for e in self.expressions for s in e.free_symbols}
        return tuple(f for f in self.features if f in names)

    @cached_property
    def complexity(self) -> int:
        return sum(complexity(e) for e in self.expressions)

    @property
    def n_parameters(self) -> int:
        return len(self.parameters)

    @cached_property
    def outputs(self) -> tuple[sympy.Expr, ...]:
        """What the law predicts per target: ``exp`` of a log-fitted target's right-hand side."""
        return tuple(sympy.exp(e) if t in self.log_fitted else e for t, e in enumerate(self.expressions))

    @cached_property
    def fit_form(self) -> "Law":
        """The law the fitter fits: the right-hand sides, each to its target or to the log of it."""
        return replace(self, log_fitted=()) if self.log_fitted else self

    def validate(self, budget: int | None = None) -> None:
        """Raise FormulaError if the law breaks the language's rules or the budget."""
        if self.complexity > MAX_COMPLEXITY:
            raise FormulaError(f"law has complexity {self.complexity}; the limit is {MAX_COMPLEXITY} nodes")
        if budget is not None and self.n_parameters > budget:
            raise FormulaError(
                f"law has {self.n_parameters} parameters ({', '.join(self.parameters)}); the budget is {budget}"
            )
        clash = set(self.parameters) & set(FUNCTIONS)
        if clash:
            raise FormulaError(f"{sorted(clash)[0]!r} is a function name and cannot be a parameter")
        for expr in self.expressions:
            if expr.has(sympy.zoo, sympy.nan, sympy.oo, -sympy.oo, sympy.I):
                raise FormulaError(f"law {expr} contains an infinite, undefined or complex constant")
            if expr.has(sympy.re, sympy.im, sympy.arg, sympy.conjugate):
                raise FormulaError(f"law {expr} takes a complex part (re, im, arg): the law language is real")
        if not self.used_features:
            raise FormulaError(f"law uses none of the features ({', '.join(self.features)})")

    # -- text -------------------------------------------------------------
    def texts(self) -> list[str]:
        """Round-trippable text in the law language, one formula per target."""
        return [LOG_TARGET + to_text(e) if t in self.log_fitted else to_text(e)
                for t, e in enumerate(self.expressions)]

    def text(self) -> str:
        """Round-trippable text in the law language (`; ` between targets)."""
        return "; ".join(self.texts())

    def __str__(self) -> str:
        return self.text()

    def __repr__(self) -> str:
        return f"Law({self.text()!r}, parameters={list(self.parameters)})"

    def with_values(self, values: Mapping[str, float], *, as_written: bool = False) -> tuple[sympy.Expr, ...]:
        """The predictions (:attr:`outputs`), or with ``as_written`` the right-hand sides (:attr:`expressions`),
        with parameter values substituted."""
        subs = {symbol(k): sympy.Float(v) for k, v in values.items()}
        return tuple(e.xreplace(subs) for e in (self.expressions if as_written else self.outputs))


class TextPrinter(sympy.printing.str.StrPrinter):
    """sympy's str printer, but floats in shortest round-trip form (0.353, not 0.353000000000000)."""

    def _print_Float(self, expr: sympy.Float) -> str:
        return repr(float(expr))

    def _print_Exp1(self, expr: sympy.Expr) -> str:
        return "exp(1)"  # sympy prints E, which the law language reads as a parameter

    def _print_Pi(self, expr: sympy.Expr) -> str:
        return repr(math.pi)  # the law language has no pi

    # The parser keeps exact numbers small, but Law.from_sympy takes any expression:
    # an exact number too long for str() (Python's digit limit) prints as a float,
    # so that the text form of a law never raises.
    def _print_Integer(self, expr: sympy.Integer) -> str:
        return super()._print_Integer(expr) if _printable(expr.p) else _float_text(expr)

    def _print_Rational(self, expr: sympy.Rational) -> str:
        return super()._print_Rational(expr) if _printable(expr.p) and _printable(expr.q) else _float_text(expr)


_MAX_DIGITS = 1000


def _printable(n: int) -> bool:
    return n.bit_length() <= _MAX_DIGITS * 3  # about 900 decimal digits, far inside Python's limit


def _float_text(expr: sympy.Rational) -> str:
    import mpmath

    with mpmath.workprec(64):  # mpmath converts big ints in binary: no digit limit, any exponent
        return mpmath.nstr(mpmath.mpf(expr.p) / expr.q, 17)


_PRINTER = TextPrinter({"order": "none"})


@lru_cache(maxsize=16384)
def to_text(expr: sympy.Expr) -> str:
    """Print an expression so that :func:`parse_expression` reads it back exactly.

    Printed once per expression: a proposer prints a child, parses the text and prints the parsed law
    (equal to the child) for its key, and the loop prints the law again for its record. Equal sympy
    expressions print alike (``==`` compares structure, number types and precision included).
    """
    return _PRINTER.doprint(expr).replace("Min(", "min(").replace("Max(", "max(").replace("Abs(", "abs(")


# How a log-fitted target's formula starts when printed (any target name is read: 'log(loss) = ...').
LOG_TARGET = "log(y) = "
_LOG_LHS = re.compile(r"\s*log\s*\(\s*([A-Za-z_][A-Za-z0-9_]*)\s*\)\s*")


def equation(target: str, text: str) -> str:
    """One target's formula text as an equation: ``loss = ...``, or ``log(loss) = ...`` for a law fitted to its log."""
    if text.startswith(LOG_TARGET):
        return f"log({target}) = {text[len(LOG_TARGET):]}"
    return f"{target} = {text}"


def _strip_lhs(text: str, target: str | None) -> tuple[str, bool]:
    """Accept 'target = ...', 'L = ...' or 'y = ...' prefixes that people and LLMs write; and
    'log(target) = ...', a fitted target transform. Returns the right-hand side and whether it is of the log."""
    head, sep, rest = text.partition("=")
    if not sep or "=" in rest:
        return text, False
    names = {target, "L", "y", "loss", "f"}
    if head.strip() in names:
        return rest, False
    log = _LOG_LHS.fullmatch(head)
    if log and log.group(1) in names:
        return rest, True
    said = f"the target ({target})" if target else "the target (or y)"
    raise FormulaError(f"the left of '=' must be {said} or its log, like 'log(y) = ...'; got {head.strip()!r}")


@lru_cache(maxsize=16384)
def _parse_once(key: tuple) -> Law:
    cls, texts, features, targets, budget = key
    return cls._parse(texts, features, targets, budget, None, None)


@lru_cache(maxsize=16384)
def _with_settings(law: Law, bounds: tuple, initial: tuple) -> Law:
    """``law`` with bounds and starting values (checked by the Law itself); a Law hashes by identity."""
    return replace(law, bounds={k: tuple(v) for k, v in bounds}, initial=dict(initial))
