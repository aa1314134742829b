"""`--executor ray`: benchmark cells and candidate evaluation on a local Ray instance (2 CPUs).

The tests share one Ray instance that this module starts (about 15 s to start and stop).
They are marked ``ray`` and skip when the extra is not installed (``pip install
'lawagent[ray]'``; scripts/test.sh installs it, so CI runs them); ``-m 'not ray'``
leaves them out. What runs without Ray is in test_executor.py.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import os
import signal
import socket
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest

from lawagent.bench.layout import BENCH_FILE, FINAL, cell_dir
from lawagent.bench.runner import BenchConfig, run_bench
from lawagent.cli import main
from lawagent.discovery import DiscoveryResult, discover
from lawagent.discovery.pools import make_pool
from lawagent.discovery.workers import JobFailure

pytestmark = [pytest.mark.ray,
              pytest.mark.skipif(importlib.util.find_spec("ray") is None,
                                 reason="needs the extra: pip install 'lawagent[ray]'")]
TASKS = ["parallel_scaling_law", "moe_scaling_law"]
CELLS = [(t, s) for t in TASKS for s in (0, 1)]


@pytest.fixture(scope="module")
def ray_instance():
    import ray

    ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level="WARNING")  # never a cluster found here
    try:
        yield ray
    finally:
        ray.shutdown()


@pytest.fixture(scope="module")
def local_bench(tmp_path_factory):
    """The reference: the same 2 tasks x 2 seeds, --iterations 2, on local processes."""
    config = BenchConfig(proposer="symbolic", tasks=TASKS, seeds=[0, 1], time_per_cell=None, iterations=2,
                         batch_size=8, jobs=2, workers=0, id="b", out=str(tmp_path_factory.mktemp("local")))
    summary = run_bench(config)
    assert summary["ran"] == 4 and not summary["failures"]
    return config


def leaderboard_values(config: BenchConfig) -> list[dict[str, str]]:
    """leaderboard.csv without the columns that measure time."""
    with open(config.bench_dir / "leaderboard.csv", encoding="utf-8") as fh:
        return [{k: v for k, v in row.items() if "seconds" not in k} for row in csv.DictReader(fh)]


def candidates(run_dir: Path) -> list[dict]:
    lines = (run_dir / "candidates.jsonl").read_text(encoding="utf-8").splitlines()
    return [{k: v for k, v in json.loads(x).items() if k != "seconds"} for x in lines]


def test_ray_bench_gives_the_local_leaderboard(ray_instance, local_bench, tmp_path, capsys):
    config = replace(local_bench, executor="ray", out=str(tmp_path))
    summary = run_bench(config, log=print)
    assert summary["ran"] == 4 and not summary["failures"]
    assert summary["where"] == "Ray: 1 node, 2 CPUs (a Ray instance started here)"
    log = capsys.readouterr().out
    assert "4 to run on Ray: 1 node, 2 CPUs" in log
    assert sum(f" on {socket.gethostname()} |" in line for line in log.splitlines()) == 4  # each cell's host
    assert leaderboard_values(config) == leaderboard_values(local_bench)
    for task, seed in CELLS:
        assert candidates(cell_dir(config.bench_dir, task, seed)) == candidates(cell_dir(local_bench.bench_dir, task, seed))
    assert json.loads((config.bench_dir / BENCH_FILE).read_text())["where"] == {
        "executor": "ray", "nodes": 1, "cpus": 2, "address": ""}
    assert run_bench(config)["ran"] == 0  # finished cells are skipped on rerun, as with local processes


def _children(pid: int) -> dict[int, int]:
    """pid -> parent pid of every process (from /proc)."""
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    return parents


def _running_cells() -> list[int]:
    """Ray workers started by this test process that are running a benchmark cell right now."""
    parents = _children(os.getpid())
    mine, found = {os.getpid()}, True
    while found:  # the descendants of this process: Ray's raylet and its workers
        new = {p for p, pp in parents.items() if pp in mine and p not in mine}
        found = bool(new)
        mine |= new
    out = []
    for pid in mine:
        try:
            title = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0]
        except OSError:
            continue
        if title.startswith(b"ray::run_cell_anywhere"):
            out.append(pid)
    return out


def test_a_killed_cell_worker_is_retried_and_every_cell_is_there_once(ray_instance, local_bench, tmp_path):
    config = replace(local_bench, executor="ray", out=str(tmp_path))
    killed: list[int] = []

    def kill_one_mid_search() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not killed:
            started = [c for c in CELLS if (cell_dir(config.bench_dir, *c) / "candidates.jsonl").is_file()]
            pids = _running_cells() if started else []
            if pids:
                os.kill(pids[0], signal.SIGKILL)
                killed.append(pids[0])
            time.sleep(0.05)

    killer = threading.Thread(target=kill_one_mid_search)
    killer.start()
    try:
        summary = run_bench(config)
    finally:
        killer.join()
    assert killed, "no cell worker was found to kill"
    assert summary["ran"] == 4 and not summary["failures"]
    cells = sorted(p.name for p in (config.bench_dir / "cells").iterdir())
    assert cells == sorted(f"{t}-s{s}" for t, s in CELLS)  # no stray half folder
    for task, seed in CELLS:
        d = cell_dir(config.bench_dir, task, seed)
        assert (d / FINAL).is_file() and (d / "bench_cell.json").is_file()
        rows = candidates(d)
        assert [r["id"] for r in rows] == list(range(len(rows)))  # no candidate lost or written twice
        assert rows == candidates(cell_dir(local_bench.bench_dir, task, seed))
    assert leaderboard_values(config) == leaderboard_values(local_bench)


def test_ray_discovery_is_the_local_run(ray_instance, tmp_path, capsys):
    """Same seed, same --iterations: the same candidates and the same law as local workers."""
    local = discover("moe_scaling_law", iterations=2, batch_size=8, seed=3, workers=2, time_limit=None,
                     out_dir=tmp_path, run_id="local", progress=False)
    assert local.where == "local: 1 node (this machine), 2 CPUs"
    assert main(["discover", "--task", "moe_scaling_law", "--iterations", "2", "--batch-size", "8", "--seed", "3",
                 "--executor", "ray", "--out", str(tmp_path), "--run-id", "ray"]) == 0
    out = capsys.readouterr()
    assert "evaluating candidates on Ray: 1 node, 2 CPUs" in out.err
    assert "evaluated on Ray: 1 node, 2 CPUs (a Ray instance started here)" in out.out
    on_ray = DiscoveryResult.load(tmp_path / "ray")
    assert candidates(on_ray.run_dir) == candidates(local.run_dir) and len(candidates(local.run_dir)) >= 8
    assert on_ray.best.to_dict() == local.best.to_dict()
    assert on_ray.where == "Ray: 1 node, 2 CPUs (a Ray instance started here)"


def _slow_or_crash(shared, job):
    if job == "hang":
        time.sleep(60)
    if job == "crash":
        os._exit(3)
    if job == "raise":
        raise ValueError("bad job")
    return shared * job


def test_ray_actors_cut_off_hangs_and_survive_crashes(ray_instance):
    import ray.cloudpickle

    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the actors cannot import this test module
    pool = make_pool(_slow_or_crash, 10, workers=2, timeout=1.0, executor="ray")
    try:
        out = pool.map([1, "hang", 2, "crash", 3, "raise", 4])
        assert out[0] == 10 and out[2] == 20 and out[4] == 30 and out[6] == 40  # in submission order
        assert isinstance(out[1], JobFailure) and out[1].message == "timeout after 1s"
        assert isinstance(out[3], JobFailure) and "worker crashed" in out[3].message
        assert isinstance(out[5], JobFailure) and "ValueError: bad job" in out[5].message
        assert pool.map([5, 6]) == [50, 60]  # replaced actors serve the next batch
        assert pool.n_replaced == 2
    finally:
        pool.close()
