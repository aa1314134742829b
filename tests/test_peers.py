"""The Operon peer: a classical symbolic-regression engine scored exactly like lawagent's laws."""

from __future__ import annotations

import json

import numpy as np
import pytest

from lawagent.bench.leaderboard import build_leaderboard
from lawagent.bench.layout import cell_dir
from lawagent.bench.runner import BenchConfig, run_bench
from lawagent.cli import main
from lawagent.scoring import score
from lawagent.selection.dev import dev_task
from lawagent.selection.protocol import protocol_for
from lawagent.task import load_task

pytest.importorskip("pyoperon")  # a third-party optional extra (lawagent[sr]); CI installs it

from lawagent.peers.operon import fit_operon  # noqa: E402


def test_operon_fits_per_group_on_training_rows_and_is_deterministic():
    task = load_task("parallel_scaling_law")
    a = fit_operon(task, seed=3, evaluations=5000)
    b = fit_operon(task, seed=3, evaluations=5000)
    assert a.models == b.models and a.test.r2 == b.test.r2
    assert set(a.models) == set(task.groups) and all(len(m) == 1 for m in a.models.values())
    assert a.transforms == {"num_params": "log10", "parallel_size": "log10"}
    assert a.test.n_rows == task.n_test and a.train.n_rows == task.n_train and np.isfinite(a.train.r2)


def test_operon_bench_cell_on_the_dev_split(tmp_path):
    config = BenchConfig(proposer="operon", tasks=["moe_scaling_law"], seeds=[0], time_per_cell=None, jobs=1,
                         dev=True, proposer_options={"evaluations": 3000}, out=str(tmp_path))
    summary = run_bench(config)
    assert not summary["failures"] and config.id == "dev-operon-3000ev"
    d = cell_dir(config.bench_dir, "moe_scaling_law", 0)
    final = json.loads((d / "final.json").read_text())
    # scored on the development split's pseudo-test rows, with lawagent's metric
    dev = dev_task(load_task("moe_scaling_law"), protocol_for(load_task("moe_scaling_law")))
    again = fit_operon(dev, seed=0, evaluations=3000)
    assert final["task"]["dev"] is True and final["test"]["r2"] == pytest.approx(again.test.r2, abs=0)
    assert final["test"]["n_rows"] == dev.n_test
    lb = build_leaderboard(config.bench_dir)
    assert lb.rows[0].r2 == [pytest.approx(again.test.r2)] and "operon (pyoperon 0.6.2" in \
        (config.bench_dir / "leaderboard.md").read_text()


def test_operon_cli_options(tmp_path, capsys):
    assert main(["bench", "--proposer", "operon", "--max-candidates", "5", "--out", str(tmp_path)]) == 2
    assert "--sr-evaluations" in capsys.readouterr().err
    assert main(["bench", "--sr-evaluations", "5", "--out", str(tmp_path)]) == 2
    assert "applies to --proposer operon" in capsys.readouterr().err
