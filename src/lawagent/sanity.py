"""Physical sanity of a fitted law, from training information only.

Three checks a reviewer would make before trusting an extrapolation, run per
group along each scale feature, from the group's smallest training value to
one decade past its largest (the other features held at the group's
largest-scale training row):

- ``monotone``: the law moves in the direction the training data move, where
  they move one way (Spearman |rho| >= 0.8 within each setting of the other
  features); a law that turns back just past the data is suspect;
- ``limit``: when the target is a loss, the law tends to a finite value as
  every scale feature grows (1e3, 1e6, 1e9 times the largest training value,
  each step at most 0.9 of the one before): that value (extrapolated from the
  geometric tail) is the fitted irreducible loss, reported per group;
- ``sign``: the prediction keeps the sign of the training targets over the
  extrapolation decade.

A check *fails* for the law when it fails in more than half of the groups it
applies to. :mod:`lawagent.selection.rank` uses the count of failed checks as
a soft tie-breaker. Nothing here reads a test row: the rows passed in are
training rows, and the extrapolation region is made from their range.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

from lawagent.fit.fitter import GroupIndex, predict
from lawagent.law.law import Law
from lawagent.task import DataSplit

GRID = 40
TREND = 0.8  # |Spearman rho| of the training data above which they count as monotone
LIMIT_STEPS = (1e3, 1e6, 1e9)
_LOSS = re.compile(r"loss|perplexity|ppl|nll|bpb|bits|error|err\b", re.IGNORECASE)


@dataclass
class Check:
    """One check over the groups it applies to."""

    name: str  # monotone | limit | sign
    feature: str = ""  # the scale feature (monotone), '' for checks over all of them
    applies: int = 0  # groups where the check applies
    failed: int = 0  # groups where it fails
    detail: str = ""

    @property
    def passed(self) -> bool | None:
        """None where it applies to no group."""
        return None if not self.applies else self.failed * 2 <= self.applies


@dataclass
class Sanity:
    """The checks of one law, and the fitted irreducible loss per group (loss targets)."""

    checks: list[Check] = field(default_factory=list)
    limits: dict[str, float] = field(default_factory=dict)  # group -> limit of the first target at infinite scale

    @property
    def failures(self) -> int:
        return sum(1 for c in self.checks if c.passed is False)

    def to_dict(self) -> dict[str, Any]:
        from lawagent.jsonio import json_safe

        return json_safe({"checks": [asdict(c) | {"passed": c.passed} for c in self.checks],
                          "limits": self.limits, "failures": self.failures})

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Sanity":
        keys = Check.__dataclass_fields__
        checks = [Check(**{k: v for k, v in c.items() if k in keys}) for c in data.get("checks") or []]
        limits = {g: (math.nan if v is None else float(v)) for g, v in (data.get("limits") or {}).items()}
        return cls(checks, limits)


def is_loss(target: str, description: str = "") -> bool:
    """Whether a target is a loss-like quantity (has an irreducible floor), from its name or description."""
    return bool(_LOSS.search(target) or _LOSS.search(description or ""))


def target_is_loss(task) -> bool:
    """Whether the task's (first) target is a loss, from its name or column description."""
    target = task.targets[0]
    info = task.columns.get(target)
    return is_loss(target, info.description if info is not None else "")


def sanity_checks(law: Law, params: Mapping[str, Mapping[str, float]], rows: DataSplit, scale: Sequence[str],
                  loss: bool) -> Sanity:
    """The checks of ``law`` with per-group ``params`` on training ``rows``, along the ``scale`` features."""
    scale = _usable(law, rows, scale)
    out = Sanity()
    if not scale:
        return out
    monotone = {f: Check("monotone", f) for f in scale}
    limit = Check("limit", detail="finite as every scale feature grows x1e3, x1e6, x1e9")
    sign = Check("sign", detail="no change of sign over one decade past the training range")
    for g in params:
        idx = np.flatnonzero(rows.groups == g)
        if len(idx) < 2:
            continue
        X = {f: rows.X[f][idx] for f in law.features}
        y = rows.y[idx, 0]
        base = largest_run(law, rows, idx)
        for f in scale:
            rho = _trend(X, y, f, [o for o in law.used_features if o != f])
            if rho is None or abs(rho) < TREND:
                continue
            grid = np.geomspace(float(X[f].min()), 10 * float(X[f].max()), GRID)
            curve = _along(law, params, g, base, {f: grid})
            monotone[f].applies += 1
            steps = np.diff(curve)
            tol = 1e-9 * (np.nanmax(np.abs(curve)) if np.isfinite(curve).any() else 1.0)
            if not np.isfinite(curve).all() or np.any(np.sign(rho) * steps < -tol):
                monotone[f].failed += 1
        past = {f: np.geomspace(float(X[f].max()), 10 * float(X[f].max()), GRID) for f in scale}
        curve = _along(law, params, g, base, past)
        sign.applies += 1
        signs = np.sign(y[np.isfinite(y)])
        want = np.sign(np.median(signs)) if len(signs) else 1.0
        if not np.isfinite(curve).all() or np.any(np.sign(curve) != want):
            sign.failed += 1
        if loss:
            limit.applies += 1
            value = _limit_of(law, params, g, base, scale, y)
            out.limits[g] = value
            if math.isnan(value):
                limit.failed += 1
    out.checks = [c for c in [*monotone.values(), limit, sign] if c.applies]
    return out


def loss_limit(law: Law, params: Mapping[str, Mapping[str, float]], rows: DataSplit, scale: Sequence[str],
               group: str) -> float:
    """One group's fitted irreducible loss (the ``limit`` check's value; NaN where the law does not settle
    or the check does not apply): what a bootstrap interval of the irreducible loss needs, without the
    other checks."""
    scale = _usable(law, rows, scale)
    idx = np.flatnonzero(rows.groups == group)
    if not scale or len(idx) < 2:
        return math.nan
    return _limit_of(law, params, group, largest_run(law, rows, idx), scale, rows.y[idx, 0])


def _usable(law: Law, rows: DataSplit, scale: Sequence[str]) -> list[str]:
    """The scale features the law uses and the checks can grow (positive on every row)."""
    return [f for f in scale if f in law.used_features and np.all(rows.X[f] > 0)]


def largest_run(law: Law, rows: DataSplit, idx: np.ndarray) -> dict[str, float]:
    """The group's largest training run (by scale): where the checks start from."""
    anchor = idx[int(np.argmax(rows.scale[idx]))]
    return {f: float(rows.X[f][anchor]) for f in law.features}


def _limit_of(law: Law, params, group: str, base: Mapping[str, float], scale: Sequence[str], y: np.ndarray) -> float:
    far = [_along(law, params, group, base, {f: np.array([base[f] * m]) for f in scale})[0] for m in LIMIT_STEPS]
    return _limit(far, y)


def _along(law: Law, params, group: str, base: Mapping[str, float], varied: Mapping[str, np.ndarray]) -> np.ndarray:
    n = len(next(iter(varied.values())))
    X = {f: np.full(n, base[f]) for f in law.features}
    X.update({f: np.asarray(v, float) for f, v in varied.items()})
    return predict(law, {group: params[group]}, X, GroupIndex.single(group, n))[:, 0]


def _trend(X: Mapping[str, np.ndarray], y: np.ndarray, f: str, others: Sequence[str]) -> float | None:
    """How monotone the data are in ``f``: Spearman's rho within each setting of the other features
    (the median over settings with 3+ rows), else over all the rows."""
    keys = list(zip(*[np.round(X[o], 12).tolist() for o in others])) if others else [()] * len(y)
    settings: dict[tuple, list[int]] = {}
    for i, k in enumerate(keys):
        settings.setdefault(k, []).append(i)
    rhos = [r for idx in settings.values() if len(idx) >= 3
            for r in [_spearman(X[f][idx], y[idx])] if r is not None]
    if rhos:
        return float(np.median(rhos)) if (np.sign(rhos) == np.sign(rhos[0])).all() else 0.0
    return _spearman(X[f], y)


def _spearman(x: np.ndarray, y: np.ndarray) -> float | None:
    m = np.isfinite(x) & np.isfinite(y)
    if m.sum() < 3 or np.ptp(x[m]) == 0 or np.ptp(y[m]) == 0:
        return None
    rx, ry = _ranks(x[m]), _ranks(y[m])
    return float(np.corrcoef(rx, ry)[0, 1])


def _ranks(v: np.ndarray) -> np.ndarray:
    order = np.argsort(v, kind="stable")
    r = np.empty(len(v))
    r[order] = np.arange(len(v))
    return r


def _limit(values: Sequence[float], y: np.ndarray) -> float:
    """The limit of a sequence at x1e3, x1e6, x1e9 scale, or NaN if it does not settle.

    Settling: finite, within reach of the data, and each step at most 0.9 of the one before
    (a power law with exponent >= 0.015 does; a log does not). The limit is Aitken's
    extrapolation of the geometric tail, so a slowly saturating power law reports its floor,
    not the value at 1e9 times the data.
    """
    v = np.asarray(values, float)
    span = max(float(np.nanmax(np.abs(y))) if np.isfinite(y).any() else 1.0, 1e-12)
    if not np.isfinite(v).all() or np.abs(v).max() > 1e3 * span:
        return math.nan
    d1, d2 = v[1] - v[0], v[2] - v[1]
    if abs(d2) <= 1e-9 * span:
        return float(v[2])
    ratio = d2 / d1 if d1 != 0 else math.inf
    if not 0 < ratio <= 0.9:
        return math.nan
    return float(v[2] + d2 * ratio / (1 - ratio))
