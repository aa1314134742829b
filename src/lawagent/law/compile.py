"""Compile a law to numpy: values and the parameter Jacobian, from the law's expression tree."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Callable, Sequence

import numpy as np

from lawagent.law.law import Law, _parse_once
from lawagent.law.tape import Tape

ArrayList = list[np.ndarray]
# (features then parameters, parameter positions to differentiate by or None) -> (values, jacobian or None)
Runner = Callable[[Sequence[np.ndarray], "tuple[int, ...] | None"], "tuple[ArrayList, list[ArrayList] | None]"]


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
    _run: Runner
    tape: Tape | None = None  # what _run runs, where it is a tape (the compiled fitter interprets it)

    @property
    def n_targets(self) -> int:
        return len(self.law.outputs)

    def values(self, X: Sequence[np.ndarray], P: Sequence[np.ndarray]) -> ArrayList:
        """Values per target (no derivative is computed)."""
        values, _ = self._run([*X, *P], None)
        shape = _shape(X, P)
        return [_full(v, shape) for v in values]

    def values_and_jacobian(
        self, X: Sequence[np.ndarray], P: Sequence[np.ndarray], wrt: Sequence[int] | None = None
    ) -> tuple[ArrayList, list[ArrayList]]:
        """Values per target, and per target the derivative by each parameter.

        ``wrt`` (positions in ``parameters``) asks for those derivatives only, in
        that order: the fitter needs the linear ones at some points, the others at others.
        """
        cols = tuple(range(len(self.parameters))) if wrt is None else tuple(wrt)
        values, jac = self._run([*X, *P], cols)
        shape = _shape(X, P)
        return [_full(v, shape) for v in values], [[_full(d, shape) for d in row] for row in jac]

    def stacked(
        self, X: Sequence[np.ndarray], P: Sequence[np.ndarray], wrt: Sequence[int]
    ) -> tuple[np.ndarray, np.ndarray]:
        """Values (..., T*m) and Jacobian (..., T*m, len(wrt)), the targets side by side along the rows.

        What a least-squares solver wants, written straight into two arrays: no
        per-column broadcast views and no stacking copy.
        """
        values, jac = self._run([*X, *P], tuple(wrt))
        shape = _shape(X, P)
        lead, m, T = shape[:-1], shape[-1], len(values)
        F = np.empty(lead + (T * m,))
        J = np.empty(lead + (T * m, len(wrt)))
        for t in range(T):
            rows = slice(t * m, (t + 1) * m)
            F[..., rows] = values[t]
            for k, d in enumerate(jac[t]):
                J[..., rows, k] = d
        return F, J


def _shape(X: Sequence[np.ndarray], P: Sequence[np.ndarray]) -> tuple[int, ...]:
    """np.broadcast_shapes of the inputs, without its overhead (called at every evaluation)."""
    shapes = [np.shape(a) for a in (*X, *P)]
    out = [1] * max((len(s) for s in shapes), default=0)
    for s in shapes:
        for i, d in enumerate(s, len(out) - len(s)):
            if d != 1:
                if out[i] not in (1, d):
                    return np.broadcast_shapes(*shapes)  # raises numpy's own error
                out[i] = d
    return tuple(out)


def _full(v, shape: tuple[int, ...]) -> np.ndarray:
    return np.broadcast_to(np.asarray(v, dtype=float), shape)


def compile_law(law: Law) -> CompiledLaw:
    """Compile from the expression tree: well under a millisecond for a search's laws."""
    return _compile_cached(law)


def forget_compiled() -> None:
    """Empty the parse and compile caches, so that the next law is parsed and compiled cold
    (what a new candidate costs: ``lawagent bench-fit`` times it this way)."""
    _parse_once.cache_clear()
    _compile_cached.cache_clear()


@lru_cache(maxsize=4096)
def _compile_cached(law: Law) -> CompiledLaw:  # a Law hashes by identity
    tape = Tape(law.outputs, law.used_features, law.parameters)
    bounded = {i for i, p in enumerate(law.parameters) if p in law.bounds}
    linear = tuple(law.parameters[i] for i in tape.linear_parameters(bounded))
    return CompiledLaw(law, law.used_features, law.parameters, linear, tape.run, tape)
