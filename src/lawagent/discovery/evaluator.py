"""Score one candidate law: fit on the fit rows, score on the validation rows.

Both splits are carved from the task's *training* rows by the validation
protocol, so selection rewards extrapolation without the test rows. Runs
inside worker processes; it never raises: every failure becomes a
:class:`CandidateRecord` with ``error`` set.

Two stages (racing): a cheap *screen* (few starts, few iterations, fold 1
only, a row subsample on big tasks) that every new candidate gets, and the
*full* evaluation (the search fit on every fold, and the probe) that only
candidates whose screen could still reach the top get
(:func:`lawagent.selection.rank.could_still_win`). The full stage never
reuses the screen's fit, so a finalist's numbers are exactly a full fit's.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Sequence

import numpy as np

from lawagent.discovery.clock import OutOfTime, within
from lawagent.errors import LawagentError
from lawagent.fit.fitter import FitOptions, fit
from lawagent.law.law import Law
from lawagent.proposers.base import CandidateRecord, Proposal
from lawagent.scoring import score
from lawagent.selection.probe import violation
from lawagent.selection.rank import RaceLimits, could_still_rank
from lawagent.task import DataSplit

# The search fits thousands of candidates: fewer starts than a final fit.
SEARCH_FIT = FitOptions(n_starts=24, n_refine=4, max_iter=100, time_limit=5.0)
# The screen only has to tell hopeless candidates from possible ones.
SCREEN_FIT = FitOptions(n_starts=8, n_refine=2, max_iter=30, time_limit=2.0)
SCREEN_ROWS = 1500  # fit rows above which the screen fits on an even subsample of each group

FULL, FOLD1, SCREEN = "full", "fold1", "screen"  # racing's stages, dearest first
# The error of a candidate the search gave up on when it ended (time up, or Ctrl-C): it is not
# recorded at all, so that a resumed run can evaluate it properly.
CANCELLED = "cancelled: the search ended before its evaluation did"


@dataclass(frozen=True)
class EvalOptions:
    fit: FitOptions = field(default_factory=lambda: SEARCH_FIT)
    screen: FitOptions = field(default_factory=lambda: SCREEN_FIT)
    screen_rows: int = SCREEN_ROWS
    # time.monotonic() at which the search ends: fits are told (their time limit ends there) and
    # stopped by the wall-clock guard if they run on, and the candidate is CANCELLED. For evaluation
    # in the search's own process (workers=0), which nothing else can stop; workers are killed instead.
    deadline: float | None = None


def parse_proposal(proposal: Proposal, features: Sequence[str], targets: Sequence[str], budget: int | None) -> Law:
    """Parse a proposal's text with the whitelist parser (raises FormulaError)."""
    return Law.parse(
        list(proposal.formulas), features, targets=list(targets), budget=budget,
        bounds=proposal.bounds or None, initial=proposal.initial or None,
    )


def evaluate_candidate(
    proposal: Proposal,
    features: Sequence[str],
    targets: Sequence[str],
    budget: int | None,
    fit_split: DataSplit,
    val_split: DataSplit,
    options: EvalOptions | None = None,
    *,
    id: int = 0,
    iteration: int = 0,
    extra_folds: Sequence[tuple[DataSplit, DataSplit]] = (),
    stage: str = FULL,
    limits: RaceLimits | None = None,
) -> CandidateRecord:
    """Fit ``proposal`` per group on ``fit_split``, score pooled on ``val_split``. Never raises.

    ``extra_folds`` are further (fit, validation) pairs one scale step down
    (:meth:`lawagent.selection.protocol.Protocol.folds`); their R² go to ``record.fold_r2``, and a
    law that cannot be fitted or scored on one counts as R² = -1 there. ``stage="screen"`` is the
    cheap first look of racing: fold 1 only, :data:`SCREEN_FIT`, a row subsample on big tasks. With
    ``limits`` (racing), a full evaluation stops after fold 1 (stage "fold1") when no later fold could
    make the law a finalist (:func:`lawagent.selection.rank.could_still_rank`).
    """
    options = options or EvalOptions()
    start = time.perf_counter()
    record = CandidateRecord(id=id, formula=proposal.text, origin=proposal.origin, iteration=iteration,
                             rationale=proposal.rationale, stage=stage)
    fit_options = options.fit
    if stage == SCREEN:
        fit_split = subsample(fit_split, options.screen_rows)
        fit_options, extra_folds = options.screen, ()
    if _by_deadline(fit_options, options.deadline) is None:
        record.error = CANCELLED
        return record
    try:
        law = parse_proposal(proposal, features, targets, budget)
    except LawagentError as err:
        record.error = f"parse error: {err}"
        record.seconds = time.perf_counter() - start
        return record
    except Exception as err:  # a parser bug must not stop a run
        record.error = f"parse error: {type(err).__name__}: {err}"
        record.seconds = time.perf_counter() - start
        return record
    record.formula = law.text()
    record.complexity = law.complexity
    record.n_params = law.n_parameters
    try:
        result = _fit(law, fit_split, fit_options, options.deadline)
        record.params = result.params_table()
        if not result.ok:
            bad = [g for g, f in result.groups.items() if not f.ok]
            record.error = f"fit failed on group(s) {', '.join(bad[:3])}"
        else:
            # pooled R² only: per-group errors are for reports, not for ranking thousands of candidates
            fit_scores = score(fit_split.y, result.predict(fit_split.X, fit_split.group_index))
            record.fit_r2 = fit_scores.r2
            if len(val_split):
                val_scores = score(val_split.y, result.predict(val_split.X, val_split.group_index))
            else:
                val_scores = fit_scores
            record.val_r2 = val_scores.r2
            if stage == FULL and limits is not None and not could_still_rank(
                    _stable(val_scores.r2), record.complexity, 1 + len(extra_folds), limits):
                record.stage = FOLD1
            elif stage == FULL:
                record.probe_violation = violation(result, fit_split, val_split)
                record.fold_r2 = [_fold_r2(law, f, v, fit_options, options.deadline) for f, v in extra_folds]
            if val_scores.failed:
                record.error = f"validation: {val_scores.message}"
            elif fit_scores.failed:
                record.error = f"fit rows: {fit_scores.message}"
    except LawagentError as err:
        record.error = f"fit error: {err}"
    except (ArithmeticError, ValueError, TypeError, np.linalg.LinAlgError, RecursionError, MemoryError) as err:
        record.error = f"fit error: {type(err).__name__}: {err}"
    except Exception as err:  # noqa: BLE001 - any candidate bug is recorded, never fatal
        record.error = f"fit error: {type(err).__name__}: {err}"
    record.val_r2 = _stable(record.val_r2)
    record.probe_violation = _stable(record.probe_violation)
    record.fit_r2 = _stable(record.fit_r2)
    record.fold_r2 = [_stable(v) for v in record.fold_r2]
    record.params = {g: {k: _stable(v, nan=True) for k, v in ps.items()} for g, ps in record.params.items()}
    record.seconds = time.perf_counter() - start
    if options.deadline is not None and time.monotonic() > options.deadline:
        record.error = CANCELLED  # its fits were cut short: these are not the numbers of a whole evaluation
    return record


def _fit(law: Law, split: DataSplit, options: FitOptions, deadline: float | None):
    """``fit`` on ``split``, without standard errors (a candidate's record has none: the final refit
    computes them); with a ``deadline``, told to end by it and stopped there if it does not
    (:func:`~lawagent.discovery.clock.within`: OutOfTime, a LawagentError)."""
    options = replace(options, stderr=False) if options.stderr else options
    if deadline is None:
        return fit(law, split.X, split.y, split.groups, options)
    bounded_options = _by_deadline(options, deadline)
    if bounded_options is None:
        raise OutOfTime("the search has ended")
    return within(deadline - time.monotonic(), "a candidate's fit",
                  lambda: fit(law, split.X, split.y, split.groups, bounded_options))


def _by_deadline(options: FitOptions, deadline: float | None) -> FitOptions | None:
    """``options`` with a time limit that ends by ``deadline`` (None once it has passed)."""
    if deadline is None:
        return options
    left = deadline - time.monotonic()
    if left <= 0:
        return None
    return options if left >= options.time_limit else replace(options, time_limit=left)


@lru_cache(maxsize=2)  # every screen of a run subsamples the same split (hashed by identity): once
def subsample(split: DataSplit, max_rows: int) -> DataSplit:
    """At most about ``max_rows`` rows, an even stride through each group (all of a small group's rows)."""
    n = len(split)
    if n <= max_rows:
        return split
    keep = np.zeros(n, dtype=bool)
    for g in split.group_names():
        idx = np.flatnonzero(split.groups == g)
        share = max(8, int(np.ceil(len(idx) * max_rows / n)))
        keep[idx[np.unique(np.linspace(0, len(idx) - 1, min(share, len(idx))).round().astype(int))]] = True
    return split.subset(keep)


def _fold_r2(law: Law, fit_split: DataSplit, val_split: DataSplit, options: FitOptions,
             deadline: float | None = None) -> float:
    try:
        result = _fit(law, fit_split, options, deadline)
        if not result.ok:
            return -1.0
        scores = score(val_split.y, result.predict(val_split.X, val_split.group_index))
    except (LawagentError, ArithmeticError, ValueError, TypeError, np.linalg.LinAlgError, RecursionError,
            MemoryError):
        return -1.0
    return -1.0 if scores.failed or not math.isfinite(scores.r2) else float(scores.r2)


def _stable(value: float, nan: bool = False) -> float:
    """Round to 10 significant digits: the last bits of a fit differ between processes
    (SIMD paths depend on memory alignment), and must not change a seeded run."""
    v = float(value)
    if not math.isfinite(v):
        return math.nan if nan and math.isnan(v) else (v if nan else -math.inf)
    return float(f"{v:.10g}")
