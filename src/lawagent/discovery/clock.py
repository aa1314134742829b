"""The run's clock: ``--time`` is a deadline for the whole run, and this is how it is shared out.

The clock starts when the command starts, so loading the data and preparing the
validation folds count; a resumed run's earlier sessions count too (``--time``
is the total). The search ends early enough to leave the final refit its share
(:func:`refit_reserve`), and candidates still being evaluated when the search
ends are cancelled, not waited for. The refit then spreads what is left over
its laws (:meth:`RunClock.refit_seconds`).

A fit's own time limit is checked between its iterations, but its first steps
(scoring every start on every row) are not: on big data they alone can take many
times the limit. Work that must end on time in this process therefore runs
:func:`within` the wall-clock guard of :mod:`lawagent.law.guard`, which stops it
between two Python bytecodes (a single long numpy call finishes first).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Callable, Sequence, TypeVar

import numpy as np

from lawagent.errors import LawagentError
from lawagent.fit import native
from lawagent.law.guard import bounded

REFIT_SHARE = 0.25  # at most this share of --time is kept back from the search for the final refit
# A final fit (more starts, all training rows) costs 0.2x to 4.5x a candidate's full evaluation
# (measured on the bundled tasks' reference laws, about 1x typically): the reserve plans for a slow one ...
REFIT_PER_EVALUATION = 4.0
# ... and a refit is not started when even a typical one would overrun its share threefold.
REFIT_TYPICAL = 2.0
MIN_REFIT_SECONDS = 0.2  # a finalist's refit gets at least this, however late it is
GRACE_SECONDS = 0.5  # work run within() a limit may take this much longer before it is stopped

T = TypeVar("T")


class OutOfTime(LawagentError):
    """Work that the run's clock stopped before it finished."""


def within(seconds: float, what: str, work: Callable[[], T]) -> T:
    """``work()``, stopped with :class:`OutOfTime` once ``seconds`` (plus a grace) have passed.

    The work is a fit: the compiled fitter is loaded first, outside the guard. Loading takes seconds
    (the first fit of a process, such as the final refit after workers did the search), and the
    guard's exception raised inside numba's loader leaves numba broken for the rest of the process.
    """
    end = time.monotonic() + max(seconds, 0.0)
    native.ready()
    return bounded(max(end - time.monotonic(), 0.0) + GRACE_SECONDS, what, work, error=OutOfTime)


@dataclass(frozen=True)
class RunClock:
    """``started``: ``time.monotonic()`` when this session began; ``limit``: ``--time`` (None: no limit)."""

    started: float
    limit: float | None = None
    spent_before: float = 0.0  # seconds used by earlier sessions of a resumed run

    @property
    def end(self) -> float | None:
        """The monotonic time by which the whole run must be over."""
        return None if self.limit is None else self.started + self.limit - self.spent_before

    def elapsed(self) -> float:
        """Seconds of the run so far, earlier sessions included."""
        return self.spent_before + time.monotonic() - self.started

    def left(self) -> float | None:
        """Seconds left, None without a time limit."""
        return None if self.end is None else self.end - time.monotonic()

    def expired(self) -> bool:
        """Whether there is a time limit and it has been reached."""
        left = self.left()
        return left is not None and left <= 0

    def refit_seconds(self, laws_left: int, most: float) -> float:
        """Time limit of the next final fit: its share of what is left, at most ``most``."""
        left = self.left()
        if left is None:
            return most
        return min(most, max(MIN_REFIT_SECONDS, left / max(1, laws_left)))


def refit_fits(evaluation_seconds: float | None, share: float, left: float | None) -> bool:
    """Whether to start a finalist's refit with ``share`` seconds (and ``left`` for the whole run).

    The guard cannot stop a fit inside one long numpy call, and on big data those
    calls take seconds: so a refit expected to take many times its share
    (:data:`REFIT_TYPICAL` times its full evaluation, ``evaluation_seconds``) is not
    started, nor one of a finalist that never had a full evaluation (the search
    ran out of time before: nothing to judge by, and a refit costs more).
    """
    if left is None:
        return True
    if left <= 0 or evaluation_seconds is None:
        return False
    return REFIT_TYPICAL * evaluation_seconds <= max(3 * share, share + 1.0)


def process_started() -> float:
    """The ``time.monotonic()`` at which this process started, so that a command's imports count
    against its ``--time`` too (Linux; elsewhere, or if it looks wrong: now)."""
    try:
        with open("/proc/self/stat", encoding="ascii", errors="replace") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()  # after the command name, which may hold spaces
        age = time.clock_gettime(time.CLOCK_BOOTTIME) - int(fields[19]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, AttributeError):
        return time.monotonic()
    return time.monotonic() - age if 0 <= age < 60 else time.monotonic()


def refit_reserve(limit: float | None, finalist_seconds: Sequence[float]) -> float:
    """Seconds the search leaves for the final refit: :data:`REFIT_PER_EVALUATION` times the full
    evaluation of each current finalist (``finalist_seconds``), and one more for the task's reference law,
    at most :data:`REFIT_SHARE` of ``limit``; all of that share before any candidate is fully evaluated.
    """
    if limit is None:
        return 0.0
    cap = REFIT_SHARE * limit
    if len(finalist_seconds) == 0:
        return cap
    costs = [*finalist_seconds, float(np.mean(finalist_seconds))]
    return min(cap, max(REFIT_PER_EVALUATION * sum(costs), min(1.0, cap)))
