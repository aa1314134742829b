"""Compute-optimal allocation from a fitted law of model size and data: N* ∝ C^a, D* ∝ C^b.

For a law ``L(N, D, ...)`` and the usual training cost ``C = 6·N·D`` (FLOPs),
the compute-optimal model size at budget C minimises ``L(N, C/(6N))`` over N
(Hoffmann et al. 2022, approach 3). Done numerically, so it works for any law:
per group, at budgets spanning the training rows' compute and two decades
past it, N* is found on a fine log grid (then refined), and ``a``, ``b`` are
the slopes of log N*, log D* against log C; ``tokens per parameter`` is D*/N*
at the largest training compute. Other features are held at the group's
largest-scale training row. A law whose minimum sits on the edge of the search
range has no interior optimum there: its exponents are NaN, said so.

When the features hold compute itself instead of data (or of size), the
missing one is C/(6·N) (or C/(6·D)).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from lawagent.fit.fitter import predict
from lawagent.law.law import Law
from lawagent.sanity import largest_run
from lawagent.task import DataSplit

SIZE = re.compile(r"^(n|params|parameters|num_params|n_params|model_size|model_params|non_vocab_parameters|"
                  r"dense_parameter_count|nparams|size)$|param", re.IGNORECASE)
DATA = re.compile(r"^(d|tokens|data|n_tokens|num_tokens|data_size|dataset_size|training_tokens)$|tokens$",
                  re.IGNORECASE)
COMPUTE = re.compile(r"^(c|compute)$|flops|compute", re.IGNORECASE)
SPAN = 1e3  # N is searched from 1/SPAN of the smallest to SPAN times the largest training value
GRID = 600


@dataclass(frozen=True)
class Axes:
    """Which features are model size, data and compute (two of the three are needed)."""

    size: str | None
    data: str | None
    compute: str | None

    @property
    def usable(self) -> bool:
        return sum(x is not None for x in (self.size, self.data, self.compute)) >= 2 and (
            self.size is not None or self.data is not None)


def find_axes(features: Sequence[str], used: Sequence[str]) -> Axes:
    """Model size, data and compute among the law's used features, by name.

    ``unique_tokens`` (data-constrained scaling) is data *available*, not data
    trained on: it is held fixed, and ``tokens`` is the data axis.
    """
    used = [f for f in features if f in used]
    size = next((f for f in used if SIZE.search(f) and not COMPUTE.search(f)), None)
    data = next((f for f in used if DATA.search(f) and f != size and not f.startswith("unique")), None)
    compute = next((f for f in used if COMPUTE.search(f) and f not in (size, data)), None)
    return Axes(size, data, compute)


@dataclass
class Allocation:
    """One group's compute-optimal exponents."""

    a: float  # N* ∝ C^a
    b: float  # D* ∝ C^b
    tokens_per_parameter: float  # D*/N* at the largest training compute
    budgets: tuple[float, float]  # the compute range the slopes were read over
    note: str = ""


def allocation(law: Law, values: Mapping[str, float], rows: DataSplit, group: str, axes: Axes,
               target: int = 0) -> Allocation:
    """The compute-optimal exponents of ``law`` with one group's ``values`` (training rows of ``group``)."""
    idx = np.flatnonzero(rows.groups == group)
    if not len(idx):
        return Allocation(math.nan, math.nan, math.nan, (math.nan, math.nan), "no training rows")
    X = {f: rows.X[f][idx] for f in rows.X}
    n, d = _size_and_data(X, axes)
    positive = np.isfinite(n) & np.isfinite(d) & (n > 0) & (d > 0)  # a run at 0 tokens has no compute
    if not positive.any():
        return Allocation(math.nan, math.nan, math.nan, (math.nan, math.nan), "no training row with size and data > 0")
    n, d = n[positive], d[positive]
    compute = 6.0 * n * d
    budgets = np.geomspace(float(compute.min()), float(compute.max()) * 100, 9)
    base = largest_run(law, rows, idx)
    grid = np.geomspace(float(n.min()) / SPAN, float(n.max()) * SPAN, GRID)
    n_star = []
    for c in budgets:
        loss = _loss(law, values, group, base, axes, grid, c, target)
        if not np.isfinite(loss).any():
            n_star.append(math.nan)
            continue
        i = int(np.nanargmin(loss))
        n_star.append(math.nan if i in (0, GRID - 1) else _refine(law, values, group, base, axes, grid, i, c, target))
    n_star = np.array(n_star)
    ok = np.isfinite(n_star)
    if ok.sum() < 3:
        return Allocation(math.nan, math.nan, math.nan, (float(budgets[0]), float(budgets[-1])),
                          "no interior optimum within 1e-3..1e3 times the training model sizes")
    logc, logn = np.log(budgets[ok]), np.log(n_star[ok])
    a = float(np.polyfit(logc, logn, 1)[0])
    d_star = budgets[ok] / (6 * n_star[ok])
    b = float(np.polyfit(logc, np.log(d_star), 1)[0])
    at = float(compute.max())
    n_at = float(np.exp(np.interp(np.log(at), logc, logn)))
    ratio = at / (6 * n_at) / n_at
    return Allocation(a, b, ratio, (float(budgets[ok][0]), float(budgets[ok][-1])))


def _size_and_data(X: Mapping[str, np.ndarray], axes: Axes) -> tuple[np.ndarray, np.ndarray]:
    if axes.size and axes.data:
        return X[axes.size], X[axes.data]
    if axes.size:
        return X[axes.size], X[axes.compute] / (6 * X[axes.size])
    return X[axes.compute] / (6 * X[axes.data]), X[axes.data]


def _loss(law: Law, values, group: str, base, axes: Axes, n: np.ndarray, c: float, target: int) -> np.ndarray:
    X = {f: np.full(len(n), base[f]) for f in law.features}
    d = c / (6 * n)
    if axes.size:
        X[axes.size] = n
    if axes.data:
        X[axes.data] = d
    if axes.compute:
        X[axes.compute] = np.full(len(n), c)
    out = predict(law, {group: dict(values)}, X, np.full(len(n), group, dtype=object))[:, target]
    return np.where(np.isfinite(out), out, np.nan)


def _refine(law, values, group, base, axes, grid, i, c, target) -> float:
    """Golden-section search in log N between the grid neighbours of the minimum."""
    lo, hi = math.log(grid[i - 1]), math.log(grid[i + 1])
    f = lambda u: float(_loss(law, values, group, base, axes, np.array([math.exp(u)]), c, target)[0])  # noqa: E731
    g = (math.sqrt(5) - 1) / 2
    x1, x2 = hi - g * (hi - lo), lo + g * (hi - lo)
    f1, f2 = f(x1), f(x2)
    for _ in range(40):
        if not (math.isfinite(f1) and math.isfinite(f2)):
            break
        if f1 < f2:
            hi, x2, f2 = x2, x1, f1
            x1 = hi - g * (hi - lo)
            f1 = f(x1)
        else:
            lo, x1, f1 = x1, x2, f2
            x2 = lo + g * (hi - lo)
            f2 = f(x2)
    return math.exp((lo + hi) / 2)
