"""`lawagent evaluate`: fit a law on a task's train rows, score it on the held-out rows."""

from __future__ import annotations

import argparse
import json
import math

from lawagent.cli.format import fmt, table
from lawagent.errors import LawagentError
from lawagent.evaluate import Evaluation, evaluate, parse_law, reference_law
from lawagent.bench.sldbench_program import DEFAULT_MEMORY_MB, DEFAULT_TIMEOUT
from lawagent.jsonio import json_safe
from lawagent.scoring import relative_nmse
from lawagent.task import load_task

EPILOG = """\
formula language:
  numbers, the task's feature names, parameter names (any other identifier),
  + - * / ** ^ ( ) and the functions exp log ln log10 log2 sqrt abs tanh
  sigmoid softplus min max pow. Multi-target tasks take one formula per target,
  separated by ';'. Every name that is not a feature is a parameter, fitted per group.

examples:
  lawagent evaluate sft_scaling_law "B/(D_l + sft_data_size^beta) + E"
  lawagent evaluate parallel_scaling_law --reference
  lawagent evaluate vocab_scaling_law "A/non_vocab_parameters^a + B/num_characters^b + E" --json
  lawagent evaluate parallel_scaling_law "(A/num_params)^alpha + E" --bound A=0:inf
  lawagent evaluate sft_scaling_law --law-file my_agent_law.txt
  lawagent evaluate sft_scaling_law --law-file results/run-1/final.json
  lawagent evaluate sft_scaling_law --sldbench-program best_program.py --timeout 300

law files (--law-file):
  text: one formula, or one per target (one per line or ';'-separated); '#' starts a comment line.
  JSON: {"formula": "..."} or {"formulas": [...]}, optional "bounds": {"alpha": [0, 2]} (null = unbounded);
  `lawagent export --format json` output and a discovery run's final.json also work.

SLDBench programs (--sldbench-program) -- THIS EXECUTES THE FILE:
  a Python file defining fit_scaling_law(data_points, loss_values) -> params and
  scaling_law_func(data_points, params) -> predictions (the format of SLDBench, SLDAgent and
  OpenEvolve's example). data_points is an (N, F) array with the task's features in the order
  `lawagent tasks TASK` lists them; loss_values is (N,) for one target, (N, T) for several.
  It is fitted per group on the training rows, predicts the held-out rows, and is scored with
  the same metric as formulas. The file is run as Python code in a separate process with a
  wall-time limit (--timeout; the process and every process it started are killed after it),
  a memory limit (--memory), an environment without your variables (no API keys; HOME is an
  empty scratch folder), in a fresh temporary folder, and without the test targets. On Linux
  with Landlock it cannot open any file but Python's and the system's (not the task files, not
  your home) nor make TCP connections; where Landlock is missing the output says so, and the
  program can then read anything your account can: only run programs you trust or have read.
  The vector fit_scaling_law returns is counted against the task's parameter budget (a program
  over it fails unless --allow-over-budget). A program that raises, times out, or returns NaN
  or wrongly shaped predictions is reported as a failure (R2 = -1, with the reason).
  See docs/reliability.md.
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "evaluate", help="fit a formula on a task and score it on the held-out rows",
        description="Fit a law's parameters per group on the task's training rows, then score the pooled "
        "predictions on the held-out (larger-scale) rows with SLDBench's metric: R2 = 1 - NMSE.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("task", help="a bundled task name (see `lawagent tasks`) or a folder with task.toml")
    p.add_argument("formula", nargs="?", help="the law, in quotes")
    p.add_argument("--reference", action="store_true", help="evaluate the task's human-derived reference law")
    p.add_argument("--law-file", metavar="FILE",
                   help="read the law from a file: formula text, or JSON (see 'law files' below)")
    p.add_argument("--sldbench-program", metavar="FILE",
                   help="EXECUTES FILE: score an SLDBench-format Python program (see below); runs it in a "
                   "separate, time- and memory-limited process. Only for programs you trust.")
    p.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, metavar="SECONDS",
                   help=f"wall-time limit for --sldbench-program; the process is killed after it (default {DEFAULT_TIMEOUT:g})")
    p.add_argument("--memory", type=int, default=DEFAULT_MEMORY_MB, metavar="MiB",
                   help=f"address-space limit for --sldbench-program (default {DEFAULT_MEMORY_MB})")
    p.add_argument("--allow-over-budget", action="store_true",
                   help="score an --sldbench-program whose parameter vector is larger than the task's budget "
                   "(labelled OVER BUDGET in the output)")
    p.add_argument("--bound", action="append", default=[], metavar="NAME=LO:HI",
                   help="box constraint for a parameter, e.g. alpha=0:2 or A=0:inf (repeatable)")
    p.add_argument("--seed", type=int, default=0, help="seed for the fitter's random starts (default 0)")
    p.add_argument("--json", action="store_true", help="print the full result as JSON")
    p.set_defaults(run=run)


def parse_bounds(items: list[str]) -> dict[str, tuple[float, float]]:
    bounds = {}
    for item in items:
        name, sep, rng = item.partition("=")
        lo, sep2, hi = rng.partition(":")
        try:
            if not (sep and sep2 and name.strip()):
                raise ValueError
            bounds[name.strip()] = (float(lo) if lo.strip() else float("-inf"), float(hi) if hi.strip() else float("inf"))
        except ValueError:
            raise LawagentError(f"--bound {item!r} is not NAME=LO:HI (e.g. alpha=0:2, A=0:inf)") from None
    return bounds


def run(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from lawagent.evaluate import FINAL_FIT

    sources = [name for name, given in (("a formula", args.formula), ("--reference", args.reference),
               ("--law-file", args.law_file), ("--sldbench-program", args.sldbench_program)) if given]
    if len(sources) > 1:
        raise LawagentError(f"give only one of a formula, --reference, --law-file, --sldbench-program; got {' and '.join(sources)}")
    if not sources:
        raise LawagentError("give a formula in quotes, --reference for the task's human-derived law, "
                            "--law-file FILE, or --sldbench-program FILE")
    task = load_task(args.task)
    if args.sldbench_program:
        return run_program(task, args)
    if args.reference:
        law = reference_law(task)
    elif args.law_file:
        from lawagent.export.law_file import load_law_file

        formulas, file_bounds = load_law_file(args.law_file)
        try:
            law = parse_law(task, formulas, bounds=file_bounds | parse_bounds(args.bound))
        except LawagentError as err:
            raise type(err)(f"{args.law_file}: {err}") from None
    else:
        law = parse_law(task, args.formula, bounds=parse_bounds(args.bound))
    options = replace(FINAL_FIT, seed=args.seed)
    ev = evaluate(task, law, options)
    relative = reference_nmse_ratio(task, ev, options)
    if args.json:
        print(json.dumps(json_safe(ev.as_dict() | {"relative_nmse": relative}), indent=2, default=float))
    else:
        print(render(ev, task, relative))
    return 0 if not ev.test.failed else 1


def _known(value: float) -> float | str:
    """'-' where a score does not apply (a group R² with one row per group; no reference law)."""
    return "-" if isinstance(value, float) and math.isnan(value) else value


def reference_nmse_ratio(task, ev: Evaluation, options) -> float:
    """The law's held-out NMSE over the task's reference law's (refit the same way); NaN without a reference."""
    if task.reference is None:
        return math.nan
    law = reference_law(task)
    if ev.law.text() == law.text():
        return 1.0
    return relative_nmse(ev.test, evaluate(task, law, options).test)


def run_program(task, args: argparse.Namespace) -> int:
    from lawagent.bench.sldbench_program import score_program

    if args.bound:
        raise LawagentError("--bound does not apply to --sldbench-program (the program fits its own parameters)")
    result = score_program(task, args.sldbench_program, timeout=args.timeout, memory_mb=args.memory,
                           allow_over_budget=args.allow_over_budget)
    if args.json:
        print(json.dumps(result.as_dict(), indent=2, default=float))
    else:
        print(render_program(result, task))
    return 0 if not result.failed else 1


def render_program(result, task) -> str:
    from lawagent.bench.sldbench_program import isolation_summary

    t = result.test
    count = "unknown" if result.n_parameters is None else str(result.n_parameters)
    budget = f"{count} parameters per group (budget {result.budget})"
    if result.over_budget_allowed:
        budget += "  OVER BUDGET (scored because of --allow-over-budget)"
    lines = [f"task      {task.name}", f"program   {result.program} (SLDBench format, run in a limited subprocess)",
             f"          features in order: {', '.join(task.features)}",
             f"          {budget}" if result.n_parameters is not None or result.stage == "budget" else "",
             f"isolation {isolation_summary(result.isolation)}", ""]
    lines.append(table(["rows", "n", "R2", "NMSE", "NMAE"], [["held-out test", t.n_rows, t.r2, t.nmse, t.nmae]]))
    lines += score_warnings([("held-out test", t)])
    if t.failed:
        lines.append(f"\nFAILED: {t.message}")
        tail = result.stderr_tail.strip().splitlines()[-8:]
        if tail:
            lines.append("program output (last lines):\n  " + "\n  ".join(tail))
    if len(t.per_target_r2) > 1:
        lines.append("\nper target R2: " + ", ".join(f"{n}={fmt(v)}" for n, v in zip(task.targets, t.per_target_r2)))
    lines.append(f"\nran in {result.seconds:.2f}s")
    return "\n".join(lines)


def score_warnings(scored: list[tuple[str, object]]) -> list[str]:
    """One line per warning of the scores shown (e.g. a constant target, where R2 means nothing)."""
    return [f"warning ({rows}): {w}" for rows, scores in scored for w in getattr(scores, "warnings", ())]


def render(ev: Evaluation, task, relative: float = math.nan) -> str:
    lines = [f"task      {task.name}", f"law       {ev.law.text()}",
             f"          {ev.law.n_parameters} parameters (budget {task.parameter_budget}), complexity {ev.law.complexity}", ""]
    rows = [["held-out test", ev.test.n_rows, ev.test.r2, _known(ev.test.group_r2), ev.test.nmse, _known(relative),
             ev.test.nmae],
            ["train (fit)", ev.train.n_rows, ev.train.r2, _known(ev.train.group_r2), ev.train.nmse, "", ev.train.nmae]]
    lines.append(table(["rows", "n", "R2", "group R2", "NMSE", "NMSE/ref", "NMAE"], rows))
    lines.append("R2: pooled over groups (SLDBench's metric); group R2: mean R2 within each group (2+ rows); "
                 "NMSE/ref: NMSE over the task's reference law's on the same rows (below 1 is better)")
    lines += score_warnings([("held-out test", ev.test), ("train (fit)", ev.train)])
    if ev.test.failed:
        lines.append(f"\nFAILED: {ev.test.message}")
    if task.reference and task.reference.published_r2 is not None and ev.law.text() == reference_law(task).text():
        lines.append(f"\npublished R2 of this law under SLDBench's fitting: {task.reference.published_r2}")
    if len(ev.test.per_target_r2) > 1:
        lines.append("\nper target R2: " + ", ".join(f"{t}={fmt(v)}" for t, v in zip(task.targets, ev.test.per_target_r2)))
    groups = list(ev.fit.groups.values())
    shown = groups[:12]
    prow = []
    for g in shown:
        vals = ", ".join(f"{k}={fmt(v)}±{fmt(g.stderr.get(k, float('nan')), 2)}" for k, v in g.params.items())
        err = ev.test.per_group.get(g.group, {}).get("rmse", float("nan"))
        prow.append([g.group, vals, err, "yes" if g.converged else "no"])
    lines.append("\n" + table(["group", "fitted parameters (± std. error)", "test RMSE", "converged"], prow, max_width=110))
    if len(groups) > len(shown):
        lines.append(f"... and {len(groups) - len(shown)} more groups (--json shows all)")
    lines.append(f"\nfitted in {ev.seconds:.2f}s")
    return "\n".join(lines)
