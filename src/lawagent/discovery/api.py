"""``lawagent.discover``: the Python entry point of the discovery loop (PySR-style result)."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from lawagent.discovery.progress import Progress
from lawagent.discovery.runner import (EQUATION_COLUMNS, Budget, RunSettings, default_run_id, equations_frame,
                                       final_candidates, finalize, proposer_stats, run_search)
from lawagent.errors import Interrupted, LawagentError
from lawagent.executor import Where
from lawagent.executor import require as require_executor
from lawagent.proposers.base import Proposer
from lawagent.proposers.registry import PROPOSERS
from lawagent.records import LawRecord
from lawagent.runfolder import CONFIG, EQUATIONS, FINAL, STATE, RunDir, task_from_spec, task_spec
from lawagent.selection.protocol import DEFAULT_FOLDS, protocol_for
from lawagent.selection.view import TrainView
from lawagent.task import NO_GROUP, Task, load_task, task_from_csv

_SECRET_WORDS = ("key", "secret", "password", "authorization")


@dataclass
class DiscoveryResult:
    """What a run found. ``equations`` is the Pareto front (complexity vs selection score)."""

    task_name: str
    run_dir: Path
    equations: pd.DataFrame
    best: LawRecord
    laws: list[LawRecord]  # the finalists refit on all training rows: the chosen law, then by selection score
    n_evaluated: int
    seconds: float
    proposer_stats: dict[str, Any] = field(default_factory=dict)
    reference: LawRecord | None = None  # the task's human-derived law, refit the same way (bundled tasks)
    history: list[list[Any]] = field(default_factory=list)
    stopped: str = ""
    seed: int = 0
    protocol: str = ""  # how validation rows were carved (lawagent.selection.protocol)
    per_core_second: float = math.nan  # candidates per second of the run until the search ended, per core used
    where: str = ""  # where candidates were evaluated, e.g. "Ray: 3 nodes, 96 CPUs (cluster at auto)"

    def predict(self, X: Mapping[str, Any] | pd.DataFrame, groups: Sequence[str] | np.ndarray | None = None) -> np.ndarray:
        """Predictions (n, n_targets) of the best law, with its per-group parameters."""
        data = {f: np.asarray(X[f], dtype=float) for f in self.best.features}
        n = len(next(iter(data.values())))
        if groups is None:
            col = self.best.group_column
            if col is not None and isinstance(X, pd.DataFrame) and col in X.columns:
                groups = X[col].astype(str).to_numpy(dtype=object)
            elif col is None:
                groups = np.full(n, NO_GROUP, dtype=object)
            else:
                raise LawagentError(f"pass groups= (values of {col!r}): the law has parameters per group")
        groups = np.asarray(groups, dtype=object).astype(str).astype(object)
        unknown = sorted(set(groups.tolist()) - set(self.best.params))
        if unknown:
            raise LawagentError(f"no fitted parameters for group(s) {unknown[:5]}; known: {list(self.best.params)[:5]}")
        return self.best.predict(data, groups)

    @classmethod
    def load(cls, run_dir: str | Path) -> "DiscoveryResult":
        """Read a finished run folder (its final.json and equations.csv)."""
        rd = RunDir(run_dir)
        final = rd.read(FINAL)
        if final is None:
            raise LawagentError(f"{rd.path} has no {FINAL}: the run has not finished (resume it with --resume)")
        eq_path = rd.path / EQUATIONS
        equations = pd.read_csv(eq_path) if eq_path.is_file() else pd.DataFrame(final.get("equations") or [],
                                                                                 columns=EQUATION_COLUMNS)
        ref = final.get("reference")
        return cls(
            task_name=final["task"]["name"], run_dir=rd.path, equations=equations,
            best=LawRecord.from_dict(final["best"]), laws=[LawRecord.from_dict(d) for d in final["laws"]],
            n_evaluated=int(final["n_evaluated"]), seconds=float(final["seconds"]),
            proposer_stats=final.get("proposer_stats") or {}, reference=LawRecord.from_dict(ref) if ref else None,
            history=final.get("history") or [], stopped=final.get("stopped", ""), seed=int(final.get("seed", 0)),
            protocol=(final.get("protocol") or {}).get("rule", ""),
            per_core_second=float((final.get("throughput") or {}).get("per_core_second") or math.nan),
            where=Where(**final["where"]).describe() if final.get("where") else "",
        )

    def export(self, fmt: str, which: str | int | None = None) -> str:
        """The run's laws as sympy | latex | python | json | csv | sldbench text."""
        from lawagent.export import export_run, load_run

        return export_run(load_run(self.run_dir), fmt, which)

    def report(self, out_dir: str | Path | None = None, **options):
        """Write the HTML report (figures included) for this run; see lawagent.report.ReportOptions."""
        from lawagent.report import ReportOptions, make_report

        return make_report(self.run_dir, out_dir, ReportOptions(**options))

    def __repr__(self) -> str:
        with pd.option_context("display.max_colwidth", 80, "display.width", 160):
            table = self.equations.to_string(index=False)
        test = self.best.test_r2
        return (f"DiscoveryResult(task={self.task_name!r}, n_evaluated={self.n_evaluated}, seconds={self.seconds:.1f},\n"
                f"  best={self.best.formula!r} (val R2 {_f(self.best.val_r2)}, test R2 {_f(test)}),\n"
                f"  run_dir={str(self.run_dir)!r})\n{table}")


def _f(v) -> str:
    return "-" if v is None else f"{v:.4f}"


def discover(
    task: Task | str | Path,
    *,
    proposer: str | Proposer = "symbolic",
    iterations: int | None = None,
    max_candidates: int | None = None,
    time_limit: float | None = 180.0,
    batch_size: int = 64,
    seed: int = 0,
    workers: int | None = None,
    out_dir: str | Path = "results",
    run_id: str | None = None,
    resume: bool = False,
    seed_laws: Sequence[str] = (),
    validation: str | None = None,
    validation_fraction: float | None = None,
    validation_folds: int = DEFAULT_FOLDS,
    progress: bool = True,
    top_k: int = 5,
    proposer_options: Mapping[str, Any] | None = None,
    candidate_timeout: float | None = None,
    fit_options: Any = None,
    csv_spec: Mapping[str, Any] | None = None,
    racing: bool = True,
    started: float | None = None,
    executor: str = "local",
    address: str | None = None,
) -> DiscoveryResult:
    """Search for laws of ``task`` (a Task, a bundled task name, or a task folder).

    Budgets (stop at whichever comes first): ``iterations``, ``max_candidates``,
    ``time_limit`` seconds for the whole run: loading, search and the final refit
    (the search stops early enough to leave the refit its share; a resumed run's
    earlier sessions count). ``started`` is the ``time.monotonic()`` at which
    the run's clock started (default: now; :func:`discover_csv` starts it before
    loading). Candidates are scored on validation folds carved from the training
    rows by the protocol (:mod:`lawagent.selection.protocol`: ``validation`` is
    an explicit rule, else the task's own, else one derived from the holdout rule,
    else the largest ``validation_fraction`` by scale); search sees only the
    train-only view, and the test rows are touched once, at the end, for the
    report. ``resume=True`` (with the same ``run_id``) continues an interrupted
    run without redoing finished work. ``executor="ray"`` evaluates candidates on
    Ray actors (``address``: None starts a Ray instance here, ``"auto"`` joins
    the running cluster); the loop stays here, and the run is the same as with
    local workers for the same seed and budget in iterations or candidates.

    One process writes a run folder at a time (a lock; a second one gets an error
    naming the first one's PID). A run that fails before any candidate was
    evaluated removes what it created. A first Ctrl-C stops the search and still
    refits and writes everything (``result.stopped == "interrupted"``); a second
    one raises :class:`~lawagent.errors.Interrupted`, and the run can be resumed.
    """
    started = time.monotonic() if started is None else started
    require_executor(executor, address)  # a missing extra is one clear line, before a run folder is made
    budget = Budget(iterations, max_candidates, time_limit)
    budget.check()
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise LawagentError(f"batch_size must be a positive integer, got {batch_size!r}")
    if not isinstance(top_k, int) or top_k < 1:
        raise LawagentError(f"top_k must be a positive integer, got {top_k!r}")
    if isinstance(task, (str, Path)):
        if str(task).lower().endswith(".csv"):
            raise LawagentError(f"{task} is a CSV file: use discover_csv(path, features, targets, holdout=...)")
        task = load_task(task)
    if not isinstance(task, Task):
        raise LawagentError(f"task must be a Task, a bundled task name or a task folder, got {type(task).__name__}")
    seed_laws = [s for s in (seed_laws or ())]
    if isinstance(seed_laws, str):
        seed_laws = [seed_laws]
    protocol = protocol_for(task, fraction=validation_fraction, n_folds=validation_folds, validation=validation)
    run_id = run_id or default_run_id(task.name, seed)
    run_dir = RunDir(Path(out_dir) / run_id)
    proposer_name = proposer if isinstance(proposer, str) else getattr(proposer, "name", type(proposer).__name__)
    config = {
        "lawagent_version": _version(), "run_id": run_id, "task": task_spec(task, dict(csv_spec) if csv_spec else None),
        "proposer": proposer_name, "proposer_options": _public_options(proposer_options),
        "budget": {"iterations": iterations, "max_candidates": max_candidates, "time_limit": time_limit},
        "seed": seed, "batch_size": batch_size, "validation": validation, "validation_fraction": validation_fraction,
        "validation_folds": validation_folds, "protocol": protocol.describe(), "top_k": top_k, "racing": racing,
        "seed_laws": list(seed_laws), "workers": workers,
    }
    if resume and not run_dir.exists():
        raise LawagentError(f"cannot resume: {run_dir.path} has no {CONFIG} (not a run folder)")
    view = TrainView.of(task, protocol)  # before the folder is touched: a task that cannot be split leaves nothing
    config["validation_rows"] = view.fingerprint()
    settings = RunSettings(seed=seed, batch_size=batch_size, workers=workers, top_k=top_k,
                           candidate_timeout=candidate_timeout, fit_options=fit_options, progress=progress,
                           racing=racing, started=started, executor=executor, address=address)
    lock = run_dir.lock()
    try:
        if resume:
            config = _resumable(run_dir, config, task)
        elif run_dir.exists():
            raise LawagentError(f"run folder {run_dir.path} already exists; resume it (--resume) or choose another run id")
        return _run(task, view, proposer, proposer_options, run_dir, config, budget, settings, seed_laws, resume)
    except BaseException as err:
        fresh = not resume and not run_dir.has_candidates()
        if fresh:
            lock.remove_created()  # nothing was evaluated: leave no half-made run folder behind
        if isinstance(err, KeyboardInterrupt) and not isinstance(err, Interrupted):
            raise Interrupted("interrupted before any candidate was evaluated; nothing to resume" if fresh else
                              f"interrupted, resumable: lawagent discover --resume {run_dir.path}") from None
        raise
    finally:
        lock.release()


# proposer options that change what is proposed (the others, like an LLM's cost limit, may change on resume)
SEARCH_OPTIONS = ("blocks", "log_y", "evaluations")


def _resumable(run_dir: RunDir, config: dict[str, Any], task: Task) -> dict[str, Any]:
    """The saved config of the run to resume, if it is the run ``config`` describes (its budget and workers updated)."""
    old = run_dir.read(CONFIG)
    if old is None:
        raise LawagentError(f"cannot resume: {run_dir.path} has no {CONFIG} (not a run folder)")
    old.setdefault("validation_folds", 1)  # runs from before rolling-origin folds
    old.setdefault("validation", None)
    old.setdefault("racing", False)  # runs from before racing
    for key in ("seed", "batch_size", "validation", "validation_fraction", "validation_folds", "proposer",
                "seed_laws", "racing"):
        if old.get(key) != config[key]:
            raise LawagentError(f"cannot resume {run_dir.path}: it was run with {key}={old.get(key)!r}, "
                                f"not {config[key]!r}")
    for key in SEARCH_OPTIONS:  # what the proposer proposes: a resumed run replays and continues the same search
        was, now = (old.get("proposer_options") or {}).get(key), (config.get("proposer_options") or {}).get(key)
        if was != now:
            raise LawagentError(f"cannot resume {run_dir.path}: it was run with proposer option {key}={was!r}, "
                                f"not {now!r}; start a new run")
    if old["task"]["name"] != task.name:
        raise LawagentError(f"cannot resume {run_dir.path}: it is a run of task {old['task']['name']!r}, not {task.name!r}")
    if old.get("validation_rows", config["validation_rows"]) != config["validation_rows"]:  # older runs have none
        raise LawagentError(f"cannot resume {run_dir.path}: its fit and validation rows are not the ones it was run "
                            "with (the data or the validation rule changed); start a new run")
    return old | {"budget": config["budget"], "workers": config["workers"]}


def _run(task: Task, view: TrainView, proposer: str | Proposer, proposer_options: Mapping[str, Any] | None,
         run_dir: RunDir, config: dict[str, Any], budget: Budget, settings: RunSettings, seed_laws: Sequence[str],
         resume: bool) -> DiscoveryResult:
    """The run itself, with the folder locked: search, refit, write final.json."""
    out = Progress(settings.progress)
    if isinstance(proposer, str):
        from lawagent.proposers.registry import build_proposer

        proposer = build_proposer(proposer, view.info, seed=settings.seed, run_dir=run_dir.path, rows=view.fit,
                                  **dict(proposer_options or {}))
    run_dir.write(CONFIG, config)
    validation_text = f"{config['protocol']}; " + ", ".join(
        f"fold {i + 1}: {f.rule} ({len(f.val)} rows)" for i, f in enumerate(view.folds))
    out.message(f"validation: {validation_text}")
    fixed = view.info.fixed_features
    if fixed:
        out.message(f"note: {', '.join(fixed)} {'has' if len(fixed) == 1 else 'have'} one value in every training row: "
                    "the data cannot show its effect (the offline proposers leave it out)")
    if (proposer_options or {}).get("log_y") and not view.info.positive_targets:
        out.message("note: --log-y: the target is not positive in every training row, so no law is fitted to its log")
    prepared = time.monotonic() - settings.started if settings.started is not None else 0.0
    try:
        if resume:
            out.message(_resume_note(run_dir, budget.time_limit))
        pop, state, extras = run_search(view, proposer, run_dir, budget, settings, seed_laws, resume=resume)
        stats = proposer_stats(proposer, pop)
    finally:
        close = getattr(proposer, "close", None)
        if callable(close):
            close()
    if not len(pop) and state.stopped == "time_limit":
        raise LawagentError(f"the time limit ({budget.time_limit:g} s for the whole run) ran out before any candidate "
                            f"was evaluated (starting and preparing {len(view.train):,} training rows took "
                            f"{prepared:.1f} s, the first evaluations did not finish in the rest); give more --time")
    out.message(f"refitting {len(final_candidates(pop, settings.top_k))} finalist(s) on all training rows ...")
    laws, reference, notes = finalize(task, pop, extras, settings.top_k, state.clock, progress=out)
    for note in notes:
        out.message(f"warning: {note}")
    if not laws:
        raise LawagentError(f"no finalist law could be refit on the training rows: {'; '.join(notes[:3])}")
    equations = equations_frame(pop)
    speed = throughput(state, len(pop))
    result = DiscoveryResult(
        task_name=task.name, run_dir=run_dir.path, equations=equations, best=laws[0], laws=laws,
        n_evaluated=len(pop), seconds=state.seconds, proposer_stats=stats, reference=reference,
        history=state.history, stopped=state.stopped, seed=settings.seed, protocol=validation_text,
        where=Where(**state.where).describe() if state.where else "",
        per_core_second=speed["per_core_second"],
    )
    law_dicts = [law.to_dict() for law in laws]  # laws[0] is the best: its card is written once
    run_dir.write(FINAL, {
        "lawagent_version": _version(), "run_id": config["run_id"], "task": config["task"],
        "best": law_dicts[0], "laws": law_dicts,
        "reference": reference.to_dict() if reference else None,
        "n_evaluated": result.n_evaluated, "seconds": result.seconds, "seed": settings.seed,
        "proposer": config["proposer"], "proposer_stats": stats, "history": state.history, "stopped": state.stopped,
        "notes": notes, "where": state.where, "throughput": speed,
        "protocol": {"rule": validation_text, "folds": [{"rule": f.rule, "fit_rows": len(f.fit),
                                                             "val_rows": len(f.val)} for f in view.folds]},
        "equations": equations.to_dict(orient="records"),
    })
    return result


def throughput(state, n_candidates: int) -> dict[str, float]:
    """Candidates per second of the run up to the end of the search (loading and setup included, the
    final refit not), in all and per core used: the measure of the search's speed a user gets."""
    cores = int((state.where or {}).get("cpus") or 1)
    per_second = n_candidates / state.seconds if state.seconds > 0 else math.nan
    return {"candidates": n_candidates, "seconds": state.seconds, "cores": cores, "per_second": per_second,
            "per_core_second": per_second / cores}


def _resume_note(run_dir: RunDir, time_limit: float | None) -> str:
    """What a resumed run has left of its --time (a total over all its sessions)."""
    state = run_dir.read(STATE) or {}
    spent = float(state.get("seconds") or 0.0)
    if time_limit is None:
        return f"resuming {run_dir.path}: {spent:.0f} s spent so far (no time limit)"
    if spent >= time_limit:
        return (f"resuming {run_dir.path}: it has already used {spent:.0f} s of its --time {time_limit:g} "
                "(a total over all sessions, not extra time), so it only refits; give a larger --time to search on")
    return (f"resuming {run_dir.path}: {spent:.0f} s of its --time {time_limit:g} spent (a total over all "
            f"sessions, not extra time): about {time_limit - spent:.0f} s left")


def discover_csv(
    path: str | Path,
    features: str | Sequence[str],
    targets: str | Sequence[str],
    group: str | None = None,
    holdout: str | None = None,
    *,
    name: str | None = None,
    parameter_budget: int = 8,
    description: str = "",
    scale: str | Sequence[str] | None = None,
    **kwargs: Any,
) -> DiscoveryResult:
    """Discover laws in a user's CSV. ``holdout`` is a rule such as ``"x >= 1e9"`` or
    ``"largest 20% by params"``; without one the CSV needs a train/test ``split`` column.
    ``scale`` names the features along which held-out rows lie further out (default: those
    the holdout rule uses); ``validation=RULE`` (a keyword of :func:`discover`) overrides the
    validation rule derived from the holdout rule. The run's clock (``time_limit``) starts
    before the CSV is loaded."""
    kwargs.setdefault("started", time.monotonic())
    features = _names(features, "features")
    targets = _names(targets, "targets")
    if not isinstance(parameter_budget, int) or isinstance(parameter_budget, bool) or parameter_budget < 1:
        raise LawagentError(f"parameter budget must be a positive integer, got {parameter_budget!r}")
    scale = None if scale is None else _names(scale, "scale")
    spec = {"path": str(Path(path).expanduser().resolve()), "features": features, "targets": targets, "group": group,
            "holdout": holdout, "name": name, "parameter_budget": parameter_budget, "description": description,
            "scale": scale}
    task = task_from_csv(path, features, targets, group=group, holdout=holdout, name=name,
                         description=description, parameter_budget=parameter_budget, scale=scale,
                         log=Progress(kwargs.get("progress", True)).message)
    spec["name"] = task.name
    return discover(task, csv_spec=spec, **kwargs)


def resume_run(run_dir: str | Path, *, iterations: int | None = None, max_candidates: int | None = None,
               time_limit: float | None = None, workers: int | None = None, progress: bool = True,
               proposer: Proposer | None = None, proposer_options: Mapping[str, Any] | None = None,
               started: float | None = None, executor: str = "local",
               address: str | None = None) -> DiscoveryResult:
    """Continue an interrupted run from its folder; budgets not given keep their saved values.

    Budgets are totals over all sessions of the run, not extra: ``time_limit=600`` on a
    run that has used 400 s leaves about 200 s.
    """
    started = time.monotonic() if started is None else started
    rd = RunDir(run_dir)
    config = rd.read(CONFIG)
    if config is None:
        raise LawagentError(f"cannot resume {rd.path}: no {CONFIG} there (not a run folder)")
    task = task_from_spec(config["task"], log=Progress(progress).message)
    saved = config.get("budget") or {}
    if proposer is None:
        proposer = config["proposer"]
        if proposer not in PROPOSERS:
            raise LawagentError(f"run {rd.path} used a custom proposer {proposer!r}: pass it as resume_run(proposer=...)")
    opts = dict(config.get("proposer_options") or {}) | dict(proposer_options or {})
    return discover(
        task, proposer=proposer, resume=True, run_id=rd.path.name, out_dir=rd.path.parent,
        iterations=iterations if iterations is not None else saved.get("iterations"),
        max_candidates=max_candidates if max_candidates is not None else saved.get("max_candidates"),
        time_limit=time_limit if time_limit is not None else saved.get("time_limit"),
        batch_size=config["batch_size"], seed=config["seed"], workers=workers if workers is not None else config.get("workers"),
        seed_laws=config.get("seed_laws") or (), validation=config.get("validation"),
        validation_fraction=config["validation_fraction"],
        validation_folds=config.get("validation_folds", 1), progress=progress, top_k=config.get("top_k", 5),
        proposer_options=opts or None,
        csv_spec=config["task"].get("csv_spec"), racing=config.get("racing", False), started=started,
        executor=executor, address=address,
    )


def _names(value: str | Sequence[str], what: str) -> list[str]:
    names = [v.strip() for v in value.split(",")] if isinstance(value, str) else [str(v).strip() for v in value]
    names = [n for n in names if n]
    if not names:
        raise LawagentError(f"give at least one column name for {what}")
    return names


def _public_options(options: Mapping[str, Any] | None) -> dict[str, Any]:
    """Proposer options worth saving (JSON values, no secrets)."""
    out = {}
    for k, v in (options or {}).items():
        if any(w in k.lower() for w in _SECRET_WORDS):
            continue
        if v is None or isinstance(v, (str, int, float, bool)):
            out[k] = v
    return out


def _version() -> str:
    from lawagent import __version__

    return __version__
