"""`lawagent tasks new`: turn a user's CSV into a task folder (task.toml + data.csv).

A folder, rather than CSV flags repeated on every command, is what `discover`,
`evaluate` and `bench` take, and it is where the user writes what a proposer
should know (descriptions, units). The inputs are validated through the same
loader as everything else before anything is written; the folder is built
under a temporary name and renamed into place, so a failed call leaves nothing.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from lawagent.errors import TaskError
from lawagent.holdout import BoolOp, Compare, Node, Quantile, parse_holdout
from lawagent.task import Task, load_task, task_from_csv
from lawagent.taskdef.check import check_task_folder

__all__ = ["NewTask", "create_task", "DEFAULT_PARENT"]

DEFAULT_PARENT = Path("tasks-local")
DATA_FILE = "data.csv"
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_BARE_KEY_RE = re.compile(r"^[A-Za-z0-9_-]+$")


@dataclass(frozen=True)
class NewTask:
    """A task folder just written, and the task loaded back from it."""

    folder: Path
    task: Task


def create_task(
    name: str,
    csv_path: str | Path,
    features: Sequence[str],
    targets: Sequence[str],
    *,
    group: str | None = None,
    holdout: str | None = None,
    parent: str | Path = DEFAULT_PARENT,
    parameter_budget: int = 8,
    scale: Sequence[str] | None = None,
    description: str = "",
    reference: str | None = None,
    force: bool = False,
) -> NewTask:
    """Write ``parent/name/`` with task.toml and a byte copy of the CSV; return it loaded back."""
    if not _NAME_RE.match(name):
        raise TaskError(f"task name {name!r} must be letters, digits, '_', '-' or '.', starting with a letter or digit")
    csv_path = Path(csv_path).expanduser()
    folder = Path(parent).expanduser() / name
    if folder.exists() and not force:
        raise TaskError(f"{folder} already exists; pass --force to replace it")
    # validate everything through the loader first: its errors name the user's CSV and columns
    task = task_from_csv(csv_path, features, targets, group=group, holdout=holdout, name=name,
                         description=description, parameter_budget=parameter_budget, scale=scale)
    if reference is not None:
        from lawagent.evaluate import parse_law

        parse_law(task, reference)
    text = task_toml(task, csv_path, holdout, reference, description)
    return NewTask(_write_folder(folder, csv_path, text), load_task(folder))


def _write_folder(folder: Path, csv_path: Path, toml_text: str) -> Path:
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".tmp", dir=folder.parent))
    try:
        shutil.copyfile(csv_path, tmp / DATA_FILE)
        (tmp / "task.toml").write_text(toml_text, encoding="utf-8")
        errors = [p for p in check_task_folder(tmp) if not p.warning]
        if errors:  # the inputs passed the loader, so this is a bug in the writer
            raise TaskError(f"the task folder written for {folder.name!r} does not check: {errors[0]}")
        if folder.exists():  # --force: swap the new folder in, then drop the old one
            old = folder.parent / f".{folder.name}.old"
            shutil.rmtree(old, ignore_errors=True)
            os.replace(folder, old)
            try:
                os.replace(tmp, folder)
            except OSError:
                os.replace(old, folder)
                raise
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return folder


# -- task.toml text -------------------------------------------------------------------------------


def task_toml(task: Task, csv_path: Path, holdout: str | None, reference: str | None, description: str) -> str:
    """The task.toml of a new task, with comments telling the user what to fill in."""
    held_out = held_out_in_words(holdout)
    if not description:
        groups = f" Each {task.group_column} is fitted separately." if task.group_column else ""
        description = (f"{', '.join(task.targets)} as a function of {', '.join(task.features)}.{groups} "
                       f"The held-out rows are {held_out}, so the law must extrapolate there.")
    lines = [
        f"# Made by `lawagent tasks new` from {csv_path}. Check it with `lawagent tasks check <this folder>`.",
        f"name = {_str(task.name)}",
        f"title = {_str(task.name)}",
        "# What a proposer (and an LLM) reads: what was measured and how, units, where the law must",
        "# extrapolate. Never write values of the held-out rows here (no test thresholds or sizes).",
        f"description = {_str(description)}",
        f"data = {_str(DATA_FILE)}",
        f"features = {_list(task.features)}",
        f"targets = {_list(task.targets)}",
    ]
    if task.group_column:
        lines.append(f"group = {_str(task.group_column)}")
    lines += [
        "# most free parameters a law may have (all targets together)",
        f"parameter_budget = {task.parameter_budget}",
        "# features whose product orders rows by scale: validation rows are each group's largest training rows by it",
        f"scale = {_list(task.scale)}",
        "",
        "[split]",
    ]
    if holdout is not None:
        lines.append(f"rule = {_str(holdout)}")
    else:
        lines.append(f"column = {_str('split')}")
    lines.append(f"description = {_str('test = ' + held_out + '; train = the other rows')}")
    for col in [*task.features, *task.targets]:
        lines += ["", f"[columns.{_key(col)}]", 'description = ""  # fill in: what the column is', 'unit = ""']
    if reference is not None:
        lines += ["", "[reference]", f"formula = {_str(reference)}", 'citation = ""  # fill in: where the law comes from']
    lines += ["", "[source]", f"data = {_str(f'copied from {csv_path.resolve()}')}", ""]
    return "\n".join(lines)


def held_out_in_words(holdout: str | None) -> str:
    """Where the held-out rows are, without the rule's numbers (they may be test thresholds)."""
    if holdout is None:
        return "the rows marked 'test' in the split column"
    rule = parse_holdout(holdout)
    directions = {_direction(atom) for atom in _atoms(rule.node)}
    cols = " or ".join(rule.columns())
    if directions == {"largest"} or directions == {"smallest"}:
        return f"the rows with the {directions.pop()} {cols}"
    return f"rows chosen by a rule on {cols}"


def _atoms(node: Node) -> list[Compare | Quantile]:
    return [a for p in node.parts for a in _atoms(p)] if isinstance(node, BoolOp) else [node]


def _direction(atom: Compare | Quantile) -> str | None:
    if isinstance(atom, Quantile):
        return "largest" if atom.largest else "smallest"
    return {">": "largest", ">=": "largest", "<": "smallest", "<=": "smallest"}.get(atom.op)


def _str(text: str) -> str:
    """A TOML basic string (JSON's escapes are all valid TOML escapes)."""
    return json.dumps(text, ensure_ascii=False)


def _key(name: str) -> str:
    return name if _BARE_KEY_RE.match(name) else _str(name)


def _list(items: Sequence[str]) -> str:
    return "[" + ", ".join(_str(i) for i in items) + "]"
