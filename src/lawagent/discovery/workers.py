"""Evaluate candidates in worker processes with a hard per-candidate timeout.

Why not ``concurrent.futures``: one candidate that hangs (a pathological
expression can make sympy or numpy crawl) or crashes its process must be cut
off and recorded without stopping the run, which needs killing one worker and
replacing it. Workers are fresh interpreters (``python -m lawagent.discovery._worker``,
not forks), so they hold only what they are sent: the fit and validation splits, never the Task
and never a test row. Results come back in submission order, so a fixed seed
gives the same run whatever the timing. A pool also takes a *stream* of jobs
(:meth:`WorkerPool.stream`): a batch the proposer is still writing, and follow-up
jobs (racing's full evaluation of a screened candidate), so that no process
waits for another while there is work.

The Ray engine (:mod:`lawagent.discovery.ray_pool`) keeps the same contract;
:mod:`lawagent.discovery.pools` picks one.
"""

from __future__ import annotations

import math
import os
import socket
import subprocess
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import TYPE_CHECKING, Any, Callable, Iterable, Sequence

from lawagent.discovery.evaluator import CANCELLED, EvalOptions, evaluate_candidate
from lawagent.executor import Where
from lawagent.proposers.base import CandidateRecord
from lawagent.task import DataSplit

if TYPE_CHECKING:  # pools imports this module: the name only, for the annotation
    from lawagent.discovery.pools import Pool

READY_TIMEOUT = 120.0  # seconds for a fresh worker to import lawagent
CANCEL_EVERY = 0.1  # seconds between two questions to a map's ``cancel`` (it also draws the progress line)
_END = object()
_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


@dataclass(frozen=True)
class JobFailure:
    """A job that timed out or took its worker down."""

    message: str


def default_workers() -> int:
    return max(1, os.cpu_count() or 1)




def serve(conn: Connection, fn: Callable[[Any, Any], Any], shared: Any) -> None:
    """The worker loop: announce readiness, then answer (index, job) messages until told to stop, or until
    the search closes its end (it has finished: a result it no longer reads is dropped quietly)."""
    try:
        conn.send(("ready",))
        while True:
            try:
                msg = conn.recv()
            except (EOFError, OSError):
                return
            if msg is None:
                return
            idx, job = msg
            try:
                reply = (idx, True, fn(shared, job))
            except BaseException as err:  # noqa: BLE001 - report, keep serving
                reply = (idx, False, f"{type(err).__name__}: {err}")
            try:
                conn.send(reply)
            except (BrokenPipeError, ConnectionResetError):
                raise
            except Exception as err:  # noqa: BLE001 - a result that cannot be sent (not picklable): say so
                conn.send((idx, False, f"{type(err).__name__}: {err}"))
    except (BrokenPipeError, ConnectionResetError):
        return


class _Worker:
    """One ``python -m lawagent.discovery._worker`` process talking over a socket pair."""

    def __init__(self, fn, shared):
        parent_sock, child_sock = socket.socketpair()
        env = dict(os.environ)
        env.update({k: "1" for k in _THREAD_VARS})  # one BLAS thread per worker
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "lawagent.discovery._worker", str(child_sock.fileno())],
                pass_fds=(child_sock.fileno(),), env=env, stdin=subprocess.DEVNULL, start_new_session=True,
            )
        finally:
            child_sock.close()
        self.conn = Connection(parent_sock.detach())
        # Sent from a thread: the child reads the data only once it has imported lawagent, and a
        # send that waits for it would hold up starting the next worker and the caller's checks.
        setup = ([p for p in sys.path if isinstance(p, str)], (fn, shared))
        threading.Thread(target=self._send_setup, args=(setup,), name="lawagent-worker-setup", daemon=True).start()
        self.ready = False
        self.started = time.monotonic()
        self.job: int | None = None
        self.deadline = 0.0

    def _send_setup(self, setup: tuple) -> None:
        try:
            for message in setup:
                self.conn.send(message)
        except (OSError, ValueError, TypeError):  # killed before it took the data: the connection closed under us
            pass

    @property
    def exitcode(self) -> int | None:
        return self.process.poll()

    def kill(self) -> None:
        try:
            self.conn.close()
        except OSError:
            pass
        if self.process.poll() is None:
            self.process.kill()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass


class WorkerPool:
    """``fn(shared, job)`` over jobs in ``workers`` processes; ``workers=0`` runs in-process (no timeout)."""

    def __init__(self, fn: Callable[[Any, Any], Any], shared: Any, workers: int, timeout: float):
        if workers < 0:
            raise ValueError("workers must be >= 0")
        self.fn, self.shared, self.n, self.timeout = fn, shared, workers, float(timeout)
        self._workers: list[_Worker] = []
        self.n_replaced = 0
        self.where = Where("local", 1, max(1, workers))  # workers=0: this process

    def _ensure(self) -> None:
        while len(self._workers) < self.n:
            self._workers.append(_Worker(self.fn, self.shared))

    def _replace(self, w: _Worker) -> None:
        w.kill()
        self._workers.remove(w)
        self.n_replaced += 1
        self._ensure()

    def map(self, jobs: Sequence[Any], cancel: Callable[[], bool] | None = None) -> list[Any]:
        """Results in submission order; a job that timed out or crashed gives a :class:`JobFailure`.

        ``cancel`` is asked about ten times a second (in-process: before each job); once it says
        True, the jobs not finished get ``JobFailure(CANCELLED)`` and their workers are killed
        (replaced at the next ``map``, not now: the caller is stopping).
        """
        taken, results = self.stream(jobs, cancel)
        return results + [JobFailure(CANCELLED)] * (len(jobs) - len(taken))

    def stream(self, jobs: Iterable[Any], cancel: Callable[[], bool] | None = None,
               then: Callable[[Any, Any], Any] | None = None) -> tuple[list[Any], list[Any]]:
        """(the jobs taken, their results in that order), like :meth:`map`.

        ``jobs`` may be a generator that works between its jobs (the proposer writing the batch): it
        is drawn from one item at a time while the workers run, so they start on the first job as
        soon as it exists, and an item ``None`` only gives the workers a turn. ``then(job, result)``
        may return a follow-up job (a screened candidate's full evaluation), taken at once. Once
        ``cancel`` says True nothing more is taken.
        """
        source = iter(jobs)
        taken: list[Any] = []
        if self.n == 0:
            out: list[Any] = []
            nxt = None  # a follow-up runs right after its job
            while True:
                job, nxt = (nxt, None) if nxt is not None else (next(source, _END), None)
                if job is _END:
                    break
                if job is None:
                    continue
                taken.append(job)
                if cancel is not None and cancel():
                    out.append(JobFailure(CANCELLED))
                    break
                try:
                    out.append(self.fn(self.shared, job))
                except Exception as err:  # noqa: BLE001
                    out.append(JobFailure(f"{type(err).__name__}: {err}"))
                nxt = then(job, out[-1]) if then is not None else None
            return taken, out
        self._ensure()
        results: list[Any] = []
        pending: deque[int] = deque()
        more, asked = True, -math.inf

        def follow(idx: int) -> None:
            nxt = then(taken[idx], results[idx]) if then is not None else None
            if nxt is not None:
                pending.append(len(taken))
                taken.append(nxt)
                results.append(None)

        while more or pending or any(w.job is not None for w in self._workers):
            if more:
                try:
                    job = next(source)
                except StopIteration:
                    more = False
                else:
                    if job is not None:
                        pending.append(len(taken))
                        taken.append(job)
                        results.append(None)
            for w in list(self._workers):
                if w.ready and w.job is None and pending:
                    idx = pending.popleft()
                    try:
                        w.conn.send((idx, taken[idx]))
                    except (BrokenPipeError, OSError):
                        pending.appendleft(idx)
                        self._replace(w)
                        continue
                    w.job, w.deadline = idx, time.monotonic() + self.timeout
            if cancel is not None and time.monotonic() - asked >= CANCEL_EVERY:
                asked = time.monotonic()
                if cancel():
                    self._cancel(results, pending)
                    break
            waiting = [w for w in self._workers if w.job is not None or not w.ready]
            if more:  # a look only: the source has more to do
                wait_for = 0.0
            else:
                deadlines = [w.deadline if w.ready else w.started + READY_TIMEOUT for w in waiting]
                wait_for = max(0.0, min(deadlines) - time.monotonic()) if deadlines else 0.05
                wait_for = min(wait_for, 0.25 if cancel else 1.0) + 0.01
            ready = wait([w.conn for w in waiting], timeout=wait_for) if waiting else []
            by_conn = {w.conn: w for w in waiting}
            for conn in ready:
                w = by_conn[conn]
                try:
                    msg = conn.recv()
                except (EOFError, OSError):
                    code = w.exitcode
                    if w.job is not None:
                        results[w.job] = JobFailure(f"worker crashed (exit code {code})")
                        follow(w.job)
                    elif not w.ready:
                        self._replace(w)
                        if self.n_replaced > 3 * self.n + len(taken):
                            raise RuntimeError(f"evaluation workers fail to start (exit code {code})")
                        continue
                    self._replace(w)
                    continue
                if msg == ("ready",):
                    w.ready = True
                    continue
                idx, ok, out = msg
                if time.monotonic() > w.deadline:  # in after its time: a timeout, however near (a hard limit)
                    results[idx] = JobFailure(f"timeout after {self.timeout:g}s")
                else:
                    results[idx] = out if ok else JobFailure(out)
                w.job = None
                follow(idx)
            now = time.monotonic()
            for w in list(self._workers):
                if w.job is not None and now > w.deadline:
                    results[w.job] = JobFailure(f"timeout after {self.timeout:g}s")
                    follow(w.job)
                    self._replace(w)
                elif not w.ready and now > w.started + READY_TIMEOUT:
                    self._replace(w)
        return taken, results

    def _cancel(self, results: list[Any], pending: deque) -> None:
        """Give up the jobs in flight (killing their workers) and those not started."""
        for w in [w for w in self._workers if w.job is not None]:
            results[w.job] = JobFailure(CANCELLED)
            w.kill()
            self._workers.remove(w)
        for idx in pending:
            results[idx] = JobFailure(CANCELLED)
        pending.clear()

    def close(self) -> None:
        idle = [w for w in self._workers if w.ready and w.job is None]
        for w in idle:
            try:
                w.conn.send(None)
            except (BrokenPipeError, OSError):
                pass
        for w in self._workers:
            if w in idle:  # a worker still starting up would only read the message once ready: no waiting for it
                try:
                    w.process.wait(timeout=2)
                except subprocess.TimeoutExpired:
                    pass
            w.kill()
        self._workers = []

    def __enter__(self) -> "WorkerPool":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# -- candidate evaluation -----------------------------------------------------

@dataclass(frozen=True)
class EvalShared:
    """Everything a worker holds: the train-derived splits and how to fit."""

    features: tuple[str, ...]
    targets: tuple[str, ...]
    budget: int | None
    fit_split: DataSplit
    val_split: DataSplit
    options: EvalOptions
    extra_folds: tuple[tuple[DataSplit, DataSplit], ...] = ()


def evaluate_job(shared: EvalShared, job: tuple) -> CandidateRecord:
    """``job`` = (proposal, id, iteration, stage[, race limits]); stage is "screen" or "full" (racing)."""
    proposal, cid, iteration, stage, *limits = job
    return evaluate_candidate(proposal, shared.features, shared.targets, shared.budget, shared.fit_split,
                              shared.val_split, shared.options, id=cid, iteration=iteration,
                              extra_folds=shared.extra_folds, stage=stage, limits=limits[0] if limits else None)


def evaluate_stream(pool: Pool, jobs: Iterable[tuple | None], cancel: Callable[[], bool] | None = None,
                    then: Callable[[tuple, CandidateRecord], tuple | None] | None = None,
                    ) -> tuple[list[tuple], list[CandidateRecord]]:
    """Evaluate (proposal, id, iteration, stage[, race limits]) jobs still being made (``None`` items: nothing
    yet), as they come where the pool can (:meth:`WorkerPool.stream`), and the follow-up jobs
    ``then(job, record)`` asks for: (every job taken, its record). Timeouts and crashes become error records,
    jobs ``cancel`` gave up records with the error :data:`~lawagent.discovery.evaluator.CANCELLED`; once it
    says True nothing more is taken."""
    follow = None if then is None else (lambda job, res: then(job, _record(pool, job, res)))
    stream = getattr(pool, "stream", None)
    if stream is None:  # a pool that takes whole lists: the jobs, then their follow-ups
        taken = [job for job in jobs if job is not None]
        results = pool.map(taken, cancel)
        more = [] if follow is None else [j for j in map(follow, taken, results) if j is not None]
        taken, results = taken + more, results + (pool.map(more, cancel) if more else [])
    else:
        taken, results = stream(jobs, cancel, follow)
    return taken, [_record(pool, job, res) for job, res in zip(taken, results)]


def _record(pool: Pool, job: tuple, result: Any) -> CandidateRecord:
    """A job's record; a timeout or crash (:class:`JobFailure`) becomes a record with that error."""
    if not isinstance(result, JobFailure):
        return result
    proposal, cid, iteration, stage, *_ = job
    return CandidateRecord(id=cid, formula=proposal.text, origin=proposal.origin, iteration=iteration,
                           rationale=proposal.rationale, error=result.message, stage=stage,
                           seconds=pool.timeout if result.message.startswith("timeout") else 0.0)
