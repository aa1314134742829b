"""Where benchmark cells run: processes on this machine, or Ray tasks on a cluster.

An executor gets the cells still to run and calls ``report(summary)`` as each
one finishes, in any order (the leaderboard sorts them). Every cell writes its
own run folder (:func:`lawagent.bench.cell.run_cell`); a cell started again
after its worker died finds its half-written folder and resumes it, as an
interrupted benchmark does, so nothing is lost or counted twice. The Ray
engine is :mod:`lawagent.bench.ray_cells`.
"""

from __future__ import annotations

import os
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import get_context
from typing import Any, Callable, Protocol, Sequence

from lawagent.bench.cell import run_cell
from lawagent.executor import Where, check_executor, this_machine

Report = Callable[[dict[str, Any]], None]
Cells = Sequence[tuple[str, int]]
_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
MAX_BREAKS = 2  # broken pools a cell may go through before it is reported failed (a rerun resumes it)


class CellExecutor(Protocol):
    where: Where

    def run(self, bench_dir: str, todo: Cells, spec: dict[str, Any], report: Report) -> None:
        """Run every (task, seed) cell of ``todo``; ``report`` each summary as it arrives."""


def cell_executor(executor: str = "local", *, address: str | None = None, jobs: int = 0) -> CellExecutor:
    """The one place that picks the benchmark's executor."""
    check_executor(executor, address)
    if executor == "ray":
        from lawagent.bench.ray_cells import RayCells  # imports Ray: only when asked

        return RayCells(address=address, jobs=jobs)
    return LocalCells(jobs)


class LocalCells:
    """``jobs`` processes on this machine (0: one per core); one cell at a time in-process for ``jobs=1``."""

    def __init__(self, jobs: int = 0):
        self.jobs = jobs or (os.cpu_count() or 1)
        self.where = this_machine(self.jobs)

    def run(self, bench_dir: str, todo: Cells, spec: dict[str, Any], report: Report) -> None:
        jobs = max(1, min(self.jobs, len(todo) or 1))
        if jobs == 1:
            for task, seed in todo:
                summary = run_cell(bench_dir, task, seed, spec)
                report(summary)
                if summary.get("status") == "interrupted":
                    raise KeyboardInterrupt
            return
        # one BLAS thread per cell process (set before the children import numpy)
        saved = {k: os.environ.get(k) for k in _THREAD_VARS}
        os.environ.update({k: "1" for k in saved})
        try:
            queue, breaks = list(todo), {cell: 0 for cell in todo}
            while queue:  # one pool per pass: a process the OS kills breaks its pool for every cell in it
                queue = self._pass(queue, jobs, breaks, bench_dir, spec, report)
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v

    @staticmethod
    def _pass(todo: Cells, jobs: int, breaks: dict[tuple[str, int], int], bench_dir: str, spec: dict[str, Any],
              report: Report) -> list[tuple[str, int]]:
        """Run ``todo`` in a fresh pool; return the cells to run again because a dying process broke it.

        Which process died cannot be told (every cell of a broken pool gets the same error), so each
        cell may go through MAX_BREAKS broken pools; it resumes its own run folder each time.
        """
        again: list[tuple[str, int]] = []
        with ProcessPoolExecutor(max_workers=min(jobs, len(todo)), mp_context=get_context("spawn")) as pool:
            pending = {pool.submit(run_cell, bench_dir, task, seed, spec): (task, seed) for task, seed in todo}
            try:
                while pending:
                    finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                    for fut in finished:
                        task, seed = cell = pending.pop(fut)
                        try:
                            summary = fut.result()
                        except BrokenProcessPool:
                            breaks[cell] += 1
                            if breaks[cell] <= MAX_BREAKS:
                                again.append(cell)
                                continue
                            summary = {"task": task, "seed": seed, "status": "failed",
                                       "error": f"a cell process died {breaks[cell]} times while this cell was "
                                                "queued or running (killed by the OS? out of memory?); rerun the "
                                                "command to resume it"}
                        except Exception as err:
                            summary = {"task": task, "seed": seed, "status": "failed",
                                       "error": f"{type(err).__name__}: {err}"}
                        report(summary)
                        if summary.get("status") == "interrupted":
                            raise KeyboardInterrupt
            except KeyboardInterrupt:
                for fut in pending:
                    fut.cancel()
                raise
        return again
