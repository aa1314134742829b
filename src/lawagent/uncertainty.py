"""How sure a fitted value is: standard errors at given values, and bootstrap intervals.

The fitter reports standard errors for the law it fitted; a readable form is a
reparametrisation, so its parameters need their own. :func:`standard_errors`
computes them at given values, lmfit's way (``sqrt(diag(s^2 (J^T J)^-1))``,
``s^2`` the residual variance), with a central-difference Jacobian so that it
works for any law the evaluator can predict. :func:`bootstrap_draws` refits
on resampled training rows (started at the values) and :func:`intervals` reports
their 5-95% range: wider and more honest where the law is nonlinear in a parameter.
Training rows only.
"""

from __future__ import annotations

import dataclasses
import math
import time
from typing import Mapping

import numpy as np

from lawagent.errors import LawagentError
from lawagent.fit.fitter import FitOptions, GroupIndex, fit, fit_space, predict, stderr_from_jacobian
from lawagent.law.law import Law
from lawagent.task import DataSplit

# a local refit from the given values plus one random start: fast enough for dozens of groups
BOOTSTRAP_FIT = FitOptions(n_starts=2, n_refine=1, max_iter=60, time_limit=2.0)
LEVEL = (5.0, 95.0)  # the interval: 5th to 95th percentile


def standard_errors(law: Law, params: Mapping[str, Mapping[str, float]], rows: DataSplit) -> dict[str, dict[str, float]]:
    """group -> parameter -> standard error at ``params`` on ``rows`` (NaN where it cannot be had)."""
    out: dict[str, dict[str, float]] = {}
    names = list(law.parameters)
    for g, values in params.items():
        idx = np.flatnonzero(rows.groups == g)
        theta = np.array([float(values.get(p, math.nan)) for p in names])
        out[g] = {p: math.nan for p in names}
        if len(idx) <= len(names) or not np.isfinite(theta).all():
            continue
        X = {f: v[idx] for f, v in rows.X.items()}
        labels = GroupIndex.single(g, len(idx))  # once: the Jacobian predicts 2 per parameter
        y = rows.y[idx].reshape(len(idx), -1)

        def pred(t: np.ndarray) -> np.ndarray:  # on the fitter's scale: log y for a law fitted to log y
            return fit_space(law, predict(law, {g: dict(zip(names, t))}, X, labels)).ravel()

        base = pred(theta)
        resid = base - fit_space(law, y).ravel()
        if not np.isfinite(resid).all():
            continue
        J = np.empty((len(base), len(names)))
        for j in range(len(names)):
            h = 1e-6 * max(abs(theta[j]), 1e-8)
            up, down = theta.copy(), theta.copy()
            up[j] += h
            down[j] -= h
            J[:, j] = (pred(up) - pred(down)) / (2 * h)
        if not np.isfinite(J).all():
            continue
        s2 = float(resid @ resid) / max(len(resid) - len(names), 1)
        err = stderr_from_jacobian(J[None], np.array([s2]))[0]
        out[g] = {p: (float(e) if math.isfinite(e) else math.nan) for p, e in zip(names, err)}
    return out


def bootstrap_draws(law: Law, params: Mapping[str, Mapping[str, float]], rows: DataSplit, *,
                    resamples: int = 20, seconds: float = 20.0, seed: int = 0) -> dict[str, list[dict[str, float]]]:
    """group -> the parameter values of refits on resampled rows of the group (started at ``params``),
    as many resamples as ``seconds`` allow."""
    rng = np.random.default_rng(seed)
    deadline = time.perf_counter() + seconds
    draws: dict[str, list[dict[str, float]]] = {g: [] for g in params}
    starts = {g: dataclasses.replace(law, initial={k: float(v) for k, v in ps.items()
                                                  if isinstance(v, (int, float)) and math.isfinite(v)})
              for g, ps in params.items()}
    for b in range(resamples):
        if time.perf_counter() > deadline:
            break
        for g in params:
            left = deadline - time.perf_counter()  # checked per group: 42 groups of 2 s fits add up
            if left <= 0:
                break
            idx = np.flatnonzero(rows.groups == g)
            if len(idx) < 2:
                continue
            pick = rng.choice(idx, size=len(idx), replace=True)
            options = dataclasses.replace(BOOTSTRAP_FIT, seed=b, time_limit=min(BOOTSTRAP_FIT.time_limit, left))
            try:
                res = fit(starts[g], {f: v[pick] for f, v in rows.X.items()}, rows.y[pick],
                          np.full(len(pick), g, dtype=object), options)
            except LawagentError:
                continue
            gf = res.groups.get(g)
            if gf is not None and gf.ok:
                draws[g].append(gf.params)
    return draws


def intervals(draws: Mapping[str, list[Mapping[str, float]]], level: tuple[float, float] = LEVEL
              ) -> dict[str, dict[str, tuple[float, float]]]:
    """group -> parameter -> (low, high) percentiles of the draws (3 or more finite ones)."""
    out: dict[str, dict[str, tuple[float, float]]] = {}
    for g, ds in draws.items():
        names = dict.fromkeys(p for d in ds for p in d)
        for p in names:
            vals = np.array([d.get(p, math.nan) for d in ds], dtype=float)
            vals = vals[np.isfinite(vals)]
            if len(vals) >= 3:
                lo, hi = np.percentile(vals, level)
                out.setdefault(g, {})[p] = (float(lo), float(hi))
    return out
