"""The benchmark folder: what lives where, and which task a cell runs on.

Layout of ``<out>/bench-<id>/``::

    bench.json                 what was asked (proposer, budgets, lawagent version), the manifest
    cells/<task>-s<seed>/      a discovery run folder (config.json ... final.json)
        bench_cell.json        the cell's summary, read by the leaderboard
    reference.json             the reference laws refit by our harness (cached)
    leaderboard.md/.csv/.png   written at the end (``lawagent bench leaderboard`` rewrites them)

A cell is finished when its ``final.json`` exists (and its search was not
interrupted); it is never rerun.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from lawagent.errors import LawagentError
from lawagent.selection.dev import as_recorded
from lawagent.task import Task, load_task

PEER = "operon"  # a cell of the symbolic-regression peer (lawagent.peers.operon), not a discovery run
BENCH_FILE = "bench.json"
CELL_FILE = "bench_cell.json"
FINAL = "final.json"


def budget_kind(config: dict[str, Any]) -> str:
    """'candidates', 'iterations' or 'evaluations' (the same for a seed on the same kind of machine), or 'time' (machine-dependent)."""
    if config.get("time_per_cell") is not None:
        return "time"
    if config.get("proposer") == PEER:
        return "evaluations"
    return "candidates" if config.get("max_candidates") is not None else "iterations"


def bench_task(name: str, dev: bool | str) -> Task:
    """The task a cell runs on (a bundled name or a task folder), or its development split (test rows dropped
    at load): ``dev`` as recorded in bench.json, False, True (the near split) or "far"."""
    return as_recorded(load_task(name), dev)


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
