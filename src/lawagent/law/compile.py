"""Compile a law to numpy: values and the parameter Jacobian in one CSE'd function."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Callable, Sequence

import numpy as np
import sympy
from sympy.printing.numpy import NumPyPrinter

from lawagent.law.law import Law

ArrayList = list[np.ndarray]


@dataclass(frozen=True, eq=False)
class CompiledLaw:
    """Fast numeric form of a :class:`Law`.

    ``values(X, P)`` and ``values_and_jacobian(X, P)`` take the feature arrays
    in ``law.used_features`` order and the parameter arrays in
    ``law.parameters`` order; all arrays broadcast against each other, which
    lets the fitter evaluate many groups and starts in one call.
    ``linear`` lists the parameters that enter linearly (jointly), the ones
    variable projection can solve for exactly.
    """

    law: Law
    features: tuple[str, ...]
    parameters: tuple[str, ...]
    linear: tuple[str, ...]
    _both: Callable

    @property
    def n_targets(self) -> int:
        return len(self.law.expressions)

    def values(self, X: Sequence[np.ndarray], P: Sequence[np.ndarray]) -> ArrayList:
        # one compiled function serves both: lambdify + CSE dominate a candidate's cost
        return self.values_and_jacobian(X, P)[0]

    def values_and_jacobian(self, X: Sequence[np.ndarray], P: Sequence[np.ndarray]) -> tuple[ArrayList, list[ArrayList]]:
        """Values per target, and per target the derivative by each parameter."""
        with np.errstate(all="ignore"):
            out = self._both(*X, *P)
        shape = np.broadcast_shapes(*(np.shape(a) for a in (*X, *P)))
        out = [np.broadcast_to(np.asarray(v, dtype=float), shape) for v in out]
        t, p = self.n_targets, len(self.parameters)
        values = out[:t]
        jac = [out[t + i * p : t + (i + 1) * p] for i in range(t)]
        return values, jac


def compile_law(law: Law) -> CompiledLaw:
    return _compile_cached(law.text(), law.features, tuple(sorted(law.bounds)), law)


@lru_cache(maxsize=4096)
def _compile_cached(text: str, features: tuple[str, ...], bounded: tuple[str, ...], law: Law) -> CompiledLaw:
    used = law.used_features
    params = law.parameters
    # lambdify needs identifiers; names like `lambda` are not, so rename all.
    # With abs() present, real symbols make d|p|/dp = sign(p) rather than an
    # unprintable Derivative(re(p)); they slow sympy down, so only then.
    real = any(e.has(sympy.Abs) for e in law.expressions)
    xs = [sympy.Symbol(f"_x{i}", real=real) for i in range(len(used))]
    ps = [sympy.Symbol(f"_p{j}", real=real) for j in range(len(params))]
    rename = {sympy.Symbol(n): s for n, s in zip(used, xs)}
    rename.update({sympy.Symbol(n): s for n, s in zip(params, ps)})
    exprs = [e.xreplace(rename) for e in law.expressions]
    jac = [[sympy.diff(e, p) for p in ps] for e in exprs]
    flat_jac = [d for row in jac for d in row]
    both_fn = sympy.lambdify(xs + ps, exprs + flat_jac, modules="numpy", cse=True, printer=_printer())
    linear = _linear_parameters(exprs, jac, ps, {rename[sympy.Symbol(n)] for n in bounded})
    linear_names = tuple(params[ps.index(p)] for p in linear)
    return CompiledLaw(law, used, params, linear_names, both_fn)


class _BroadcastingPrinter(NumPyPrinter):
    """numpy code whose and/or broadcast their operands.

    sympy prints ``And(a, b, c)`` as ``logical_and.reduce((a, b, c))``, which
    stacks the operands into one array and fails when their shapes differ
    (a parameter array beside a feature array): the derivative of
    ``max(a, b, x)`` is such a Piecewise. Pairwise calls broadcast.
    """

    def _print_And(self, expr: sympy.And) -> str:
        return self._pairwise("logical_and", expr.args)

    def _print_Or(self, expr: sympy.Or) -> str:
        return self._pairwise("logical_or", expr.args)

    def _pairwise(self, name: str, args) -> str:
        function = self._module_format(f"{self._module}.{name}")
        out = self._print(args[0])
        for arg in args[1:]:
            out = f"{function}({out}, {self._print(arg)})"
        return out


def _printer() -> _BroadcastingPrinter:
    # the settings lambdify gives its own printer
    return _BroadcastingPrinter({"fully_qualified_modules": False, "inline": True, "allow_unknown_functions": True,
                                 "user_functions": {}})


def _linear_parameters(exprs, jac, ps, bounded) -> list[sympy.Symbol]:
    """Greedy largest set of parameters in which every expression is jointly affine."""
    chosen: list[sympy.Symbol] = []
    for j, p in enumerate(ps):
        if p in bounded:
            continue
        ok = True
        for t in range(len(exprs)):
            d = jac[t][j]
            if d == 0:
                continue
            if d.has(p) or any(d.has(q) for q in chosen):
                ok = False
                break
        if ok:
            # p must also not appear in the derivatives w.r.t. already chosen ones.
            if any(jac[t][ps.index(q)].has(p) for q in chosen for t in range(len(exprs))):
                continue
            chosen.append(p)
    return chosen
