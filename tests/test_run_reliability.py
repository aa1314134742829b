"""A discovery run under stress (issue 16): two writers, failed starts, deadlines on big data, a stalling LLM, Ctrl-C.

Each test ran into the defect it names before the fix. The slow ones run the
real command line in a child process and time it from outside.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fake_llm_server import FakeLLMServer, Step
from lawagent.cli import main
from lawagent.discovery import discover
from lawagent.errors import LawagentError
from lawagent.runfolder import RunDir
from lawagent.runfolder.lock import lock_folder

SRC = Path(__file__).resolve().parents[1] / "src"
FAST = dict(batch_size=8, workers=0, progress=False, time_limit=120.0)


def env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(SRC), "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}


def lawagent(*args: str, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "lawagent", *args], env=env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kw)


# -- one writer per run folder ----------------------------------------------------------

def test_a_locked_folder_names_its_holder_and_frees_on_release(tmp_path, capsys):
    discover("parallel_scaling_law", iterations=1, out_dir=tmp_path, run_id="run", **FAST)
    running = lock_folder(tmp_path / "run")  # as a run still going holds it
    with pytest.raises(LawagentError, match=rf"run folder .*run is in use by another lawagent process \(PID {os.getpid()}\)"):
        lock_folder(tmp_path / "run")
    # --resume of a run that is still going used to proceed and write the same folder
    assert main(["discover", "--resume", str(tmp_path / "run"), "--iterations", "2", "--workers", "0", "--quiet"]) == 2
    assert f"is in use by another lawagent process (PID {os.getpid()})" in capsys.readouterr().err
    running.release()
    assert main(["discover", "--resume", str(tmp_path / "run"), "--iterations", "2", "--workers", "0", "--quiet"]) == 0


RACER = """
import os, sys, time
from pathlib import Path
from lawagent.cli import main
go = Path(sys.argv[1])
print(os.getpid(), flush=True)
while not go.exists():
    time.sleep(0.001)
sys.exit(main(["discover", "--task", "parallel_scaling_law", "--iterations", "2", "--batch-size", "8",
               "--workers", "0", "--out", sys.argv[2], "--run-id", "same", "--quiet"]))
"""


def test_two_runs_released_together_on_one_folder_exactly_one_wins(tmp_path):
    """Both used to proceed: candidates.jsonl got every id twice and both exited 0."""
    go = tmp_path / "go"
    racers = [subprocess.Popen([sys.executable, "-c", RACER, str(go), str(tmp_path / "out")], env=env(),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    pids = [int(r.stdout.readline()) for r in racers]  # both imported lawagent and are waiting
    go.touch()
    outcomes = [(r.wait(timeout=240), r.stderr.read()) for r in racers]
    codes = sorted(code for code, _ in outcomes)
    assert codes == [0, 2], outcomes
    winner = pids[[code for code, _ in outcomes].index(0)]
    loser_err = next(err for code, err in outcomes if code == 2).strip()
    assert loser_err.count("\n") == 0
    assert f"is in use by another lawagent process (PID {winner})" in loser_err  # not "already exists": it raced
    rows = RunDir(tmp_path / "out" / "same").load_candidates()
    assert [r["id"] for r in rows] == list(range(len(rows)))  # one writer: every id once


# -- a failed start leaves nothing behind ----------------------------------------------------------

class Broken:
    name = "broken"

    def propose(self, context):
        raise LawagentError("this proposer cannot write laws")


def test_a_failed_start_removes_what_it_created_and_only_that(tmp_path):
    """A start that failed left config.json: the same command then said 'already exists', --resume repeated the error."""
    for _ in range(2):  # the second time fails the same way, not with 'already exists'
        with pytest.raises(LawagentError, match="this proposer cannot write laws"):
            discover("parallel_scaling_law", proposer=Broken(), iterations=1, out_dir=tmp_path, run_id="r", **FAST)
        assert not (tmp_path / "r").exists()
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    with pytest.raises(LawagentError, match="this proposer cannot write laws"):
        discover("parallel_scaling_law", proposer=Broken(), iterations=1, out_dir=tmp_path, run_id="mine", **FAST)
    assert sorted(p.name for p in mine.iterdir()) == ["notes.txt"]


def test_a_column_name_a_formula_cannot_use_fails_at_load_with_a_rename_hint(tmp_path, capsys):
    """'model size' ran 0 candidates and failed late with a misleading message, leaving a half-made folder."""
    csv = tmp_path / "data.csv"
    csv.write_text("model size,y\n" + "".join(f"{x},{2 + 1 / x}\n" for x in range(1, 21)))
    code = main(["discover", str(csv), "--features", "model size", "--target", "y", "--holdout", "`model size` >= 17",
                 "--iterations", "1", "--out", str(tmp_path / "out"), "--run-id", "r"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.count("\n") == 0
    assert "feature column 'model size' cannot appear in a formula" in err and "e.g. to 'model_size'" in err
    assert not (tmp_path / "out").exists()


# -- --time is a deadline ------------------------------------------------------------------

def big_csv(path: Path, rows: int) -> Path:
    rng = np.random.default_rng(0)
    params, tokens = 10 ** rng.uniform(6, 10, rows), 10 ** rng.uniform(8, 12, rows)
    loss = (1.7 + 400 / params**0.34 + 410 / tokens**0.28) * np.exp(rng.normal(0, 0.01, rows))
    family = np.array([f"f{i}" for i in range(8)], dtype=object)[rng.integers(0, 8, rows)]
    pd.DataFrame({"params": params, "tokens": tokens, "family": family, "loss": loss}).to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def csv_200k(tmp_path_factory) -> Path:
    return big_csv(tmp_path_factory.mktemp("big") / "big.csv", 200_000)


def timed(proc: subprocess.Popen, limit: float) -> tuple[float | None, float, list[str]]:
    """(seconds to the first stderr line, seconds to exit, stderr lines) of a started command."""
    start = time.monotonic()
    first, lines = None, []
    assert proc.stderr is not None
    for line in proc.stderr:
        first = first if first is not None else time.monotonic() - start
        lines.append(line.rstrip())
        if time.monotonic() - start > limit:
            proc.kill()
            break
    proc.wait()
    return first, time.monotonic() - start, lines


@pytest.mark.parametrize("workers", ["0", "2"])
def test_the_time_limit_holds_on_a_large_csv(csv_200k, tmp_path, workers):
    """200k rows with --time 10 showed its first progress line after 120 s and ended after minutes."""
    proc = lawagent("discover", str(csv_200k), "--features", "params,tokens", "--target", "loss", "--group", "family",
                    "--holdout", "params >= 5e9", "--time", "5", "--workers", workers, "--out", str(tmp_path))
    first, total, lines = timed(proc, limit=120)
    assert first is not None and first <= 10, lines
    assert total <= 5 + 6, (total, lines)  # the whole command, start-up included: --time plus a few seconds
    assert lines[0].startswith("loading big.csv")
    if proc.returncode != 0:  # too little time for 200k rows on a loaded machine: said so, in one line
        assert proc.returncode == 2 and "give more --time" in lines[-1], lines
    else:
        final = json.loads(next(tmp_path.glob("*/final.json")).read_text())
        assert final["stopped"] == "time_limit" and final["seconds"] <= 6


GOOD = "E + A/num_params^a\nE + B/num_params^b + C/parallel_size\n"
LLM_RUN = """
import sys
from lawagent.discovery import discover
discover("parallel_scaling_law", proposer="llm", time_limit=6, workers=0, out_dir=sys.argv[2], run_id="r",
         proposer_options=dict(model="openai/fake", api_base=sys.argv[1], client="openai"))
"""


def test_a_trickling_llm_cannot_hold_a_blocking_run_past_its_time(tmp_path):
    """--proposer llm waited for each call (timeout x attempts): a server sending a byte a second held the run."""
    with FakeLLMServer(default=Step(GOOD, trickle=1.0)) as server:
        proc = subprocess.Popen([sys.executable, "-c", LLM_RUN, server.api_base, str(tmp_path)], env=env(),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        _, total, lines = timed(proc, limit=90)
        assert server.n_requests >= 1  # calls went out, and none could finish in time
    assert total <= 6 + 6, (total, lines)
    assert "ran out before any candidate was evaluated" in lines[-1], lines  # the LLM wrote no law in time


# -- Ctrl-C ----------------------------------------------------------------------------

def test_ctrl_c_exits_130_saying_how_to_resume(tmp_path):
    """A single Ctrl-C exited 0, as if the run had ended normally."""
    proc = lawagent("discover", "--task", "parallel_scaling_law", "--time", "300", "--batch-size", "8", "--workers", "0",
                    "--out", str(tmp_path), "--run-id", "r")
    log = tmp_path / "r" / "candidates.jsonl"
    deadline = time.monotonic() + 120
    while not (log.is_file() and log.stat().st_size) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert f"interrupted, resumable: lawagent discover --resume {tmp_path / 'r'}" in err.strip().splitlines()[-1]
    assert (tmp_path / "r" / "final.json").is_file()  # the first Ctrl-C still refits and writes everything
    # --time on a resumed run is the total: 0.01 s is used up already, so it only refits, and says so
    again = lawagent("discover", "--resume", str(tmp_path / "r"), "--time", "0.01")
    _, err = again.communicate(timeout=120)
    assert again.returncode == 0, err
    assert "(a total over all sessions, not extra time), so it only refits" in err
    # no time to refit: the chosen law is reported with the parameters its search fit found, and said so
    final = json.loads((tmp_path / "r" / "final.json").read_text())
    assert any("keep the parameters of their search fit" in note for note in final["notes"])
    assert np.isfinite(final["best"]["test"]["r2"]) and final["best"]["params"]
