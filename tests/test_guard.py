"""The wall-clock guard around symbolic work: it stops slow Python work in any thread, and only then."""

from __future__ import annotations

import threading
import time

import pytest

from lawagent.errors import FormulaError
from lawagent.law.guard import time_limit


def _spin(seconds: float) -> int:
    """Python-level busy work (what the guard can interrupt), ending by itself after ``seconds``."""
    end = time.monotonic() + seconds
    n = 0
    while time.monotonic() < end:
        n += 1
    return n


def test_slow_work_is_stopped_with_a_formula_error() -> None:
    with pytest.raises(FormulaError, match="spinning took longer than 0.2 s"):
        with time_limit(0.2, "spinning"):
            _spin(30)


def test_slow_work_in_a_worker_thread_is_stopped() -> None:
    caught: list[BaseException] = []

    def work() -> None:
        try:
            with time_limit(0.2, "spinning"):
                _spin(30)
        except FormulaError as err:
            caught.append(err)

    thread = threading.Thread(target=work)
    thread.start()
    thread.join(timeout=60)
    assert not thread.is_alive()
    assert len(caught) == 1 and "took longer" in str(caught[0])


def test_fast_work_is_untouched_and_nothing_fires_later() -> None:
    for _ in range(300):  # guards ending close to their deadline must not leak a late exception
        try:
            with time_limit(0.002, "spinning"):
                _spin(0.0015)
        except FormulaError:
            pass
    assert _spin(0.3) > 0  # would be interrupted by a stray exception
    with time_limit(5, "spinning"):
        assert _spin(0.01) > 0


def test_an_inner_guard_defers_to_the_outer_one() -> None:
    with pytest.raises(FormulaError, match="outer"):
        with time_limit(0.2, "outer"):
            with time_limit(60, "inner"):
                _spin(30)
