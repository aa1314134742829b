"""`lawagent tasks check`: every problem of a task folder, one line each, with file and line.

The loader (:mod:`lawagent.task`) stops at the first problem and cannot say on
which line it is; someone fixing a folder wants each problem located. The checks
run in layers (TOML syntax; keys and types; the data file; the split; the
reference law and validation rows) and a layer runs only when the ones before
found nothing, so that one mistake gives one message, not a cascade. The last
layer loads the folder with the real loader, so a folder that passes also loads.
"""

from __future__ import annotations

import csv
import difflib
import math
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from lawagent.errors import LawagentError, TaskError
from lawagent.holdout import parse_holdout
from lawagent.selection.protocol import protocol_for
from lawagent.taskdef.schema import COLUMN, KIND_NAMES, REFERENCE, SPLIT, TOP, Key, kind_ok
from lawagent.taskdef.toml_lines import key_lines, toml_error_line

__all__ = ["Problem", "check_task_folder"]


@dataclass(frozen=True)
class Problem:
    """One problem: the file, the line (when known) and what is wrong.

    A warning is a rule the folder should follow but that the loader does not
    (yet) enforce; it does not make the check fail.
    """

    file: Path
    line: int | None
    message: str
    warning: bool = False

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else str(self.file)
        return f"{where}: {'warning' if self.warning else 'error'}: {self.message}"


def _one_line(message: str) -> str:
    """Holdout and formula errors may draw a caret under the text; keep their first line."""
    return message.strip().splitlines()[0].rstrip(":") if message.strip() else message


class _Toml:
    """The parsed task.toml with the line of each key, collecting problems."""

    def __init__(self, path: Path, meta: dict[str, Any], lines: dict[str, int]) -> None:
        self.path, self.meta, self.lines = path, meta, lines
        self.problems: list[Problem] = []

    def line(self, key: str) -> int | None:
        while key:  # fall back to the enclosing table: 'split.rule' -> 'split'
            if key in self.lines:
                return self.lines[key]
            key = key.rpartition(".")[0]
        return None

    def add(self, key: str, message: str, warning: bool = False) -> None:
        self.problems.append(Problem(self.path, self.line(key), message, warning))

    @property
    def failed(self) -> bool:
        return any(not p.warning for p in self.problems)

    def keys(self, table: dict[str, Any], schema: dict[str, Key], prefix: str, what: str) -> None:
        """Unknown, missing and wrongly typed keys of one table (``what`` names it in messages)."""
        suggested = set()
        for key, value in table.items():
            path = f"{prefix}{key}"
            if key not in schema:
                close = difflib.get_close_matches(key, [k for k in schema if k not in table], n=1)
                suggested.update(close)
                hint = f"; did you mean {close[0]!r}?" if close else f" (known: {', '.join(schema)})"
                self.add(path, f"unknown key {key!r}{what and ' in ' + what}{hint}")
            elif not kind_ok(value, schema[key].kind):
                self.add(path, f"{what and what + ': '}{key!r} must be {KIND_NAMES[schema[key].kind]}, got {value!r}")
        for key, spec in schema.items():
            if spec.required and key not in table and key not in suggested:  # a misspelling is reported once
                self.add(prefix.rstrip("."), f"{what and what + ': '}missing required key {key!r}")


def check_task_folder(folder: str | Path) -> list[Problem]:
    """All problems of a task folder (none, or only warnings, when it is a valid task)."""
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        return [Problem(folder, None, "not a folder (a task is a folder with task.toml and its data file)")]
    path = folder / "task.toml"
    if not path.is_file():
        return [Problem(folder, None, "no task.toml in this folder (`lawagent tasks new` writes one)")]
    try:
        text = path.read_text(encoding="utf-8")
        meta = tomllib.loads(text)
    except UnicodeDecodeError as err:
        return [Problem(path, None, f"not UTF-8 text: {err.reason}")]
    except tomllib.TOMLDecodeError as err:
        return [Problem(path, toml_error_line(str(err)), f"invalid TOML: {err}")]
    toml = _Toml(path, meta, key_lines(text))
    for layer in (_check_keys, _check_names, _check_data, _check_loads):
        layer(toml, folder)
        if toml.failed:
            break
    return toml.problems


# -- layer 1: keys and types ------------------------------------------------------------------


def _check_keys(toml: _Toml, folder: Path) -> None:
    meta = toml.meta
    toml.keys(meta, TOP, "", "")
    split = meta.get("split")
    if isinstance(split, dict):
        toml.keys(split, SPLIT, "split.", "[split]")
    columns = meta.get("columns")
    if isinstance(columns, dict):
        for col, info in columns.items():
            if not isinstance(info, dict):
                toml.add(f"columns.{col}", f"[columns.{col}] must be a table with description and unit")
            else:
                toml.keys(info, COLUMN, f"columns.{col}.", f"[columns.{col}]")
    ref = meta.get("reference")
    if isinstance(ref, dict):
        toml.keys(ref, REFERENCE, "reference.", "[reference]")
        for name, value in (ref.get("initial") or {}).items() if isinstance(ref.get("initial"), dict) else ():
            if not kind_ok(value, "number"):
                toml.add(f"reference.initial.{name}", f"[reference] initial value of {name!r} must be a number, got {value!r}")
        for name, value in (ref.get("bounds") or {}).items() if isinstance(ref.get("bounds"), dict) else ():
            if not (isinstance(value, list) and len(value) == 2 and all(kind_ok(v, "number") for v in value)):
                toml.add(f"reference.bounds.{name}", f"[reference] bounds of {name!r} must be [low, high], got {value!r}")
            elif not value[0] <= value[1]:
                toml.add(f"reference.bounds.{name}", f"[reference] bounds of {name!r} have low > high: {value!r}")
    source = meta.get("source")
    if isinstance(source, dict):
        for key, value in source.items():
            if not isinstance(value, str):
                toml.add(f"source.{key}", f"[source] {key!r} must be a string, got {value!r}")


# -- layer 2: names refer to each other consistently -------------------------------------------


def _check_names(toml: _Toml, folder: Path) -> None:
    meta = toml.meta
    features, targets = meta["features"], meta["targets"]
    for key, names in (("features", features), ("targets", targets), ("scale", meta.get("scale") or [])):
        if key != "scale" and not names:
            toml.add(key, f"{key!r} is empty: give at least one column")
        dup = next((c for i, c in enumerate(names) if c in names[:i]), None)
        if dup is not None:
            toml.add(key, f"{dup!r} is listed twice in {key!r}")
    both = next((t for t in targets if t in features), None)
    if both is not None:
        toml.add("targets", f"{both!r} is both a feature and a target")
    group = meta.get("group")
    if group is not None and group in features + targets:
        toml.add("group", f"group column {group!r} is also a feature or target")
    if meta["parameter_budget"] < 1:
        toml.add("parameter_budget", f"parameter_budget must be at least 1, got {meta['parameter_budget']}")
    not_features = [s for s in meta.get("scale") or [] if s not in features]
    if not_features:
        toml.add("scale", f"scale column(s) {not_features} are not features {features}")
    split = meta.get("split", {"column": "split"})
    if ("column" in split) == ("rule" in split):
        toml.add("split", "[split] needs exactly one of 'column' (a train/test column) or 'rule' (a holdout rule)")
    for key in ("rule", "validation"):
        if key in split:
            try:
                rule = parse_holdout(split[key], allow_share=key == "validation")
            except TaskError as err:
                toml.add(f"split.{key}", f"[split] {key}: {_one_line(str(err))}")
                continue
            if key == "validation":
                unknown = [c for c in rule.columns() if c not in features]
                if unknown:
                    toml.add("split.validation", f"[split] validation rule uses {unknown[0]!r}, which is not a feature")
    if ("validation" in split) != ("validation_reason" in split):
        toml.add("split.validation" if "validation" in split else "split.validation_reason",
                 "[split] 'validation' (a rule replacing the default carve of validation rows) needs "
                 "'validation_reason' (why the default carve does not ask the test split's question), and vice versa")
    ref = meta.get("reference")
    if isinstance(ref, dict):
        formulas = [ref["formula"]] if isinstance(ref["formula"], str) else ref["formula"]
        if len(formulas) != len(targets):
            toml.add("reference.formula", f"[reference] {len(formulas)} formula(s) given for {len(targets)} target(s) {targets}")


# -- layer 3: the data file ----------------------------------------------------------------------


def _check_data(toml: _Toml, folder: Path) -> None:
    meta = toml.meta
    csv_path = folder / meta["data"]
    if not csv_path.is_file():
        toml.add("data", f"data file {meta['data']!r} not found in {folder}")
        return
    header = _header(csv_path, toml)
    if header is None:
        return
    split = meta.get("split", {"column": "split"})
    needed = [("features", c) for c in meta["features"]] + [("targets", c) for c in meta["targets"]]
    needed += [("group", meta["group"])] if meta.get("group") else []
    needed += [("split.column", split["column"])] if "column" in split else []
    for key, col in needed:
        if col not in header:
            toml.add(key, f"column {col!r} is not in {csv_path.name} (its columns: {', '.join(header)})")
    for col in meta.get("columns") or {}:
        if col not in header:
            toml.add(f"columns.{col}", f"[columns.{col}] describes a column that is not in {csv_path.name}")
    if toml.failed:
        return
    try:
        df = pd.read_csv(csv_path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError) as err:
        toml.problems.append(Problem(csv_path, None, f"malformed CSV: {_one_line(str(err))}"))
        return
    if len(df) == 0:
        toml.problems.append(Problem(csv_path, None, "the CSV has a header but no data rows"))
        return
    for col in [*meta["features"], *meta["targets"]]:
        bad = _first_non_number(df[col])
        if bad is not None:
            row, value = bad
            toml.problems.append(Problem(csv_path, row + 2, f"column {col!r} holds {value!r}, not a finite number"))
    if meta.get("group"):
        empty = df.index[df[meta["group"]].str.strip() == ""]
        if len(empty):
            toml.problems.append(Problem(csv_path, int(empty[0]) + 2, f"group column {meta['group']!r} is empty"))
    if "column" in split:
        labels = df[split["column"]].str.strip().str.lower()
        bad_labels = df.index[~labels.isin(["train", "test"])]
        if len(bad_labels):
            i = int(bad_labels[0])
            toml.problems.append(Problem(csv_path, i + 2, f"split column {split['column']!r} holds "
                                         f"{df[split['column']].iloc[i]!r}; it must be 'train' or 'test'"))


def _header(csv_path: Path, toml: _Toml) -> list[str] | None:
    try:
        with open(csv_path, newline="", encoding="utf-8-sig") as fh:
            header = next(csv.reader(fh), None)
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        toml.problems.append(Problem(csv_path, 1, f"cannot read the CSV header: {err}"))
        return None
    if not header or all(not h.strip() for h in header):
        toml.problems.append(Problem(csv_path, 1, "empty CSV: no header line"))
        return None
    for i, col in enumerate(header):
        if col in header[:i]:
            toml.problems.append(Problem(csv_path, 1, f"duplicate column name {col!r} (columns {header.index(col) + 1} and {i + 1})"))
            return None
    return header


def _first_non_number(values: pd.Series) -> tuple[int, str] | None:
    for i, text in enumerate(values.tolist()):
        try:
            ok = math.isfinite(float(text.strip()))
        except ValueError:
            ok = False
        if not ok:
            return i, text
    return None


# -- layer 4: the real loader, the split, the reference law, the validation rows --------------


def _check_loads(toml: _Toml, folder: Path) -> None:
    from lawagent.evaluate import reference_law
    from lawagent.task import load_task

    split_key = "split.rule" if "rule" in toml.meta.get("split", {}) else "split"
    try:
        task = load_task(folder)
    except TaskError as err:  # empty test or train split, a group with no training rows, ...
        toml.add(split_key, _one_line(str(err)))
        return
    if task.reference is not None:
        try:
            reference_law(task)
        except LawagentError as err:
            toml.add("reference.formula", _one_line(str(err)))
    if task.validation_rule is not None:
        try:
            val = protocol_for(task).carve(task.train()).val
        except TaskError as err:
            toml.add("split.validation", f"[split] validation: {_one_line(str(err))}")
        else:
            if not len(val):
                toml.add("split.validation", "[split] validation rule selects no training row")
