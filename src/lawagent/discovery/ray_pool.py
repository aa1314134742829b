"""Candidate evaluation on Ray actors (:class:`RayPool`), with the local pool's contract.

Like :class:`lawagent.discovery.workers.WorkerPool`: the train-only shared data
is put in the object store once and each actor holds it; one job per actor at
a time, results in submission order, and an actor whose candidate passes the
hard timeout is killed and replaced. The same seed gives the same run.
"""

from __future__ import annotations

import socket
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import ray
from ray.exceptions import RayError

from lawagent.discovery.evaluator import CANCELLED
from lawagent.discovery.workers import READY_TIMEOUT, JobFailure
from lawagent.raycluster import connect


@ray.remote(num_cpus=1, max_restarts=0, max_task_retries=0)
class _Evaluator:
    """Holds ``fn`` and the shared data (resolved from the object store once) and runs one job at a time."""

    def __init__(self, payload: tuple[Callable[[Any, Any], Any], Any]):
        self.fn, self.shared = payload
        from lawagent.fit import native

        native.warm()  # before the first job's clock starts: loading the compiled fitter takes seconds

    def ready(self) -> str:
        return socket.gethostname()

    def run(self, job: Any) -> tuple[bool, Any]:
        try:
            return True, self.fn(self.shared, job)
        except Exception as err:  # noqa: BLE001 - report, keep serving
            return False, f"{type(err).__name__}: {err}"


@dataclass
class _Slot:
    actor: Any
    started: float
    waiting: Any = None  # the ObjectRef awaited: ready() until the actor is up, then run(job)
    ready: bool = False
    job: int | None = None
    deadline: float = 0.0


class RayPool:
    """:class:`~lawagent.discovery.workers.WorkerPool`'s contract on Ray actors (``workers`` None: one per CPU)."""

    def __init__(self, fn: Callable[[Any, Any], Any], shared: Any, *, workers: int | None, timeout: float,
                 address: str | None = None):
        self.where = connect(address)
        self.n = max(1, min(workers or self.where.cpus, self.where.cpus or 1))
        self.timeout = float(timeout)
        self.n_replaced = 0
        self._payload = ray.put((fn, shared))  # once; every actor on a node reads the same copy
        self._slots: list[_Slot] = []

    def _ensure(self) -> None:
        while len(self._slots) < self.n:
            actor = _Evaluator.remote(self._payload)
            self._slots.append(_Slot(actor, time.monotonic(), waiting=actor.ready.remote()))

    def _replace(self, slot: _Slot, n_jobs: int, respawn: bool = True) -> None:
        """Kill a slot's actor; start another now unless ``respawn`` is False (the next map starts it)."""
        ray.kill(slot.actor, no_restart=True)
        self._slots.remove(slot)
        self.n_replaced += 1
        if not slot.ready and self.n_replaced > 3 * self.n + n_jobs:
            raise RuntimeError("Ray evaluation actors fail to start (is lawagent installed on every node?)")
        if respawn:
            self._ensure()

    def map(self, jobs: Sequence[Any], cancel: Callable[[], bool] | None = None) -> list[Any]:
        """Results in submission order; a job that timed out or took its actor down gives a JobFailure.

        ``cancel`` is asked about once a second; once it says True, the jobs not finished get
        ``JobFailure(CANCELLED)`` and the actors running them are replaced (as a local worker is killed).
        """
        self._ensure()
        results: list[Any] = [None] * len(jobs)
        queue = deque(range(len(jobs)))
        while queue or any(s.job is not None for s in self._slots):
            for s in self._slots:
                if s.ready and s.job is None and queue:
                    s.job = queue.popleft()
                    s.waiting = s.actor.run.remote(jobs[s.job])
                    s.deadline = time.monotonic() + self.timeout
            if cancel is not None and cancel():
                for s in list(self._slots):
                    if s.job is not None:
                        results[s.job] = JobFailure(CANCELLED)
                        self._replace(s, len(jobs), respawn=False)  # the search is stopping: no new actor now
                for idx in queue:
                    results[idx] = JobFailure(CANCELLED)
                return results
            by_ref = {s.waiting: s for s in self._slots if s.waiting is not None}
            deadlines = [s.deadline if s.ready else s.started + READY_TIMEOUT for s in by_ref.values()]
            wait_for = max(0.0, min(deadlines) - time.monotonic())
            done, _ = ray.wait(list(by_ref), num_returns=1, timeout=min(wait_for, 1.0) + 0.01)
            for ref in done:
                s = by_ref[ref]
                s.waiting = None
                try:
                    value = ray.get(ref)
                except RayError as err:  # the actor died: its candidate is recorded, the actor replaced
                    if s.job is not None:
                        results[s.job] = JobFailure(f"worker crashed ({type(err).__name__})")
                    self._replace(s, len(jobs))
                    continue
                if not s.ready:
                    s.ready = True
                    continue
                ok, out = value
                results[s.job] = out if ok else JobFailure(out)
                s.job = None
            now = time.monotonic()
            for s in list(self._slots):
                if s.job is not None and now > s.deadline:
                    results[s.job] = JobFailure(f"timeout after {self.timeout:g}s")
                    self._replace(s, len(jobs))
                elif not s.ready and now > s.started + READY_TIMEOUT:
                    self._replace(s, len(jobs))
        return results

    def close(self) -> None:
        for s in self._slots:
            ray.kill(s.actor, no_restart=True)
        self._slots = []

    def __enter__(self) -> "RayPool":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
