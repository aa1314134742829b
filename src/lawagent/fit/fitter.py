"""Fit a law's parameters per group: batched multi-start Levenberg-Marquardt
with variable projection.

Why hand-written rather than ``scipy.optimize.least_squares``: the search
fits hundreds of thousands of candidates, each on up to 42 groups from a
dozen starts. Evaluating every (group, start) pair in one broadcast numpy
call, with the analytic Jacobian from :mod:`lawagent.law.compile`, is one to
two orders of magnitude faster than a scipy call per pair. Parameters that
enter linearly are solved exactly by least squares at every step (variable
projection, Golub-Pereyra with Kaufman's Jacobian), so only the nonlinear
ones are searched, and their starts are screened cheaply before refining.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Mapping, Sequence

import numpy as np

from lawagent.fit import native
from lawagent.fit.transforms import U_LIMIT, Transform
from lawagent.law.compile import CompiledLaw, compile_law
from lawagent.errors import FitError
from lawagent.law.law import LOG_TARGET, Law


@dataclass(frozen=True)
class FitOptions:
    """How hard to try. Defaults suit the search; raise them for a final fit."""

    n_starts: int = 48  # random starts screened per group (cheap: one evaluation each)
    n_refine: int = 6  # best screened starts refined with Levenberg-Marquardt
    max_iter: int = 150
    time_limit: float = 20.0  # seconds for the whole fit; best-so-far is returned after it
    tol: float = 1e-10  # relative cost decrease that counts as converged
    seed: int = 0
    # standard errors (a Jacobian and a pseudo-inverse per fit); False: NaN, for fits whose errors nobody reads
    stderr: bool = True

    def __post_init__(self) -> None:
        if self.n_starts < 1 or self.n_refine < 1:
            raise ValueError("n_starts and n_refine must be at least 1")
        if self.max_iter < 0:
            raise ValueError("max_iter must be >= 0")
        if not self.time_limit > 0:
            raise ValueError("time_limit must be positive (seconds)")


@dataclass
class GroupFit:
    """Fitted parameters of one group, with lmfit-style uncertainty."""

    group: str
    params: dict[str, float]
    stderr: dict[str, float]
    sse: float
    n_rows: int
    converged: bool
    n_iter: int
    message: str = ""

    @property
    def ok(self) -> bool:
        return math.isfinite(self.sse)


@dataclass
class FitResult:
    law: Law
    groups: dict[str, GroupFit]
    seconds: float = 0.0
    compiled: CompiledLaw | None = field(default=None, repr=False)

    @property
    def ok(self) -> bool:
        return all(g.ok for g in self.groups.values())

    @property
    def converged(self) -> bool:
        return all(g.converged for g in self.groups.values())

    @property
    def sse(self) -> float:
        return float(sum(g.sse for g in self.groups.values()))

    def params_table(self) -> dict[str, dict[str, float]]:
        return {name: dict(g.params) for name, g in self.groups.items()}

    def predict(self, X: Mapping[str, np.ndarray], groups: Sequence[str] | np.ndarray | GroupIndex) -> np.ndarray:
        """Predictions (n, n_targets) for rows with the given group labels."""
        return predict(self.law, {name: g.params for name, g in self.groups.items()}, X, groups, self.compiled)


@dataclass(frozen=True, eq=False)
class GroupIndex:
    """Rows' group labels as :func:`predict` matches them to parameter values: the distinct labels as
    text (sorted) and each row's place among them. Working it out is half of a prediction's cost, and
    the search predicts on the same few splits thousands of times: a split keeps its own
    (:meth:`lawagent.task.DataSplit.group_index`)."""

    names: list[str]
    index: np.ndarray  # per row: its label's place in names

    @classmethod
    def of(cls, groups: Sequence[str] | np.ndarray) -> GroupIndex:
        names, index = np.unique(_as_text(groups), return_inverse=True)
        return cls(names.tolist(), index)

    @classmethod
    def single(cls, group, n: int) -> GroupIndex:
        """``n`` rows of one group: what :meth:`of` gives for them, without sorting them (the sanity checks
        and the standard errors predict along one group's curves thousands of times)."""
        return cls(_as_text(np.full(1, group, dtype=object)).tolist(), np.zeros(n, dtype=np.intp))


def _as_text(groups: Sequence[str] | np.ndarray) -> np.ndarray:
    """Group labels as text: how predict matches them to fit()'s keys."""
    return np.asarray(groups, dtype=object).astype(str)


def predict(
    law: Law,
    params: Mapping[str, Mapping[str, float]],
    X: Mapping[str, np.ndarray],
    groups: Sequence[str] | np.ndarray | GroupIndex,
    compiled: CompiledLaw | None = None,
) -> np.ndarray:
    """Evaluate a law with per-group parameter values; NaN where a group has no values.

    One evaluation over all rows: each row gets its group's parameter values
    (a task with 42 groups costs one call, not 42).
    """
    compiled = compiled or compile_law(law)
    labels = groups if isinstance(groups, GroupIndex) else GroupIndex.of(groups)
    names, index = labels.names, labels.index
    n = len(index)
    by_text = {str(k): v for k, v in params.items()}  # labels are matched as text: fit() keys them as given
    found = [by_text.get(name) for name in names]
    known = np.array([values is not None for values in found], dtype=bool)
    unknown = [math.nan] * len(compiled.parameters)
    table = np.array([unknown if values is None else [_value(values.get(p)) for p in compiled.parameters]
                      for values in found], dtype=float).reshape(len(names), len(compiled.parameters))
    out = np.full((n, compiled.n_targets), np.nan)
    rows = known[index]
    if not rows.any():
        return out
    xs = [np.asarray(X[f], dtype=float)[rows] for f in compiled.features]
    ps = [table[index[rows], j] for j in range(len(compiled.parameters))]
    for t, v in enumerate(compiled.values(xs, ps)):
        out[rows, t] = np.broadcast_to(v, (int(rows.sum()),))
    return out


def _value(v: float | None) -> float:
    """A stored parameter value; a missing one (None: JSON null) predicts NaN."""
    return math.nan if v is None else float(v)


def fit(
    law: Law,
    X: Mapping[str, np.ndarray],
    y: np.ndarray,
    groups: Sequence[str] | np.ndarray,
    options: FitOptions | None = None,
) -> FitResult:
    """Fit ``law`` separately on every group's rows of (X, y)."""
    options = options or FitOptions()
    native.ready()  # the compiled refinement, if asked for, loads (or compiles, once) before the clock starts
    start = time.perf_counter()
    compiled = compile_law(law)  # the predictions
    form = law.fit_form  # what is fitted: the right-hand sides, log-fitted ones to log y
    fitted = compile_law(form)
    y = _fitted_target(law, np.asarray(y, dtype=float).reshape(len(groups), -1))
    names, rows_of = _group_rows(np.asarray(groups, dtype=object))
    deadline = start + options.time_limit
    fits = {name: GroupFit(name, {}, {}, 0.0, len(rows), True, 0) for name, rows in zip(names, rows_of)}
    for targets in _target_components(fitted):
        sub_law = form if len(targets) == fitted.n_targets else Law(
            tuple(form.expressions[t] for t in targets), form.features, _subset(form.bounds, form, targets),
            dict(form.initial)
        )
        sub = compile_law(sub_law) if sub_law is not form else fitted
        with np.errstate(all="ignore"):
            problem = _Problem(sub, X, y[:, targets], names, rows_of, options)
            parts = problem.solve(deadline)
        for name, part in zip(names, parts):
            merged = fits[name]
            merged.params.update(part.params)
            merged.stderr.update(part.stderr)
            merged.sse += part.sse
            merged.converged &= part.converged
            merged.n_iter = max(merged.n_iter, part.n_iter)
            merged.message = merged.message or part.message
    ordered = {name: _ordered(fits[name], compiled.parameters) for name in names}
    return FitResult(law, ordered, time.perf_counter() - start, compiled)


def fit_space(law: Law, values: np.ndarray) -> np.ndarray:
    """Targets (or predictions), shape (rows, targets), as the fitter compares them: the log of each
    log-fitted target's column (NaN where it is not positive)."""
    if not law.log_fitted:
        return values
    out = np.array(values, dtype=float)
    with np.errstate(all="ignore"):
        for t in law.log_fitted:
            out[:, t] = np.where(out[:, t] > 0, np.log(out[:, t]), np.nan)
    return out


def _fitted_target(law: Law, y: np.ndarray) -> np.ndarray:
    """The target the fitter fits: its log for a log-fitted target (which must then be positive)."""
    for t in law.log_fitted:
        bad = ~(y[:, t] > 0)
        if bad.any():
            which = f"target {t + 1}" if y.shape[1] > 1 else "the target"
            raise FitError(f"'{LOG_TARGET.strip()} ...' fits the log of {which}, but {int(bad.sum())} of its "
                           f"{len(y)} rows are not positive (first: {float(y[bad, t][0]):g}); write the law for y itself")
    return fit_space(law, y)


def _group_rows(groups: np.ndarray) -> tuple[list, list[np.ndarray]]:
    """The group labels in order of first appearance and each one's row indices (in row order):
    one pass over the labels, not one comparison of every label per group."""
    labels = groups.tolist()
    names = list(dict.fromkeys(labels))
    index = {name: i for i, name in enumerate(names)}
    codes = np.fromiter((index[g] for g in labels), dtype=np.intp, count=len(labels))
    order = np.argsort(codes, kind="stable")
    return names, np.split(order, np.cumsum(np.bincount(codes, minlength=len(names)))[:-1])


def _ordered(g: GroupFit, order: Sequence[str]) -> GroupFit:
    g.params = {p: float(g.params[p]) for p in order if p in g.params}
    g.stderr = {p: float(g.stderr.get(p, math.nan)) for p in order if p in g.params}
    return g


def _subset(bounds: Mapping, law: Law, targets: Sequence[int]) -> dict:
    names = {s.name for t in targets for s in law.expressions[t].free_symbols}
    return {k: v for k, v in bounds.items() if k in names}


def _target_components(compiled: CompiledLaw) -> list[list[int]]:
    """Targets that share no parameter are independent problems: fit them apart."""
    exprs = compiled.law.expressions
    params = [{s.name for s in e.free_symbols} - set(compiled.law.features) for e in exprs]
    components: list[tuple[set[str], list[int]]] = []
    for t, names in enumerate(params):
        joined = [c for c in components if c[0] & names]
        merged_names, merged_targets = set(names), [t]
        for c in joined:
            merged_names |= c[0]
            merged_targets += c[1]
            components.remove(c)
        components.append((merged_names, sorted(merged_targets)))
    return [targets for _, targets in components]


class _Problem:
    """One law component on all groups, as padded arrays of shape (groups, starts, rows)."""

    def __init__(self, compiled: CompiledLaw, X, y: np.ndarray, names: list, rows_of: list[np.ndarray],
                 options: FitOptions):
        self.c = compiled
        self.options = options
        self.names = names
        self.params = compiled.parameters
        lin = set(compiled.linear)
        self.lin_idx = [i for i, p in enumerate(self.params) if p in lin]
        self.nl_idx = [i for i, p in enumerate(self.params) if p not in lin]
        law = compiled.law
        self.transforms = [Transform(*law.bounds.get(self.params[i], (-math.inf, math.inf))) for i in self.nl_idx]
        self.logmode: np.ndarray | None = None  # per (group, start, parameter): log-scale moves
        self.sign: np.ndarray | None = None
        counts = [len(rows) for rows in rows_of]
        n_max = max(counts)
        G, T = len(names), y.shape[1]
        self.n_rows = counts
        self.X = []
        for f in compiled.features:
            arr = np.ones((G, 1, n_max))
            col = np.asarray(X[f], dtype=float)
            for g, rows in enumerate(rows_of):
                vals = col[rows]
                arr[g, 0, : len(vals)] = vals
                arr[g, 0, len(vals) :] = vals[-1] if len(vals) else 1.0
            self.X.append(arr)
        self.Y = np.zeros((G, 1, T, n_max))
        self.mask = np.zeros((G, 1, T, n_max))
        for g, rows in enumerate(rows_of):
            self.Y[g, 0, :, : counts[g]] = y[rows].T
            self.mask[g, 0, :, : counts[g]] = 1.0
        self.Y = self.Y.reshape(G, 1, T * n_max)
        self.mask = self.mask.reshape(G, 1, T * n_max)
        scales = []
        for f in compiled.features:
            v = np.abs(np.asarray(X[f], dtype=float))
            v = v[v > 0]
            if v.size:
                scales.append(float(np.median(v)))
        self.feature_scales = np.array([s for s in scales if s > 1.0 or s < 1.0] or [1.0])

    # -- evaluation -------------------------------------------------------
    def _full_params(self, theta_nl: np.ndarray, c: np.ndarray | None) -> list[np.ndarray]:
        G, S = theta_nl.shape[:2]
        P = [None] * len(self.params)
        for k, i in enumerate(self.nl_idx):
            P[i] = theta_nl[:, :, k : k + 1]
        for k, i in enumerate(self.lin_idx):
            P[i] = np.zeros((G, S, 1)) if c is None else c[:, :, k : k + 1]
        return P

    def _evaluate(self, theta_nl: np.ndarray, c: np.ndarray | None, wrt: Sequence[int] | None = None):
        """Model values (G,S,m) and Jacobian (G,S,m,len(wrt)) at the given parameters (wrt: all, in order)."""
        cols = range(len(self.params)) if wrt is None else wrt
        F, J = self.c.stacked(self.X, self._full_params(theta_nl, c), cols)
        if not self.params:  # a law with nothing to fit
            G, S = theta_nl.shape[:2]
            F = np.broadcast_to(F, (G, S, F.shape[-1]))
            return F, np.zeros(F.shape + (0,))
        return F, J

    def _project(self, U: np.ndarray, exact: bool = False):
        """Cost, residual, linear solution and the Kaufman-projected Jacobian at U."""
        theta = self._theta(U)
        F0, J0 = self._evaluate(theta, None, self.lin_idx + self.nl_idx)  # linear columns first
        mask = self.mask
        finite_F, finite_J = np.isfinite(F0), np.isfinite(J0)
        finite = finite_F.all(axis=-1) & finite_J.all(axis=(-1, -2))
        if not finite.all():
            F0 = np.where(finite_F, F0, 0.0)
            J0 = np.where(finite_J, J0, 0.0)
        if self.lin_idx:
            lin = J0[..., : len(self.lin_idx)]
            A = lin * mask[..., None]
            rhs = (self.Y - F0) * mask
            c, Q = _lstsq(A, rhs, exact)
            fitted = F0 + (lin @ c[..., None])[..., 0]
        else:
            c, Q = None, None
            fitted = F0
        r = (fitted - self.Y) * mask
        cost = np.where(finite, np.einsum("gsm,gsm->gs", r, r), np.inf)
        cost = np.where(np.isfinite(cost), cost, np.inf)
        return cost, r, c, Q, theta, J0

    def _jacobian_nl(self, U, theta, c, Q, J0):
        """Jacobian of the projected residual w.r.t. the internal nonlinear variables."""
        if not self.nl_idx:
            return None
        # at c=0 (no linear parameters) _project has them; else only the nonlinear columns, at c
        J = J0[..., len(self.lin_idx) :] if c is None else self._evaluate(theta, c, self.nl_idx)[1]
        finite = np.isfinite(J)
        if not finite.all():
            J = np.where(finite, J, 0.0)
        Jn = J * self.mask[..., None]
        Jn *= self._dtheta(U)[:, :, None, :]
        if Q is not None:
            Jn -= Q @ (np.swapaxes(Q, -1, -2) @ Jn)
        return Jn

    def _theta(self, U: np.ndarray) -> np.ndarray:
        if not self.nl_idx:
            return U
        theta = np.stack([t.forward(U[..., k]) for k, t in enumerate(self.transforms)], axis=-1)
        if self.logmode is not None:
            theta = np.where(self.logmode, self.sign * np.exp(np.clip(U, -U_LIMIT, U_LIMIT)), theta)
        return theta

    def _dtheta(self, U: np.ndarray) -> np.ndarray:
        if all(t.kind == "none" for t in self.transforms):  # identity transforms: d theta/du = 1
            d = np.ones(U.shape)
        else:
            d = np.stack([t.derivative(U[..., k]) for k, t in enumerate(self.transforms)], axis=-1)
        if self.logmode is not None:
            inside = np.abs(U) < U_LIMIT
            d = np.where(self.logmode, np.where(inside, self.sign * np.exp(np.clip(U, -U_LIMIT, U_LIMIT)), 0.0), d)
        return d

    # -- starts -----------------------------------------------------------
    def _starts(self) -> np.ndarray:
        """Screened starting points, shape (G, n_refine, n_nonlinear), in internal space."""
        G, k = len(self.names), len(self.nl_idx)
        S = self.options.n_starts
        rng = np.random.default_rng(self.options.seed)
        theta = np.empty((G, S, k))
        for j, t in enumerate(self.transforms):
            theta[:, :, j] = t.sample(rng, (G, S), self.feature_scales)
        initial = self.c.law.initial
        first = [initial.get(self.params[i]) for i in self.nl_idx]
        defaults = np.array([v if v is not None else _default_start(t) for v, t in zip(first, self.transforms)])
        theta[:, 0, :] = defaults
        U = np.stack([t.inverse(theta[..., j]) for j, t in enumerate(self.transforms)], axis=-1)
        U = np.where(np.isfinite(U), U, 0.0)
        cost = self._project(U)[0]
        keep = min(self.options.n_refine, S)
        order = np.argsort(cost, axis=1, kind="stable")[:, :keep]
        U = np.take_along_axis(U, order[:, :, None], axis=1)
        # Every other refined start moves its unbounded parameters on a log scale
        # (sign fixed by the start): LM then crosses decades in a few steps, which
        # scale parameters next to features of size 1e9 need.
        theta = self._theta(U)
        free = np.array([t.kind == "none" for t in self.transforms])
        odd = (np.arange(keep) % 2 == 1)[None, :, None]
        logmode = np.broadcast_to(odd & free[None, None, :] & (theta != 0), theta.shape).copy()
        self.sign = np.where(theta < 0, -1.0, 1.0)
        self.logmode = logmode if logmode.any() else None
        if self.logmode is not None:
            U = np.where(logmode, np.log(np.maximum(np.abs(theta), 1e-300)), U)
        return U

    # -- solve ------------------------------------------------------------
    def solve(self, deadline: float) -> list[GroupFit]:
        G = len(self.names)
        if not self.nl_idx:
            U = np.zeros((G, 1, 0))
            cost, r, c, Q, theta, J0 = self._project(U)
            return self._results(U, cost, np.ones((G, 1), bool), np.zeros((G, 1), int))
        U = self._starts()
        prog = (native.program(self.c.tape, tuple(self.lin_idx)) if self.c.tape is not None and native.available()
                else None)
        if prog is not None:
            return self._solve_native(prog, U, deadline)
        cost, r, c, Q, theta, J0 = self._project(U)
        J = self._jacobian_nl(U, theta, c, Q, J0)
        S = U.shape[1]
        out_U, out_cost = U.copy(), cost.copy()
        out_converged, out_iters = np.zeros((G, S), bool), np.zeros((G, S), int)
        # Levenberg-Marquardt runs on the (group, start) pairs still going only, each as
        # its own row of the batch: a pair's steps do not depend on the others, and most
        # converge long before the slowest one. Finished pairs are written out and dropped.
        pairs = np.arange(G * S)
        U, cost, r, c, Q, J = (None if a is None else a.reshape((G * S, 1) + a.shape[2:]) for a in (U, cost, r, c, Q, J))
        batch = self._pairs(pairs, S)
        lam = np.full(cost.shape, 1e-3)
        done = ~np.isfinite(cost)
        converged = np.zeros(cost.shape, bool)
        iters = np.zeros(cost.shape, int)
        k = len(self.nl_idx)
        eye = np.eye(k)
        before = cost.copy()

        def write_out(rows: np.ndarray) -> None:
            out_U.reshape(G * S, k)[pairs[rows]] = U[rows, 0]
            out_cost.reshape(G * S)[pairs[rows]] = cost[rows, 0]
            out_converged.reshape(G * S)[pairs[rows]] = converged[rows, 0]
            out_iters.reshape(G * S)[pairs[rows]] = iters[rows, 0]

        for it in range(self.options.max_iter):
            if done.all() or time.perf_counter() > deadline:
                break
            if it and it % STALL_WINDOW == 0:
                # A start that gained almost nothing over a whole window is crawling
                # along a flat valley: call it converged rather than let it hold the batch.
                stalled = (before - cost) <= STALL_TOL * np.maximum(cost, 1e-300)
                converged |= stalled & ~done
                done |= stalled
                before = cost.copy()
                if done.all():
                    break
            if 4 * done.sum() >= len(pairs):
                finished = done[:, 0]
                write_out(finished)
                keep = ~finished
                pairs = pairs[keep]
                U, cost, r, J, lam, done, converged, iters, before = (
                    a[keep] for a in (U, cost, r, J, lam, done, converged, iters, before))
                c = None if c is None else c[keep]
                Q = None if Q is None else Q[keep]
                batch = self._pairs(pairs, S)
            Jt = np.swapaxes(J, -1, -2)
            A = Jt @ J
            g = (Jt @ r[..., None])[..., 0]
            diag = np.einsum("gspp->gsp", A)
            damp = np.maximum(diag, 1e-12 * (diag.max(axis=-1, keepdims=True) + 1e-300))
            M = A + (lam[..., None] * damp)[..., None] * eye
            step = -_solve(M, g)
            trial = U + np.where(done[..., None], 0.0, step)
            t_cost, t_r, t_c, t_Q, t_theta, t_J0 = batch._project(trial)
            better = (t_cost < cost) & ~done
            rel = (cost - t_cost) / np.maximum(cost, 1e-300)
            small = better & (rel < self.options.tol)
            tiny_grad = np.abs(g).max(axis=-1) <= 1e-14 * np.maximum(cost, 1e-300)
            converged |= (small | (tiny_grad & ~done) | (~better & (lam > 1e10) & ~done))
            iters += ~done
            if better.any():
                U = np.where(better[..., None], trial, U)
                cost = np.where(better, t_cost, cost)
                r = np.where(better[..., None], t_r, r)
                c = None if c is None else np.where(better[..., None], t_c, c)
                Q = None if Q is None else np.where(better[..., None, None], t_Q, Q)
                new_J = batch._jacobian_nl(trial, t_theta, t_c, t_Q, t_J0)
                J = np.where(better[..., None, None], new_J, J)
            lam = np.where(better, np.maximum(lam / 3, 1e-12), np.minimum(lam * 4, 1e16))
            done |= converged | (cost <= 1e-30)
        write_out(np.ones(len(pairs), bool))
        out_converged |= out_cost <= 1e-30
        return self._results(out_U, out_cost, out_converged, out_iters)

    def _solve_native(self, prog: "native.Program", U: np.ndarray, deadline: float) -> list[GroupFit]:
        """solve's refinement, compiled (:mod:`lawagent.fit.native`): every pair on its own, one start of
        every group at a time (best screened first); starts the time limit leaves unrefined keep their place."""
        G, S, k = U.shape
        m = self.mask.shape[-1] // self.c.n_targets  # rows per target (padded)
        X = np.ascontiguousarray(np.stack([x[:, 0] for x in self.X], axis=1)) if self.X else np.empty((G, 0, m))
        kinds = np.array([native.KINDS[t.kind] for t in self.transforms], dtype=np.int64)
        lo = np.array([t.lo for t in self.transforms], dtype=float)
        hi = np.array([t.hi for t in self.transforms], dtype=float)
        logmode = np.zeros((G, S, k), bool) if self.logmode is None else self.logmode
        sign = np.ones((G, S, k)) if self.sign is None else self.sign
        lin, nl = np.array(self.lin_idx, dtype=np.int64), np.array(self.nl_idx, dtype=np.int64)
        Y, mask = np.ascontiguousarray(self.Y[:, 0]), np.ascontiguousarray(self.mask[:, 0])
        out_U = np.array(U, dtype=float)
        out_cost, out_converged = np.full((G, S), np.nan), np.zeros((G, S), bool)
        out_iters = np.zeros((G, S), int)
        o = self.options
        for s in range(S):
            if time.perf_counter() > deadline:
                break
            out_U[:, s], out_cost[:, s], out_converged[:, s], out_iters[:, s] = native.refine(
                prog, X, Y, mask, lin, nl, kinds, lo, hi, logmode[:, s], sign[:, s], out_U[:, s], o.max_iter, o.tol,
                STALL_TOL, STALL_WINDOW)
        left = np.isnan(out_cost)
        if left.any():  # the time limit came first: these keep their start
            out_cost = np.where(left, self._project(out_U)[0], out_cost)
        out_converged |= out_cost <= 1e-30
        return self._results(out_U, out_cost, out_converged, out_iters)

    def _pairs(self, pairs: np.ndarray, S: int) -> "_Problem":
        """This problem restricted to some (group, start) pairs (flat index g*S + s), one pair per row."""
        g, s = pairs // S, pairs % S
        view = copy.copy(self)
        view.X = [x[g] for x in self.X]
        view.Y, view.mask = self.Y[g], self.mask[g]
        if self.logmode is not None:
            view.logmode, view.sign = self.logmode[g, s][:, None, :], self.sign[g, s][:, None, :]
        return view

    def _results(self, U, cost, converged, iters) -> list[GroupFit]:
        best = np.argmin(cost, axis=1)
        G = len(self.names)
        theta_b = self._theta(U)[np.arange(G), best][:, None, :]
        self.logmode = self.sign = None  # back to each parameter's own transform
        Ub = np.stack([t.inverse(theta_b[..., j]) for j, t in enumerate(self.transforms)], axis=-1) if self.nl_idx else theta_b
        cost_b, r, c, Q, theta, J0 = self._project(Ub, exact=True)
        stderr = self._stderr(theta, c, cost_b) if self.options.stderr else np.full((G, len(self.params)), np.nan)
        out = []
        for g, name in enumerate(self.names):
            values = {}
            for k, i in enumerate(self.nl_idx):
                values[self.params[i]] = float(theta[g, 0, k])
            for k, i in enumerate(self.lin_idx):
                values[self.params[i]] = float(c[g, 0, k])
            ok = math.isfinite(cost_b[g, 0])
            msg = "" if ok else "no start gave finite predictions on this group"
            if not ok:
                values = {p: math.nan for p in self.params}
            out.append(
                GroupFit(
                    name, values, dict(zip(self.params, stderr[g])), float(cost_b[g, 0]) if ok else math.inf,
                    self.n_rows[g], bool(converged[g, best[g]]) and ok, int(iters[g, best[g]]), msg,
                )
            )
        return out

    def _stderr(self, theta, c, cost) -> np.ndarray:
        """sqrt(diag(s^2 (J^T J)^-1)) with the full Jacobian at the solution."""
        G, P = len(self.names), len(self.params)
        try:
            _, J = self._evaluate(theta, c)
            J = J[:, 0] * self.mask[:, 0, :, None]
            dof = np.maximum(np.array(self.n_rows) * (self.mask.shape[-1] // max(max(self.n_rows), 1)) - P, 1)
            return stderr_from_jacobian(J, cost[:, 0] / dof)
        except (np.linalg.LinAlgError, ValueError):
            return np.full((G, P), np.nan)


def stderr_from_jacobian(J: np.ndarray, s2: np.ndarray) -> np.ndarray:
    """lmfit's standard errors, sqrt(diag(s^2 (J^T J)^-1)), for a batch: J (groups, rows, parameters),
    s2 (groups,) the residual variances; NaN where not finite."""
    with np.errstate(over="ignore", invalid="ignore"):
        A = np.einsum("gmp,gmq->gpq", J, J)
        d = np.sqrt(np.einsum("gpp->gp", A))
        d = np.where(d > 0, d, 1.0)
        # invert the correlation-scaled matrix: parameters span many decades
        M = A / d[:, :, None] / d[:, None, :]
        inv = np.full_like(M, np.nan)
        ok = np.isfinite(M).all(axis=(1, 2))  # a Jacobian of 1e200s overflows J^T J: no standard errors
        if ok.any():
            try:
                inv[ok] = np.linalg.pinv(M[ok], rcond=1e-12)
            except np.linalg.LinAlgError:  # an SVD that does not converge: none either
                pass
        cov = inv / d[:, :, None] / d[:, None, :]
        err = np.sqrt(np.abs(np.einsum("gpp->gp", cov)) * s2[:, None])
    return np.where(np.isfinite(err), err, np.nan)


STALL_TOL = 1e-8  # relative cost decrease over STALL_WINDOW iterations below which a start stops
STALL_WINDOW = 20


def _default_start(t: Transform) -> float:
    if t.kind == "box":
        return 0.5 * (t.lo + t.hi)
    if t.kind == "lower":
        return t.lo + 1.0
    if t.kind == "upper":
        return t.hi - 1.0
    return 0.5


def _lstsq(A: np.ndarray, b: np.ndarray, exact: bool = False):
    """Batched least squares with column scaling; also an orthonormal basis of range(A).

    Cholesky of the scaled Gram matrix is fast for the few linear parameters a
    law has; if it fails (non-finite entries), or for the final answer
    (``exact``), a truncated SVD gives the unbiased minimum-norm solution.
    """
    scale = np.sqrt(np.einsum("gsml,gsml->gsl", A, A))
    scale = np.where(scale > 0, scale, 1.0)
    As = A / scale[:, :, None, :]
    Ast = np.swapaxes(As, -1, -2)
    # a tiny ridge on the unit-norm columns keeps nearly collinear ones solvable
    gram = Ast @ As + _ridge(A.shape[-1])
    try:
        if exact:
            raise np.linalg.LinAlgError("exact solve requested")
        L = np.linalg.cholesky(gram)
        Linv = np.linalg.inv(L)
        Q = As @ np.swapaxes(Linv, -1, -2)
        coef = (np.swapaxes(Linv, -1, -2) @ (np.swapaxes(Q, -1, -2) @ b[..., None]))[..., 0]
        return coef / scale, Q
    except np.linalg.LinAlgError:
        pass
    try:
        Uu, sv, Vt = np.linalg.svd(As, full_matrices=False)
    except np.linalg.LinAlgError:
        shape = A.shape
        return np.zeros(shape[:2] + shape[-1:]), np.zeros(shape)
    cut = sv > 1e-10 * sv[..., :1]
    inv = np.where(cut, 1.0 / np.where(cut, sv, 1.0), 0.0)
    coef = (np.swapaxes(Vt, -1, -2) @ (inv * (np.swapaxes(Uu, -1, -2) @ b[..., None])[..., 0])[..., None])[..., 0]
    Q = Uu * cut[:, :, None, :]
    return coef / scale, Q


@lru_cache(maxsize=64)
def _ridge(n: int) -> np.ndarray:
    ridge = 1e-13 * np.eye(n)
    ridge.flags.writeable = False
    return ridge


def _solve(M: np.ndarray, g: np.ndarray) -> np.ndarray:
    try:
        return np.linalg.solve(M, g[..., None])[..., 0]
    except np.linalg.LinAlgError:
        return np.einsum("gspq,gsq->gsp", np.linalg.pinv(M, rcond=1e-12), g)
