"""SLDBench-format programs: scored like formulas, run in a limited child process, failures reported."""

from __future__ import annotations

import importlib.util
import json
import os
import time
import uuid
from pathlib import Path

import numpy as np
import pytest

from lawagent.bench.sldbench_program import isolation_summary, score_program
from lawagent.cli import main
from lawagent.scoring import score
from lawagent.task import load_task

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def parallel():
    return load_task("parallel_scaling_law")


def test_naive_power_law_program_scores_like_sldbench(parallel):
    result = score_program(parallel, DATA / "sldbench_naive_power_law.py", allow_over_budget=True)  # 5 params, budget 4
    assert not result.failed, result.test.message
    assert result.n_parameters == 5 and result.over_budget_allowed
    assert result.test.r2 > 0.99  # c1*N^e1 + c2*P^e2 + b extrapolates this task well
    assert set(result.params) == {"stack", "pile"}
    # the same protocol done here, in-process: fit per group on train rows, predict test rows, pool, score
    spec = importlib.util.spec_from_file_location("naive", DATA / "sldbench_naive_power_law.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    train, test = parallel.train(), parallel.test()
    pred = np.full(len(test), np.nan)
    for g in test.group_names():
        tr, te = train.groups == g, test.groups == g
        X = np.column_stack([train.X[f][tr] for f in parallel.features])
        params = mod.fit_scaling_law(X, train.y[tr, 0])
        pred[te] = mod.scaling_law_func(np.column_stack([test.X[f][te] for f in parallel.features]), params)
    assert result.test.r2 == pytest.approx(score(test.y, pred[:, None], test.groups).r2, abs=1e-9)


def test_program_that_loops_forever_is_killed(parallel):
    start = time.perf_counter()
    result = score_program(parallel, DATA / "sldbench_loops_forever.py", timeout=2)
    assert time.perf_counter() - start < 10
    assert result.failed and result.test.r2 == -1.0 and result.stage == "timeout"
    assert "did not finish within 2 s" in result.test.message


def test_program_that_raises_is_a_failure_with_the_reason(parallel):
    result = score_program(parallel, DATA / "sldbench_raises.py", timeout=30)
    assert result.failed and result.test.r2 == -1.0
    assert "fit_scaling_law" in result.test.message and "this program always fails to fit" in result.test.message


@pytest.mark.parametrize("name, words", [("sldbench_wrong_shape.py", "shape"), ("sldbench_nan.py", "NaN"),
                                         ("sldbench_memory_hog.py", "MemoryError")])
def test_bad_predictions_and_memory_are_failures(parallel, name, words):
    result = score_program(parallel, DATA / name, timeout=30, memory_mb=1024)
    assert result.failed and result.test.r2 == -1.0
    assert words in result.test.message


def test_program_finds_nothing_but_its_arguments(parallel):
    """It ran in an empty folder; the inputs file (train rows, test features) next to it is out of reach."""
    result = score_program(parallel, DATA / "sldbench_spy.py", timeout=30)
    found = result.test.message.split("files found: ")[1].split(" |")[0]
    assert not found.startswith(("input", "groups", "out")) and "input.npz" not in found.split("../")[0]
    if result.isolation.get("landlock_abi"):
        assert "../ unreadable (PermissionError)" in found
    else:  # then the run must say plainly that files are not isolated
        assert "NO FILE ISOLATION" in isolation_summary(result.isolation)
        pytest.skip("no Landlock on this kernel: the isolation itself is not tested here")


def test_multi_target_program_is_scored_per_target():
    task = load_task("domain_mixture_scaling_law")
    result = score_program(task, DATA / "sldbench_multi_target_mean.py", timeout=30)
    assert not result.failed, result.test.message
    assert len(result.test.per_target_r2) == 5
    assert result.test.r2 == pytest.approx(np.mean(result.test.per_target_r2))


def test_cli_scores_a_program_and_says_it_executes_it(capsys):
    assert main(["evaluate", "parallel_scaling_law", "--sldbench-program", str(DATA / "sldbench_naive_power_law.py"),
                 "--allow-over-budget"]) == 0
    out = capsys.readouterr().out
    assert "held-out test" in out and "0.99" in out
    assert "5 parameters per group (budget 4)  OVER BUDGET" in out and "isolation " in out
    assert main(["evaluate", "parallel_scaling_law", "--sldbench-program", str(DATA / "sldbench_raises.py")]) == 1
    assert "FAILED" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["evaluate", "--help"])
    assert "EXECUTES" in capsys.readouterr().out


def test_a_program_path_given_as_formula_is_never_run(capsys):
    # only --sldbench-program runs code; anything else goes through the formula parser
    assert main(["evaluate", "parallel_scaling_law", str(DATA / "sldbench_loops_forever.py")]) == 2
    assert "error" in capsys.readouterr().err


# -- hostile programs and the sandbox (issue 16) ------------------------------

def _hostile(tmp_path: Path, name: str, **replace: str) -> Path:
    text = (DATA / name).read_text()
    for key, value in replace.items():
        text = text.replace(key, value)
    path = tmp_path / name
    path.write_text(text)
    return path


def test_program_cannot_read_the_task_csv(parallel, tmp_path):
    """It opened tasks/parallel_scaling_law/data.csv and scored R2 = 1.0 from the held-out targets."""
    csv = str(Path(parallel.path) / "data.csv")
    result = score_program(parallel, _hostile(tmp_path, "sldbench_reads_task_csv.py", __TASK_CSV__=csv), timeout=60)
    if result.isolation.get("landlock_abi"):
        assert result.failed and "PermissionError" in result.test.message and result.stage.startswith("fit_scaling_law")
    else:  # no Landlock on this kernel: the cheat works, and the output must say the isolation is missing
        assert "NO FILE ISOLATION" in isolation_summary(result.isolation)
        pytest.skip("no Landlock on this kernel: the isolation itself is not tested here")


def test_without_landlock_the_output_says_so_plainly():
    summary = isolation_summary({"landlock_abi": 0, "landlock_error": "the kernel refuses Landlock: Function not "
                                 "implemented (errno 38)", "subreaper": True, "pid_namespace": False})
    assert summary.startswith("NO FILE ISOLATION (Landlock unavailable: the kernel refuses Landlock")
    assert "can read any file your account can, including the task's held-out rows" in summary
    assert "child subreaper" in summary


def _alive_with(marker: str) -> list[int]:
    out = []
    for pid in (p for p in os.listdir("/proc") if p.isdigit()):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if marker.encode() in cmdline and state != "Z":
            out.append(int(pid))
    return out


def test_a_setsid_child_dies_with_the_program(parallel, tmp_path):
    """A child in its own session survived the process-group kill at the timeout."""
    marker = f"lawagent-test-orphan-{uuid.uuid4().hex}"
    result = score_program(parallel, _hostile(tmp_path, "sldbench_setsid_child.py", __MARKER__=marker), timeout=3)
    assert result.stage == "timeout" and "started a child in its own session" in result.stderr_tail
    time.sleep(0.2)
    assert _alive_with(marker) == []


def test_the_environment_reaches_the_program_scrubbed(parallel, monkeypatch):
    """The full environment (API keys included) was passed to the program."""
    canary = f"canary-{uuid.uuid4().hex}"
    monkeypatch.setenv("LAWAGENT_TEST_CANARY", canary)
    monkeypatch.setenv("OPENAI_API_KEY", f"sk-{canary}")
    result = score_program(parallel, DATA / "sldbench_env_canary.py", timeout=60)
    seen = result.test.message
    assert "environment seen: " in seen and canary not in seen and canary not in json.dumps(result.as_dict())
    assert "OPENAI_API_KEY" not in seen and "HOME=" in seen  # HOME is the scratch folder, not yours
    if result.isolation.get("landlock_abi"):
        assert "listing /proc: PermissionError" in seen


def test_over_budget_program_fails_unless_allowed(parallel, capsys):
    result = score_program(parallel, DATA / "sldbench_naive_power_law.py")
    assert result.failed and result.stage == "budget" and result.n_parameters == 5
    assert "fits 5 parameters per group; the budget of task 'parallel_scaling_law' is 4" in result.test.message
    assert main(["evaluate", "parallel_scaling_law", "--sldbench-program", str(DATA / "sldbench_naive_power_law.py")]) == 1
    assert "FAILED: the program fits 5 parameters" in capsys.readouterr().out


@pytest.mark.parametrize("flag, value", [("--timeout", "inf"), ("--timeout", "nan"), ("--timeout", "0"),
                                         ("--timeout", "-5"), ("--memory", "0"), ("--memory", "-1")])
def test_timeout_and_memory_must_be_finite_and_positive(capsys, flag, value):
    """--timeout inf gave a traceback; --memory 0 or -1 silently removed the memory limit."""
    code = main(["evaluate", "parallel_scaling_law", "--sldbench-program", str(DATA / "sldbench_nan.py"), flag, value])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("lawagent evaluate: error:") and flag in err[0]
