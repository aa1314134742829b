"""`lawagent bench-fit`: how long one candidate takes to fit and score, per task, on one core.

The search fits hundreds of thousands of candidates, so this is the number that
bounds how many it can try. A candidate's cost is measured as the search pays
it: parse + compile (every candidate is new text) + fit + score.
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

from lawagent.cli.format import fmt, table
from lawagent.errors import LawagentError
from lawagent.evaluate import FINAL_FIT, fit_split, parse_law, reference_law, score_split
from lawagent.fit.fitter import FitOptions
from lawagent.law.compile import compile_law
from lawagent.law.law import Law
from lawagent.selection.protocol import protocol_for
from lawagent.task import DataSplit, Task, list_tasks, load_task

# What the discovery search uses per candidate (see the discovery engine).
SEARCH_FIT = FitOptions(n_starts=24, n_refine=4, max_iter=100, time_limit=5.0)
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")

EPILOG = """\
What is timed, per (task, law, options), --repeats times:
  parse the formula text + compile it (sympy -> numpy, with the Jacobian) + fit every
  group + score. Each repeat parses the text afresh, so compilation is paid every time,
  as it is for every new candidate in a search.
  search: SEARCH options (--n-starts/--n-refine/--max-iter/--time-limit), fitted on the
          training rows minus the validation rows, scored on the validation rows (what
          the search does; test rows are not touched).
  final:  lawagent's FINAL_FIT (128 starts, 12 refined, 300 iterations), fitted on all
          training rows, scored on the held-out test rows (what `lawagent evaluate` does).
Columns: median and p90 wall seconds per candidate, median CPU seconds (if it is well below
the wall time, other processes competed for the core), candidates/s = 1/median wall time,
the compile share (sympy's cache is cleared before each repeat, so this is a cold compile),
and the R2 reached (validation for search, test for final).

One core: numpy's BLAS threads are pinned to 1 (OMP/OPENBLAS/MKL_NUM_THREADS=1); if they
are not set to 1 already, the command reruns itself with them set. Timings depend on the
machine and on what else runs on it; compare numbers from the same machine.

examples:
  lawagent bench-fit                                     all tasks, reference + generic law
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
    options: str  # "search" or "final"
    repeats: int
    median: float  # seconds per candidate: parse + compile + fit + score
    p90: float
    cpu_median: float  # CPU seconds of this process: close to median on an idle core
    compile_median: float
    candidates_per_second: float
    r2: float
    scored_on: str  # "validation" or "test"
    n_fit_rows: int
    n_groups: int
    n_parameters: int


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


def _time_one(task: Task, text: str | list[str], bounds, initial, options: FitOptions, fit_rows: DataSplit, score_rows: DataSplit):
    """One candidate from text to score: (wall seconds, CPU seconds, compile seconds, R2, law)."""
    clear_cache()  # sympy memoises; a new candidate's text would not find its derivatives cached
    start, cpu = time.perf_counter(), time.process_time()
    law = Law.parse(text, task.features, targets=task.targets, budget=task.parameter_budget, bounds=bounds, initial=initial)
    compile_law(law)  # a new Law object, so never a cache hit: every repeat compiles
    compiled = time.perf_counter()
    result = fit_split(law, fit_rows, options)
    scores = score_split(result, score_rows)
    return time.perf_counter() - start, time.process_time() - cpu, compiled - start, scores.r2, law


def bench_fit(
    tasks: Sequence[str] | None = None,
    repeats: int = 5,
    law: str = "both",
    search_options: FitOptions | None = SEARCH_FIT,
    final_options: FitOptions | None = FINAL_FIT,
    progress: Callable[[FitTiming], None] | None = None,
) -> list[FitTiming]:
    """Time fit-and-score of one candidate per task.

    ``law`` is "reference", "generic", "both" or a formula in the law language.
    ``search_options=None`` or ``final_options=None`` skips those timings.
    """
    if repeats < 1:
        raise LawagentError("--repeats must be at least 1")
    names = list(tasks) if tasks else list_tasks()
    out: list[FitTiming] = []
    for name in names:
        task = load_task(name)
        laws: list[tuple[str, str | list[str], dict, dict]] = []
        if law in ("reference", "both"):
            ref = reference_law(task)  # validates the reference once, with a clear error
            laws.append(("reference", list(task.reference.formulas), dict(ref.bounds), dict(ref.initial)))
        if law in ("generic", "both"):
            laws.append(("generic", generic_formula(task), {}, {}))
        if law not in ("reference", "generic", "both"):
            parse_law(task, law)  # a bad formula fails here with the parser's message
            laws.append(("custom", law, {}, {}))
        fold = protocol_for(task).carve(task.train())
        fit_rows, val_rows = fold.fit, fold.val
        modes = [(m, o, rows) for m, o, rows in (("search", search_options, (fit_rows, val_rows)),
                                                ("final", final_options, (task.train(), task.test()))) if o is not None]
        for label, text, bounds, initial in laws:
            for mode, options, (fitting, scoring) in modes:
                totals, cpus, compiles, r2, parsed = [], [], [], float("nan"), None
                for _ in range(repeats):
                    total, cpu, comp, r2, parsed = _time_one(task, text, bounds, initial, options, fitting, scoring)
                    totals.append(total)
                    cpus.append(cpu)
                    compiles.append(comp)
                median = float(np.median(totals))
                timing = FitTiming(
                    task=name, law=label, formula=parsed.text(), options=mode, repeats=repeats,
                    median=median, p90=float(np.percentile(totals, 90)), cpu_median=float(np.median(cpus)),
                    compile_median=float(np.median(compiles)),
                    candidates_per_second=1.0 / median if median > 0 else float("inf"), r2=float(r2),
                    scored_on="validation" if mode == "search" else "test", n_fit_rows=len(fitting), n_groups=len(task.groups), n_parameters=parsed.n_parameters,
                )
                out.append(timing)
                if progress:
                    progress(timing)
    return out


def render(timings: Sequence[FitTiming]) -> str:
    rows = [
        [t.task.removesuffix("_scaling_law"), t.law, t.options, t.n_parameters, t.n_groups, t.n_fit_rows,
         f"{t.median:.4f}", f"{t.p90:.4f}", f"{t.cpu_median:.4f}", f"{t.candidates_per_second:.1f}",
         f"{t.compile_median:.4f}", fmt(t.r2)]
        for t in timings
    ]
    head = ["task", "law", "options", "params", "groups", "fit rows", "median s", "p90 s", "cpu s", "cand/s", "compile s", "R2"]
    return table(head, rows)


def _options_text(search: FitOptions) -> str:
    f = FINAL_FIT
    return (f"search: n_starts={search.n_starts} n_refine={search.n_refine} max_iter={search.max_iter} "
            f"time_limit={search.time_limit:g}s seed={search.seed} (validation rows)\n"
            f"final:  n_starts={f.n_starts} n_refine={f.n_refine} max_iter={f.max_iter} "
            f"time_limit={f.time_limit:g}s (test rows)")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "bench-fit", help="time fit-and-score of one candidate per task (one core)",
        description="Measure the wall time to parse, compile, fit and score one candidate law on each task, "
        "with the search's fit options and with the final-fit options, on one core: median, p90 and "
        "candidates per second.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--tasks", default="all", help="'all' or a comma-separated list of task names (default all)")
    p.add_argument("--repeats", type=int, default=5, metavar="N", help="timed repeats per cell (default 5)")
    p.add_argument("--law", default="both", metavar="reference|generic|both|FORMULA",
                   help="the law to time: the task's reference law, a generic power law + offset, both "
                   "(default), or a formula in quotes")
    p.add_argument("--options", default="both", choices=["search", "final", "both"],
                   help="which fit options to time (default both)")
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
    names = None if args.tasks.strip() == "all" else [t.strip() for t in args.tasks.split(",") if t.strip()]
    for name in names or []:
        load_task(name)  # unknown task: fail before any timing
    try:
        search = FitOptions(n_starts=args.n_starts, n_refine=args.n_refine, max_iter=args.max_iter,
                            time_limit=args.time_limit, seed=args.seed)
    except ValueError as err:
        raise LawagentError(str(err)) from None
    modes = {"search": (search, None), "final": (None, FINAL_FIT), "both": (search, FINAL_FIT)}
    search_opts, final_opts = modes[args.options]

    def progress(t: FitTiming) -> None:
        if not args.json:
            print(f"  {t.task} {t.law} {t.options}: median {t.median:.4f}s", file=sys.stderr, flush=True)

    timings = bench_fit(names, args.repeats, args.law, search_opts, final_opts, progress)
    if args.json:
        print(json.dumps({"options": {"search": asdict(search), "final": asdict(FINAL_FIT)},
                          "threads": {v: os.environ.get(v) for v in THREAD_VARS},
                          "timings": [asdict(t) for t in timings]}, indent=2))
        return 0
    print(render(timings))
    print("\n" + _options_text(search))
    print("one core (" + ", ".join(f"{v}={os.environ.get(v)}" for v in THREAD_VARS) + "); "
          "seconds per candidate = parse + compile + fit all groups + score")
    return 0


def argv_of(args: argparse.Namespace) -> list[str]:
    """The command line that gives these arguments, for rerunning the command."""
    argv = ["bench-fit", "--tasks", args.tasks, "--repeats", str(args.repeats), "--law", args.law,
            "--options", args.options, "--n-starts", str(args.n_starts), "--n-refine", str(args.n_refine),
            "--max-iter", str(args.max_iter), "--time-limit", repr(args.time_limit), "--seed", str(args.seed)]
    return argv + (["--json"] if args.json else [])
