"""The discovery loop end to end: planted-law recovery, no test leakage, resume,
determinism, bad input, and candidates that hang or crash their worker."""

from __future__ import annotations

import json
import os
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lawagent.cli import main
from lawagent.discovery import DiscoveryResult, discover, discover_csv, resume_run
from lawagent.runfolder import RunDir
from lawagent.discovery.evaluator import CANCELLED
from lawagent.discovery.workers import JobFailure, WorkerPool
from lawagent.errors import LawagentError
from lawagent.proposers.base import Proposal
from lawagent.proposers.registry import build_proposer
from lawagent.proposers.seeds import SeedProposer
from lawagent.proposers.symbolic import SymbolicProposer
from lawagent.task import Task, load_task, task_from_csv

FAST = dict(batch_size=10, workers=0, progress=False, time_limit=120.0)


@pytest.fixture(scope="module")
def planted_csv(tmp_path_factory):
    """y = 2 + 5 / x^0.5 plus noise; the test rows are x >= 2000 (extrapolation)."""
    rng = np.random.default_rng(0)
    x = np.geomspace(1, 1e4, 40)
    y = 2 + 5 / x**0.5 + 0.001 * rng.standard_normal(len(x))
    path = tmp_path_factory.mktemp("planted") / "planted.csv"
    pd.DataFrame({"x": x, "y": y}).to_csv(path, index=False)
    return path


class Recording:
    """Wraps a proposer and keeps every context it was shown."""

    def __init__(self, inner):
        self.inner, self.name, self.contexts = inner, inner.name, []

    def propose(self, context):
        self.contexts.append(context)
        return self.inner.propose(context)


def test_planted_law_is_recovered_and_extrapolates(planted_csv, tmp_path):
    res = discover_csv(planted_csv, "x", "y", holdout="x >= 2000", parameter_budget=4, iterations=3,
                       out_dir=tmp_path, **FAST)
    assert res.best.test_r2 > 0.99
    far = np.array([1e6, 1e8])
    pred = res.predict({"x": far}).ravel()
    assert np.allclose(pred, 2 + 5 / far**0.5, atol=0.01)
    # the run folder holds everything and loads back
    final = json.loads((res.run_dir / "final.json").read_text())
    assert final["task"]["source"] == "csv" and final["task"]["csv_spec"]["holdout"] == "x >= 2000"
    assert final["best"]["formula"] == res.best.formula and len(final["history"]) == 3
    assert {"lawagent_version", "run_id", "laws", "n_evaluated", "seconds", "seed", "proposer",
            "proposer_stats"} <= set(final)
    lines = (res.run_dir / "candidates.jsonl").read_text().splitlines()
    assert len(lines) == res.n_evaluated
    loaded = DiscoveryResult.load(res.run_dir)
    assert loaded.best.formula == res.best.formula
    assert list(loaded.equations["formula"]) == list(res.equations["formula"])
    assert "val_r2" in repr(res)


def test_seed_laws_come_first(planted_csv, tmp_path):
    task = task_from_csv(planted_csv, ["x"], ["y"], holdout="x >= 2000", parameter_budget=4)
    res = discover(task, seed_laws=["c + k*x^(-p)"], iterations=1, out_dir=tmp_path, **FAST)
    rows = [json.loads(l) for l in (res.run_dir / "candidates.jsonl").read_text().splitlines()]
    assert rows[0]["origin"] == "seed" and rows[0]["val_r2"] > 0.99


def test_no_test_leakage(planted_csv, tmp_path, monkeypatch):
    task = task_from_csv(planted_csv, ["x"], ["y"], holdout="x >= 2000", parameter_budget=4)
    test_y = task.test().y.ravel()
    real_test = Task.test
    calls = []
    searching = {"on": True}

    def guarded(self):
        if searching["on"]:
            raise AssertionError("task.test() called during the search")
        calls.append(1)
        return real_test(self)

    monkeypatch.setattr(Task, "test", guarded)
    import lawagent.discovery.api as api

    real_finalize = api.finalize

    def finalize(*args, **kw):
        searching["on"] = False  # the search is over: from here on test rows may be read
        return real_finalize(*args, **kw)

    monkeypatch.setattr(api, "finalize", finalize)
    info_task = task
    proposer = Recording(SymbolicProposer(_info(info_task), seed=0))
    res = discover(task, proposer=proposer, iterations=2, out_dir=tmp_path, **FAST)
    assert calls == [1]  # exactly once, for the final report
    assert res.best.test_r2 is not None
    test_x_min = 2000
    for ctx in proposer.contexts:
        assert max(hi for _, hi in ctx.info.feature_ranges.values()) < test_x_min
        text = ctx.info.data_summary + ctx.info.sample_rows + repr(ctx.best) + repr(ctx.diverse)
        for v in test_y:
            assert f"{v:.6g}" not in text and repr(float(v)) not in text


def _info(task):
    from lawagent.selection.view import task_info

    return task_info(task, task.train())


def test_same_seed_same_run(tmp_path):
    kw = dict(iterations=2, out_dir=tmp_path, **FAST)
    a = discover("parallel_scaling_law", seed=3, run_id="a", **kw)
    b = discover("parallel_scaling_law", seed=3, run_id="b", **kw)
    pd.testing.assert_frame_equal(a.equations, b.equations)
    assert a.best.formula == b.best.formula and a.best.test_r2 == b.best.test_r2


def test_resume_after_kill_gives_the_same_result(planted_csv, tmp_path):
    task = task_from_csv(planted_csv, ["x"], ["y"], holdout="x >= 2000", parameter_budget=4)
    kw = dict(**FAST)
    full = discover(task, iterations=4, out_dir=tmp_path, run_id="full", **kw)
    # a run stopped after 2 iterations, whose last candidates line was torn mid-write
    discover(task, iterations=3, out_dir=tmp_path, run_id="killed", **kw)
    log = tmp_path / "killed" / "candidates.jsonl"
    text = log.read_text()
    log.write_text(text[: len(text) - len(text.splitlines()[-1]) // 2 - 1])
    (tmp_path / "killed" / "final.json").unlink()
    rows_before = len(RunDir(tmp_path / "killed").load_candidates())
    resumed = resume_run(tmp_path / "killed", iterations=4, workers=0, progress=False)
    pd.testing.assert_frame_equal(full.equations, resumed.equations)
    assert resumed.best.formula == full.best.formula
    assert resumed.n_evaluated == full.n_evaluated
    a = [json.loads(l)["formula"] for l in (tmp_path / "full" / "candidates.jsonl").read_text().splitlines()]
    b = [json.loads(l)["formula"] for l in log.read_text().splitlines()]
    assert a == b
    assert [h[:3] for h in resumed.history] == [h[:3] for h in full.history]
    assert rows_before < full.n_evaluated


def test_symbolic_search_builds_no_law_on_a_feature_that_never_varies(planted_csv, tmp_path):
    """A column with one value in every training row (a fixed hyperparameter) has no effect the data can show."""
    csv = tmp_path / "with_constant.csv"
    frame = pd.read_csv(planted_csv)
    frame["warmup"] = 500.0
    frame.loc[frame["x"] >= 2000, "warmup"] = 100.0  # held-out rows differ: a term in it would say anything there
    frame.to_csv(csv, index=False)
    result = discover_csv(csv, ["x", "warmup"], ["y"], holdout="x >= 2000", parameter_budget=4, iterations=6,
                          out_dir=tmp_path, run_id="r", **FAST)
    formulas = [r["formula"] for r in RunDir(tmp_path / "r").load_candidates()]
    assert len(formulas) > 30
    assert not [f for f in formulas if "warmup" in f]
    assert result.best.test_r2 > 0.99


def test_resume_refuses_when_the_rows_changed(planted_csv, tmp_path):
    """Same options, other data: the saved scores would not compare with new ones, so no resume."""
    csv = tmp_path / "data.csv"
    frame = pd.read_csv(planted_csv)
    frame.to_csv(csv, index=False)
    discover_csv(csv, ["x"], ["y"], holdout="x >= 2000", parameter_budget=4, iterations=1, out_dir=tmp_path,
                 run_id="r", **FAST)
    resume_run(tmp_path / "r", iterations=1, workers=0, progress=False)  # same rows: resumes
    frame.loc[5, "y"] += 0.5  # a training row
    frame.to_csv(csv, index=False)
    with pytest.raises(LawagentError, match="not the ones it was run with"):
        resume_run(tmp_path / "r", iterations=2, workers=0, progress=False)


def test_resume_needs_a_run_folder(tmp_path):
    with pytest.raises(LawagentError, match="not a run folder"):
        resume_run(tmp_path)


def test_existing_run_folder_is_not_overwritten(tmp_path):
    discover("parallel_scaling_law", iterations=1, out_dir=tmp_path, run_id="r", **FAST)
    with pytest.raises(LawagentError, match="already exists"):
        discover("parallel_scaling_law", iterations=1, out_dir=tmp_path, run_id="r", **FAST)


@pytest.mark.parametrize("budget", [dict(iterations=0), dict(time_limit=0), dict(max_candidates=-5),
                                    dict(iterations=None, max_candidates=None, time_limit=None)])
def test_bad_budget(budget, tmp_path):
    kw = dict(FAST, out_dir=tmp_path) | budget
    with pytest.raises(LawagentError, match="budget"):
        discover("parallel_scaling_law", **kw)


def test_bad_csv_inputs(tmp_path, planted_csv):
    nan_csv = tmp_path / "nan.csv"
    nan_csv.write_text("x,y\n1,2\n2,\n3,4\n4,5\n")
    with pytest.raises(LawagentError, match="'y' has missing"):
        discover_csv(nan_csv, "x", "y", holdout="x >= 4", iterations=1, out_dir=tmp_path, **FAST)
    with pytest.raises(LawagentError, match="selects no rows"):
        discover_csv(planted_csv, "x", "y", holdout="x >= 1e9", iterations=1, out_dir=tmp_path, **FAST)


def test_cli_bad_input_is_one_line(tmp_path, capsys):
    assert main(["discover", "--task", "parallel_scaling_law", "--iterations", "0", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "budget iterations must be a positive number" in err


def test_cli_on_a_csv(planted_csv, tmp_path, capsys):
    code = main(["discover", str(planted_csv), "--features", "x", "--target", "y", "--holdout", "x >= 2000",
                 "--budget", "4", "--iterations", "2", "--batch-size", "8", "--workers", "0", "--out", str(tmp_path),
                 "--run-id", "cli", "--quiet"])
    out = capsys.readouterr().out
    assert code == 0
    assert "held-out test R2 of the best law" in out and "run folder" in out and "complexity" in out
    assert (tmp_path / "cli" / "final.json").is_file() and (tmp_path / "cli" / "equations.csv").is_file()


def test_registry():
    info = _info(load_task("parallel_scaling_law"))
    assert build_proposer("symbolic", info).name == "symbolic"
    with pytest.raises(LawagentError, match="unknown proposer"):
        build_proposer("magic", info)
    with pytest.raises(LawagentError, match="takes only 'blocks' and 'log_y', got model"):
        build_proposer("symbolic", info, model="x")
    with pytest.raises(LawagentError, match="blocks must be one of all, generic"):
        build_proposer("symbolic", info, blocks="chinchilla")
    generic = build_proposer("symbolic", info, blocks="generic")
    everything = build_proposer("symbolic", info)
    assert not everything.log_targets and build_proposer("symbolic", info, log_y=True).log_targets
    # generic motifs are a strict subset: no literature family among the starting templates
    names = lambda p: {label.split("(")[0] for label, _ in p.templates}  # noqa: E731
    assert names(generic) < names(everything)
    assert not names(generic) & {"sum_of_powers", "saturating_ratio", "log_interaction", "power_with_log_exponent",
                                 "broken_power", "log_quadratic", "exp_mixture"}


def test_seed_proposer_gives_seeds_once():
    p = SeedProposer(["A/x^a + E", ["a*x", "b*x"]])
    first = p.propose(None)
    assert [q.formulas for q in first] == [("A/x^a + E",), ("a*x", "b*x")] and first[0].origin == "seed"
    assert p.propose(None) == []


class Uncached(SymbolicProposer):
    """The symbolic proposer without its memo of children and analyses: every child built afresh, also
    those that break the budget (the proposer skips building these)."""

    def _built(self, gene, t, choice, build, grows=0):
        return build()

    def _analysis(self, name, expr, compute):
        return compute()

    def _genome(self, record):
        self._genomes.clear()
        return super()._genome(record)


def test_the_proposers_memo_changes_no_proposal(tmp_path, monkeypatch):
    """Late in a run most children were made before; building each once must not change what is proposed,
    nor must a memo that forgets its oldest entries (bounded, for long runs)."""
    import lawagent.proposers.symbolic as symbolic

    task = load_task("parallel_scaling_law")
    recorded = Recording(SymbolicProposer(_info(task), seed=1))
    discover(task, proposer=recorded, iterations=4, out_dir=tmp_path, **FAST)

    def replay(proposer: SymbolicProposer) -> list:
        return [[(p.formulas, p.origin, p.bounds, p.initial)
                 for p in proposer.propose(replace(ctx, rng=np.random.default_rng([0, ctx.iteration])))]
                for ctx in recorded.contexts]

    cached = SymbolicProposer(_info(task), seed=1)
    a, b = replay(cached), replay(Uncached(_info(task), seed=1))
    assert a == b
    n_mutated = sum(not origin.startswith("symbolic:block") for batch in a for _, origin, _, _ in batch)
    assert n_mutated >= 10 and len(cached._children) > 5
    monkeypatch.setattr(symbolic, "MEMO_LIMIT", 5)
    bounded = SymbolicProposer(_info(task), seed=1)
    assert replay(bounded) == a
    assert max(len(bounded._children), len(bounded._analyses), len(bounded._genomes)) == 5


def test_children_over_the_budget_are_not_built_and_change_no_proposal(tmp_path):
    """A child that only adds parameters to a parent at the budget is rejected unbuilt: the same proposals
    as building it and rejecting it afterwards, the same random draws."""
    import lawagent.proposers.symbolic as symbolic

    task = load_task("sft_scaling_law")
    info = replace(_info(task), parameter_budget=3)
    recorded = Recording(SymbolicProposer(info, seed=2))
    discover(task, proposer=recorded, iterations=3, out_dir=tmp_path, **FAST)

    skipped = []

    class Counting(SymbolicProposer):
        def _built(self, gene, t, choice, build, grows=0):
            child = super()._built(gene, t, choice, build, grows)
            if child is symbolic.OVER_BUDGET:
                skipped.append(len(build().expr.free_symbols - self.feature_syms))  # built here only to check
            return child

    def replay(proposer: SymbolicProposer) -> list:
        return [[(p.formulas, p.origin, p.bounds, p.initial)
                 for p in proposer.propose(replace(ctx, rng=np.random.default_rng([0, ctx.iteration])))]
                for ctx in recorded.contexts]

    assert replay(Counting(info, seed=2)) == replay(Uncached(info, seed=2))
    assert len(skipped) >= 10 and min(skipped) > 3


# -- workers: hangs and crashes are cut off, the pool goes on ------------------

def slow_or_crash(shared, job):
    """Job function for the worker test (imported by the worker from this module)."""
    if job == "hang":
        time.sleep(60)
    if job == "crash":
        os._exit(3)
    if job == "raise":
        raise ValueError("bad job")
    return shared * job


def test_worker_pool_survives_hangs_and_crashes():
    with WorkerPool(slow_or_crash, 10, workers=2, timeout=1.0) as pool:
        out = pool.map([1, "hang", 2, "crash", 3, "raise", 4])
        assert out[0] == 10 and out[2] == 20 and out[4] == 30 and out[6] == 40
        assert isinstance(out[1], JobFailure) and out[1].message == "timeout after 1s"
        assert isinstance(out[3], JobFailure) and "worker crashed" in out[3].message
        assert isinstance(out[5], JobFailure) and "ValueError: bad job" in out[5].message
        assert pool.map([5, 6]) == [50, 60]  # replaced workers serve the next batch


def test_a_worker_whose_search_has_ended_stops_quietly():
    """The search closes its end while a worker is still on a job (its time is up): the worker's reply
    has nowhere to go, and the worker ends without a traceback on the user's terminal."""
    import threading
    from multiprocessing import Pipe

    from lawagent.discovery.workers import serve

    here, there = Pipe()
    raised: list[BaseException] = []

    def worker() -> None:
        try:
            serve(there, lambda shared, job: (time.sleep(0.3), shared * job)[1], 10)
        except BaseException as err:  # noqa: BLE001 - what the test looks for
            raised.append(err)

    thread = threading.Thread(target=worker)
    thread.start()
    assert here.recv() == ("ready",)
    here.send((0, 1))
    here.close()  # the search has ended
    thread.join(10)
    assert not thread.is_alive() and raised == []
    unsendable = Pipe()
    unsendable[0].send((0, None))
    unsendable[0].send(None)
    serve(unsendable[1], lambda shared, job: lambda: None, 0)  # a reply that cannot be pickled is reported
    assert unsendable[0].recv() == ("ready",)
    message = unsendable[0].recv()
    assert message[:2] == (0, False) and "pickle" in message[2].lower()


def mark_then_hang(folder, job):
    """Job function for the cancel test: 'hang' jobs leave a mark when they start, then sleep."""
    if job == "hang":
        Path(folder, f"started-{os.getpid()}").touch()
        time.sleep(120)
    return job


def test_a_cancelled_map_gives_up_the_jobs_in_flight_at_once(tmp_path):
    """The search's end (or Ctrl-C) used to wait for every candidate of the batch to finish."""
    started = lambda: len(list(tmp_path.glob("started-*")))  # noqa: E731
    with WorkerPool(mark_then_hang, str(tmp_path), workers=2, timeout=300.0) as pool:
        begin = time.monotonic()
        out = pool.map([1, "hang", "hang", 4], cancel=lambda: started() >= 2)
        assert time.monotonic() - begin < 60  # the hanging jobs would take 120 s
        assert out[0] == 1 and all(o == JobFailure(CANCELLED) for o in out[1:])
        assert pool.map([5, 6]) == [5, 6]  # new workers for the next map
    calls = []
    in_process = WorkerPool(mark_then_hang, str(tmp_path), workers=0, timeout=300.0)
    out = in_process.map([1, 2, 3], cancel=lambda: calls.append(1) or len(calls) > 2)  # checked before each job
    assert out == [1, 2, JobFailure(CANCELLED)]


def mark(folder, job):
    """Job function for the streaming test: leaves a mark named after the job."""
    Path(folder, f"done-{job}").touch()
    return job


def test_a_stream_is_evaluated_while_its_source_is_still_making_jobs(tmp_path):
    """The workers start on a batch's first candidate while the proposer writes the rest."""
    def source():
        yield "first"
        give_up = time.monotonic() + 60
        while not (tmp_path / "done-first").exists() and time.monotonic() < give_up:
            yield None  # still working on the next job; meanwhile the first must get evaluated
        yield "second" if (tmp_path / "done-first").exists() else "never evaluated meanwhile"

    with WorkerPool(mark, str(tmp_path), workers=2, timeout=60.0) as pool:
        taken, results = pool.stream(source())
    assert taken == results == ["first", "second"]


def test_a_streams_follow_up_jobs_are_evaluated_and_given_up_like_the_others(tmp_path):
    """Racing's full evaluation is a follow-up of a screen: started once the screen is in."""
    def then(job, result):
        return job * 10 if job < 10 and result == 10 * job else None

    for workers in (2, 0):
        with WorkerPool(slow_or_crash, 10, workers=workers, timeout=30.0) as pool:
            taken, results = pool.stream([1, None, 2, 3], then=then)
        assert sorted(zip(taken, results)) == [(1, 10), (2, 20), (3, 30), (10, 100), (20, 200), (30, 300)]
    calls = []
    in_process = WorkerPool(slow_or_crash, 10, workers=0, timeout=30.0)
    taken, results = in_process.stream([1, 2], cancel=lambda: calls.append(1) or len(calls) > 1, then=then)
    assert taken == [1, 10] and results == [10, JobFailure(CANCELLED)]  # the follow-up is given up, not dropped


def test_timeouts_are_recorded_and_do_not_stop_the_run(tmp_path):
    class One:
        name = "one"

        def propose(self, context):
            forms = ["A*num_params^a + E", "A*num_params^a*parallel_size^b + E"]
            return [Proposal((forms[context.iteration],), origin="one")]

    with pytest.raises(LawagentError, match="timeout after"):
        discover("parallel_scaling_law", proposer=One(), iterations=2, out_dir=tmp_path, run_id="t",
                 batch_size=4, workers=1, progress=False, candidate_timeout=1e-4)
    rows = RunDir(tmp_path / "t").load_candidates()
    assert [r["iteration"] for r in rows] == [0, 1]  # both iterations ran
    assert all(r["error"].startswith("timeout after") for r in rows)


def test_candidates_are_scored_on_rolling_origin_folds(planted_csv, tmp_path):
    kw = dict(holdout="x >= 2000", parameter_budget=4, iterations=1, out_dir=tmp_path, **FAST)
    two = discover_csv(planted_csv, "x", "y", run_id="two", **kw)
    rows = [json.loads(l) for l in (two.run_dir / "candidates.jsonl").read_text().splitlines()]
    ok = [r for r in rows if not r["error"]]
    assert ok and all(len(r["fold_r2"]) == 1 for r in ok)
    assert json.loads((two.run_dir / "config.json").read_text())["validation_folds"] == 2
    one = discover_csv(planted_csv, "x", "y", run_id="one", validation_folds=1, **kw)
    rows = [json.loads(l) for l in (one.run_dir / "candidates.jsonl").read_text().splitlines()]
    assert all(r["fold_r2"] == [] for r in rows)
    with pytest.raises(LawagentError, match="validation folds must be a whole number"):
        discover_csv(planted_csv, "x", "y", run_id="bad", validation_folds=0, **kw)


class FixedList:
    """Proposes the same formulas whatever the population: the finalists then depend on evaluation only."""

    name = "fixed"

    def __init__(self, batches):
        self.batches = batches

    def propose(self, context):
        return [Proposal((f,), origin="fixed") for f in self.batches[context.iteration]]


GOOD = ["E + A*num_params^a", "E + A*num_params^a + B*log(parallel_size)", "E + A*(num_params*parallel_size^b)^a",
        "E + A*num_params^a*parallel_size^b", "A*num_params^a", "E + A*log(num_params) + B*log(parallel_size)",
        "E + A/(num_params*(1 + k*log(parallel_size)))^a", "E + A*num_params^a + B*parallel_size^b",
        "E + A*num_params^a/(1 + k*parallel_size)", "E + A*log(num_params)", "E + A*(num_params*(1 + k*parallel_size))^a"]
MORE = ["E + A*num_params^(-a)*parallel_size^(-b)", "E + A*log(num_params*parallel_size)",
        "E + A*num_params^a + B/parallel_size", "E + A*(num_params + B*parallel_size)^a"]
BAD = ["E + A*parallel_size", "A*exp(-k*parallel_size)", "E + A*tanh(parallel_size - k)", "A*parallel_size^2 + E",
       "E + A*(parallel_size - k)^2", "E + A*sqrt(parallel_size)", "E + A*parallel_size^3"]


def test_racing_keeps_the_finalists_and_their_numbers(tmp_path):
    """Racing screens every candidate but the finalists, their scores and fitted values are a full fit's."""
    from lawagent.selection.dev import dev_task
    from lawagent.selection.protocol import protocol_for

    base = load_task("parallel_scaling_law")
    task = dev_task(base, protocol_for(base))  # development: no test row involved
    batches = [GOOD, MORE, BAD]
    runs = {}
    for racing in (False, True):
        runs[racing] = discover(task, proposer=FixedList(batches), iterations=3, out_dir=tmp_path,
                                run_id=f"racing-{racing}", racing=racing, **FAST)
    rows = [json.loads(l) for l in (runs[True].run_dir / "candidates.jsonl").read_text().splitlines()]
    assert any(r["stage"] == "screen" for r in rows) and any(r["stage"] == "full" for r in rows)
    off, on = runs[False], runs[True]
    assert [law.formula for law in on.laws] == [law.formula for law in off.laws]
    for a, b in zip(on.laws, off.laws):
        assert a.selection["score"] == pytest.approx(b.selection["score"], rel=1e-6)
        assert a.selection["fold_r2"] == pytest.approx(b.selection["fold_r2"], rel=1e-6)
    for g in off.best.params:
        assert on.best.params[g] == pytest.approx(off.best.params[g], rel=1e-6)


def test_without_a_time_limit_every_finalist_and_the_reference_are_refit(tmp_path):
    """A candidate or iteration budget alone (as benchmarks use) leaves the refit unlimited too."""
    res = discover("parallel_scaling_law", iterations=2, out_dir=tmp_path, **(FAST | {"time_limit": None}))
    final = json.loads((res.run_dir / "final.json").read_text())
    assert len(res.laws) > 1 and res.reference is not None
    assert not [n for n in final["notes"] if "time limit" in n or "ran out of time" in n]
    assert all(law.test is not None for law in [*res.laws, res.reference])


def test_log_y_discovery_recovers_a_product_of_powers_fitted_to_log_y(tmp_path):
    """--log-y end to end: a planted law with multiplicative noise, found as 'log(y) = ...' and scored on y."""
    rng = np.random.default_rng(1)
    x, z = np.geomspace(10, 1e5, 60), rng.uniform(1, 50, 60)
    y = 3.0 * x**-0.3 * z**0.1 * np.exp(0.01 * rng.standard_normal(60))
    csv = tmp_path / "mult.csv"
    pd.DataFrame({"x": x, "z": z, "y": y}).to_csv(csv, index=False)
    result = discover_csv(csv, ["x", "z"], ["y"], holdout="x >= 1e4", parameter_budget=4, iterations=2,
                          out_dir=tmp_path, run_id="r", proposer_options={"log_y": True}, **FAST)
    rows = RunDir(tmp_path / "r").load_candidates()
    logs = [r for r in rows if r["formula"].startswith("log(y) = ") and r["val_r2"] is not None]
    assert max(r["val_r2"] for r in logs) > 0.99
    assert json.loads((tmp_path / "r" / "config.json").read_text())["proposer_options"] == {"log_y": True}
    assert result.best.test_r2 > 0.99


def test_log_y_on_a_target_that_is_not_positive_says_so(planted_csv, tmp_path, capsys):
    csv = tmp_path / "shifted.csv"
    frame = pd.read_csv(planted_csv)
    frame["y"] -= 3.0  # y = -1 + 5/sqrt(x): negative for large x
    frame.to_csv(csv, index=False)
    assert main(["discover", str(csv), "--features", "x", "--target", "y", "--holdout", "x >= 2000", "--log-y",
                 "--iterations", "1", "--workers", "0", "--out", str(tmp_path)]) == 0
    assert "note: --log-y: the target is not positive in every training row" in capsys.readouterr().err
    formulas = [r["formula"] for run in tmp_path.glob("shifted-*") for r in RunDir(run).load_candidates()]
    assert formulas and not [f for f in formulas if f.startswith("log(y)")]


def test_resume_refuses_another_search_space(planted_csv, tmp_path):
    """--blocks and --log-y decide what is proposed: a resumed run replays its search, so they must not change."""
    discover_csv(planted_csv, ["x"], ["y"], holdout="x >= 2000", parameter_budget=4, iterations=1, out_dir=tmp_path,
                 run_id="r", **FAST)
    with pytest.raises(LawagentError, match="it was run with proposer option log_y=None, not True"):
        resume_run(tmp_path / "r", iterations=2, workers=0, progress=False, proposer_options={"log_y": True})
    resume_run(tmp_path / "r", iterations=2, workers=0, progress=False)  # the same search: resumes
