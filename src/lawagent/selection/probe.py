"""An extrapolation stress test that needs no test rows.

Validation rows sit one step beyond the fit rows along the scale features.
The probe takes the validation rows two more such steps out (in log space for
positive features) and asks two things of the fitted law's predictions there:

- they stay within a generous band around the targets seen in training (the
  observed range widened by its own width on each side);
- they keep the direction the law itself has at the edge of the data (the
  change over the last step in): a loss that falls with scale up to the
  largest model and then turns up just past it is fitting noise.

Turns smaller than a tenth of the target's spread are not counted, so laws
that flatten out pass. Acceleration is not penalised: a term growing as a
power of scale accelerates in log space, and that is a law, not noise. Two
laws with equal validation R² are told apart by the probe.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from lawagent.fit.fitter import FitResult
from lawagent.task import DataSplit

STEPS = 2.0  # how many validation-sized steps beyond the validation rows to probe
TOLERANCE = 0.1  # turns smaller than this share of the target's spread (std) are noise, never a violation


def probe_rows(fit_split: DataSplit, val_split: DataSplit, steps: float = STEPS) -> dict[str, np.ndarray] | None:
    """Validation rows moved ``steps`` steps along every feature on which they extrapolate (negative: back in)."""
    if not len(val_split) or not len(fit_split):
        return None
    X = {f: np.array(v, dtype=float) for f, v in val_split.X.items()}
    moved = False
    for g in val_split.group_names():
        vrows = val_split.groups == g
        frows = fit_split.groups == g
        if not frows.any():
            continue
        for f in X:
            fit_max = float(np.max(fit_split.X[f][frows]))
            val_max = float(np.max(val_split.X[f][vrows]))
            if not val_max > fit_max:
                continue
            moved = True
            if fit_max > 0 and np.all(X[f][vrows] > 0):
                X[f][vrows] = X[f][vrows] * (val_max / fit_max) ** steps
            else:
                X[f][vrows] = X[f][vrows] + steps * (val_max - fit_max)
    return X if moved else None


@dataclass(frozen=True)
class _Probe:
    """What the probe asks of any law on one (fit, validation) pair: the moved rows and, per
    validation row, its group's band and noise tolerance (n_val × n_targets)."""

    out: dict[str, np.ndarray]
    back: dict[str, np.ndarray] | None
    low: np.ndarray  # the band's edges: observed range widened by its width
    high: np.ndarray
    tol: np.ndarray


@lru_cache(maxsize=8)  # a search probes every candidate on the same fold (splits hash by identity): once
def _probe(fit_split: DataSplit, val_split: DataSplit) -> _Probe | None:
    out = probe_rows(fit_split, val_split, STEPS)
    if out is None:
        return None
    low, high, tol = (np.full(val_split.y.shape, np.nan) for _ in range(3))  # y is (rows, targets)
    for g in val_split.group_names():
        rows = val_split.groups == g
        seen = np.concatenate([fit_split.y[fit_split.groups == g], val_split.y[rows]])
        lo, hi = seen.min(axis=0), seen.max(axis=0)
        span = np.maximum(hi - lo, 1e-12 + 0.05 * np.abs(seen).mean(axis=0))
        low[rows], high[rows] = lo - span, hi + span
        tol[rows] = TOLERANCE * np.maximum(seen.std(axis=0), 1e-12)
    return _Probe(out, probe_rows(fit_split, val_split, -1.0), low, high, tol)


def violation(result: FitResult, fit_split: DataSplit, val_split: DataSplit) -> float:
    """Fraction of probe predictions that leave the band or turn back (0 = all plausible)."""
    probe = _probe(fit_split, val_split)
    if probe is None:
        return 0.0
    with np.errstate(all="ignore"):
        pred = result.predict(probe.out, val_split.group_index)
        here = result.predict(val_split.X, val_split.group_index)
        before = result.predict(probe.back, val_split.group_index)
        step_in = here - before
        step_out = pred - here
        turns = (step_in * step_out < 0) & (np.abs(step_out) > probe.tol)
        bad = ~np.isfinite(pred) | (pred < probe.low) | (pred > probe.high) | turns
    return float(bad.mean())
