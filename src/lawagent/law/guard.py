"""A wall-clock bound on symbolic work, so that no formula can hang a run.

The parser bounds every number before sympy computes it (see
:mod:`lawagent.law.parse`), so no known formula makes parsing slow. This is
the backstop for the unknown ones: :class:`time_limit` raises
:class:`~lawagent.errors.FormulaError` in the guarded thread once the work
has taken longer than its limit. It works in any thread (LLM replies are
parsed in worker threads), costs a few microseconds when the work finishes in
time, and nests (an inner guard inside an outer one is a no-op).

How: one daemon watchdog thread holds the deadlines and, when one passes,
raises :class:`WorkTimeout` in the late thread with CPython's
``PyThreadState_SetAsyncExc``. The exception arrives between Python
bytecodes, so a single long C call (a huge exact integer power, say) is not
interrupted: that is why numbers are bounded before they are computed, and
this guard only catches slow *Python-level* work. Off CPython the guard is a
no-op.
"""

from __future__ import annotations

import ctypes
import os
import threading
import time
from dataclasses import dataclass, field

from lawagent.errors import FormulaError

PARSE_SECONDS = 5.0  # a real law parses in milliseconds; this is generous even on a loaded machine


class WorkTimeout(BaseException):
    """Raised asynchronously in a thread that ran past its deadline.

    A BaseException, so that ``except Exception`` blocks in sympy cannot swallow it.
    """


@dataclass(eq=False)
class _Entry:
    thread_id: int
    deadline: float
    fired: bool = False
    done: bool = field(default=False, repr=False)


def _set_async_exc(thread_id: int, exc: type[BaseException] | None) -> None:
    set_exc = getattr(ctypes, "pythonapi", None)
    if set_exc is None:
        return
    set_exc.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread_id), ctypes.py_object(exc) if exc else None)


class _Watchdog:
    """One daemon thread that fires every guard whose deadline has passed."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.entries: list[_Entry] = []
        self.pid = -1  # the process the thread was started in (a forked child needs its own)

    def arm(self, seconds: float) -> _Entry:
        entry = _Entry(threading.get_ident(), time.monotonic() + seconds)
        with self.cond:
            if self.pid != os.getpid():
                self.pid = os.getpid()
                self.entries = []
                threading.Thread(target=self._run, name="lawagent-work-guard", daemon=True).start()
            self.entries.append(entry)
            self.cond.notify()
        return entry

    def disarm(self, entry: _Entry) -> bool:
        """Stop watching ``entry``; True if it fired. After this returns it can no longer fire."""
        with self.cond:
            entry.done = True
            if entry in self.entries:
                self.entries.remove(entry)
            return entry.fired

    def _run(self) -> None:
        with self.cond:
            while True:
                now = time.monotonic()
                for entry in [e for e in self.entries if e.deadline <= now]:
                    self.entries.remove(entry)
                    if not entry.done:
                        entry.fired = True
                        _set_async_exc(entry.thread_id, WorkTimeout)
                wait = min((e.deadline for e in self.entries), default=now + 60.0) - now
                self.cond.wait(timeout=max(0.001, wait))


_WATCHDOG = _Watchdog()
_local = threading.local()


class time_limit:
    """``with time_limit(5, "parsing the formula"):`` raises FormulaError if the block runs over."""

    def __init__(self, seconds: float = PARSE_SECONDS, what: str = "parsing the formula"):
        self.seconds = seconds
        self.what = what
        self.entry: _Entry | None = None

    def __enter__(self) -> "time_limit":
        if not getattr(_local, "active", False):
            _local.active = True
            self.entry = _WATCHDOG.arm(self.seconds)
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        if self.entry is None:
            return False
        fired = self._disarm()
        if fired or exc_type is WorkTimeout:
            raise FormulaError(f"{self.what} took longer than {self.seconds:g} s; write a simpler law") from None
        return False

    def _disarm(self) -> bool:
        """Disarm, and clear an exception that fired but has not been delivered yet."""
        assert self.entry is not None
        while True:
            try:
                fired = _WATCHDOG.disarm(self.entry)
                if fired:
                    _set_async_exc(self.entry.thread_id, None)
                _local.active = False
                return fired
            except WorkTimeout:  # delivered while disarming: it is fired, go round once more
                continue
