"""Run a benchmark: every (task, seed) cell is an independent discovery run.

The folder's layout is :mod:`lawagent.bench.layout`; one cell is
:mod:`lawagent.bench.cell`; where cells run is :mod:`lawagent.bench.executors`.
A finished cell is never rerun; an interrupted one is resumed.

``dev=True`` (``lawagent bench --dev``) runs every cell on the task's
development split (:mod:`lawagent.selection.dev`): the test rows are dropped
as the task is loaded and validation fold 1 stands in for them. Method changes
are judged there; the test rows are for release measurements only.

Budgets: a candidate budget (``max_candidates``) makes a cell the same on any
machine for a seed; a time budget makes it depend on the machine and its load.
The leaderboard says which a benchmark used.

Parallelism: cells run in separate processes (``jobs``, default one per core),
each with ``discover(workers=0)`` and one BLAS thread; or, with
``executor="ray"``, as Ray tasks of one CPU each on a cluster
(:mod:`lawagent.bench.executors` holds both). Why not one cell at a
time with discovery's own workers: a cell's budget is then one core for
``time`` seconds whatever the machine, so results do not depend on the core
count, cells share nothing, and no worker pool is started and stopped per cell.
``--jobs 1 --workers 2`` gives the other arrangement.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

from lawagent.bench.cell import summary_from_final
from lawagent.bench.executors import cell_executor
from lawagent.bench.layout import BENCH_FILE, CELL_FILE, PEER, cell_dir, cell_name, is_finished
from lawagent.bench.leaderboard import write_leaderboard
from lawagent.errors import LawagentError
from lawagent.executor import require as require_executor
from lawagent.jsonio import write_json
from lawagent.selection.dev import FAR

# options that change a cell's result: a rerun under the same id must use the same ones
_BINDING = ("proposer", "proposer_options", "time_per_cell", "iterations", "max_candidates", "batch_size", "dev")


@dataclass
class BenchConfig:
    """What a benchmark run asks for; stored in bench.json."""

    proposer: str = "symbolic"
    tasks: list[str] = field(default_factory=list)
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    time_per_cell: float | None = 60.0  # None: no time budget (a candidate or iteration budget decides)
    iterations: int | None = None
    max_candidates: int | None = None
    batch_size: int = 64
    workers: int = 0  # discovery's workers inside one cell
    jobs: int = 0  # cells at once; 0 = one per core
    proposer_options: dict[str, Any] = field(default_factory=dict)
    dev: bool | str = False  # the development split, no test row read: True (near) or "far" (selection.dev)
    executor: str = "local"  # "local" (processes here) or "ray" (tasks on a Ray cluster); never changes a cell
    address: str | None = None  # Ray: None starts an instance here, "auto" or host:port joins a cluster
    id: str = ""
    out: str = "results"

    @property
    def bench_dir(self) -> Path:
        return Path(self.out) / f"bench-{self.id}"


def default_id(config: BenchConfig) -> str:
    """A name made of the options that matter, so rerunning the same command resumes it."""
    parts = [] if not config.dev else ["dev-far"] if config.dev == FAR else ["dev"]
    parts.append(config.proposer)
    model = config.proposer_options.get("model")
    if model:
        parts.append(re.sub(r"[^A-Za-z0-9._-]+", "_", str(model))[-40:])
    if config.proposer_options.get("blocks") == "generic":
        parts.append("generic")
    if config.proposer_options.get("log_y"):
        parts.append("logy")
    if config.proposer_options.get("evaluations") is not None:
        parts.append(f"{config.proposer_options['evaluations']}ev")
    if config.time_per_cell is not None:
        parts.append(f"{config.time_per_cell:g}s")
    if config.iterations is not None:
        parts.append(f"{config.iterations}it")
    if config.max_candidates is not None:
        parts.append(f"{config.max_candidates}c")
    return "-".join(parts)


def run_bench(config: BenchConfig, *, log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run (or resume) every missing cell, then write the leaderboard. Returns a summary dict."""
    log = log or (lambda s: None)
    require_executor(config.executor, config.address)
    if not config.tasks:
        raise LawagentError("no tasks to benchmark")
    if not config.seeds:
        raise LawagentError("--seeds must be at least 1")
    if config.time_per_cell is None and config.iterations is None and config.max_candidates is None \
            and config.proposer != PEER:
        raise LawagentError("give a budget per cell: --max-candidates N (reproducible), --iterations N or --time S")
    if not config.id:
        config.id = default_id(config)
    if not re.fullmatch(r"[A-Za-z0-9._-]+", config.id):
        raise LawagentError(f"--id {config.id!r} may only hold letters, digits, '.', '_' and '-'")
    bench_dir = config.bench_dir
    _write_manifest(bench_dir, config)  # refuses other options before any cluster is joined
    executor = cell_executor(config.executor, address=config.address, jobs=config.jobs)
    _update_manifest(bench_dir, where=executor.where.to_dict())  # where the latest session ran
    todo, done = [], 0
    for task in config.tasks:
        for seed in config.seeds:
            d = cell_dir(bench_dir, task, seed)
            if is_finished(d):
                if not (d / CELL_FILE).is_file():
                    write_json(d / CELL_FILE, summary_from_final(d, task, seed))
                done += 1
            else:
                todo.append((task, seed))
    total = done + len(todo)
    where = executor.where.describe()
    log(f"benchmark {bench_dir}: {total} cells ({len(config.tasks)} tasks x {len(config.seeds)} seeds), "
        f"{done} already finished, {len(todo)} to run on {where}")
    spec = _cell_spec(config)
    failures: list[str] = []
    count = done

    def report(summary: dict[str, Any]) -> None:
        nonlocal count
        count += 1
        name = cell_name(summary["task"], summary["seed"])
        if summary.get("status") == "done":
            r2 = summary.get("test", {}).get("r2")
            r2s = "-" if r2 is None else f"{r2:.4f}"
            host = f" on {summary['host']}" if summary.get("host") else ""
            log(f"[{count}/{total}] {name}: {'dev R2' if config.dev else 'test R2'} {r2s}, {summary.get('n_evaluated', 0)} candidates, "
                f"{summary.get('seconds', 0):.0f}s{host} | {summary.get('formula', '')[:70]}")
        elif summary.get("status") == "interrupted":
            log(f"[{count}/{total}] {name}: interrupted; rerun the same command to resume it")
        else:
            failures.append(f"{name}: {summary.get('error')}")
            log(f"[{count}/{total}] {name}: FAILED: {summary.get('error')}")

    started = time.perf_counter()
    if todo:
        executor.run(str(bench_dir.resolve()), todo, spec, report)  # absolute: Ray workers have their own cwd
    paths = write_leaderboard(bench_dir)
    return {"bench_dir": str(bench_dir), "cells": total, "ran": len(todo), "failures": failures,
            "seconds": time.perf_counter() - started, "where": where,
            "outputs": {k: str(v) for k, v in paths.items()}}


def _cell_spec(config: BenchConfig) -> dict[str, Any]:
    return {"proposer": config.proposer, "time_limit": config.time_per_cell, "iterations": config.iterations,
            "max_candidates": config.max_candidates, "batch_size": config.batch_size, "workers": config.workers,
            "proposer_options": dict(config.proposer_options) or None, "dev": config.dev}


def _write_manifest(bench_dir: Path, config: BenchConfig) -> None:
    from lawagent import __version__

    path = bench_dir / BENCH_FILE
    wanted = {k: getattr(config, k) for k in _BINDING}
    if path.is_file():
        try:
            old = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as err:
            raise LawagentError(f"{path}: cannot read: {err}") from None
        diff = [k for k in _BINDING if _norm(old.get(k)) != _norm(wanted[k])]
        if diff:
            was = ", ".join(f"{k}={old.get(k)!r}" for k in diff)
            raise LawagentError(f"benchmark {bench_dir} was started with {was}; rerun with the same options "
                                "to resume it, or choose another --id")
        data = old
        data["tasks"] = list(dict.fromkeys([*old.get("tasks", []), *config.tasks]))
        data["seeds"] = sorted(set(old.get("seeds", [])) | set(config.seeds))
    else:
        data = asdict(config) | {"created": time.strftime("%Y-%m-%dT%H:%M:%S"), "lawagent_version": __version__,
                                 "python": sys.version.split()[0], "cpu_count": os.cpu_count()}
    data["jobs"], data["workers"] = config.jobs, config.workers
    data["executor"], data["address"] = config.executor, config.address
    bench_dir.mkdir(parents=True, exist_ok=True)
    write_json(path, data)


def _update_manifest(bench_dir: Path, **values: Any) -> None:
    path = Path(bench_dir) / BENCH_FILE
    write_json(path, json.loads(path.read_text(encoding="utf-8")) | values)


def _norm(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _norm(v) for k, v in value.items() if v is not None}
    return value
