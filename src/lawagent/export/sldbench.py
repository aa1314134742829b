"""The SLDBench export: ``scaling_law_func`` and ``fit_scaling_law`` (numpy + scipy only)."""

from __future__ import annotations

import math
from typing import Any, Mapping

from lawagent.export.codegen import header_lines, numpy_function, py_literal
from lawagent.export.common import targets_of
from lawagent.records import LawRecord, bound_pair


def to_sldbench(record: LawRecord, meta: Mapping[str, Any] | None = None, n_starts: int = 6) -> str:
    """An SLDBench program: ``scaling_law_func(data_points, params)`` and ``fit_scaling_law(data_points, loss_values)``.

    data_points is (N, F) in the task's feature order; params is a 1-D array in
    PARAMETERS order (shared across targets; the prediction is (N,) for one
    target, (N, T) for several). The fit is scipy least_squares (on the log of a
    target the law was fitted to the log of) from several
    starts; the first starts are this law's fitted values (one vector per group
    of the run, the one closest to the data first), so the program reproduces
    lawagent's fit on the same rows.
    """
    law = record.law()
    fargs, pargs, fn = numpy_function(law)
    header = header_lines(record, law, meta, "SLDBench program (scaling_law_func / fit_scaling_law)")
    params = list(law.parameters)
    found = []
    for values in record.params.values():
        vec = [values.get(p) for p in params]
        if all(isinstance(v, (int, float)) and math.isfinite(v) for v in vec):
            found.append([float(v) for v in vec])
    bounds = {k: bound_pair(v) for k, v in record.bounds.items()}
    lower = [bounds.get(p, (-math.inf, math.inf))[0] for p in params]
    upper = [bounds.get(p, (-math.inf, math.inf))[1] for p in params]
    used_idx = [list(record.features).index(f) for f in law.used_features]
    found_lines = "\n".join(f"    {py_literal(v)}," for v in found)
    doc = '"""' + "\n".join(header) + "\n\n" + \
        "params: 1-D array in PARAMETERS order. Only numpy and scipy are imported.\n" + '"""'
    return f'''{doc}

import functools  # noqa: F401  (sympy prints min/max as functools.reduce)

import numpy
from scipy.optimize import least_squares

FEATURES = {py_literal(list(record.features))}
TARGETS = {py_literal(targets_of(record))}
PARAMETERS = {py_literal(params)}
USED_COLUMNS = {py_literal(used_idx)}  # columns of data_points the law uses
LOWER = {py_literal(lower)}
UPPER = {py_literal(upper)}
LOG_FITTED = {py_literal(list(law.log_fitted))}  # targets whose law was fitted to their log ("log(y) = ...")
N_STARTS = {int(n_starts)}
MAX_NFEV = 2000

# lawagent's fitted values on the task's training rows, one vector per group: the first starts
FOUND = [
{found_lines}
]


{fn}


def _matrix(data_points):
    X = numpy.asarray(data_points, dtype=float)
    if X.ndim == 1:
        X = X.reshape(-1, 1) if len(FEATURES) == 1 else X.reshape(1, -1)
    if X.ndim != 2 or X.shape[1] != len(FEATURES):
        raise ValueError("data_points must be (N, %d) with columns %s, got shape %s" % (len(FEATURES), FEATURES, X.shape))
    return X


def scaling_law_func(data_points, params):
    """Predictions for data_points (N, F): shape (N,) for one target, (N, T) for several."""
    X = _matrix(data_points)
    p = numpy.asarray(params, dtype=float).ravel()
    if p.size != len(PARAMETERS):
        raise ValueError("expected %d parameters (%s), got %d" % (len(PARAMETERS), ", ".join(PARAMETERS), p.size))
    with numpy.errstate(all="ignore"):
        res = _law(*[X[:, i] for i in USED_COLUMNS], *p)
    cols = [numpy.broadcast_to(numpy.asarray(v, dtype=float), (X.shape[0],)) for v in res]
    return cols[0].copy() if len(cols) == 1 else numpy.column_stack(cols)


def _fitted(values):
    """What the fit compares: the values, and the log of those of the LOG_FITTED targets."""
    v = numpy.array(values, dtype=float)
    with numpy.errstate(all="ignore"):
        for t in LOG_FITTED:
            v[:, t] = numpy.log(v[:, t])
    return v


def fit_scaling_law(data_points, loss_values):
    """Least-squares fit of PARAMETERS to the rows (to their log for LOG_FITTED targets); returns a 1-D array."""
    X = _matrix(data_points)
    y = numpy.asarray(loss_values, dtype=float).reshape(X.shape[0], -1)
    for t in LOG_FITTED:
        if not (y[:, t] > 0).all():
            raise ValueError("the law is fitted to the log of target %d, which has values <= 0 here" % t)
    y = _fitted(y)
    lo, hi = numpy.array(LOWER), numpy.array(UPPER)
    big = 1e6 * (1.0 + numpy.abs(y[numpy.isfinite(y)]).max(initial=0.0))

    def residuals(p):
        r = (_fitted(scaling_law_func(X, p).reshape(y.shape)) - y).ravel()
        return numpy.where(numpy.isfinite(r), r, big)

    def cost(p):
        r = (_fitted(scaling_law_func(X, p).reshape(y.shape)) - y).ravel()
        return float(r @ r) if numpy.isfinite(r).all() else numpy.inf

    rng = numpy.random.default_rng(0)
    starts = sorted((numpy.array(v) for v in FOUND), key=cost)
    if not starts:
        starts = [numpy.clip(numpy.ones(len(PARAMETERS)), lo, hi)]
    best = numpy.clip(starts[0], lo, hi)
    best_cost = cost(best)
    jitter = [starts[0] * numpy.exp(rng.normal(0.0, 0.3, starts[0].shape)) for _ in range(N_STARTS)]
    for i, x0 in enumerate((starts[:2] + jitter)[:N_STARTS]):
        x0 = numpy.clip(x0, lo, hi)
        try:  # the closest found vector gets a long, tight refinement; the other starts a short one
            res = least_squares(residuals, x0, bounds=(lo, hi), x_scale="jac", method="trf",
                                ftol=1e-12, xtol=1e-12, gtol=1e-12, max_nfev=MAX_NFEV if i == 0 else MAX_NFEV // 10)
        except (ValueError, numpy.linalg.LinAlgError, FloatingPointError):
            continue
        c = cost(res.x)
        if c < best_cost:
            best, best_cost = res.x, c
    return numpy.asarray(best, dtype=float)
'''
