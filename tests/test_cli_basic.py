"""`lawagent tasks` and `lawagent evaluate`, in-process and as the installed executable."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from lawagent.cli import main
from lawagent.task import list_tasks, load_task

FAST_TASK = "parallel_scaling_law"  # 48 rows, 2 groups: evaluates in well under a second


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def assert_user_error(code: int, err: str, *words: str) -> None:
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("lawagent evaluate: error:")
    assert "Traceback" not in err
    for w in words:
        assert w in lines[0]


def test_tasks_lists_the_collection(capsys) -> None:
    code, out, _ = run(capsys, "tasks")
    assert code == 0
    for name in list_tasks():
        task = load_task(name)
        line = next(l for l in out.splitlines() if l.startswith(name))
        assert f"{task.n_train}/{task.n_test}" in line
        assert str(task.parameter_budget) in line.split()[-1]
    assert f"{len(list_tasks())} tasks" in out


def test_tasks_json(capsys) -> None:
    code, out, _ = run(capsys, "tasks", "--json")
    data = json.loads(out)
    assert code == 0 and [d["name"] for d in data] == list_tasks()
    sft = next(d for d in data if d["name"] == "sft_scaling_law")
    assert sft["features"] == ["sft_data_size"] and sft["groups"] == 42 and sft["parameter_budget"] == 4


def test_tasks_name_shows_one_task(capsys) -> None:
    code, out, _ = run(capsys, "tasks", "domain_mixture_scaling_law")
    task = load_task("domain_mixture_scaling_law")
    assert code == 0
    assert task.description.split()[0] in out
    for col in (*task.features, *task.targets):
        assert col in out
    assert "reference law" in out and "parameter budget: 35" in out


def test_tasks_unknown_name(capsys) -> None:
    code, out, err = run(capsys, "tasks", "no_such_task")
    assert code == 2 and err.startswith("lawagent tasks: error:") and "no_such_task" in err and "Traceback" not in err


def test_evaluate_formula(capsys) -> None:
    code, out, err = run(capsys, "evaluate", FAST_TASK, "(A/(num_params*(k*log(parallel_size) + 1)))^alpha + E")
    assert code == 0, err
    assert "held-out test" in out and "train (fit)" in out
    test_line = next(l for l in out.splitlines() if l.startswith("held-out test"))
    assert float(test_line.split()[3]) > 0.99  # R2 column
    for group in ("stack", "pile"):
        assert group in out


def test_evaluate_reference_json(capsys) -> None:
    code, out, err = run(capsys, "evaluate", FAST_TASK, "--reference", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["task"] == FAST_TASK
    assert data["test"]["r2"] > 0.99 and not data["test"]["failed"]
    assert set(data["fitted_params"]) == {"stack", "pile"}
    assert set(data["fitted_params"]["stack"]) == set(data["parameters"])
    assert data["test"]["n_rows"] == load_task(FAST_TASK).n_test


def test_evaluate_bound(capsys) -> None:
    formula = "B/(D_l + sft_data_size^beta) + E"
    code, out, err = run(capsys, "evaluate", "sft_scaling_law", formula, "--bound", "beta=0.1:0.3", "--bound", "D_l=0:", "--json")
    assert code == 0, err
    params = json.loads(out)["fitted_params"]
    assert len(params) == 42
    for values in params.values():
        assert 0.1 <= values["beta"] <= 0.3 and values["D_l"] >= 0


def test_evaluate_failed_fit_exit_1(capsys) -> None:
    code, out, err = run(capsys, "evaluate", FAST_TASK, "a*log(-num_params) + b")
    assert code == 1
    assert "FAILED" in out


def strict_json(text: str):
    def refuse(name: str):
        raise ValueError(f"{name} is not JSON")

    return json.loads(text, parse_constant=refuse)


def test_evaluate_json_of_failed_fit_is_strict_json(capsys) -> None:
    code, out, err = run(capsys, "evaluate", FAST_TASK, "a*log(-num_params) + b", "--json")
    assert code == 1
    data = strict_json(out)
    assert data["test"]["failed"] and data["test"]["r2"] == -1.0


@pytest.mark.parametrize(
    "argv, words",
    [
        (["evaluate", "no_such_task", "a*x"], ["no_such_task"]),
        (["evaluate", FAST_TASK, "foo(num_params)"], ["unknown function 'foo'"]),
        (["evaluate", FAST_TASK, "__import__('os').system('x')"], ["unexpected character"]),
        (["evaluate", FAST_TASK, "a*num_params + b + c + d + e"], ["budget"]),
        (["evaluate", FAST_TASK, "a + b"], ["none of the features"]),
        (["evaluate", FAST_TASK, "a*num_params", "--reference"], ["--reference"]),
        (["evaluate", FAST_TASK], ["formula"]),
        (["evaluate", FAST_TASK, "a*num_params^b", "--bound", "b"], ["--bound"]),
        (["evaluate", FAST_TASK, "a*num_params^b", "--bound", "b=2:1"], ["'b'"]),
        (["evaluate", FAST_TASK, "a*num_params^b", "--bound", "zz=0:1"], ["'zz'"]),
    ],
)
def test_evaluate_user_mistakes(capsys, argv: list[str], words: list[str]) -> None:
    code, out, err = run(capsys, *argv)
    assert_user_error(code, err, *words)
    assert out == ""


def test_evaluate_missing_task_argument(capsys) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["evaluate"])
    assert exit_.value.code == 2
    assert "lawagent evaluate: error:" in capsys.readouterr().err


def test_help_has_examples(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["evaluate", "--help"])
    out = capsys.readouterr().out
    assert "examples:" in out and "--reference" in out


def test_installed_executable() -> None:
    exe = shutil.which("lawagent")
    cmd = [exe] if exe else [sys.executable, "-m", "lawagent"]
    ok = subprocess.run([*cmd, "evaluate", FAST_TASK, "--reference", "--json"], capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["test"]["r2"] > 0.99
    bad = subprocess.run([*cmd, "evaluate", FAST_TASK, "open('f')"], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and bad.stdout == ""
    assert bad.stderr.startswith("lawagent evaluate: error:") and len(bad.stderr.strip().splitlines()) == 1


# -- bench-fit ---------------------------------------------------------------

@pytest.fixture
def one_core(monkeypatch: pytest.MonkeyPatch) -> None:
    """bench-fit reruns itself unless BLAS threads are pinned; pin them so it runs in-process."""
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        monkeypatch.setenv(var, "1")


def test_bench_fit_json(capsys, one_core) -> None:
    code, out, err = run(capsys, "bench-fit", "--tasks", FAST_TASK, "--repeats", "2", "--options", "search", "--json")
    assert code == 0, err
    data = strict_json(out)
    rows = data["timings"]
    assert [(r["law"], r["options"]) for r in rows] == [("reference", "search"), ("generic", "search")]
    for r in rows:
        assert r["task"] == FAST_TASK and r["repeats"] == 2 and r["scored_on"] == "validation"
        assert 0 < r["compile_median"] <= r["median"] <= r["p90"]
        assert r["candidates_per_second"] == pytest.approx(1 / r["median"])
        assert r["r2"] > 0.9  # both laws fit this task well
    assert data["options"]["search"]["n_starts"] == 24 and data["threads"]["OMP_NUM_THREADS"] == "1"


def test_bench_fit_table_with_formula_and_final(capsys, one_core) -> None:
    code, out, err = run(capsys, "bench-fit", "--tasks", FAST_TASK, "--repeats", "1", "--options", "final",
                         "--law", "A*num_params^(-a) + E")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["task", "law", "options"]
    row = lines[2].split()
    assert row[:3] == ["parallel", "custom", "final"]


@pytest.mark.parametrize(
    "argv, words",
    [
        (["--tasks", "no_such_task"], ["no_such_task"]),
        (["--tasks", FAST_TASK, "--law", "open('x')"], ["unexpected character"]),
        (["--tasks", FAST_TASK, "--repeats", "0"], ["--repeats"]),
        (["--tasks", FAST_TASK, "--options", "candidate,fast"], ["--options", "'fast'"]),
    ],
)
def test_bench_fit_user_mistakes(capsys, one_core, argv: list[str], words: list[str]) -> None:
    code, out, err = run(capsys, "bench-fit", *argv)
    assert code == 2 and err.startswith("lawagent bench-fit: error:") and len(err.strip().splitlines()) == 1
    assert all(w in err for w in words)


def test_bench_fit_candidate_is_what_the_search_scores(capsys, one_core) -> None:
    from lawagent.discovery.evaluator import evaluate_candidate
    from lawagent.proposers.base import Proposal

    code, out, err = run(capsys, "bench-fit", "--tasks", FAST_TASK, "--repeats", "1", "--options", "candidate",
                         "--law", "reference", "--json")
    assert code == 0, err
    data = strict_json(out)
    (row,) = data["timings"]
    assert row["options"] == "candidate" and row["scored_on"] == "validation"
    task = load_task(FAST_TASK)
    from lawagent.selection.protocol import protocol_for

    (fit, val), *extra = [(f.fit, f.val) for f in protocol_for(task).folds(task.train())]
    ref = task.reference
    record = evaluate_candidate(Proposal(ref.formulas, bounds=dict(ref.bounds), initial=dict(ref.initial)), task.features,
                                task.targets, task.parameter_budget, fit, val, extra_folds=extra)
    assert row["r2"] == pytest.approx(record.val_r2, rel=1e-9) and row["n_fit_rows"] == len(fit)
    (comp,) = data["compile"]
    assert comp["law"] == "reference" and comp["n_parameters"] == 4 and comp["complexity"] > 4
    assert comp["tape_median"] > 0 and comp["sympy_median"] > 0 and comp["parse_median"] > 0


def test_bench_fit_screen_is_racing_s_first_look(capsys, one_core) -> None:
    from lawagent.discovery.evaluator import SCREEN, evaluate_candidate
    from lawagent.proposers.base import Proposal
    from lawagent.selection.protocol import protocol_for

    code, out, err = run(capsys, "bench-fit", "--tasks", FAST_TASK, "--repeats", "1", "--options", "screen,candidate",
                         "--law", "reference", "--json")
    assert code == 0, err
    screen, full = strict_json(out)["timings"]
    assert (screen["options"], full["options"]) == ("screen", "candidate")
    task = load_task(FAST_TASK)
    (fit, val), *_ = [(f.fit, f.val) for f in protocol_for(task).folds(task.train())]
    ref = task.reference
    record = evaluate_candidate(Proposal(ref.formulas, bounds=dict(ref.bounds), initial=dict(ref.initial)), task.features,
                                task.targets, task.parameter_budget, fit, val, stage=SCREEN)
    assert record.stage == SCREEN and screen["r2"] == pytest.approx(record.val_r2, rel=1e-9)


def test_synthetic_timing_tasks_are_fixed_and_held_out_by_scale() -> None:
    import numpy as np

    from lawagent.bench.synthetic import synthetic_task
    from lawagent.cli.bench_fit_cmd import task_names
    from lawagent.evaluate import reference_law

    task = synthetic_task("synthetic-10k")
    again = synthetic_task("synthetic-10k")
    np.testing.assert_array_equal(task.train().y, again.train().y)
    assert len(task.groups) == 100 and task.n_train + task.n_test == 10_000 and task.n_test == 1_000
    train, test = task.train(), task.test()
    for g in task.groups[:5]:
        assert train.scale[train.groups == g].max() < test.scale[test.groups == g].min()
    assert reference_law(task).parameters == ("E", "A", "alpha", "B", "beta")
    assert task_names("synthetic-100k,all,synthetic-100k") == ["synthetic-100k", *list_tasks()]


@pytest.mark.parametrize("name", list_tasks())
def test_bench_fit_generic_law_fits_every_task(name: str) -> None:
    from lawagent.cli.bench_fit_cmd import generic_formula
    from lawagent.evaluate import parse_law

    task = load_task(name)
    law = parse_law(task, generic_formula(task))
    assert len(law.expressions) == len(task.targets) and law.n_parameters == 3 * len(task.targets)


def test_bench_fit_pins_threads_when_not_set() -> None:
    import os

    exe = shutil.which("lawagent")
    cmd = [exe] if exe else [sys.executable, "-m", "lawagent"]
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
    done = subprocess.run([*cmd, "bench-fit", "--tasks", FAST_TASK, "--repeats", "1", "--options", "search",
                           "--law", "generic", "--json"], capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert set(data["threads"].values()) == {"1"} and len(data["timings"]) == 1


def test_a_formula_starting_with_minus_gets_a_hint_to_use_double_dash(capsys) -> None:
    """argparse took "-A*x+E" for an option and said only 'unrecognized arguments'."""
    with pytest.raises(SystemExit) as exit_:
        main(["evaluate", FAST_TASK, "-A*num_params+E"])
    assert exit_.value.code == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert "lawagent evaluate TASK -- '-A*num_params+E'" in last
    with pytest.raises(SystemExit):
        main(["discover", "--task", FAST_TASK, "--seed-law", "-A*num_params+E"])
    assert "--seed-law='-A*num_params+E'" in capsys.readouterr().err
    code, out, err = run(capsys, "evaluate", FAST_TASK, "--", "-A*num_params+E")  # and the hint works
    assert code == 0 and "E - A*num_params" in out


def test_evaluate_warns_when_the_target_is_constant(capsys, tmp_path) -> None:
    rows = "\n".join(f"{x},1.5,{'test' if x > 8 else 'train'}" for x in range(1, 11))
    (tmp_path / "data.csv").write_text("x,y,split\n" + rows + "\n", encoding="utf-8")
    (tmp_path / "task.toml").write_text('name = "flat"\ndata = "data.csv"\nfeatures = ["x"]\ntargets = ["y"]\n'
                                        'parameter_budget = 3\n[split]\ncolumn = "split"\n', encoding="utf-8")
    code, out, err = run(capsys, "evaluate", str(tmp_path), "a + b*x")
    assert code == 0
    assert "warning (held-out test): the target is constant on the scored rows" in out
    assert "warning (train (fit)): the target is constant" in out
