"""Exact rewrites of a law that keep its predictions: each new parameter is a formula of the old ones.

A :class:`Rewrite` carries the law's expressions and, for every parameter they
hold, the expression that gives its value from the *original* fitted
parameters. So a rewrite never refits anything: the readable law's values are
computed, and its predictions equal the raw law's up to rounding.

- :func:`simplify`: exact sympy identities (logs of powers, powers of products, numbers as rationals);
- :func:`powers`: an exponential of a sum of logs is a product of powers
  (``exp(a + b*log(N) + c*log(N)*log(D))`` -> ``exp(a)*N^(b + c*log(D))``);
- :func:`fold`: a group of parameters that is one degree of freedom becomes one parameter
  (``A*B*x`` -> ``A*x``, ``E + 1`` -> ``E``, ``A*1e9^-a`` -> ``A``, ``exp(a)*x`` -> ``A*x``, ``B^4*x`` -> ``B*x``);
- :func:`normalise`: a feature of magnitude ``10^k`` is written ``(x/1e9)``, the powers of ten
  absorbed into the parameters, so that fitted values are O(1).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Mapping

import sympy

from lawagent.law.law import complexity, exact_numbers

__all__ = ["Rewrite", "fold", "normalise", "powers", "simplify"]


@dataclass(frozen=True)
class Rewrite:
    """Expressions over features (scaled ones as their own symbols) and parameters with value formulas."""

    exprs: tuple[sympy.Expr, ...]
    values: dict[sympy.Symbol, sympy.Expr]  # parameter -> its value as an expression of the original parameters
    features: frozenset[str]
    scaled: dict[sympy.Symbol, tuple[str, int]]  # symbol standing for feature/10^k -> (feature, k)

    @classmethod
    def start(cls, exprs: tuple[sympy.Expr, ...], features) -> "Rewrite":
        feats = frozenset(features)
        params = {s for e in exprs for s in e.free_symbols if s.name not in feats}
        return cls(tuple(exprs), {p: p for p in params}, feats, {})

    @property
    def complexity(self) -> int:
        return sum(complexity(e) for e in self.exprs)

    def is_parameter(self, s: sympy.Basic) -> bool:
        return isinstance(s, sympy.Symbol) and s.name not in self.features and s not in self.scaled

    def parameters(self, expr: sympy.Expr) -> set[sympy.Symbol]:
        return {s for s in expr.free_symbols if self.is_parameter(s)}

    def has_data(self, expr: sympy.Expr) -> bool:
        """Whether ``expr`` holds a feature (or a scaled feature)."""
        return any(not self.is_parameter(s) for s in expr.free_symbols)

    def with_exprs(self, exprs: tuple[sympy.Expr, ...], new: Mapping[sympy.Symbol, sympy.Expr] = {}) -> "Rewrite":
        """Replace the expressions; ``new`` gives the value formulas of new parameters (in current ones)."""
        values = dict(self.values)
        for q, formula in new.items():
            values[q] = formula.xreplace(self.values)
        live = {s for e in exprs for s in e.free_symbols}
        return replace(self, exprs=tuple(exprs), values={p: v for p, v in values.items() if p in live})

    def evaluate(self, original: Mapping[str, float]) -> dict[str, float]:
        """The values of this rewrite's parameters from the original fitted ones."""
        subs = {sympy.Symbol(k): sympy.Float(v, 30) for k, v in original.items()}
        out = {}
        for p, formula in self.values.items():
            try:
                out[p.name] = float(sympy.N(formula.xreplace(subs), 30))
            except (TypeError, ValueError):
                out[p.name] = math.nan
        return out


# ---------------------------------------------------------------------------
# simplify


def simplify(rw: Rewrite, positive: set[str]) -> Rewrite:
    """Exact identities, applied where the features involved are positive: log(x^a) = a*log(x),
    (x^a)^b = x^(a*b), (1/x)^a = x^-a; floats that are small-denominator rationals become exact."""
    exprs = []
    for e in rw.exprs:
        e = exact_numbers(e)
        if {s.name for s in e.free_symbols if s.name in rw.features} <= positive:
            e = sympy.powdenest(sympy.expand_log(e, force=True), force=True)
        exprs.append(e)
    return rw.with_exprs(tuple(exprs))


# ---------------------------------------------------------------------------
# powers


def powers(rw: Rewrite) -> Rewrite:
    """``exp(a + b*log(N) + c*log(N)*log(D) + rest)`` -> ``exp(a) * N^b * N^(c*log(D)) * exp(rest)``.

    What a log-linear fit in the exponent means, written as the literature
    writes it: powers of the features (sympy joins powers of one base, so the
    exponent reads ``N^(b + c*log(D))``). A term takes the first log of data
    among its factors as its base (a power of a log gives up one factor); terms
    without data become ``exp(a)``, which :func:`fold` makes a coefficient.
    Exact where the logs' arguments are positive, which the readable form's
    check confirms on the training rows.
    """
    return rw.with_exprs(tuple(_powers(e, rw) for e in rw.exprs))


def _powers(expr: sympy.Expr, rw: Rewrite) -> sympy.Expr:
    if not expr.args:
        return expr
    args = [_powers(a, rw) for a in expr.args]
    expr = expr.func(*args) if args != list(expr.args) else expr
    if not isinstance(expr, sympy.exp):
        return expr
    terms = sympy.Add.make_args(expr.args[0])
    bases = [_log_base(t, rw) for t in terms]
    if not any(b is not None for b, _ in bases):
        return expr
    factors, rest = [], []
    for term, (base, exponent) in zip(terms, bases):
        if base is not None:
            factors.append(sympy.Pow(base, exponent))
        elif rw.has_data(term):
            rest.append(term)
        else:
            factors.append(sympy.exp(term))
    if rest:
        factors.append(sympy.exp(sympy.Add(*rest)))
    return sympy.powsimp(sympy.Mul(*factors), combine="exp")  # N^b * N^(c*log(D)) -> N^(b + c*log(D))


def _log_base(term: sympy.Expr, rw: Rewrite) -> tuple[sympy.Expr | None, sympy.Expr]:
    """(u, e) with ``term == e*log(u)`` and ``u`` holding data, taking the first such log factor; else (None, 0)."""
    factors = list(sympy.Mul.make_args(term))
    for i, f in enumerate(factors):
        log, k = (f.base, f.exp) if isinstance(f, sympy.Pow) else (f, sympy.Integer(1))
        if not (isinstance(log, sympy.log) and rw.has_data(log.args[0]) and k.is_Integer and k > 0):
            continue
        others = factors[:i] + factors[i + 1:] + ([log ** (k - 1)] if k > 1 else [])
        return log.args[0], sympy.Mul(*others)
    return None, sympy.Integer(0)


# ---------------------------------------------------------------------------
# fold


def fold(rw: Rewrite, max_passes: int = 8) -> Rewrite:
    """Fold parameter groups that are one degree of freedom into one parameter, until none is left.

    In a sum or product, the arguments without features form a group; if one of
    the group's parameters appears nowhere else in the law (the *anchor*), the
    group can take any value by moving the anchor alone, so it is one parameter:
    it becomes the anchor, with the group's value. A sign or an inverse on the
    anchor stays outside (``-alpha`` and ``x/s`` keep their conventional form).
    """
    for _ in range(max_passes):
        counts = _counts(rw)
        new: dict[sympy.Symbol, sympy.Expr] = {}
        exprs = tuple(_fold_node(e, rw, counts, new) for e in rw.exprs)
        if not new:
            return rw
        rw = rw.with_exprs(exprs, new)
    return rw


def _counts(rw: Rewrite) -> dict[sympy.Symbol, int]:
    counts: dict[sympy.Symbol, int] = {}
    for e in rw.exprs:
        for node in sympy.preorder_traversal(e):
            if rw.is_parameter(node):
                counts[node] = counts.get(node, 0) + 1
    return counts


def _fold_node(node: sympy.Expr, rw: Rewrite, counts, new) -> sympy.Expr:
    if not node.args or not node.free_symbols:
        return node
    args = [_fold_node(a, rw, counts, new) for a in node.args]
    node = node.func(*args) if args != list(node.args) else node
    if not isinstance(node, (sympy.Add, sympy.Mul)):
        return node
    group = [a for a in node.args if not rw.has_data(a)]
    if not any(rw.parameters(a) for a in group):
        return node
    rest = [a for a in node.args if rw.has_data(a)]
    anchor, form = _anchor(node.func, group, rw, counts)
    if anchor is None or any(p in new for p in rw.parameters(node.func(*group))):
        return node
    value = node.func(*group)
    if value in (anchor, -anchor, 1 / anchor, -1 / anchor):
        return node  # a sign or an inverse on the parameter: the conventional form, nothing to fold
    if form == "inv":
        value, shown = 1 / value, 1 / anchor
    else:
        shown = anchor
    if value.could_extract_minus_sign():  # a positive parameter with the sign outside: -x/s, not x/s with s < 0
        value, shown = -value, -shown
    new[anchor] = value
    for p in rw.parameters(node.func(*group)):
        counts[p] = 0
    return node.func(shown, *rest)


def _anchor(func, group: list[sympy.Expr], rw: Rewrite, counts) -> tuple[sympy.Symbol | None, str]:
    """A parameter of the group that appears only there, as a plain argument (or its sign or inverse);
    failing that, one that is an argument's only parameter (``exp(a)``, ``B^4``, ``log(c)``): the argument
    takes any value of its range by moving it alone."""
    for a in group:
        for candidate, form in ((a, "plain"), (-a, "plain"), (1 / a if func is sympy.Mul else None, "inv")):
            if candidate is not None and rw.is_parameter(candidate) and counts.get(candidate, 0) == 1:
                return candidate, form
    for a in group:
        params = rw.parameters(a)
        if len(params) == 1:
            p = next(iter(params))
            if counts.get(p, 0) == 1:
                return p, "plain"
    return None, ""


# ---------------------------------------------------------------------------
# normalise


def normalise(rw: Rewrite, feature: str, k: int) -> Rewrite | None:
    """``feature`` written as ``(feature/10^k)``, powers of ten absorbed into parameters; None if they cannot
    all be absorbed (the law would read worse)."""
    hat = sympy.Symbol(f"{feature}__over_1e{k}")
    c = sympy.Integer(10) ** k
    rw = replace(rw, scaled={**rw.scaled, hat: (feature, k)})
    out = fold(rw.with_exprs(tuple(e.xreplace({sympy.Symbol(feature): c * hat}) for e in rw.exprs)))
    for _ in range(4):
        before = out.exprs
        out = fold(out.with_exprs(tuple(_pull_factor(e, c, out, root=True) for e in out.exprs)))
        out = fold(out.with_exprs(tuple(_split(e, c, out) for e in out.exprs)))
        if out.exprs == before:
            break
    leftover = [n for e in out.exprs for n in e.atoms(sympy.Number) if _big(n)]
    if leftover or out.complexity > rw.complexity + 2 * len(out.exprs):
        return None
    return out


def _big(f: sympy.Expr) -> bool:
    """A power of ten that a rescaled feature left behind: a number (or a power of one) of 1e2.5 or more."""
    if isinstance(f, sympy.Pow) and f.base.is_Number:
        f = f.base
    if not f.is_Number or f == 0:
        return False
    try:
        return abs(math.log10(abs(float(f)))) >= 2.5
    except (TypeError, ValueError, OverflowError):
        return False


def _pull_factor(expr: sympy.Expr, c: sympy.Expr, rw: Rewrite, root: bool = False) -> sympy.Expr:
    """A sum (not a law's top level) whose every data term carries the same power of ten ``F`` becomes
    ``F*(sum/F)``: ``(1e9*x + s)`` -> ``1e9*(x + s/1e9)``, so the power of ten can leave it."""
    if not expr.args:
        return expr
    args = [_pull_factor(a, c, rw) for a in expr.args]
    expr = expr.func(*args) if args != list(expr.args) else expr
    if root or not isinstance(expr, sympy.Add):
        return expr
    data = [a for a in expr.args if rw.has_data(a)]
    if not data:
        return expr
    common = set.intersection(*[{f for f in sympy.Mul.make_args(a) if isinstance(f, sympy.Pow) and _big(f)}
                                for a in data])
    factor = sympy.Mul(*common) if common else None
    if factor is None and all(_carries(a, c) for a in data):
        factor = c
    if factor is None:
        return expr
    return sympy.Mul(factor, sympy.Add(*[a / factor for a in expr.args]), evaluate=False)


def _carries(term: sympy.Expr, c: sympy.Expr) -> bool:
    """Whether the numeric factor of ``term`` is ``c`` times a modest rational."""
    coeff, _ = term.as_coeff_Mul()
    ratio = coeff / c
    return coeff != 0 and ratio.is_Rational and 1e-2 <= abs(float(ratio)) <= 1e2


def _constant_big(term: sympy.Expr) -> bool:
    """A term without symbols that holds a power of ten (``log(1e9)``)."""
    return not term.free_symbols and any(_big(n) for n in term.atoms(sympy.Number))


def _split(expr: sympy.Expr, c: sympy.Expr, rw: Rewrite) -> sympy.Expr:
    """Move powers of ten out of powers and logs: ``(1e9*y)^a`` -> ``1e9^a*y^a``,
    ``A*log(1e9*y + s)`` -> ``A*log(y + s/1e9) + A*log(1e9)``."""
    if not expr.args:
        return expr
    args = [_split(a, c, rw) for a in expr.args]
    if isinstance(expr, (sympy.Pow, sympy.log)) and isinstance(args[0], sympy.Add):
        data = [a for a in args[0].args if rw.has_data(a)]
        if data and all(_carries(a, c) for a in data):
            inner = sympy.Add(*[a / c for a in args[0].args])
            return sympy.log(inner) + sympy.log(c) if isinstance(expr, sympy.log) else c ** args[1] * inner ** args[1]
    expr = expr.func(*args) if args != list(expr.args) else expr
    if isinstance(expr, sympy.Pow) and isinstance(expr.base, sympy.Mul):
        big = [f for f in expr.base.args if _big(f)]
        if big:
            rest = [f for f in expr.base.args if not _big(f)]
            return sympy.Mul(*[f ** expr.exp for f in big]) * sympy.Mul(*rest) ** expr.exp
    if isinstance(expr, sympy.Mul):
        for i, f in enumerate(expr.args):
            if isinstance(f, sympy.Add) and any(_constant_big(t) for t in f.args):
                others = sympy.Mul(*(expr.args[:i] + expr.args[i + 1:]))
                return sympy.Add(*[others * t for t in f.args])
    if isinstance(expr, sympy.log) and isinstance(expr.args[0], sympy.Mul):
        big = [g for g in expr.args[0].args if _big(g)]
        if big:
            rest = sympy.Mul(*[g for g in expr.args[0].args if not _big(g)])
            return sympy.log(rest) + sympy.log(sympy.Mul(*big))
    return expr
