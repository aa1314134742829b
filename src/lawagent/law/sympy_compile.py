"""The sympy path: Jacobian by ``sympy.diff``, numpy code by ``lambdify`` with CSE.

It was lawagent's compiler until the tape (:mod:`lawagent.law.tape`) replaced it
on the hot path: it costs 10-200 ms per new law. It stays as the reference the
tape is tested against, and so that ``lawagent bench-fit`` can time both.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import sympy

from lawagent.law.compile import CompiledLaw
from lawagent.law.law import Law


def compile_law_sympy(law: Law) -> CompiledLaw:
    used = law.used_features
    params = law.parameters
    # lambdify needs identifiers; names like `lambda` are not, so rename all.
    # With abs() present, real symbols make d|p|/dp = sign(p) rather than an
    # unprintable Derivative(re(p)); they slow sympy down, so only then.
    real = any(e.has(sympy.Abs) for e in law.outputs)
    xs = [sympy.Symbol(f"_x{i}", real=real) for i in range(len(used))]
    ps = [sympy.Symbol(f"_p{j}", real=real) for j in range(len(params))]
    rename = {sympy.Symbol(n): s for n, s in zip(used, xs)}
    rename.update({sympy.Symbol(n): s for n, s in zip(params, ps)})
    exprs = [e.xreplace(rename) for e in law.outputs]
    jac = [[sympy.diff(e, p) for p in ps] for e in exprs]
    flat_jac = [d for row in jac for d in row]
    both = sympy.lambdify(xs + ps, exprs + flat_jac, modules="numpy", cse=True)
    bounded = {rename[sympy.Symbol(n)] for n in law.bounds}
    linear = tuple(params[ps.index(p)] for p in _linear_parameters(exprs, jac, ps, bounded))
    t, p = len(exprs), len(ps)

    def run(inputs: Sequence[np.ndarray], wrt: tuple[int, ...] | None):
        with np.errstate(all="ignore"):
            out = both(*inputs)
        values = out[:t]
        if wrt is None:
            return values, None
        return values, [[out[t + i * p + j] for j in wrt] for i in range(t)]

    return CompiledLaw(law, used, params, linear, run)


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
