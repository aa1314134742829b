"""Run a benchmark: every (task, seed) cell is an independent discovery run.

Layout of ``<out>/bench-<id>/``::

    bench.json                 what was asked (proposer, budgets, lawagent version)
    cells/<task>-s<seed>/      a discovery run folder (config.json ... final.json)
        bench_cell.json        the cell's summary, read by the leaderboard
    reference.json             the reference laws refit by our harness (cached)
    leaderboard.md/.csv/.png   written at the end (``lawagent bench leaderboard`` rewrites them)

A cell is finished when its ``final.json`` exists and is never rerun; a cell
with a run folder but no ``final.json`` was interrupted and is resumed with
``discover(resume=True)``. No cell ever gets seed laws.

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

from lawagent.atomic import write_text
from lawagent.errors import LawagentError
from lawagent.executor import require as require_executor
from lawagent.jsonio import json_safe
from lawagent.records import LawRecord
from lawagent.selection.dev import dev_task
from lawagent.selection.protocol import protocol_for
from lawagent.task import Task, load_task

PEER = "operon"  # a cell of the symbolic-regression peer (lawagent.peers.operon), not a discovery run
BENCH_FILE = "bench.json"
CELL_FILE = "bench_cell.json"
FINAL = "final.json"
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
    dev: bool = False  # the development split: no test row is read
    executor: str = "local"  # "local" (processes here) or "ray" (tasks on a Ray cluster); never changes a cell
    address: str | None = None  # Ray: None starts an instance here, "auto" or host:port joins a cluster
    id: str = ""
    out: str = "results"

    @property
    def bench_dir(self) -> Path:
        return Path(self.out) / f"bench-{self.id}"


def default_id(config: BenchConfig) -> str:
    """A name made of the options that matter, so rerunning the same command resumes it."""
    parts = ["dev"] if config.dev else []
    parts.append(config.proposer)
    model = config.proposer_options.get("model")
    if model:
        parts.append(re.sub(r"[^A-Za-z0-9._-]+", "_", str(model))[-40:])
    if config.proposer_options.get("blocks") == "generic":
        parts.append("generic")
    if config.proposer_options.get("evaluations") is not None:
        parts.append(f"{config.proposer_options['evaluations']}ev")
    if config.time_per_cell is not None:
        parts.append(f"{config.time_per_cell:g}s")
    if config.iterations is not None:
        parts.append(f"{config.iterations}it")
    if config.max_candidates is not None:
        parts.append(f"{config.max_candidates}c")
    return "-".join(parts)


def budget_kind(config: dict[str, Any]) -> str:
    """'candidates', 'iterations' or 'evaluations' (the same on any machine for a seed), or 'time' (machine-dependent)."""
    if config.get("time_per_cell") is not None:
        return "time"
    if config.get("proposer") == PEER:
        return "evaluations"
    return "candidates" if config.get("max_candidates") is not None else "iterations"


def bench_task(name: str, dev: bool) -> Task:
    """The task a cell runs on (a bundled name or a task folder), or its development split (test rows dropped at load)."""
    task = load_task(name)
    return dev_task(task, protocol_for(task)) if dev else task


def is_finished(d: Path) -> bool:
    """A cell is finished when discovery wrote its final.json after a search that was not interrupted."""
    path = Path(d) / FINAL
    if not path.is_file():
        return False
    try:
        return json.loads(path.read_text(encoding="utf-8")).get("stopped") != "interrupted"
    except (OSError, json.JSONDecodeError):
        return False


def task_label(task: str) -> str:
    """A task spec's short name: a bundled task's name, or a task folder's name."""
    return Path(task).name if ("/" in task or os.sep in task) else task


def cell_name(task: str, seed: int) -> str:
    return f"{task_label(task)}-s{seed}"


def cell_dir(bench_dir: Path, task: str, seed: int) -> Path:
    return Path(bench_dir) / "cells" / cell_name(task, seed)


def run_bench(config: BenchConfig, *, log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run (or resume) every missing cell, then write the leaderboard. Returns a summary dict."""
    from lawagent.bench.executors import cell_executor
    from lawagent.bench.leaderboard import write_leaderboard

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
                    _write_json(d / CELL_FILE, summary_from_final(d, task, seed))
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
            log(f"[{count}/{total}] {name}: test R2 {r2s}, {summary.get('n_evaluated', 0)} candidates, "
                f"{summary.get('seconds', 0):.0f}s{host} | {summary.get('formula', '')[:70]}")
        elif summary.get("status") == "interrupted":
            log(f"[{count}/{total}] {name}: interrupted; rerun the same command to resume it")
        else:
            failures.append(f"{name}: {summary.get('error')}")
            log(f"[{count}/{total}] {name}: FAILED: {summary.get('error')}")

    started = time.perf_counter()
    if todo:
        executor.run(str(bench_dir), todo, spec, report)
    paths = write_leaderboard(bench_dir)
    return {"bench_dir": str(bench_dir), "cells": total, "ran": len(todo), "failures": failures,
            "seconds": time.perf_counter() - started, "where": where,
            "outputs": {k: str(v) for k, v in paths.items()}}


def _cell_spec(config: BenchConfig) -> dict[str, Any]:
    return {"proposer": config.proposer, "time_limit": config.time_per_cell, "iterations": config.iterations,
            "max_candidates": config.max_candidates, "batch_size": config.batch_size, "workers": config.workers,
            "proposer_options": dict(config.proposer_options) or None, "dev": config.dev}


def run_cell(bench_dir: str, task_name: str, seed: int, spec: dict[str, Any]) -> dict[str, Any]:
    """One independent discovery run (no seed laws); writes and returns its summary. Never raises."""
    from lawagent.discovery import discover

    d = cell_dir(Path(bench_dir), task_name, seed)
    if is_finished(d):  # a retried cell whose first attempt got as far as final.json
        summary = summary_from_final(d, task_name, seed)
        if summary["status"] == "done":
            _write_json(d / CELL_FILE, summary)
        return summary
    if spec["proposer"] == PEER:
        return _peer_cell(d, task_name, seed, spec)
    try:
        task = bench_task(task_name, bool(spec.get("dev")))
        resume = d.is_dir() and (d / "config.json").is_file()
        started = time.perf_counter()
        result = discover(
            task, proposer=spec["proposer"], iterations=spec["iterations"], max_candidates=spec["max_candidates"],
            time_limit=spec["time_limit"], batch_size=spec["batch_size"], seed=seed, workers=spec["workers"],
            out_dir=str(d.parent), run_id=d.name, resume=resume, seed_laws=(), progress=False,
            proposer_options=spec["proposer_options"],
        )
        if getattr(result, "stopped", "") == "interrupted":
            # Ctrl-C: discovery stopped early and wrote final.json; the cell did not get its budget,
            # so it stays unfinished (resumed next time) rather than entering the leaderboard
            final = d / FINAL
            if final.is_file():
                os.replace(final, d / "final.interrupted.json")
            return {"task": task_name, "seed": seed, "status": "interrupted", "error": "interrupted (Ctrl-C)"}
        summary = summary_from_result(result, task_name, seed)
        summary["wall_seconds"] = time.perf_counter() - started  # search + final refit (this session, if resumed)
        summary["resumed"] = resume
    except LawagentError as err:
        summary = {"task": task_name, "seed": seed, "status": "failed", "error": str(err)}
    except Exception as err:  # a bug in a cell must not stop the other cells; keep the message
        summary = {"task": task_name, "seed": seed, "status": "failed", "error": f"{type(err).__name__}: {err}"}
    if summary["status"] == "done":
        _write_json(d / CELL_FILE, summary)
    return summary


def _peer_cell(d: Path, task_name: str, seed: int, spec: dict[str, Any]) -> dict[str, Any]:
    """A cell of the Operon peer: its models and scores in ``final.json``, a summary like a law's."""
    from lawagent.peers.operon import DEFAULT_EVALUATIONS, fit_operon, mean_length

    options = spec.get("proposer_options") or {}
    try:
        task = bench_task(task_name, bool(spec.get("dev")))
        result = fit_operon(task, seed=seed, evaluations=int(options.get("evaluations", DEFAULT_EVALUATIONS)),
                            time_limit=spec["time_limit"])
    except LawagentError as err:
        return {"task": task_name, "seed": seed, "status": "failed", "error": str(err)}
    d.mkdir(parents=True, exist_ok=True)
    summary = json_safe({
        "task": task_name, "seed": seed, "status": "done", "peer": "operon",
        "formula": "; ".join(next(iter(result.models.values()))), "n_parameters": None,
        "complexity": mean_length(result), "val_r2": None, "selection_score": None, "train_r2": result.train.r2,
        "test": {k: result.test.as_dict().get(k) for k in ("r2", "group_r2", "nmse", "nmae", "failed", "message")},
        "n_evaluated": result.evaluations * len(result.lengths), "seconds": result.seconds,
        "wall_seconds": result.seconds, "run_dir": str(d),
    })
    _write_json(d / CELL_FILE, summary)  # first: a cell counts as finished once final.json exists
    _write_json(d / FINAL, {**result.as_dict(), "peer": "operon", "task": {"name": task.name, "dev": task.dev}})
    return summary


def summary_from_result(result: Any, task: str, seed: int) -> dict[str, Any]:
    best: LawRecord | None = result.best
    if best is None:
        return {"task": task, "seed": seed, "status": "failed", "error": "the run found no valid law"}
    return _summary(best, task, seed, n_evaluated=result.n_evaluated, seconds=result.seconds,
                    proposer_stats=dict(getattr(result, "proposer_stats", None) or {}), run_dir=str(result.run_dir))


def summary_from_final(d: Path, task: str, seed: int) -> dict[str, Any]:
    """Rebuild a cell summary from discovery's final.json (when bench_cell.json is missing)."""
    data = json.loads((d / FINAL).read_text(encoding="utf-8"))
    best = data.get("best")
    if not isinstance(best, dict):
        return {"task": task, "seed": seed, "status": "failed", "error": f"{d / FINAL} holds no best law"}
    return _summary(LawRecord.from_dict(best), task, seed, n_evaluated=_first(data, "n_evaluated", "evaluated"),
                    seconds=_first(data, "seconds", "wall_seconds", "elapsed"),
                    proposer_stats=data.get("proposer_stats") or {}, run_dir=str(d))


def _summary(best: LawRecord, task: str, seed: int, **extra: Any) -> dict[str, Any]:
    return json_safe({
        "task": task, "seed": seed, "status": "done", "formula": best.formula, "formulas": list(best.formulas),
        "n_parameters": len(best.parameters), "complexity": best.complexity, "val_r2": best.val_r2,
        "selection_score": (best.selection or {}).get("score"),
        "train_r2": best.train_r2, "test": {k: (best.test or {}).get(k) for k in ("r2", "group_r2", "nmse", "nmae", "failed", "message")},
        **extra,
    })


def _first(data: dict, *keys: str) -> Any:
    for k in keys:
        if data.get(k) is not None:
            return data[k]
    for v in data.values():
        if isinstance(v, dict):
            for k in keys:
                if v.get(k) is not None:
                    return v[k]
    return None


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
    _write_json(path, data)


def _update_manifest(bench_dir: Path, **values: Any) -> None:
    path = Path(bench_dir) / BENCH_FILE
    _write_json(path, json.loads(path.read_text(encoding="utf-8")) | values)


def _norm(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _norm(v) for k, v in value.items() if v is not None}
    return value


def _write_json(path: Path, data: Any) -> None:
    write_text_atomic(path, json.dumps(json_safe(data), indent=2, allow_nan=False) + "\n")


def write_text_atomic(path: Path, text: str) -> None:
    """Readers see the old file or the new one, never half of one."""
    write_text(path, text)


def load_manifest(bench_dir: Path) -> dict[str, Any]:
    path = Path(bench_dir) / BENCH_FILE
    if not path.is_file():
        raise LawagentError(f"{bench_dir} is not a benchmark folder (no {BENCH_FILE})")
    return json.loads(path.read_text(encoding="utf-8"))


def resolve_bench_dir(name: str, out: str = "results") -> Path:
    """A benchmark folder from a path, a 'bench-<id>' name or a bare id under ``out``."""
    for candidate in (Path(name), Path(out) / name, Path(out) / f"bench-{name}"):
        if (candidate / BENCH_FILE).is_file():
            return candidate
    raise LawagentError(f"no benchmark {name!r}: tried {name}, {Path(out) / name} and {Path(out) / f'bench-{name}'}")
