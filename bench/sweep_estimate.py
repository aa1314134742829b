"""Estimate the wall time of a benchmark sweep on a Ray cluster from cells measured here.

Reads the finished cells of a benchmark folder (each cell's ``bench_cell.json`` holds its
wall seconds on one CPU), repeats every task's mean cell time for SEEDS x PROPOSERS cells, and
schedules them on CPUS slots the way Ray fills free CPUs (each cell, in order, on the next free
CPU), adding a measured overhead per cell and a fixed overhead (joining the cluster). Two orders:
as lawagent submits them (task by task, in the order of --tasks) and longest first (the best
any order can do). It
assumes every proposer's cell costs what the measured cell cost (an LLM proposer's API latency
comes on top) and that the cluster's CPUs are as fast as this machine's.

    python bench/sweep_estimate.py results/bench-dev-symbolic-500c --seeds 5 --proposers 3 --cpus 64 \\
        --per-cell 3.5 --fixed 15
"""

from __future__ import annotations

import argparse
import heapq
import json
import statistics
from collections import defaultdict
from pathlib import Path


def cell_seconds(bench_dir: Path) -> dict[str, list[float]]:
    """task -> wall seconds of its finished cells."""
    out: dict[str, list[float]] = defaultdict(list)
    for path in sorted((bench_dir / "cells").glob("*/bench_cell.json")):
        cell = json.loads(path.read_text(encoding="utf-8"))
        if cell.get("status") == "done" and cell.get("wall_seconds"):
            out[cell["task"]].append(float(cell["wall_seconds"]))
    return dict(out)


def makespan(durations: list[float], cpus: int) -> float:
    """Each cell in the given order on the next free of ``cpus`` slots: when the last slot is free."""
    slots = [0.0] * cpus
    for d in durations:
        heapq.heapreplace(slots, slots[0] + d)
    return max(slots)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("bench_dir", type=Path)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--proposers", type=int, default=3)
    ap.add_argument("--cpus", type=int, default=64)
    ap.add_argument("--per-cell", type=float, default=0.0, help="measured executor overhead per cell, seconds")
    ap.add_argument("--fixed", type=float, default=0.0, help="measured fixed overhead (starting/joining Ray), seconds")
    args = ap.parse_args()
    per_task = cell_seconds(args.bench_dir)
    if not per_task:
        raise SystemExit(f"{args.bench_dir}: no finished cell with wall seconds")
    cells = [statistics.mean(v) + args.per_cell for v in per_task.values()
             for _ in range(args.seeds * args.proposers)]
    total = sum(cells)
    longest_first = sorted(cells, reverse=True)
    print(f"{len(per_task)} tasks measured; {len(cells)} cells, {total / 3600:.2f} CPU-hours")
    print(f"longest cell {max(cells):.0f} s, mean {total / len(cells):.0f} s")
    for cpus in (2, args.cpus):
        submitted = makespan(cells, cpus) + args.fixed
        best = makespan(longest_first, cpus) + args.fixed
        print(f"on {cpus} CPUs: {submitted / 60:.1f} min in submission order, {best / 60:.1f} min longest first "
              f"(total/CPUs: {total / cpus / 60:.1f} min)")


if __name__ == "__main__":
    main()
