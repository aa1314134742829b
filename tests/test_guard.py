"""The wall-clock guard around symbolic work: it stops slow Python work in any thread, and only then."""

from __future__ import annotations

import threading
import time

import pytest

from lawagent.errors import FormulaError
from lawagent.law.guard import bounded


def _spin(seconds: float) -> int:
    """Python-level busy work (what the guard can interrupt), ending by itself after ``seconds``."""
    end = time.monotonic() + seconds
    n = 0
    while time.monotonic() < end:
        n += 1
    return n


def test_slow_work_is_stopped_with_a_formula_error() -> None:
    with pytest.raises(FormulaError, match="spinning took longer than 0.2 s"):
        bounded(0.2, "spinning", lambda: _spin(30))


def test_slow_work_in_a_worker_thread_is_stopped() -> None:
    caught: list[BaseException] = []

    def work() -> None:
        try:
            bounded(0.2, "spinning", lambda: _spin(30))
        except FormulaError as err:
            caught.append(err)

    thread = threading.Thread(target=work)
    thread.start()
    thread.join(timeout=60)
    assert not thread.is_alive()
    assert len(caught) == 1 and "took longer" in str(caught[0])


def test_guards_ending_near_their_deadline_leak_nothing() -> None:
    """Deadlines that pass while a guard is finishing: each ends in a result or a FormulaError, nothing
    escapes later, and the guard still works afterwards (an exception landing in the guard's own
    bookkeeping once left a lock held and the watchdog stuck)."""
    outcomes = {"result": 0, "timeout": 0}
    for _ in range(500):
        try:
            bounded(0.002, "spinning", lambda: _spin(0.0019))
            outcomes["result"] += 1
        except FormulaError:
            outcomes["timeout"] += 1
    # (any other exception, from the guard or landing late, fails the loop above)
    assert _spin(0.3) > 0  # a stray exception would land here
    with pytest.raises(FormulaError):
        bounded(0.2, "spinning", lambda: _spin(30))  # and the watchdog still fires
    assert bounded(5, "spinning", lambda: _spin(0.01)) > 0


def test_an_inner_guard_defers_to_the_outer_one() -> None:
    with pytest.raises(FormulaError, match="outer"):
        bounded(0.2, "outer", lambda: bounded(60, "inner", lambda: _spin(30)))
