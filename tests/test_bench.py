"""`lawagent bench` and `lawagent evaluate --law-file`: real discovery runs on real tasks."""

from __future__ import annotations

import csv
import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from lawagent.export.law_file import load_law_file
from lawagent.bench.leaderboard import build_leaderboard, compare, compare_markdown
from lawagent.bench.published import PUBLISHED, SOURCES
from lawagent.bench.layout import cell_dir
from lawagent.bench.runner import BenchConfig, run_bench
from lawagent.cli import main
from lawagent.errors import LawagentError
from lawagent.evaluate import parse_law
from lawagent.machine import numeric_machine
from lawagent.task import list_tasks, load_task

DATA = Path(__file__).parent / "data"
TASKS = ["parallel_scaling_law", "moe_scaling_law"]


# -- law files ----------------------------------------------------------------------------------


def _r2(capsys, argv) -> float:
    assert main(argv + ["--json"]) == 0
    return json.loads(capsys.readouterr().out)["test"]["r2"]


PARSCALE = "(A/(num_params*(k*log(parallel_size) + 1)))^alpha + E"


def test_law_file_text_scores_like_the_formula(capsys):
    direct = _r2(capsys, ["evaluate", "parallel_scaling_law", PARSCALE])
    assert _r2(capsys, ["evaluate", "parallel_scaling_law", "--law-file", str(DATA / "law_parallel.txt")]) == direct


def test_law_file_json_carries_bounds(capsys):
    formulas, bounds = load_law_file(DATA / "law_parallel.json")
    assert formulas == [PARSCALE]
    assert bounds == {"alpha": (0.0, 2.0), "k": (0.0, float("inf"))}
    bounded = _r2(capsys, ["evaluate", "parallel_scaling_law", PARSCALE, "--bound", "alpha=0:2", "--bound", "k=0:"])
    assert _r2(capsys, ["evaluate", "parallel_scaling_law", "--law-file", str(DATA / "law_parallel.json")]) == bounded


def test_law_file_one_formula_per_target():
    task = load_task("domain_mixture_scaling_law")
    formulas, _ = load_law_file(DATA / "law_domain_mixture.txt")
    law = parse_law(task, formulas)
    assert len(law.expressions) == 5 and law.n_parameters == 15
    one_line = DATA / "law_domain_mixture_one_line.txt"
    assert load_law_file(one_line)[0] == formulas


def test_law_file_mistakes_are_one_clear_message(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text('{"formula": ')
    assert main(["evaluate", "parallel_scaling_law", "--law-file", str(bad)]) == 2
    assert "bad.json" in capsys.readouterr().err
    assert main(["evaluate", "parallel_scaling_law", "--law-file", str(tmp_path / "missing.txt")]) == 2
    assert "not found" in capsys.readouterr().err
    wrong = tmp_path / "two.txt"
    wrong.write_text("a*num_params^b + c\nd*parallel_size + e\n")
    assert main(["evaluate", "parallel_scaling_law", "--law-file", str(wrong)]) == 2
    err = capsys.readouterr().err
    assert "two.txt" in err and "formula" in err and err.count("\n") == 1
    empty = tmp_path / "empty.txt"
    empty.write_text("# nothing\n\n")
    with pytest.raises(LawagentError, match="no formula"):
        load_law_file(empty)


# -- published numbers --------------------------------------------------------------------------


def test_published_numbers_cover_every_task_with_a_source():
    # SLDBench's 8 tasks have published numbers; the 5 "more" tasks (not in SLDBench) have none
    sldbench = {n for n in list_tasks() if load_task(n).source.get("paper", "").startswith("Lin, H.")}
    assert len(sldbench) == 8 and set(PUBLISHED) == sldbench
    assert "2507.21184" in SOURCES["paper"] and SOURCES["leaderboard"].startswith("SLDBench")
    assert PUBLISHED["sft_scaling_law"].reference_r2 == load_task("sft_scaling_law").reference.published_r2


# -- the benchmark ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    """2 small tasks x 2 seeds, offline proposer, in-process, candidate-limited (deterministic)."""
    out = tmp_path_factory.mktemp("bench")
    # no time budget: the search stops after 16 candidates (2 iterations of 8), and the final refit
    # gets FINAL_FIT's own 60 s limit (as `evaluate`)
    config = BenchConfig(proposer="symbolic", tasks=TASKS, seeds=[0, 1], time_per_cell=None, max_candidates=16,
                         batch_size=8, jobs=1, workers=0, id="tiny", out=str(out))
    summary = run_bench(config)
    return config, summary


def test_bench_writes_a_leaderboard(bench):
    config, summary = bench
    assert summary["ran"] == 4 and not summary["failures"]
    d = config.bench_dir
    for name in ("leaderboard.md", "leaderboard.csv", "leaderboard.png", "cells.csv", "bench.json", "reference.json"):
        assert (d / name).is_file(), name
    assert (d / "leaderboard.png").read_bytes()[:4] == b"\x89PNG"
    rows = list(csv.DictReader(open(d / "leaderboard.csv")))
    assert [r["task"] for r in rows] == TASKS + ["mean over tasks", "mean, R² clipped to [−1, 1]"]
    finals = {t: [json.loads((cell_dir(d, t, s) / "final.json").read_text())["best"] for s in (0, 1)] for t in TASKS}
    for r in rows[:2]:
        bests = finals[r["task"]]
        r2s = [b["test"]["r2"] for b in bests]
        assert float(r["r2_mean"]) == pytest.approx(np.mean(r2s), abs=1e-12)
        # the selected seed is the one with the better *selection* score, never the better test R²
        scores = [b["selection"]["score"] for b in bests]
        chosen = int(np.argmax(scores))
        assert int(r["selected_seed"]) == chosen
        assert float(r["r2_selected"]) == pytest.approx(r2s[chosen], abs=1e-12)
        assert float(r["r2_oracle_picked_on_test"]) == pytest.approx(max(r2s), abs=1e-12)
        assert r["published_sldagent_r2"] and r["reference_r2_ours"]
    assert float(rows[2]["r2_mean"]) == pytest.approx(np.mean([float(r["r2_mean"]) for r in rows[:2]]))
    md = (d / "leaderboard.md").read_text()
    assert "mean over tasks" in md and "arXiv:2507.21184" in md and "largest difference 0.00e+00" in md
    assert "candidates budget" in md and "release measurement" in md
    main_table, oracle = md.split("## Oracle (picked on test")
    assert "SLDAgent best of 5" not in main_table and "SLDAgent best of 5" in oracle


def test_bench_numbers_agree_with_lawagent_evaluate(bench, capsys):
    config, _ = bench
    for task in TASKS:
        final = cell_dir(config.bench_dir, task, 0) / "final.json"
        best = json.loads(final.read_text())["best"]
        # the saved law file (formula + bounds) refit by `lawagent evaluate` with the same FINAL_FIT options
        again = _r2(capsys, ["evaluate", task, "--law-file", str(final)])
        assert again == pytest.approx(best["test"]["r2"], abs=1e-6)
    lb = build_leaderboard(config.bench_dir)
    assert lb.max_recompute_diff < 1e-12  # stored params re-predicted and re-scored
    # the reference column is `lawagent evaluate TASK --reference`
    ref = _r2(capsys, ["evaluate", "parallel_scaling_law", "--reference"])
    assert lb.rows[0].reference_r2 == pytest.approx(ref, abs=1e-12)


def test_same_cell_twice_gives_the_same_number(bench, tmp_path):
    config, _ = bench
    again = replace(config, tasks=[TASKS[0]], seeds=[1], out=str(tmp_path))
    run_bench(again)
    a = json.loads((cell_dir(config.bench_dir, TASKS[0], 1) / "bench_cell.json").read_text())
    b = json.loads((cell_dir(again.bench_dir, TASKS[0], 1) / "bench_cell.json").read_text())
    assert (a["formula"], a["test"]["r2"], a["n_evaluated"]) == (b["formula"], b["test"]["r2"], b["n_evaluated"])
    cells = [(d / "cells" / f"{TASKS[0]}-s1" / "candidates.jsonl").read_text().splitlines()
             for d in (config.bench_dir, again.bench_dir)]
    strip = lambda line: {k: v for k, v in json.loads(line).items() if k != "seconds"}  # noqa: E731
    assert [strip(x) for x in cells[0]] == [strip(x) for x in cells[1]]  # every candidate reproduced
    rows, _, _ = compare(config.bench_dir, again.bench_dir)
    assert rows[0]["task"] == TASKS[0] and "delta_mean" in rows[0]


def test_bench_resumes_and_refuses_other_options(bench):
    config, _ = bench
    assert run_bench(replace(config))["ran"] == 0  # every cell finished: nothing rerun
    # an interrupted cell (run folder without final.json) is resumed, not restarted
    cell = cell_dir(config.bench_dir, TASKS[1], 1)
    before = json.loads((cell / "final.json").read_text())["best"]["formula"]
    (cell / "final.json").unlink()
    (cell / "bench_cell.json").unlink()
    summary = run_bench(replace(config))
    assert summary["ran"] == 1 and not summary["failures"]
    redone = json.loads((cell / "bench_cell.json").read_text())
    assert redone["resumed"] is True and redone["formula"] == before
    with pytest.raises(LawagentError, match="another --id"):
        run_bench(replace(config, max_candidates=24))


def test_bench_cli_compare_and_errors(bench, capsys, tmp_path):
    config, _ = bench
    out = str(Path(config.out))
    assert main(["bench", "compare", "tiny", "tiny", "--out", out, "--save", str(tmp_path)]) == 0
    text = capsys.readouterr().out
    assert "Δ mean (B − A)" in text and "+0.0000" in text and "Δ selected" in text
    assert "| Δ / s.e. |" in text and "R² clipped to [−1, 1]* |" in text
    header = next(line for line in (tmp_path / "compare.csv").read_text().splitlines())
    assert "delta_se" in header and "a_clipped" in header
    assert (tmp_path / "compare.png").is_file() and (tmp_path / "compare.csv").is_file()
    assert main(["bench", "leaderboard", "tiny", "--out", out]) == 0
    assert "# Leaderboard (test rows: a release measurement): bench-tiny" in capsys.readouterr().out
    assert main(["bench", "--tasks", "no_such_task", "--out", out]) == 2
    assert "unknown task" in capsys.readouterr().err
    assert main(["bench", "compare", "tiny", "nope", "--out", out]) == 2
    assert "no benchmark 'nope'" in capsys.readouterr().err
    # a bad budget is refused before any folder is made, not once per cell
    for flag, value in (("--max-candidates", "0"), ("--iterations", "-5"), ("--time", "inf")):
        assert main(["bench", "--tasks", "sft_scaling_law", flag, value, "--out", str(tmp_path / "b")]) == 2
        assert flag in capsys.readouterr().err
    assert not (tmp_path / "b").exists()


def test_llm_bench_reports_tokens_and_the_share_of_laws_that_parsed(tmp_path):
    from fake_llm_server import FakeLLMServer, Step

    reply = "E + A/num_params^alpha\nE + A/tokens^alpha\n"  # the second uses no feature: rejected
    with FakeLLMServer(default=Step(reply)) as server:
        config = BenchConfig(proposer="llm", tasks=["parallel_scaling_law"], seeds=[0], time_per_cell=None,
                             iterations=1, batch_size=4, jobs=1, id="llm", out=str(tmp_path),
                             proposer_options=dict(model="openai/fake", api_base=server.api_base, client="openai",
                                                   timeout=5.0))
        summary = run_bench(config)
    assert not summary["failures"] and server.n_requests >= 1
    lb = build_leaderboard(config.bench_dir)
    assert lb.llm and lb.rows[0].tokens[0] > 0
    assert lb.rows[0].llm_laws[0] >= 2 and lb.rows[0].llm_parsed_fraction == 0.5  # one law of two per answer
    md = (config.bench_dir / "leaderboard.md").read_text()
    assert "| tokens | cost $ | LLM laws parsed |" in md and "llm (openai/fake)" in md and "| 0.50 |" in md
    import csv

    cell = next(csv.DictReader((config.bench_dir / "cells.csv").open()))
    assert 2 * int(cell["llm_laws_parsed"]) == int(cell["llm_laws"]) >= 2


@pytest.fixture()
def no_test_rows(monkeypatch):
    """Task.test fails on a task that is not a development split; yields the real Task.test."""
    from lawagent.task import Task

    real_test = Task.test

    def dev_only(self):
        if not self.dev:
            raise AssertionError("a --dev benchmark read a test row")
        return real_test(self)

    monkeypatch.setattr(Task, "test", dev_only)
    return real_test


def test_dev_bench_reads_no_test_row(tmp_path, monkeypatch, no_test_rows):
    """--dev: every cell, the reference and the recompute check run on the development split."""
    from lawagent.task import Task

    config = BenchConfig(proposer="symbolic", tasks=["parallel_scaling_law"], seeds=[0], time_per_cell=None,
                         max_candidates=8, batch_size=8, jobs=1, workers=0, dev=True, out=str(tmp_path),
                         proposer_options={"blocks": "generic"})
    summary = run_bench(config)
    assert not summary["failures"] and config.id == "dev-symbolic-generic-8c"
    md = (config.bench_dir / "leaderboard.md").read_text()
    assert md.startswith("# Leaderboard (dev split: no test row was read)") and "generic blocks only" in md
    assert "SLDBench ref. (pub.)" not in md  # published test-row numbers are not comparable here
    final = json.loads((cell_dir(config.bench_dir, "parallel_scaling_law", 0) / "final.json").read_text())
    assert final["task"]["dev"] is True and final["best"]["test"]["n_rows"] == 12  # validation fold 1 of 36 rows
    # a dev benchmark and a test-row one score different rows: no side by side
    monkeypatch.setattr(Task, "test", no_test_rows)  # the real one
    tiny = replace(config, dev=False, id="t", proposer_options={})
    run_bench(tiny)
    with pytest.raises(LawagentError, match="cannot compare"):
        compare(config.bench_dir, tiny.bench_dir)


def test_far_dev_bench_scores_the_same_pseudo_test_rows_from_less_data(tmp_path, no_test_rows):
    """--dev far: no test row read; the cell fits on fold 2's fit rows, scores fold 1's validation rows; it
    compares with the near split (same rows), and a rerun must ask for the same split."""
    near = BenchConfig(proposer="symbolic", tasks=["parallel_scaling_law"], seeds=[0], time_per_cell=None,
                       max_candidates=8, batch_size=8, jobs=1, workers=0, dev=True, out=str(tmp_path))
    far = replace(near, dev="far")
    assert not run_bench(far)["failures"] and far.id == "dev-far-symbolic-8c"
    assert json.loads((far.bench_dir / "bench.json").read_text())["dev"] == "far"
    md = (far.bench_dir / "leaderboard.md").read_text()
    assert md.startswith("# Leaderboard (far dev split: no test row was read)") and "two scale steps" in md
    final = json.loads((cell_dir(far.bench_dir, "parallel_scaling_law", 0) / "final.json").read_text())
    # parallel: 36 training rows; fold 1 holds out 12 (the pseudo-test), fold 2 another 12: 12 left to fit on
    assert final["task"]["dev"] == "far" and final["best"]["test"]["n_rows"] == 12
    assert json.loads((cell_dir(far.bench_dir, "parallel_scaling_law", 0) / "config.json").read_text()
                      )["task"]["dev"] == "far"
    run_bench(near)
    rows, la, lb = compare(near.bench_dir, far.bench_dir)
    assert rows[0]["task"] == "parallel_scaling_law" and math.isfinite(rows[0]["b_mean"])
    # each cell records its machine; a comparison across CPUs says that cells can differ by that alone
    here = numeric_machine()
    assert la.machines == lb.machines == [here] and f"ran on {here['cpu']}" in md
    assert "Note:" not in compare_markdown(rows, la, lb)
    summary_file = cell_dir(near.bench_dir, "parallel_scaling_law", 0) / "bench_cell.json"
    summary = json.loads(summary_file.read_text())
    summary_file.write_text(json.dumps(summary | {"machine": {**here, "simd": "AVX2"}}))
    rows, la, lb = compare(near.bench_dir, far.bench_dir)
    assert "Note: A ran on" in compare_markdown(rows, la, lb) and "another CPU" in compare_markdown(rows, la, lb)
    with pytest.raises(LawagentError, match="was started with dev='far'"):
        run_bench(replace(far, dev=True))


def test_a_killed_cell_process_does_not_fail_the_other_cells(tmp_path):
    """The OS kills one cell's process mid-run: its pool breaks, yet every cell finishes (the killed one resumed)."""
    import multiprocessing
    import os
    import signal
    import threading
    import time

    from lawagent.bench.executors import LocalCells
    from lawagent.bench.runner import _cell_spec

    config = BenchConfig(proposer="symbolic", tasks=TASKS, seeds=[0], time_per_cell=None, max_candidates=64,
                         batch_size=8, jobs=2, workers=0, id="killed", out=str(tmp_path))
    bench_dir = tmp_path / "bench-killed"
    first = cell_dir(bench_dir, TASKS[0], 0) / "candidates.jsonl"
    killed: list[int] = []

    def kill_once_a_cell_has_started() -> None:
        end = time.monotonic() + 120
        while time.monotonic() < end and not first.is_file():
            time.sleep(0.02)
        children = multiprocessing.active_children()
        if first.is_file() and children:
            os.kill(children[0].pid, signal.SIGKILL)
            killed.append(children[0].pid)

    summaries = []
    killer = threading.Thread(target=kill_once_a_cell_has_started, daemon=True)
    killer.start()
    LocalCells(jobs=2).run(str(bench_dir), [(t, 0) for t in TASKS], _cell_spec(config), summaries.append)
    killer.join()
    assert killed, "no cell process was running to kill"
    assert sorted(s["task"] for s in summaries) == sorted(TASKS)  # each cell reported once
    assert [s["status"] for s in summaries] == ["done", "done"], summaries


def test_compare_weighs_a_difference_by_the_seeds_spread():
    from lawagent.bench.leaderboard import TaskRow, _delta_se, clipped_mean

    def row(r2):
        return TaskRow("t", len(r2), 0, r2, [], [], [], [], [], [])

    a, b = row([0.8, 0.9, 1.0, -3.0]), row([0.9, 0.9])
    assert clipped_mean(a) == pytest.approx((0.8 + 0.9 + 1.0 - 1.0) / 4)  # -3 counts as -1
    assert _delta_se(a, b) == pytest.approx(math.sqrt(a.r2_std**2 / 4 + 0.0))
    assert math.isnan(_delta_se(a, row([0.5])))  # one seed has no spread
