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


# -- hybrid-sr: Operon's models as the first candidates of a discovery run -----------------------

def test_an_operon_model_becomes_a_law_with_its_leading_constants_as_parameters():
    from lawagent.fit.fitter import predict
    from lawagent.law.law import Law
    from lawagent.proposers.sr import law_from_models

    model = "((-1.5) + (2.25 * exp(((-0.3125) * X1)))) + (0.0625 * X2)"  # X1 = log10(N), X2 = D raw
    p = law_from_models([model], ["N", "D"], {"N": True, "D": False}, ["loss"], budget=2)
    law = Law.parse(list(p.formulas), ["N", "D"], targets=["loss"])
    assert set(law.parameters) == {"A", "B"} and p.initial == {"A": -1.5, "B": 0.0625}  # the two shallowest
    N, D = np.array([1e6, 3e7, 1e9]), np.array([0.5, 1.0, 2.0])
    got = predict(law, {"g": p.initial}, {"N": N, "D": D}, np.array(["g"] * 3)).ravel()
    # the constants that stay numbers keep 6 significant digits
    assert got == pytest.approx(-1.5 + 2.25 * np.exp(-0.3125 * np.log10(N)) + 0.0625 * D, rel=1e-5)
    with_names = law_from_models(["(1.5 * X1) + 0.5"], ["A", "B"], {"A": True, "B": True}, ["y"], budget=None)
    assert not {"A", "B"} & set(with_names.initial)  # a parameter never takes a feature's name


def test_hybrid_sr_discovery_starts_from_operon_models_of_the_fit_rows(tmp_path):
    from lawagent.discovery import discover

    res = discover("parallel_scaling_law", proposer="hybrid-sr", proposer_options={"evaluations": 5000},
                   iterations=2, batch_size=16, workers=0, progress=False, out_dir=tmp_path, run_id="h")
    rows = [json.loads(line) for line in open(tmp_path / "h" / "candidates.jsonl")]
    sr = [r for r in rows if r["origin"] == "sr:operon"]
    assert sr and rows[0]["origin"] == "sr:operon"
    assert max(r["val_r2"] for r in sr if r["val_r2"] is not None) > 0.9
    assert any(not r["origin"].startswith("sr") for r in rows)  # then the symbolic proposer takes over
    config = json.loads((tmp_path / "h" / "config.json").read_text())
    assert config["proposer"] == "hybrid-sr" and res.best is not None


def test_a_hybrid_sr_run_resumes_as_if_it_had_not_stopped(tmp_path):
    from lawagent.discovery import discover, resume_run

    kw = dict(proposer="hybrid-sr", proposer_options={"evaluations": 2000}, batch_size=16, workers=0, progress=False,
              out_dir=tmp_path)
    discover("parallel_scaling_law", iterations=3, run_id="whole", **kw)
    discover("parallel_scaling_law", iterations=1, run_id="split", **kw)
    resume_run(tmp_path / "split", iterations=3, workers=0, progress=False)
    rows = lambda run: [(r["formula"], r["val_r2"]) for r in map(json.loads, open(tmp_path / run / "candidates.jsonl"))]  # noqa: E731
    assert len(rows("whole")) > 16 and rows("split") == rows("whole")


def test_hybrid_sr_cli_options(capsys):
    from lawagent.bench.leaderboard import agent_text

    assert "Operon's models of the fit rows, 7 evaluations" in agent_text(
        {"proposer": "hybrid-sr", "proposer_options": {"evaluations": 7}})
    assert main(["discover", "--task", "moe_scaling_law", "--proposer", "llm", "--blocks", "generic"]) == 2
    assert "--blocks applies to the symbolic proposer" in capsys.readouterr().err
    assert main(["discover", "--task", "moe_scaling_law", "--proposer", "hybrid", "--log-y"]) == 2
    assert "--log-y applies to the symbolic proposer" in capsys.readouterr().err
    assert main(["bench", "--proposer", "operon", "--log-y", "--tasks", "moe_scaling_law"]) == 2
    assert "--log-y applies to the symbolic proposer" in capsys.readouterr().err
    assert agent_text({"proposer": "symbolic", "proposer_options": {"log_y": True}}).endswith(
        "laws fitted to log y too")
    assert main(["bench", "--proposer", "symbolic", "--sr-evaluations", "10", "--tasks", "moe_scaling_law"]) == 2
    assert "--sr-evaluations applies to --proposer operon or hybrid-sr" in capsys.readouterr().err
    assert main(["discover", "--task", "moe_scaling_law", "--sr-evaluations", "10"]) == 2
    assert "--sr-evaluations applies to --proposer hybrid-sr" in capsys.readouterr().err
    assert main(["discover", "--task", "moe_scaling_law", "--proposer", "hybrid-sr", "--model", "m"]) == 2
    assert "need --proposer llm or hybrid" in capsys.readouterr().err
    # a new run without --proposer is symbolic: the same message, in flag names
    assert main(["discover", "--task", "moe_scaling_law", "--model", "m"]) == 2
    assert "need --proposer llm or hybrid" in capsys.readouterr().err
