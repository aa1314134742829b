"""Where benchmark cells run: processes on this machine, or Ray tasks on a cluster.

An executor gets the cells still to run and calls ``report(summary)`` as each
one finishes, in any order (the leaderboard sorts them). Every cell writes its
own run folder (:func:`lawagent.bench.runner.run_cell`); a cell started again
after its worker died finds its half-written folder and resumes it, as an
interrupted benchmark does, so nothing is lost or counted twice.

A Ray worker on a node that does not see the benchmark folder (no shared
filesystem) runs its cell in a scratch folder and sends the finished files back
(:func:`run_cell_anywhere`); the driver puts them in place in one rename
(:func:`install_cell`).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import tempfile
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from multiprocessing import get_context
from pathlib import Path
from typing import Any, Callable, Protocol, Sequence

from lawagent.atomic import write_text
from lawagent.executor import Where, check_executor, ray_backend, this_machine

Report = Callable[[dict[str, Any]], None]
Cells = Sequence[tuple[str, int]]
_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


class CellExecutor(Protocol):
    where: Where

    def run(self, bench_dir: str, todo: Cells, spec: dict[str, Any], report: Report) -> None:
        """Run every (task, seed) cell of ``todo``; ``report`` each summary as it arrives."""


def cell_executor(executor: str = "local", *, address: str | None = None, jobs: int = 0) -> CellExecutor:
    """The one place that picks the benchmark's executor."""
    check_executor(executor, address)
    if executor == "ray":
        return ray_backend().RayCells(address=address, jobs=jobs)
    return LocalCells(jobs)


class LocalCells:
    """``jobs`` processes on this machine (0: one per core); one cell at a time in-process for ``jobs=1``."""

    def __init__(self, jobs: int = 0):
        self.jobs = jobs or (os.cpu_count() or 1)
        self.where = this_machine(self.jobs)

    def run(self, bench_dir: str, todo: Cells, spec: dict[str, Any], report: Report) -> None:
        from lawagent.bench.runner import run_cell

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
            with ProcessPoolExecutor(max_workers=jobs, mp_context=get_context("spawn")) as pool:
                pending = {pool.submit(run_cell, bench_dir, task, seed, spec): (task, seed) for task, seed in todo}
                try:
                    while pending:
                        finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                        for fut in finished:
                            task, seed = pending.pop(fut)
                            try:
                                summary = fut.result()
                            except Exception as err:  # the cell's process died (e.g. killed): resumable later
                                summary = {"task": task, "seed": seed, "status": "failed",
                                           "error": f"{type(err).__name__}: {err}"}
                            report(summary)
                            if summary.get("status") == "interrupted":
                                raise KeyboardInterrupt
                except KeyboardInterrupt:
                    for fut in pending:
                        fut.cancel()
                    raise
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v


# -- a cell on a node that may not see the benchmark folder ---------------------------------------


def run_cell_anywhere(bench_dir: str, task: str, seed: int,
                      spec: dict[str, Any]) -> tuple[dict[str, Any], dict[str, bytes] | None]:
    """Run a cell in place when this node sees the benchmark folder; else in a scratch folder,
    returning the finished cell's files (relative path -> bytes) for the driver to install."""
    from lawagent.bench.runner import BENCH_FILE, CELL_FILE, cell_dir, run_cell

    host = socket.gethostname()
    if (Path(bench_dir) / BENCH_FILE).is_file():
        return run_cell(bench_dir, task, seed, spec) | {"host": host}, None
    with tempfile.TemporaryDirectory(prefix="lawagent-cell-") as scratch:
        summary = run_cell(scratch, task, seed, spec) | {"host": host}
        if summary.get("status") != "done":
            return summary, None
        d = cell_dir(Path(scratch), task, seed)
        summary["run_dir"] = str(cell_dir(Path(bench_dir), task, seed))  # where the driver puts it
        write_text(d / CELL_FILE, json.dumps(summary, indent=2) + "\n")
        files = {p.relative_to(d).as_posix(): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}
    return summary, files


def install_cell(d: Path, files: dict[str, bytes]) -> None:
    """Put a finished cell's files at ``d`` in one rename (a stale unfinished folder there is replaced)."""
    from lawagent.bench.runner import CELL_FILE, is_finished

    d = Path(d)
    if is_finished(d) and (d / CELL_FILE).is_file():
        return  # the same cell already arrived (e.g. a retry that finished twice)
    d.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{d.name}.", suffix=".incoming", dir=d.parent)).resolve()
    try:
        for rel, data in files.items():
            target = tmp / rel
            if tmp not in target.resolve().parents:
                raise ValueError(f"cell file {rel!r} points outside its folder")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        if d.exists():
            stale = d.with_name(f".{d.name}.stale")
            shutil.rmtree(stale, ignore_errors=True)
            os.replace(d, stale)
            shutil.rmtree(stale, ignore_errors=True)
        os.replace(tmp, d)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
