"""`lawagent tasks`: list and show the bundled tasks; `tasks new` and `tasks check` for a user's own.

`lawagent tasks NAME` shows a task and `lawagent tasks new ...` makes one, so
the first word after `tasks` is either a task name or an action; argparse
cannot have both as positionals, so the action's arguments are collected and
parsed by the action's own parser (with its own --help).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from lawagent.cli.format import table
from lawagent.errors import LawagentError
from lawagent.task import list_tasks, load_task, tasks_dir

EPILOG = """\
your own tasks:
  lawagent tasks new NAME --from runs.csv --features params,tokens --target loss --holdout "largest 20% by params"
      writes ./tasks-local/NAME/ (task.toml + a copy of the CSV); see `lawagent tasks new --help`
  lawagent tasks check ./tasks-local/NAME
      every problem of a task folder, one line each, as file:line (exit 2 if any)
  A task folder works wherever a task name does: lawagent discover --task ./tasks-local/NAME
"""

NEW_EPILOG = """\
what it writes (into --out/NAME/, default ./tasks-local/NAME/):
  data.csv   a byte copy of your CSV
  task.toml  features, targets, group, parameter budget, scale, the split and empty column
             descriptions: fill those in (a proposer reads them), never with values of held-out rows

the split (which rows are held out for the final test):
  --holdout RULE   e.g. "params >= 1e9", "largest 20% by tokens", "largest 2 by params or tokens > 1e11";
                   quantiles are per group; see `lawagent discover --help`
  (no --holdout)   the CSV's own 'split' column, with values train / test

examples:
  lawagent tasks new mylab --from runs.csv --features params,tokens --target loss --holdout "largest 20% by params"
  lawagent tasks new sweeps --from sweeps.csv --features lr,bsz,params --target loss --group dataset \\
      --holdout "params >= 1e9" --budget 10 --scale params --reference "E + A/params^a + c*(log(lr) - l0)^2"
  lawagent tasks new mylab --from runs_v2.csv --features params,tokens --target loss --holdout "largest 20% by params" --force
"""

CHECK_EPILOG = """\
what it checks, in order (a later step runs only when the earlier ones pass, so one mistake gives one line):
  task.toml is valid TOML; every key is known and has the right type; required keys are there
  (name, data, features, targets, parameter_budget); features/targets/scale/group agree; the split
  (a 'column' or a holdout 'rule', not both) and the validation rule parse; the data file exists,
  has no duplicate column names, has every named column, and numbers where numbers are needed;
  the split leaves train and test rows in every group; the reference law parses within the budget.
Each problem is one line: FILE:LINE: error: WHAT. Warnings do not fail the check.

examples:
  lawagent tasks check ./tasks-local/mylab
  lawagent tasks check tasks/*        (the bundled tasks)
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("tasks", help="list, show, make (new) and check tasks",
                       description="List the bundled scaling-law tasks (rows, groups, features, targets, parameter "
                       "budget), show one in full, or make and check your own task folder.",
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("name", nargs="?", help="a task to show in full (description, columns, reference law), "
                   "or the action 'new' or 'check'")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("action_args", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    p.set_defaults(run=run)


def new_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="lawagent tasks new", epilog=NEW_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Make a task folder from your CSV, so that discover, evaluate and bench can use it by path.")
    p.add_argument("name", help="task name, also the folder name (letters, digits, _ - .)")
    p.add_argument("--from", dest="csv", required=True, metavar="CSV", help="your data: one row per run")
    p.add_argument("--features", required=True, help="comma-separated input columns, e.g. params,tokens")
    p.add_argument("--target", required=True, help="the column to predict (comma-separated for several)")
    p.add_argument("--group", help="column whose values are fitted separately (e.g. dataset or model family)")
    p.add_argument("--holdout", metavar="RULE", help="which rows are held out for the final test (see below); "
                   "default: the CSV's train/test 'split' column")
    p.add_argument("--budget", type=int, default=8, metavar="N", help="most free parameters a law may have (default 8)")
    p.add_argument("--scale", help="comma-separated features whose product orders rows by scale (default: the "
                   "features the holdout rule uses, else all features)")
    p.add_argument("--description", default="", help="what the data is, for the proposer (default: a generated "
                   "sentence; better edit task.toml)")
    p.add_argument("--reference", metavar="FORMULA", help="a law to compare against (`lawagent evaluate DIR --reference`)")
    p.add_argument("--out", default=None, metavar="DIR", help="folder that receives NAME/ (default ./tasks-local)")
    p.add_argument("--force", action="store_true", help="replace an existing NAME/ folder")
    return p


def check_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="lawagent tasks check", epilog=CHECK_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Check task folders: every problem, one line each, with file and line; exit 2 if any.")
    p.add_argument("folders", nargs="+", metavar="DIR", help="task folder(s) holding task.toml")
    return p


def run(args: argparse.Namespace) -> int:
    if args.name == "new":
        return run_new(new_parser().parse_args(args.action_args))
    if args.name == "check":
        return run_check(check_parser().parse_args(args.action_args))
    if args.action_args:  # `lawagent tasks NAME --json`: options after the name land here
        extra = argparse.ArgumentParser(prog=f"lawagent tasks {args.name}")
        extra.add_argument("--json", action="store_true", help="machine-readable output")
        args.json = extra.parse_args(args.action_args).json or args.json
    if args.name:
        return show(args.name, args.json)
    tasks = [load_task(n) for n in list_tasks()]
    if args.json:
        print(json.dumps([_record(t) for t in tasks], indent=2))
        return 0
    rows = [
        [t.name, f"{t.n_train}/{t.n_test}", len(t.groups), ", ".join(t.features), ", ".join(t.targets) if len(t.targets) < 3 else f"{len(t.targets)} targets", t.parameter_budget]
        for t in tasks
    ]
    print(table(["task", "train/test", "groups", "features", "target", "budget"], rows, max_width=60))
    print(f"\n{len(tasks)} tasks in {tasks_dir()}. `lawagent tasks NAME` shows one in full; "
          "`lawagent tasks new --help` makes your own.")
    return 0


def show(name: str, as_json: bool) -> int:
    task = load_task(name)
    if as_json:
        print(json.dumps(_record(task), indent=2))
        return 0
    print(f"{task.name}: {task.title}\n\n{task.description}\n")
    print(f"features: {', '.join(task.features)}\ntargets: {', '.join(task.targets)}")
    print(f"group column: {task.group_column or '-'} ({len(task.groups)} groups)   parameter budget: {task.parameter_budget}")
    print(f"rows: {task.n_train} train / {task.n_test} held out ({task.split_description})\n")
    for col in task.columns.values():
        print(f"  {col.name:28s} {col.description}" + (f" [{col.unit}]" if col.unit else ""))
    if task.reference:
        ref = task.reference
        print(f"\nreference law: {'; '.join(ref.formulas)}\n  {ref.citation}")
        if ref.published_r2 is not None:
            print(f"  published R2 (SLDBench): {ref.published_r2}")
    return 0


def run_new(args: argparse.Namespace) -> int:
    from lawagent.taskdef import DEFAULT_PARENT, create_task

    made = create_task(
        args.name, args.csv, _names(args.features, "--features"), _names(args.target, "--target"),
        group=args.group, holdout=args.holdout, parent=args.out or DEFAULT_PARENT, parameter_budget=args.budget,
        scale=_names(args.scale, "--scale") if args.scale else None, description=args.description,
        reference=args.reference, force=args.force,
    )
    task, where = made.task, _shown(made.folder)
    groups = f", {len(task.groups)} groups" if task.group_column else ""
    print(f"created {where}/ (task.toml, data.csv): {task.n_train} train / {task.n_test} held-out rows{groups}; "
          f"{', '.join(task.features)} -> {', '.join(task.targets)}; budget {task.parameter_budget}")
    print("next:")
    print(f"  describe the data and its columns in {where}/task.toml (a proposer reads them; no held-out values)")
    print(f"  lawagent tasks check {where}")
    if args.reference:
        print(f"  lawagent evaluate {where} --reference")
    print(f"  lawagent discover --task {where}")
    print(f"  lawagent bench --tasks {where}")
    return 0


def run_check(args: argparse.Namespace) -> int:
    from lawagent.taskdef import check_task_folder

    failed = False
    for folder in args.folders:
        problems = check_task_folder(folder)
        for p in problems:
            print(p, file=sys.stderr)
        errors = [p for p in problems if not p.warning]
        failed |= bool(errors)
        if not errors:
            task = load_task(folder)
            print(f"{folder}: ok ({task.n_train} train / {task.n_test} held-out rows, "
                  f"{len(task.features)} feature(s) -> {', '.join(task.targets)})")
    return 2 if failed else 0


def _names(text: str, flag: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise LawagentError(f"{flag} needs at least one column name, got {text!r}")
    return names


def _shown(folder: Path) -> str:
    """The folder as the user would type it: ./tasks-local/NAME for a relative path."""
    text = str(folder)
    return text if folder.is_absolute() or text.startswith(".") else f"./{text}"


def _record(task) -> dict:
    return {
        "name": task.name, "title": task.title, "description": task.description,
        "features": list(task.features), "targets": list(task.targets), "group": task.group_column,
        "groups": len(task.groups), "n_train": task.n_train, "n_test": task.n_test,
        "parameter_budget": task.parameter_budget,
        "reference": list(task.reference.formulas) if task.reference else None,
    }
