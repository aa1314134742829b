"""The discovery loop: propose, deduplicate, evaluate in workers, archive, repeat.

Leakage is impossible by construction: :func:`run_search` receives a
:class:`~lawagent.selection.view.TrainView` (training rows, the validation folds
carved from them, and the proposer's train-only TaskInfo), never the Task.
:func:`finalize` gets the Task after the search has ended: the finalists and
the chosen law are fixed by :mod:`lawagent.selection.rank` on validation
numbers first, then ``task.test()`` is called, once, to report.
"""

from __future__ import annotations

import math
import signal
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Callable, Iterable, Iterator, Sequence

import numpy as np
import pandas as pd

from lawagent.discovery.canonical import canonical_key, key_digest
from lawagent.discovery.clock import OutOfTime, RunClock, refit_fits, refit_reserve, within
from lawagent.discovery.evaluator import CANCELLED, FULL, SCREEN, SEARCH_FIT, EvalOptions, parse_proposal
from lawagent.discovery.population import Population
from lawagent.discovery.progress import Progress, status_line
from lawagent.discovery.candidate_rows import record_from_dict, record_to_dict
from lawagent.discovery.pools import Pool, make_pool
from lawagent.discovery.workers import EvalShared, default_workers, evaluate_job, evaluate_stream
from lawagent.errors import LawagentError
from lawagent.evaluate import FINAL_FIT, Evaluation, fit_split, reference_law, score_split
from lawagent.fit import native
from lawagent.fit.fitter import FitResult, GroupFit, predict
from lawagent.law.law import Law
from lawagent.proposers.blocks import FeatureKinds
from lawagent.readable.record import attach_readable
from lawagent.readable.roles import penalty
from lawagent.sanity import sanity_checks, target_is_loss
from lawagent.scoring import score
from lawagent.proposers.base import CandidateRecord, Proposal, ProposalContext, Proposer
from lawagent.proposers.seeds import SeedProposer
from lawagent.records import LawRecord, bound_pair
from lawagent.runfolder.files import BEST, STATE, RunDir
from lawagent.selection import rank
from lawagent.selection.rank import could_still_win
from lawagent.selection.view import TrainView
from lawagent.task import Task

STALL_ITERATIONS = 25  # stop when the proposer has produced nothing new for this many iterations
MAX_PROPOSER_FAILURES = 3
EQUATION_COLUMNS = ["complexity", "n_params", "val_r2", "cv_r2", "fit_r2", "formula", "origin"]


@dataclass
class Budget:
    iterations: int | None = None
    max_candidates: int | None = None
    time_limit: float | None = 180.0

    def check(self) -> None:
        for name, value in (("iterations", self.iterations), ("max_candidates", self.max_candidates),
                            ("time_limit", self.time_limit)):
            if value is not None and (not isinstance(value, (int, float)) or isinstance(value, bool)
                                      or not math.isfinite(value) or value <= 0):
                raise LawagentError(f"budget {name} must be a positive number, got {value!r}")
        if self.iterations is None and self.max_candidates is None and self.time_limit is None:
            raise LawagentError("give at least one budget: iterations, max_candidates or time_limit")


@dataclass
class RunSettings:
    seed: int = 0
    batch_size: int = 64
    workers: int | None = None
    top_k: int = 5
    candidate_timeout: float | None = None  # hard per-candidate limit in a worker (default: 4x the fit time limit, >= 20 s)
    racing: bool = True  # screen every candidate cheaply; fully evaluate only those that could still win
    fit_options: Any = None  # FitOptions for the search fits (default SEARCH_FIT)
    progress: bool = True
    started: float | None = None  # time.monotonic() when the run's clock started (loading counts); None = now
    executor: str = "local"  # where candidates are evaluated: "local" processes or "ray" actors (same results)
    address: str | None = None  # the Ray cluster (None: start a Ray instance here)


@dataclass
class LoopState:
    iterations_done: int = 0
    seconds: float = 0.0
    history: list[list[float]] = field(default_factory=list)
    stopped: str = ""
    clock: RunClock | None = None  # this session's clock (the final refit takes what the search left)
    where: dict[str, Any] = field(default_factory=dict)  # where candidates were evaluated (this session)


def default_run_id(task_name: str, seed: int) -> str:
    return f"{task_name}-{datetime.now().strftime('%Y%m%d-%H%M%S')}-s{seed}"


class _StopFlag:
    """First Ctrl-C: drop the candidates in flight, stop, refit and write everything. Second: abort."""

    def __init__(self, progress: Progress):
        self.set = False
        self.progress = progress
        self._old = None

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self._old = signal.getsignal(signal.SIGINT)
            signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.set:
            raise KeyboardInterrupt
        self.set = True
        self.progress.message("interrupted: stopping the search, then refitting the finalists "
                              "(Ctrl-C again to stop at once)")

    def __exit__(self, *exc):
        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)


def run_search(
    view: TrainView,
    proposer: Proposer,
    run_dir: RunDir,
    budget: Budget,
    settings: RunSettings,
    seed_laws: Sequence[str] = (),
    resume: bool = False,
) -> tuple[Population, LoopState, dict[int, dict[str, Any]]]:
    """The search phase: only the train-only view; returns the population."""
    progress = Progress(settings.progress)
    info = view.info
    fit_options = settings.fit_options or SEARCH_FIT
    options = EvalOptions(fit=fit_options)
    budget_p = view.parameter_budget
    timeout = settings.candidate_timeout or max(20.0, 4 * fit_options.time_limit)
    workers = settings.workers
    if settings.executor == "local":
        workers = default_workers() if workers is None else int(workers)  # make_pool checks it
    wide = FeatureKinds.from_ranges(view.features, info.feature_ranges).wide

    pop = Population()
    state = LoopState()
    extras: dict[int, dict[str, Any]] = {}  # id -> bounds/initial of the proposal
    cache: dict[str, dict[str, Any]] = {}
    started = time.monotonic() if settings.started is None else settings.started
    if resume:
        state, rows, cache = _load_resume(run_dir)
        for row in rows:
            rec = record_from_dict(row)
            pop.add(rec)
            extras[rec.id] = {"bounds": row.get("bounds") or {}, "initial": row.get("initial") or {}}
        run_dir.rewrite_candidates(rows)  # drops a torn line and unfinished iterations (redone below, from cache)
        if state.iterations_done and _replayable(proposer):
            _replay(proposer, pop.records, info, settings, seed_laws, state.iterations_done)
    seeds = SeedProposer(seed_laws) if seed_laws else None
    clock = RunClock(started, budget.time_limit, state.seconds)
    state.clock = clock

    def end_of_search() -> float | None:
        """When the search must stop to leave the final refit its share (re-judged after every batch)."""
        if clock.end is None:
            return None
        costs = [r.seconds for r in final_candidates(pop, settings.top_k) if r.stage == FULL]
        return clock.end - refit_reserve(budget.time_limit, costs)

    search_end = end_of_search()
    stall = 0
    proposer_failures = 0
    next_id = len(pop)
    shared = EvalShared(view.features, view.targets, budget_p, view.fit, view.val, options,
                        tuple((f.fit, f.val) for f in view.folds[1:]))
    job = evaluate_job if workers != 0 else _in_process(lambda: search_end)
    if native.available() and not native.cached():  # compiled once, here, not in every worker at once
        progress.message("compiling the fitter for this machine (once after installing; about 30 s)")
        native.warm()
    pool = make_pool(job, shared, workers=workers, timeout=timeout, executor=settings.executor,
                     address=settings.address)
    state.where = pool.where.to_dict()
    if settings.executor != "local":
        progress.message(f"evaluating candidates on {pool.where.describe()}")

    def show(force: bool = False) -> None:
        best = pop.best(1)
        session = time.monotonic() - started
        n_session = len(pop) - n_at_start
        progress.update(status_line(
            state.iterations_done, len(pop), n_session / session if session > 0 else 0.0,
            best[0].cv_r2 if best else None, best[0].formula if best else "", clock.left()), force)

    def search_over() -> bool:
        return search_end is not None and time.monotonic() >= search_end

    def cancel() -> bool:
        """Asked about once a second while candidates are evaluated: stop them now? (also the heartbeat)"""
        show()
        return stop.set or search_over()

    n_at_start = len(pop)
    show()
    try:
        with _StopFlag(progress) as stop:
            while True:
                it = state.iterations_done
                if budget.iterations is not None and it >= budget.iterations:
                    state.stopped = "iterations"
                    break
                if budget.max_candidates is not None and len(pop) >= budget.max_candidates:
                    state.stopped = "max_candidates"
                    break
                if search_over():
                    state.stopped = "time_limit"
                    break
                if stop.set:
                    state.stopped = "interrupted"
                    break
                if stall >= STALL_ITERATIONS:
                    state.stopped = "exhausted"
                    progress.message(f"the proposer produced no new candidate for {STALL_ITERATIONS} iterations; stopping")
                    break
                rng = np.random.default_rng([settings.seed, it])
                context = pop.context(info, settings.batch_size, it, rng, seed_laws)
                context.deadline = search_end
                batch = _Batch(proposer, context, seeds.propose(context) if seeds is not None and it == 0 else [],
                               settings.batch_size)
                room = None if budget.max_candidates is None else budget.max_candidates - len(pop)
                # racing keeps whatever could still be a finalist: the top RACE_TOP, or top_k if more
                race = (rank.race_limits(pop.best(len(pop)), top=max(rank.RACE_TOP, settings.top_k))
                        if settings.racing else None)
                # the batch is evaluated while the proposer is still writing it
                evaluated, cut = _evaluate(_dedupe(batch, pop, view, room), pool, shared, cache, next_id, it, race,
                                           cancel)
                if batch.error is None:
                    proposer_failures = 0
                else:  # a proposer bug costs the rest of its batch, not the run
                    err = batch.error
                    proposer_failures += 1
                    progress.message(f"warning: proposer {proposer.name!r} failed in iteration {it}: "
                                     f"{type(err).__name__}: {err}")
                    if proposer_failures >= MAX_PROPOSER_FAILURES:
                        traceback.print_exception(err, file=sys.stderr)
                        raise LawagentError(
                            f"proposer {proposer.name!r} failed {MAX_PROPOSER_FAILURES} times in a row; "
                            f"last error: {type(err).__name__}: {err}") from None
                next_id += len(evaluated)
                stall = stall + 1 if not evaluated else 0
                for rec, (prop, key, law) in evaluated:
                    rec.key = key
                    rec.iteration = it
                    rec.penalty = penalty(law.expressions, view.features, wide) if law is not None else 0
                    extras[rec.id] = {"bounds": dict(prop.bounds), "initial": dict(prop.initial)}
                records = [rec for rec, _ in evaluated]
                pop.extend(records)
                # a record cut off in its full evaluation stays out of the folder: the iteration then reads as
                # unfinished there, and --resume evaluates it again (the others come from the cache)
                run_dir.append_candidates(record_to_dict(r, extras[r.id]) for r in records if r.id not in cut)
                state.iterations_done = it + 1
                best = pop.best(1)
                state.seconds = clock.elapsed()
                state.history.append([it, len(pop), best[0].val_r2 if best else None, round(state.seconds, 3)])
                write_progress_files(run_dir, pop, state, proposer)
                search_end = end_of_search()
                show()
    finally:
        pool.close()
        state.seconds = clock.elapsed()
        progress.end()
    show(force=True)
    progress.end()
    return pop, state, extras


def _in_process(search_end: Callable[[], float | None]) -> Callable[[EvalShared, tuple], CandidateRecord]:
    """``evaluate_job`` for ``workers=0``: no process can be killed here, so a candidate's fits are told
    when the search ends, and stopped then (:attr:`EvalOptions.deadline`)."""

    def job(shared: EvalShared, args: tuple) -> CandidateRecord:
        end = search_end()
        if end is not None:
            shared = replace(shared, options=replace(shared.options, deadline=end))
        return evaluate_job(shared, args)

    return job


def _replayable(proposer: Proposer) -> bool:
    """Deterministic offline proposers may keep state between calls; replaying rebuilds it on resume."""
    flag = getattr(proposer, "replay_on_resume", None)
    return bool(flag) if flag is not None else getattr(proposer, "name", "") == "symbolic"


def _replay(proposer: Proposer, records: Sequence[CandidateRecord], info, settings: RunSettings,
            seed_laws: Sequence[str], iterations: int) -> None:
    """Call the proposer again with the contexts of the finished iterations (output discarded)."""
    pop = Population()
    ordered = sorted(records, key=lambda r: r.id)
    i = 0
    for it in range(iterations):
        while i < len(ordered) and ordered[i].iteration < it:
            pop.add(ordered[i])
            i += 1
        rng = np.random.default_rng([settings.seed, it])
        proposer.propose(pop.context(info, settings.batch_size, it, rng, seed_laws))


class _Batch:
    """An iteration's proposals as a stream, so that workers start on the first while the proposer writes
    the rest: the seed laws, then the proposer's, at most ``limit``; ``None`` between a proposer's attempts
    (the workers get a turn). A proposer that raises ends its batch there (``error``)."""

    def __init__(self, proposer: Proposer, context: ProposalContext, seeds: Sequence[Proposal], limit: int):
        self.proposer, self.context, self.seeds, self.limit = proposer, context, list(seeds), limit
        self.error: Exception | None = None

    def __iter__(self) -> Iterator[Proposal | None]:
        yield from self.seeds
        attempts = getattr(self.proposer, "attempts", None)
        n = 0
        try:
            for proposal in attempts(self.context) if attempts is not None else self.proposer.propose(self.context):
                if proposal is not None and n < self.limit:
                    n += 1
                    yield proposal
                else:
                    yield None
        except (LawagentError, KeyboardInterrupt):
            raise
        except Exception as err:  # noqa: BLE001 - reported by the loop
            self.error = err


def _dedupe(proposals: Iterable[Proposal | None], pop: Population, view: TrainView,
            room: int | None) -> Iterator[tuple[Proposal, str, Law | None] | None]:
    """(proposal, key, law or None) for proposals not seen before, in proposal order; ``None`` for the others
    (the stream is drawn to its end, so the proposer's state never depends on the room left)."""
    batch: set[str] = set()
    n = 0
    for prop in proposals:
        if prop is None or (room is not None and n >= room):
            yield None
            continue
        try:
            law = parse_proposal(prop, view.features, view.targets, view.parameter_budget)
        except Exception:  # noqa: BLE001 - recorded as a parse error by the evaluator
            law = None
        key = "text:" + key_digest(prop.text)
        if law is not None:
            try:
                # the same form with other starting values is the same candidate: fitting it
                # again costs a fit and (with multi-start fitting) rarely finds anything new
                key = key_digest(canonical_key(law))
            except Exception:  # noqa: BLE001 - too slow or a sympy bug: the text is the key, the law still runs
                pass
        if key in batch or pop.seen(key):
            pop.n_duplicates += 1
            yield None
            continue
        batch.add(key)
        n += 1
        yield prop, key, law


def _evaluate(items: Iterable[tuple[Proposal, str, Law | None] | None], pool: Pool, shared: EvalShared, cache,
              next_id: int, it: int, race: rank.RaceLimits | None, cancel: Callable[[], bool] | None = None):
    """(record, item) in proposal order for the new ``items`` (``None``: none yet), and the ids of records
    whose full evaluation was cut off: cached (resume), parse errors in-process, the rest in workers while
    the items are still being made.

    With racing (``race`` = :func:`lawagent.selection.rank.race_limits`), every candidate is screened
    first and only those within the limit get the full evaluation, as soon as their screen is in; the
    others keep their screen record.
    When ``cancel`` stops the evaluation (the search's time is up, or Ctrl-C), a candidate whose full
    evaluation was cut off keeps its screen record for this session (its id is in the returned set:
    the run folder does not keep it, so that a resumed run evaluates it properly), and one not even
    screened is left out, as if never proposed; the others get consecutive ids from ``next_id``. A full
    evaluation stops after fold 1 where no later fold could make the law a finalist.
    """
    new: list[tuple[Proposal, str, Law | None]] = []
    records: list[CandidateRecord | None] = []

    def first_stage() -> Iterator[tuple | None]:
        for item in items:
            if item is None:
                yield None
                continue
            i, (prop, key, law) = len(new), item
            new.append(item)
            records.append(None)
            cid = next_id + i
            if key in cache:
                rec = record_from_dict(cache.pop(key))
                rec.id, rec.iteration = cid, it
                records[i] = rec
                yield None
            elif law is None:
                records[i] = evaluate_job(shared, (prop, cid, it, FULL))
                yield None
            else:
                yield (prop, cid, it, SCREEN) if race is not None else (prop, cid, it, FULL, race)

    def full_stage(job: tuple, rec: CandidateRecord) -> tuple | None:
        """A screened candidate that could still win gets its full evaluation, started as soon as its
        screen is in (the limits were fixed before the batch: no other screen changes this verdict)."""
        prop, cid, _, stage, *_ = job
        if race is None or stage != SCREEN or rec.error == CANCELLED or not could_still_win(
                rec.val_r2 if not rec.error else -math.inf, rec.complexity, race):
            return None
        screened[cid - next_id] = rec.seconds
        return prop, cid, it, FULL, race

    screened: dict[int, float] = {}  # position -> seconds of a screen that went on to the full evaluation
    cut = set()
    jobs, recs = evaluate_stream(pool, first_stage(), cancel, then=full_stage if race is not None else None)
    for job, rec in zip(jobs, recs):
        i = job[1] - next_id
        if job[3] == SCREEN:
            records[i] = rec
        elif rec.error == CANCELLED and i in screened:
            cut.add(i)  # cut off: the screen is what it got
        else:
            rec.seconds += screened.get(i, 0.0)
            records[i] = rec
    out, cut_ids = [], set()
    for i, (rec, item) in enumerate(zip(records, new)):
        if rec is not None and rec.error != CANCELLED:
            rec.id = next_id + len(out)
            out.append((rec, item))
            if i in cut:
                cut_ids.add(rec.id)
    return out, cut_ids


def _load_resume(run_dir: RunDir):
    """State and the candidate rows of fully finished iterations; later rows become a cache."""
    saved = run_dir.read(STATE) or {}
    rows = run_dir.load_candidates()
    history = saved.get("history") or []
    done, kept_history = 0, []
    for entry in history:
        it, total = int(entry[0]), int(entry[1])
        have = sum(1 for r in rows if int(r.get("iteration", 0)) <= it)
        if have < total:
            break
        done = it + 1
        kept_history.append(entry)
    complete = [r for r in rows if int(r.get("iteration", 0)) < done]
    complete.sort(key=lambda r: int(r["id"]))
    complete = [r for i, r in enumerate(complete) if int(r["id"]) == i]  # ids must run 0..n-1
    kept = {id(r) for r in complete}
    cache = {r["key"]: r for r in rows if id(r) not in kept and r.get("key")}
    seconds = float(kept_history[-1][3]) if kept_history else 0.0
    return LoopState(iterations_done=done, seconds=seconds, history=kept_history), complete, cache


def equations_frame(pop: Population) -> pd.DataFrame:
    rows = [[r.complexity, r.n_params, r.val_r2, r.cv_r2, r.fit_r2, r.formula, r.origin] for r in pop.pareto()]
    return pd.DataFrame(rows, columns=EQUATION_COLUMNS)


def proposer_stats(proposer: Proposer, pop: Population | None = None) -> dict[str, Any]:
    stats: dict[str, Any] = {}
    fn = getattr(proposer, "stats", None)
    if callable(fn):
        try:
            stats = dict(fn() or {})
        except Exception as err:  # noqa: BLE001
            stats = {"stats_error": f"{type(err).__name__}: {err}"}
    if pop is not None:
        by_origin: dict[str, list[int]] = {}
        for r in pop.records:
            c = by_origin.setdefault(r.origin.split(":")[0] or "?", [0, 0])
            c[0] += 1
            c[1] += int(r.ok)
        stats["candidates_by_origin"] = {k: {"evaluated": v[0], "ok": v[1]} for k, v in sorted(by_origin.items())}
        stats["duplicates_skipped"] = pop.n_duplicates
        stats["racing_stages"] = pop.stages()
    return stats


def write_progress_files(run_dir: RunDir, pop: Population, state: LoopState, proposer: Proposer) -> None:
    run_dir.write(STATE, {"iterations_done": state.iterations_done, "n_candidates": len(pop),
                          "seconds": state.seconds, "history": state.history,
                          "proposer_stats": proposer_stats(proposer, pop)})
    run_dir.write_equations(equations_frame(pop))
    best = pop.best(1)
    run_dir.write(BEST, {"iteration": state.iterations_done - 1, "n_evaluated": len(pop),
                         "best": record_to_dict(best[0]) if best else None})


# -- final phase ------------------------------------------------------------------

def final_candidates(pop: Population, top_k: int, failures: dict[int, int] | None = None) -> list[CandidateRecord]:
    """The finalists of ``pop``, the chosen law first (:func:`lawagent.selection.rank.final_candidates`);
    ``failures`` (:func:`sanity_failures`) lets sanity break ties in the parsimony band.

    When no candidate finished its full evaluation (a time limit too short for the data),
    the successful screens are all there is to choose from: :func:`only_screened` says so.
    """
    ranked = pop.best(len(pop))
    if ranked:
        return rank.final_candidates(ranked, pop.pareto(), top_k, failures=failures)
    return rank.final_candidates([r for r in pop.records if r.ok], [], top_k)


MAX_SANITY = 30  # candidates of the parsimony band checked for sanity, best first


def sanity_failures(pop: Population, task: Task) -> dict[int, int]:
    """id -> sanity checks failed, for the laws of the parsimony band (simplest first, at most
    :data:`MAX_SANITY`: :func:`lawagent.selection.rank.sanity_order`), with the search's fitted
    values, on the training rows. A law whose checks cannot run is left out (unchecked)."""
    ranked = pop.best(len(pop))
    band = rank.sanity_order(ranked)[:MAX_SANITY] if ranked else []
    train = task.train()
    loss = target_is_loss(task)
    out = {}
    for r in band:
        try:
            out[r.id] = sanity_checks(_record_law(r, task), r.params, train, task.scale, loss).failures
        except LawagentError:
            continue
    return out


def _record_law(r: CandidateRecord, task: Task, extra: dict[str, Any] | None = None):
    """A candidate's law, parsed again from its record (with the bounds and starting values it was proposed with)."""
    extra = extra or {}
    proposal = Proposal(tuple(r.formula.split("; ")),
                        bounds={k: bound_pair(v) for k, v in (extra.get("bounds") or {}).items()},
                        initial=extra.get("initial") or {})
    return parse_proposal(proposal, task.features, task.targets, task.parameter_budget)


def only_screened(finalists: Sequence[CandidateRecord]) -> bool:
    return bool(finalists) and all(r.stage == SCREEN for r in finalists)


def finalize(
    task: Task,
    pop: Population,
    extras: dict[int, dict[str, Any]],
    top_k: int,
    clock: RunClock | None = None,
    with_reference: bool = True,
    progress: Progress | None = None,
) -> tuple[list[LawRecord], LawRecord | None, list[str]]:
    """Refit the finalists on all training rows and score them on the test rows (reporting only).

    The order (and so the best law) is fixed by :mod:`lawagent.selection.rank` before
    ``task.test()`` is called; each law keeps the numbers that placed it. A task without
    test rows (``Task.without_test``) gets the same laws, with no test scores. Each fit
    gets its share of the time ``clock`` has left (:meth:`RunClock.refit_seconds`).
    """
    failures = sanity_failures(pop, task)  # training rows only: the test rows are not read yet
    finalists = final_candidates(pop, top_k, failures)
    if not finalists:
        errors = [r.error for r in pop.records if r.error]
        common = max(set(errors), key=errors.count) if errors else "no candidates were evaluated"
        raise LawagentError(f"no candidate law could be fitted ({len(pop)} tried); most common error: {common}")
    train = task.train()
    test = task.test() if task.n_test else None  # the only call: the search is over
    laws: list[LawRecord] = []
    notes: list[str] = []
    if only_screened(finalists):
        notes.append("no candidate finished its full evaluation before the search ended (give more --time): "
                     "the finalists were chosen on their screen (validation fold 1, fewer fit starts, "
                     "a row subsample on big data)")
    n_fits = len(finalists) + int(with_reference and task.reference is not None)

    def options() -> Any:
        nonlocal n_fits
        n_fits -= 1
        if clock is None:
            return FINAL_FIT
        return replace(FINAL_FIT, time_limit=clock.refit_seconds(n_fits + 1, FINAL_FIT.time_limit))

    late: list[str] = []  # finalists whose refit did not fit in the time left
    top_score = max(r.score for r in finalists)
    why = {r.id: rank.explain(r, finalists[0], top_score, i, failures) for i, r in enumerate(finalists)}
    loss = target_is_loss(task)
    for place, r in enumerate(finalists):
        if laws and clock is not None and clock.expired():
            notes.append(f"the time limit ran out before {len(finalists) - place} more finalist(s) could be refit "
                         "and scored; they are not reported")
            break
        extra = extras.get(r.id, {})
        fit_options = options()
        try:
            law = _record_law(r, task, extra)
            if clock is not None and not refit_fits(r.seconds if r.stage == FULL else None, fit_options.time_limit,
                                                    clock.left()):
                raise OutOfTime("not started: it would not finish in time")
            ev = _final_evaluation(task, law, train, test, fit_options, bounded=clock is not None)
        except OutOfTime:
            late.append(r.formula)
            ev = _search_fit_evaluation(task, law, r.params, train, test)
        except LawagentError as err:
            notes.append(f"final refit of {r.formula!r} failed: {err}")
            continue
        rec = LawRecord.from_evaluation(ev, task, val_r2=r.val_r2, origin=r.origin,
                                        selection=why[r.id].as_dict())
        _readable(rec, train, notes)
        rec.sanity = sanity_checks(law, rec.params, train, task.scale, loss).to_dict()
        laws.append(rec)
    if late:
        notes.append(f"the final refit of {len(late)} of {len(finalists)} finalist(s) did not fit in the time "
                     f"limit; they keep the parameters of their search fit: {'; '.join(late)}")
    reference = None
    if with_reference and task.reference is not None:
        try:
            if clock is not None and clock.expired():
                raise OutOfTime("not started: no time left")
            ev = _final_evaluation(task, reference_law(task), train, test, options(), bounded=clock is not None)
            reference = LawRecord.from_evaluation(ev, task, origin="reference")
            _readable(reference, train, notes)
            reference.sanity = sanity_checks(ev.law, reference.params, train, task.scale, loss).to_dict()
        except OutOfTime:
            notes.append("reference law: its refit ran out of time (not reported)")
        except LawagentError as err:
            notes.append(f"reference law: {err}")
    return laws, reference, notes


def _readable(record: LawRecord, train, notes: list[str]) -> None:
    """Store the record's readable form (computed and checked on the training rows)."""
    try:
        attach_readable(record, train)
    except LawagentError as err:
        notes.append(f"readable form of {record.formula!r}: {err}")


def _final_evaluation(task: Task, law, train, test, options, bounded: bool = False) -> Evaluation:
    """Fit on all training rows, score on train and test; ``bounded``: OutOfTime past the fit's time limit."""
    start = time.perf_counter()
    if bounded:
        result = within(options.time_limit, "the final refit", lambda: fit_split(law, train, options))
    else:
        result = fit_split(law, train, options)
    return Evaluation(task.name, law, result, None if test is None else score_split(result, test),
                      score_split(result, train), time.perf_counter() - start)


def _search_fit_evaluation(task: Task, law, params: dict[str, dict[str, float]], train, test) -> Evaluation:
    """A finalist scored with the parameters its search fit found (when its refit ran out of time)."""
    start = time.perf_counter()
    pred = predict(law, params, train.X, train.groups)
    groups = {}
    codes, names = pd.factorize(train.groups)
    for i, g in enumerate(names):
        rows = codes == i
        sse = float(np.sum((pred[rows] - train.y[rows]) ** 2)) if g in params else math.nan
        groups[g] = GroupFit(g, dict(params.get(g, {})), {}, sse, int(rows.sum()), False, 0,
                             "search fit: the final refit ran out of time")
    result = FitResult(law, groups)
    train_scores = score(train.y, pred, train.groups) if result.ok else score_split(result, train)
    return Evaluation(task.name, law, result, None if test is None else score_split(result, test),
                      train_scores, time.perf_counter() - start)
