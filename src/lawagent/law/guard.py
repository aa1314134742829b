"""A wall-clock bound on symbolic work, so that no formula can hang a run.

The parser bounds every number before sympy computes it (see
:mod:`lawagent.law.parse`), so no known formula makes parsing slow. This is
the backstop for the unknown ones: :func:`bounded` runs a function and raises
:class:`~lawagent.errors.FormulaError` in its thread once it has taken longer
than its limit. It works in any thread (LLM replies are parsed in worker
threads), costs a few microseconds when the work finishes in time, and nests
(an inner bound inside an outer one is a no-op).

How: one daemon watchdog thread holds the deadlines and, when one passes,
raises :class:`WorkTimeout` in the late thread with CPython's
``PyThreadState_SetAsyncExc``. Like Ctrl-C, the exception arrives between any
two Python bytecodes, so this module never holds a lock that the exception
could leave locked: deadlines reach the watchdog through a queue, and the
"is it firing?" handshake uses plain flags. A single long C call (a huge
exact integer power, say) is not interrupted: that is why numbers are bounded
before they are computed, and this guard only catches slow *Python-level*
work. Off CPython the guard is a no-op.
"""

from __future__ import annotations

import ctypes
import heapq
import itertools
import os
import queue
import threading
import time
from typing import Callable, TypeVar

from lawagent.errors import FormulaError

PARSE_SECONDS = 5.0  # a real law parses in milliseconds; this is generous even on a loaded machine

T = TypeVar("T")


class WorkTimeout(BaseException):
    """Raised asynchronously in a thread that ran past its deadline.

    A BaseException, so that ``except Exception`` blocks in sympy cannot swallow it.
    """


class _Entry:
    """One deadline. ``done`` is set by the guarded thread, ``firing``/``fired`` by the watchdog."""

    __slots__ = ("thread_id", "deadline", "done", "firing", "fired")

    def __init__(self, thread_id: int, deadline: float):
        self.thread_id, self.deadline = thread_id, deadline
        self.done = self.firing = self.fired = False


def _set_async_exc(thread_id: int, exc: type[BaseException] | None) -> None:
    api = getattr(ctypes, "pythonapi", None)
    if api is not None:
        api.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread_id), ctypes.py_object(exc) if exc else None)


class _Watchdog:
    """One daemon thread that fires every entry whose deadline has passed and that is not done."""

    def __init__(self) -> None:
        self.start_lock = threading.Lock()
        self.pid = -1  # the process the thread runs in (a forked child starts its own)
        self.inbox: queue.SimpleQueue[_Entry] = queue.SimpleQueue()

    def arm(self, seconds: float) -> _Entry:
        if self.pid != os.getpid():
            with self.start_lock:
                if self.pid != os.getpid():
                    self.inbox = queue.SimpleQueue()
                    threading.Thread(target=self._run, args=(self.inbox,), name="lawagent-work-guard", daemon=True).start()
                    self.pid = os.getpid()
        entry = _Entry(threading.get_ident(), time.monotonic() + seconds)
        self.inbox.put(entry)  # C-level and atomic: nothing here can be left half done
        return entry

    @staticmethod
    def settle(entry: _Entry) -> bool:
        """Stop ``entry`` from firing; True if it fired (a pending exception is cleared)."""
        entry.done = True  # then look at `firing`: the watchdog sets `firing` and then looks at `done`
        while entry.firing:
            time.sleep(0)
        if entry.fired:
            _set_async_exc(entry.thread_id, None)
        return entry.fired

    @staticmethod
    def _run(inbox: queue.SimpleQueue) -> None:
        heap: list[tuple[float, int, _Entry]] = []
        order = itertools.count()
        while True:
            wait = max(0.0, heap[0][0] - time.monotonic()) if heap else None
            try:
                entry = inbox.get(timeout=wait)
                heapq.heappush(heap, (entry.deadline, next(order), entry))
            except queue.Empty:
                pass
            now = time.monotonic()
            while heap and (heap[0][0] <= now or heap[0][2].done):
                entry = heapq.heappop(heap)[2]
                entry.firing = True
                if not entry.done:
                    entry.fired = True
                    _set_async_exc(entry.thread_id, WorkTimeout)
                entry.firing = False


_WATCHDOG = _Watchdog()
_local = threading.local()


def bounded(seconds: float, what: str, work: Callable[[], T], error: type[Exception] = FormulaError) -> T:
    """``work()``, or FormulaError('<what> took longer than <seconds> s') if it runs over.

    A function rather than a ``with`` block: the exception may arrive at any bytecode,
    including the first one of a context manager's ``__exit__``, which no ``try`` covers.
    ``error`` is the exception raised instead (work other than formula handling: a fit cut
    short by the run's deadline, see :mod:`lawagent.discovery.clock`).
    """
    if getattr(_local, "active", False):
        return work()  # an outer bound governs
    entry = None
    try:
        try:
            _local.active = True
            entry = _WATCHDOG.arm(seconds)
            return work()
        finally:
            _local.active = False
            if entry is not None and _WATCHDOG.settle(entry):
                raise WorkTimeout
    except WorkTimeout:
        _local.active = False
        if entry is not None:
            _WATCHDOG.settle(entry)  # again: the exception may have cut the first settle short
        hint = "; write a simpler law" if error is FormulaError else ""
        raise error(f"{what} took longer than {seconds:.3g} s{hint}") from None
