"""`lawagent bench-fit`: what one candidate costs, per task, on one core.

The search evaluates thousands of candidates, so this is the number that bounds
how many it can try. A candidate's cost is measured as the search pays it: its
text is new, so it is parsed and compiled cold, then fitted and scored. The
compile time of each law is also measured alone, with the tape compiler the
fitter uses and with the sympy path it replaced (the reference implementation).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from typing import Callable, Sequence

import numpy as np
from sympy.core.cache import clear_cache

from lawagent.bench.synthetic import SYNTHETIC_ROWS, is_synthetic, synthetic_task
from lawagent.cli.format import fmt, table
from lawagent.discovery.evaluator import FULL, SCREEN, SEARCH_FIT, EvalOptions, evaluate_candidate
from lawagent.errors import LawagentError
from lawagent.evaluate import FINAL_FIT, fit_split, parse_law, reference_law, score_split
from lawagent.fit import native
from lawagent.fit.fitter import FitOptions
from lawagent.law.compile import compile_law, forget_compiled
from lawagent.law.law import Law
from lawagent.law.parse import split_formulas
from lawagent.law.sympy_compile import compile_law_sympy
from lawagent.proposers.base import Proposal
from lawagent.selection.protocol import protocol_for
from lawagent.task import DataSplit, Task, list_tasks, load_task

THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
MODES = ("screen", "candidate", "search", "final")
OPTION_SETS = {"all": ("candidate", "search", "final"), "both": ("search", "final"), **{m: (m,) for m in MODES}}

EPILOG = f"""\
What is timed, per (task, law, options), --repeats times, each time from the formula text
(sympy's cache cleared first, so every repeat compiles cold, as a new candidate does):
  screen: racing's first look, which every new candidate gets: parse + compile + a cheap fit
          (8 starts, 2 refined, 30 iterations, a row subsample above 1500 fit rows) on fold 1
          + score it. Only candidates that could still win go on to the full evaluation.
  candidate: what the search pays per fully evaluated candidate: parse + compile + fit on
          fold 1 + score it + the extrapolation probe + fit and score fold 2 (the search's
          evaluate_candidate, with the SEARCH options and the search's default folds; test rows
          are not touched).
  search: parse + compile + one fit with the SEARCH options (--n-starts/--n-refine/--max-iter/
          --time-limit) on the training rows minus the validation rows, scored on the
          validation rows.
  final:  parse + compile + lawagent's FINAL_FIT (128 starts, 12 refined, 300 iterations) on
          all training rows, scored on the held-out test rows (what `lawagent evaluate` does).
Columns: median and p90 wall seconds per candidate, median CPU seconds (if it is well below
the wall time, other processes competed for the core), candidates/s = 1/median wall time,
the parse + compile part, and the R2 reached (validation for candidate and search, test for
final). A second table gives the cold compile time of each law alone: parse, the tape
compiler the fitter uses, and the sympy path it replaced (sympy.diff + lambdify with CSE).

Tasks: bundled task names, 'all' (every bundled task), and synthetic data for size:
{", ".join(SYNTHETIC_ROWS)} (100 model families, Chinchilla-shaped, fixed seed).

One core: numpy's BLAS threads are pinned to 1 (OMP/OPENBLAS/MKL_NUM_THREADS=1); if they
are not set to 1 already, the command reruns itself with them set. Timings depend on the
machine and on what else runs on it; compare numbers from the same machine.

examples:
  lawagent bench-fit                                     all tasks, reference + generic law
  lawagent bench-fit --tasks all,synthetic-10k,synthetic-100k --options candidate,search
  lawagent bench-fit --tasks sft_scaling_law,vocab_scaling_law --repeats 10
  lawagent bench-fit --law reference --options search --json
  lawagent bench-fit --tasks sft_scaling_law --law "A/sft_data_size^a + E"
  python bench/bench_fit.py --repeats 3                  the same, as a script
"""


@dataclass
class FitTiming:
    """Wall-time statistics for one (task, law, options) cell."""

    task: str
    law: str  # "reference", "generic" or "custom"
    formula: str
    options: str  # "candidate", "search" or "final"
    repeats: int
    median: float  # seconds per candidate: parse + compile + fit(s) + score
    p90: float
    cpu_median: float  # CPU seconds of this process: close to median on an idle core
    compile_median: float  # the parse + compile part
    candidates_per_second: float
    r2: float
    scored_on: str  # "validation" or "test"
    n_fit_rows: int
    n_groups: int
    n_parameters: int


@dataclass
class CompileTiming:
    """Cold compile time of one law: the tape (the fitter's compiler) against the sympy path."""

    task: str
    law: str
    formula: str
    repeats: int
    n_parameters: int
    complexity: int  # node count of the law
    parse_median: float  # seconds
    tape_median: float
    sympy_median: float


@dataclass(frozen=True)
class _Candidate:
    label: str  # "reference", "generic" or "custom"
    text: str | list[str]
    bounds: dict
    initial: dict


def generic_formula(task: Task) -> str:
    """A simple law any task accepts: per target, a power law in the scale feature plus an offset.

    Where that feature is not strictly positive (log_flops, mixture proportions) the power law
    is undefined, so an exponential plus an offset takes its place. For a multi-target task
    with one feature per target (domain mixtures), target i uses feature i.
    """
    train = task.train()
    parts = []
    for i in range(len(task.targets)):
        if len(task.targets) > 1 and len(task.features) == len(task.targets):
            feature = task.features[i]
        else:
            feature = task.scale[0] if task.scale else task.features[0]
        sfx = str(i + 1) if len(task.targets) > 1 else ""
        if np.min(train.X[feature]) > 0:
            parts.append(f"E{sfx} + A{sfx}*{feature}^(-alpha{sfx})")
        else:
            parts.append(f"E{sfx} + A{sfx}*exp(alpha{sfx}*{feature})")
    return "; ".join(parts)


def timed_task(name: str) -> Task:
    """A bundled task, or one of the synthetic ones."""
    return synthetic_task(name) if is_synthetic(name) else load_task(name)


def task_names(spec: str) -> list[str]:
    """'all' (the bundled tasks), task names and synthetic names, comma-separated; unknown names fail here."""
    names: list[str] = []
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            continue
        new = list_tasks() if part == "all" else [part]
        names += [n for n in new if n not in names]
    for name in names:
        if not is_synthetic(name):
            load_task(name)  # unknown task: fail before any timing
    return names


def _cold() -> None:
    """Forget every parse and compile: the search caches both, but a new candidate finds nothing cached."""
    clear_cache()  # sympy's own memo
    forget_compiled()


def _parse(task: Task, c: _Candidate) -> Law:
    return Law.parse(c.text, task.features, targets=task.targets, budget=task.parameter_budget,
                     bounds=c.bounds, initial=c.initial)


def _time_fit(task: Task, c: _Candidate, options: FitOptions, fit_rows: DataSplit, score_rows: DataSplit):
    """One candidate from text to score: (wall seconds, CPU seconds, parse + compile seconds, R2, law)."""
    _cold()
    start, cpu = time.perf_counter(), time.process_time()
    law = _parse(task, c)
    compile_law(law)
    compiled = time.perf_counter()
    result = fit_split(law, fit_rows, options)
    scores = score_split(result, score_rows)
    return time.perf_counter() - start, time.process_time() - cpu, compiled - start, scores.r2, law


def _time_candidate(task: Task, c: _Candidate, options: FitOptions, folds: list[tuple[DataSplit, DataSplit]],
                    stage: str = FULL):
    """What the search pays for one candidate at a racing stage: (wall seconds, CPU seconds, validation R2)."""
    formulas = split_formulas(c.text) if isinstance(c.text, str) else c.text  # one per target, as proposers give them
    proposal = Proposal(tuple(formulas), bounds=c.bounds, initial=c.initial)
    (fit_rows, val_rows), extra = folds[0], folds[1:]
    _cold()
    start, cpu = time.perf_counter(), time.process_time()
    record = evaluate_candidate(proposal, task.features, task.targets, task.parameter_budget, fit_rows, val_rows,
                                EvalOptions(fit=options), extra_folds=extra, stage=stage)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    if record.error:
        raise LawagentError(f"task {task.name}: candidate {c.label} failed: {record.error}")
    return wall, cpu, record.val_r2


def _time_compile(task: Task, c: _Candidate) -> tuple[float, float, float, Law]:
    """Cold (parse, tape compile, sympy compile) seconds of one law."""
    _cold()
    start = time.perf_counter()
    law = _parse(task, c)
    parsed = time.perf_counter()
    compile_law(law)
    taped = time.perf_counter()
    compile_law_sympy(law)
    return parsed - start, taped - parsed, time.perf_counter() - taped, law


def _candidates(task: Task, law: str) -> list[_Candidate]:
    out = []
    if law in ("reference", "both"):
        ref = reference_law(task)  # validates the reference once, with a clear error
        out.append(_Candidate("reference", list(task.reference.formulas), dict(ref.bounds), dict(ref.initial)))
    if law in ("generic", "both"):
        out.append(_Candidate("generic", generic_formula(task), {}, {}))
    if law not in ("reference", "generic", "both"):
        parse_law(task, law)  # a bad formula fails here with the parser's message
        out.append(_Candidate("custom", law, {}, {}))
    return out


def bench_fit(
    tasks: Sequence[str] | None = None,
    repeats: int = 5,
    law: str = "both",
    search_options: FitOptions | None = SEARCH_FIT,
    final_options: FitOptions | None = FINAL_FIT,
    progress: Callable[[FitTiming], None] | None = None,
    modes: Sequence[str] | None = None,
    compile_times: list[CompileTiming] | None = None,
) -> list[FitTiming]:
    """Time one candidate per task and law.

    ``law`` is "reference", "generic", "both" or a formula in the law language.
    ``modes`` are among "screen", "candidate", "search" and "final" (default: search and
    final, less the ones whose options are None); "candidate" and "search" fit with
    ``search_options``, "screen" with the racing screen's own options. Cold compile times
    (tape and sympy) go to ``compile_times`` when a list is given.
    """
    if repeats < 1:
        raise LawagentError("--repeats must be at least 1")
    if modes is None:
        modes = [m for m, o in (("search", search_options), ("final", final_options)) if o is not None]
    if ({"screen", "candidate", "search"} & set(modes)) and search_options is None or "final" in modes and final_options is None:
        raise LawagentError("bench_fit: a timing was asked for without its fit options")
    names = list(tasks) if tasks else list_tasks()
    out: list[FitTiming] = []
    for name in names:
        task = timed_task(name)
        folds = [(f.fit, f.val) for f in protocol_for(task).folds(task.train())]  # the search's own folds
        fit_rows, val_rows = folds[0]
        fits = [(m, o, rows) for m, o, rows in (("search", search_options, (fit_rows, val_rows)),
                                               ("final", final_options, (task.train(), task.test()))) if m in modes]
        for c in _candidates(task, law):
            parses, tapes, sympys, parsed = [], [], [], None
            for _ in range(repeats):
                p, t, s, parsed = _time_compile(task, c)
                parses.append(p)
                tapes.append(t)
                sympys.append(s)
            if compile_times is not None:
                compile_times.append(CompileTiming(
                    task=name, law=c.label, formula=parsed.text(), repeats=repeats, n_parameters=parsed.n_parameters,
                    complexity=parsed.complexity, parse_median=float(np.median(parses)),
                    tape_median=float(np.median(tapes)), sympy_median=float(np.median(sympys)),
                ))
            cells = []
            compile_s = float(np.median([p + t for p, t in zip(parses, tapes)]))
            for mode, stage in (("screen", SCREEN), ("candidate", FULL)):
                if mode in modes:
                    runs = [_time_candidate(task, c, search_options, folds, stage) for _ in range(repeats)]
                    cells.append((mode, runs, [compile_s], folds[0][0]))
            for mode, options, (fitting, scoring) in fits:
                runs, compiles = [], []
                for _ in range(repeats):
                    wall, cpu, comp, r2, _law = _time_fit(task, c, options, fitting, scoring)
                    runs.append((wall, cpu, r2))
                    compiles.append(comp)
                cells.append((mode, runs, compiles, fitting))
            for mode, runs, compiles, fitting in cells:
                walls = [r[0] for r in runs]
                median = float(np.median(walls))
                timing = FitTiming(
                    task=name, law=c.label, formula=parsed.text(), options=mode, repeats=repeats,
                    median=median, p90=float(np.percentile(walls, 90)), cpu_median=float(np.median([r[1] for r in runs])),
                    compile_median=float(np.median(compiles)),
                    candidates_per_second=1.0 / median if median > 0 else float("inf"), r2=float(runs[-1][2]),
                    scored_on="test" if mode == "final" else "validation", n_fit_rows=len(fitting),
                    n_groups=len(task.groups), n_parameters=parsed.n_parameters,
                )
                out.append(timing)
                if progress:
                    progress(timing)
    return out


def _short(task: str) -> str:
    return task.removesuffix("_scaling_law")


def render(timings: Sequence[FitTiming]) -> str:
    rows = [
        [_short(t.task), t.law, t.options, t.n_parameters, t.n_groups, t.n_fit_rows,
         f"{t.median:.4f}", f"{t.p90:.4f}", f"{t.cpu_median:.4f}", f"{t.candidates_per_second:.1f}",
         f"{t.compile_median:.4f}", fmt(t.r2)]
        for t in timings
    ]
    head = ["task", "law", "options", "params", "groups", "fit rows", "median s", "p90 s", "cpu s", "cand/s", "compile s", "R2"]
    return table(head, rows)


def render_compile(times: Sequence[CompileTiming]) -> str:
    rows = [
        [_short(t.task), t.law, t.n_parameters, t.complexity, f"{t.parse_median * 1e3:.2f}", f"{t.tape_median * 1e3:.3f}",
         f"{t.sympy_median * 1e3:.1f}", f"{t.sympy_median / t.tape_median:.0f}x" if t.tape_median > 0 else "-"]
        for t in times
    ]
    head = ["task", "law", "params", "nodes", "parse ms", "tape ms", "sympy ms", "tape speed-up"]
    return table(head, rows)


def _options_text(search: FitOptions) -> str:
    f = FINAL_FIT
    return (f"candidate/search: n_starts={search.n_starts} n_refine={search.n_refine} max_iter={search.max_iter} "
            f"time_limit={search.time_limit:g}s seed={search.seed} (validation rows)\n"
            f"final:  n_starts={f.n_starts} n_refine={f.n_refine} max_iter={f.max_iter} "
            f"time_limit={f.time_limit:g}s (test rows)")


def option_modes(spec: str) -> tuple[str, ...]:
    """'all' (candidate, search, final), 'both' (search + final) or a comma-separated list of screen,
    candidate, search, final."""
    modes: list[str] = []
    for part in (p.strip() for p in spec.split(",")):
        if part not in OPTION_SETS:
            raise LawagentError(f"--options: unknown {part!r}; use all, both or a comma-separated list of {', '.join(MODES)}")
        modes += [m for m in OPTION_SETS[part] if m not in modes]
    return tuple(modes)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "bench-fit", help="time what one candidate costs per task (one core)",
        description="Measure the wall time to parse, compile, fit and score one candidate law on each task: as the "
        "search pays it per candidate (two folds and the probe), as one search fit, and as a final fit, on one core: "
        "median, p90 and candidates per second; and the cold compile time of each law, tape against sympy.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--tasks", default="all", help="'all', task names and synthetic names, comma-separated (default all)")
    p.add_argument("--repeats", type=int, default=5, metavar="N", help="timed repeats per cell (default 5)")
    p.add_argument("--law", default="both", metavar="reference|generic|both|FORMULA",
                   help="the law to time: the task's reference law, a generic power law + offset, both "
                   "(default), or a formula in quotes")
    p.add_argument("--options", default="all", metavar="all|both|screen,candidate,search,final",
                   help="which timings: all (default: candidate, search, final), both (search + final), or a "
                   "comma-separated list of screen (racing's cheap first look), candidate, search, final")
    p.add_argument("--n-starts", type=int, default=SEARCH_FIT.n_starts, metavar="N",
                   help=f"search option: random starts per group (default {SEARCH_FIT.n_starts})")
    p.add_argument("--n-refine", type=int, default=SEARCH_FIT.n_refine, metavar="N",
                   help=f"search option: starts refined by Levenberg-Marquardt (default {SEARCH_FIT.n_refine})")
    p.add_argument("--max-iter", type=int, default=SEARCH_FIT.max_iter, metavar="N",
                   help=f"search option: iterations per refined start (default {SEARCH_FIT.max_iter})")
    p.add_argument("--time-limit", type=float, default=SEARCH_FIT.time_limit, metavar="SECONDS",
                   help=f"search option: time limit per fit (default {SEARCH_FIT.time_limit:g})")
    p.add_argument("--seed", type=int, default=0, help="fitter seed (default 0)")
    p.add_argument("--json", action="store_true", help="print the timings as JSON")
    p.set_defaults(run=run)


def _single_threaded() -> bool:
    return all(os.environ.get(v) == "1" for v in THREAD_VARS)


def run(args: argparse.Namespace) -> int:
    if not _single_threaded():
        # BLAS reads these at import, which has happened: rerun with them pinned.
        env = dict(os.environ, **{v: "1" for v in THREAD_VARS})
        return subprocess.call([sys.executable, "-m", "lawagent", *argv_of(args)], env=env)
    names = task_names(args.tasks)
    modes = option_modes(args.options)
    try:
        search = FitOptions(n_starts=args.n_starts, n_refine=args.n_refine, max_iter=args.max_iter,
                            time_limit=args.time_limit, seed=args.seed)
    except ValueError as err:
        raise LawagentError(str(err)) from None

    def progress(t: FitTiming) -> None:
        if not args.json:
            print(f"  {t.task} {t.law} {t.options}: median {t.median:.4f}s", file=sys.stderr, flush=True)

    native.warm()  # loaded (or compiled, once) before anything is timed
    compiles: list[CompileTiming] = []
    timings = bench_fit(names, args.repeats, args.law, search, FINAL_FIT, progress, modes, compiles)
    if args.json:
        print(json.dumps({"options": {"search": asdict(search), "final": asdict(FINAL_FIT)},
                          "threads": {v: os.environ.get(v) for v in THREAD_VARS},
                          "refinement": native.describe(),
                          "timings": [asdict(t) for t in timings],
                          "compile": [asdict(t) for t in compiles]}, indent=2))
        return 0
    print(render(timings))
    print("\n" + render_compile(compiles))
    print("\n" + _options_text(search))
    print(f"refinement: {native.describe()}")
    print("one core (" + ", ".join(f"{v}={os.environ.get(v)}" for v in THREAD_VARS) + "); seconds per candidate = "
          "parse + compile + fit(s) + score; compile columns: cold, milliseconds, median of the repeats")
    return 0


def argv_of(args: argparse.Namespace) -> list[str]:
    """The command line that gives these arguments, for rerunning the command."""
    argv = ["bench-fit", "--tasks", args.tasks, "--repeats", str(args.repeats), f"--law={args.law}",
            "--options", args.options, "--n-starts", str(args.n_starts), "--n-refine", str(args.n_refine),
            "--max-iter", str(args.max_iter), "--time-limit", repr(args.time_limit), "--seed", str(args.seed)]
    return argv + (["--json"] if args.json else [])

