"""Benchmark cells as Ray tasks, one CPU each (:class:`RayCells`).

A task whose worker dies is started again by Ray (``max_retries``); the cell
then finds its half-written run folder and resumes it, so nothing is lost or
counted twice (see :mod:`lawagent.bench.cell`).
"""

from __future__ import annotations

from collections import deque
from pathlib import Path
from typing import Any, Callable, Sequence

import ray
from ray.exceptions import RayError

from lawagent.bench.cell import install_cell, run_cell_anywhere
from lawagent.bench.layout import cell_dir
from lawagent.raycluster import connect, first_line

CELL_RETRIES = 3  # a cell whose worker (or node) dies is started again this many times


class RayCells:
    """Benchmark cells as Ray tasks (``jobs`` > 0 caps how many are in flight)."""

    def __init__(self, address: str | None = None, jobs: int = 0):
        self.where = connect(address, num_cpus=jobs or None)
        self.jobs = jobs

    def run(self, bench_dir: str, todo: Sequence[tuple[str, int]], spec: dict[str, Any],
            report: Callable[[dict[str, Any]], None]) -> None:
        cpus = max(1, int(spec.get("workers") or 0))  # a cell with its own worker processes asks for their CPUs
        remote = ray.remote(run_cell_anywhere).options(num_cpus=cpus, max_retries=CELL_RETRIES)
        queue = deque(todo)
        limit = self.jobs or len(todo)
        running: dict[Any, tuple[str, int]] = {}
        try:
            while queue or running:
                while queue and len(running) < limit:
                    task, seed = queue.popleft()
                    running[remote.remote(bench_dir, task, seed, spec)] = (task, seed)
                ready, _ = ray.wait(list(running), num_returns=1)
                for ref in ready:
                    task, seed = running.pop(ref)
                    try:
                        summary, files = ray.get(ref)
                    except RayError as err:  # retries used up: the cell stays unfinished, resumed next time
                        summary, files = {"task": task, "seed": seed, "status": "failed",
                                          "error": f"{type(err).__name__}: {first_line(err)}"}, None
                    if files:
                        install_cell(cell_dir(Path(bench_dir), task, seed), files)
                    report(summary)
                    if summary.get("status") == "interrupted":
                        raise KeyboardInterrupt
        except KeyboardInterrupt:
            for ref in running:
                ray.cancel(ref, force=True)
            raise
