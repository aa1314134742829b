"""The executor choice without Ray: the missing extra, a stray --address, a cell shipped from a node
that does not see the benchmark folder. The Ray engine itself is tested in test_ray.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lawagent.bench.cell import install_cell, run_cell_anywhere
from lawagent.bench.leaderboard import build_leaderboard
from lawagent.bench.layout import CELL_FILE, cell_dir, is_finished
from lawagent.bench.runner import BenchConfig, _cell_spec, _write_manifest, run_bench
from lawagent.cli import main

SRC = str(Path(__file__).resolve().parents[1] / "src")
HIDE_RAY = "import sys; sys.modules['ray'] = None; from lawagent.cli import main; sys.exit(main(sys.argv[1:]))"


@pytest.mark.parametrize("command", [
    ["bench", "--tasks", "parallel_scaling_law", "--seeds", "1", "--max-candidates", "8"],
    ["discover", "--task", "parallel_scaling_law", "--iterations", "1"],
])
def test_executor_ray_without_the_extra_is_one_line_and_exit_2(tmp_path, command):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([SRC, os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.run([sys.executable, "-c", HIDE_RAY, *command, "--executor", "ray", "--out", str(tmp_path)],
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.endswith("--executor ray needs Ray, which is not installed: pip install 'lawagent[ray]'\n")
    assert proc.stderr.count("\n") == 1
    assert list(tmp_path.iterdir()) == []  # nothing written before the check


def test_address_needs_executor_ray(tmp_path, capsys):
    assert main(["bench", "--tasks", "parallel_scaling_law", "--address", "auto", "--out", str(tmp_path)]) == 2
    assert capsys.readouterr().err == "lawagent bench: error: --address names a Ray cluster: use it with --executor ray\n"
    assert main(["discover", "--task", "parallel_scaling_law", "--address", "auto", "--out", str(tmp_path)]) == 2
    assert "use it with --executor ray" in capsys.readouterr().err


def test_a_cell_from_a_node_without_the_bench_folder_is_shipped_and_installed(tmp_path):
    """A Ray worker that cannot see the benchmark folder runs its cell in scratch space and
    returns the files; the driver installs them in one rename, over a stale unfinished folder."""
    config = BenchConfig(proposer="symbolic", tasks=["parallel_scaling_law"], seeds=[0], time_per_cell=None,
                         iterations=1, batch_size=4, jobs=1, id="ship", out=str(tmp_path / "driver"))
    # the worker's node does not see the benchmark folder (here: it does not exist yet)
    summary, files = run_cell_anywhere(str(config.bench_dir), "parallel_scaling_law", 0, _cell_spec(config))
    assert summary["status"] == "done" and not config.bench_dir.exists()
    assert {"config.json", "candidates.jsonl", "final.json", CELL_FILE} <= set(files)
    _write_manifest(config.bench_dir, config)
    d = cell_dir(config.bench_dir, "parallel_scaling_law", 0)
    d.mkdir(parents=True)
    (d / "config.json").write_text("{}")  # an interrupted earlier attempt
    install_cell(d, files)
    assert is_finished(d) and (d / "config.json").read_bytes() == files["config.json"]
    assert [p.name for p in d.parent.iterdir()] == [d.name]  # no temporary folder left
    assert json.loads((d / CELL_FILE).read_text()) == summary and summary["run_dir"] == str(d)
    assert run_bench(config)["ran"] == 0  # the installed cell counts as finished
    assert build_leaderboard(config.bench_dir).max_recompute_diff < 1e-12
