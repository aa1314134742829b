"""SLDBench's metric: pooled held-out R² = 1 − NMSE, with NMAE beside it.

Predictions of every group's held-out rows are pooled. Per target,
NMSE = MSE / Var(pooled true values) and NMAE = MAE / mean |y − mean(y)|;
both are averaged over targets and R² = 1 − NMSE. Any NaN or infinite
prediction fails the whole task: R² = −1 (SLDBench's failure value).
A target that is constant on the scored rows has no variance to normalise by:
its NMSE is then the raw MSE, and :attr:`Scores.warnings` says so (callers
show it beside the score; scoring itself prints nothing).
The normaliser uses the held-out rows only, as SLDBench's task statement
defines it (one older version of its evaluator pooled train rows into it).

Pooled R² saturates where groups sit at different levels (many loss curves,
isoFLOP profiles): a law that gets every level right but every curve's shape
wrong still scores near 1. Beside it, ``group_r2`` is the mean over groups
(with at least 2 held-out rows and some spread) of the R² within the group.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

FAILURE_R2 = -1.0
# a target counts as constant (no normalisation) where its variance is below this share of its
# mean square: relative, so that a target of size 1e-7 is not taken for a constant one
VARIANCE_FLOOR = 1e-12


@dataclass(frozen=True)
class Scores:
    r2: float
    nmse: float
    nmae: float
    n_rows: int
    failed: bool = False
    message: str = ""
    per_target_r2: tuple[float, ...] = ()
    per_group: dict[str, dict[str, float]] = field(default_factory=dict)
    group_r2: float = math.nan  # mean within-group R² (groups with >= 2 rows and spread); NaN if none
    warnings: tuple[str, ...] = ()  # why the numbers may mislead (a constant target), for the caller to show

    def as_dict(self) -> dict:
        return {
            "r2": self.r2, "nmse": self.nmse, "nmae": self.nmae, "n_rows": self.n_rows,
            "failed": self.failed, "message": self.message, "group_r2": self.group_r2,
            "per_target_r2": list(self.per_target_r2), "per_group": self.per_group,
            "warnings": list(self.warnings),
        }


def failure(n_rows: int, message: str) -> Scores:
    return Scores(FAILURE_R2, math.inf, math.inf, n_rows, True, message, group_r2=FAILURE_R2)


def relative_nmse(law: Scores | None, reference: Scores | None) -> float:
    """The law's NMSE over the reference law's on the same rows (below 1: better than the reference); NaN if unknown."""
    if law is None or reference is None or law.failed or reference.failed or not reference.nmse > 0:
        return math.nan
    return law.nmse / reference.nmse


def score(y_true: np.ndarray, y_pred: np.ndarray, groups: Sequence[str] | np.ndarray | None = None) -> Scores:
    """Score pooled predictions (n, n_targets) against the truth."""
    y_true = np.asarray(y_true, dtype=float)
    y_pred = np.asarray(y_pred, dtype=float)
    if y_true.ndim == 1:
        y_true = y_true[:, None]
    if y_pred.ndim == 1:
        y_pred = y_pred[:, None]
    n = len(y_true)
    if y_true.shape != y_pred.shape:
        return failure(n, f"prediction shape {y_pred.shape} does not match truth {y_true.shape}")
    if n == 0:
        return failure(0, "no rows to score")
    bad = ~np.isfinite(y_pred)
    if bad.any():
        row = int(np.argwhere(bad)[0][0])
        return failure(n, f"{int(bad.any(axis=1).sum())} of {n} predictions are NaN or infinite (first at row {row})")
    with np.errstate(all="ignore"):
        return _score(y_true, y_pred, groups, n)


def _score(y_true: np.ndarray, y_pred: np.ndarray, groups, n: int) -> Scores:
    err = y_pred - y_true
    var = y_true.var(axis=0)
    mad = np.abs(y_true - y_true.mean(axis=0)).mean(axis=0)
    mse = (err**2).mean(axis=0)
    mae = np.abs(err).mean(axis=0)
    floor = _floor(y_true)
    nmse_t = np.divide(mse, var, out=mse.copy(), where=var > floor)
    nmae_t = np.divide(mae, mad, out=mae.copy(), where=mad > np.sqrt(floor))
    nmse = float(nmse_t.mean())
    per_group: dict[str, dict[str, float]] = {}
    within: list[float] = []
    if groups is not None:
        groups = np.asarray(groups, dtype=object)
        for name in dict.fromkeys(groups.tolist()):
            rows = groups == name
            entry = {
                "n_rows": int(rows.sum()),
                "rmse": float(np.sqrt((err[rows] ** 2).mean())),
                "mae": float(np.abs(err[rows]).mean()),
                "max_abs_error": float(np.abs(err[rows]).max()),
            }
            g_var = y_true[rows].var(axis=0)
            if rows.sum() >= 2 and np.all(g_var > _floor(y_true[rows])):
                entry["r2"] = float(1.0 - ((err[rows] ** 2).mean(axis=0) / g_var).mean())
                within.append(entry["r2"])
            per_group[str(name)] = entry
    warnings = tuple(_constant_target_warning(t, y_true.shape[1], float(var[t])) for t in np.flatnonzero(var <= floor))
    return Scores(1.0 - nmse, nmse, float(nmae_t.mean()), n, False, "", tuple(float(1 - v) for v in nmse_t), per_group,
                  float(np.mean(within)) if within else math.nan, warnings)


def _floor(y: np.ndarray) -> np.ndarray:
    """Per target: the variance below which it counts as constant (:data:`VARIANCE_FLOOR` of its mean square)."""
    return VARIANCE_FLOOR * np.maximum((y**2).mean(axis=0), np.finfo(float).tiny)


def _constant_target_warning(t: int, n_targets: int, variance: float) -> str:
    which = "the target" if n_targets == 1 else f"target {t + 1}"
    return (f"{which} is constant on the scored rows (variance {variance:.3g}): "
            "NMSE is the raw MSE there, so R2 does not measure fit quality")
