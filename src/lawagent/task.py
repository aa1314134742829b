"""Tasks: a data set with features, targets, groups and a held-out test split.

A bundled task is a folder ``tasks/<name>/`` with ``task.toml`` and ``data.csv``;
a user's own CSV becomes a task through :func:`task_from_csv`. Test rows are
kept private: :meth:`Task.train` never contains them; only :meth:`Task.test`
(final reporting) does. Search never holds a Task at all, only the
train-only view built by :mod:`lawagent.selection.view`.
"""

from __future__ import annotations

import csv
import os
import re
import time
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from pandas.api.types import union_categoricals

from lawagent.errors import TaskError
from lawagent.holdout import parse_holdout

if TYPE_CHECKING:
    from lawagent.fit.fitter import GroupIndex

__all__ = [
    "ColumnInfo",
    "DataSplit",
    "ReferenceLaw",
    "Task",
    "list_tasks",
    "load_task",
    "task_from_csv",
    "tasks_dir",
]

NO_GROUP = "all"
_MAX_LISTED = 5
LARGE_CSV_BYTES = 8 * 2**20  # loading a CSV at least this large reports its progress
LOAD_PROGRESS_SECONDS = 2.0  # ... about this often
CSV_CHUNK_ROWS = 200_000
# the names a formula can give a feature: the law language's names (lawagent.law.parse),
# less those starting with '_' (the canonical form's own symbols, and parameters may not either)
_FORMULA_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")


@dataclass(frozen=True)
class ColumnInfo:
    """Human description of one column."""

    name: str
    description: str = ""
    unit: str = ""


@dataclass(frozen=True)
class ReferenceLaw:
    """A human reference law: one formula per target, plus optional fitting hints."""

    formulas: tuple[str, ...]
    citation: str = ""
    published_r2: float | None = None
    notes: str = ""
    initial: dict[str, float] = field(default_factory=dict)
    bounds: dict[str, tuple[float, float]] = field(default_factory=dict)


@dataclass(frozen=True, eq=False)
class DataSplit:
    """Rows of one split: features as float64 arrays, targets (n, n_targets), group label per row."""

    X: dict[str, np.ndarray]
    y: np.ndarray
    groups: np.ndarray
    scale: np.ndarray

    def __len__(self) -> int:
        return int(self.y.shape[0])

    def subset(self, mask: np.ndarray) -> DataSplit:
        """Rows where ``mask`` is True (a boolean mask or an index array)."""
        m = np.asarray(mask)
        return DataSplit(
            X={k: v[m] for k, v in self.X.items()},
            y=self.y[m],
            groups=self.groups[m],
            scale=self.scale[m],
        )

    def group_names(self) -> list[str]:
        """Distinct group labels in first-appearance order."""
        return [str(g) for g in pd.unique(self.groups)]

    @cached_property
    def group_index(self) -> GroupIndex:
        """The group labels as predictions match them (:func:`lawagent.fit.fitter.predict`), worked out
        once: the search predicts on the same few splits thousands of times."""
        from lawagent.fit.fitter import GroupIndex  # the fitter (and sympy) load only where a prediction is made

        return GroupIndex.of(self.groups)


@dataclass(frozen=True, eq=False)
class Task:
    """A scaling-law task. Test rows are reachable only through :meth:`test`."""

    name: str
    title: str
    description: str
    features: tuple[str, ...]
    targets: tuple[str, ...]
    group_column: str | None
    parameter_budget: int
    scale: tuple[str, ...]
    columns: dict[str, ColumnInfo]
    reference: ReferenceLaw | None
    source: dict[str, str]
    path: Path | None
    split_description: str
    _all: DataSplit = field(repr=False)
    _test_mask: np.ndarray = field(repr=False)
    holdout: str | None = None  # the holdout rule that made the test split (None: a train/test column)
    validation_rule: str | None = None  # the task's own validation rule (see lawagent.selection.protocol)
    validation_reason: str = ""  # why the task overrides the protocol's default
    collection: str = ""  # which collection a bundled task belongs to ("sldbench", "more"); leaderboards group by it
    # a development split: test rows dropped, validation fold 1 as pseudo-test; True for the near split,
    # "far" for the far one (selection.dev)
    dev: bool | str = False

    # -- splits ---------------------------------------------------------
    def train(self) -> DataSplit:
        """Training rows only (test rows physically absent)."""
        return self._all.subset(~self._test_mask)

    def test(self) -> DataSplit:
        """Held-out rows, for final reporting only."""
        return self._all.subset(self._test_mask)

    def without_test(self) -> Task:
        """This task with its test rows dropped from memory: what search may hold (``test()`` then has no rows)."""
        train = self.train()
        return replace(self, _all=train, _test_mask=np.zeros(len(train), dtype=bool))

    # -- info -----------------------------------------------------------
    @property
    def n_train(self) -> int:
        return int((~self._test_mask).sum())

    @property
    def n_test(self) -> int:
        return int(self._test_mask.sum())

    @property
    def groups(self) -> list[str]:
        """All group names (train and test), first-appearance order."""
        return self._all.group_names()


# ---------------------------------------------------------------------------
# finding tasks


def tasks_dir() -> Path:
    """The bundled task collection: $LAWAGENT_TASKS_DIR, else <repo>/tasks, else lawagent/_tasks."""
    env = os.environ.get("LAWAGENT_TASKS_DIR")
    if env:
        p = Path(env).expanduser()
        if not p.is_dir():
            raise TaskError(f"LAWAGENT_TASKS_DIR={env!r} is not a directory")
        return p
    here = Path(__file__).resolve().parent
    for candidate in (here.parent.parent / "tasks", here / "_tasks"):
        if candidate.is_dir():
            return candidate
    raise TaskError("no bundled task collection found; set LAWAGENT_TASKS_DIR to a folder of tasks")


def list_tasks() -> list[str]:
    """Names of the bundled tasks (folders with a task.toml), sorted."""
    root = tasks_dir()
    return sorted(p.name for p in root.iterdir() if (p / "task.toml").is_file())


def load_task(name_or_path: str | Path) -> Task:
    """Load a bundled task by name, or a folder holding task.toml, or a task.toml path."""
    p = Path(name_or_path).expanduser()
    if p.is_dir():
        toml_path = p / "task.toml"
        if not toml_path.is_file():
            raise TaskError(f"folder {p} has no task.toml")
    elif p.is_file():
        toml_path = p
    else:
        name = str(name_or_path)
        try:
            available = list_tasks()
        except TaskError:
            available = []
        if name not in available:
            raise TaskError(
                f"unknown task {name!r}: not a bundled task and no such file or folder; "
                f"bundled tasks: {', '.join(available) or '(none)'}"
            )
        toml_path = tasks_dir() / name / "task.toml"
    return _task_from_toml(toml_path)


# ---------------------------------------------------------------------------
# toml


def _get(meta: dict[str, Any], key: str, typ: type | tuple[type, ...], where: str, required: bool = True) -> Any:
    if key not in meta:
        if required:
            raise TaskError(f"{where}: missing required key {key!r}")
        return None
    val = meta[key]
    if typ is float and isinstance(val, int) and not isinstance(val, bool):
        val = float(val)
    if not isinstance(val, typ) or (isinstance(val, bool) and typ in (int, float)):
        names = typ.__name__ if isinstance(typ, type) else " or ".join(t.__name__ for t in typ)
        raise TaskError(f"{where}: key {key!r} must be {names}, got {type(val).__name__} {val!r}")
    return val


def _str_list(meta: dict[str, Any], key: str, where: str, required: bool = True) -> list[str] | None:
    val = _get(meta, key, list, where, required)
    if val is None:
        return None
    if not all(isinstance(v, str) for v in val):
        raise TaskError(f"{where}: key {key!r} must be a list of strings, got {val!r}")
    return list(val)


def _number(val: Any, what: str) -> float:
    if isinstance(val, bool) or not isinstance(val, (int, float)):
        raise TaskError(f"{what} must be a number, got {val!r}")
    return float(val)


def _parse_reference(ref: Any, targets: Sequence[str], where: str) -> ReferenceLaw | None:
    if ref is None:
        return None
    where = f"{where} [reference]"
    if not isinstance(ref, dict):
        raise TaskError(f"{where}: must be a table")
    formula = ref.get("formula")
    if isinstance(formula, str):
        formulas = (formula,)
    elif isinstance(formula, list) and formula and all(isinstance(f, str) for f in formula):
        formulas = tuple(formula)
    else:
        raise TaskError(f"{where}: 'formula' must be a string or a list of strings, got {formula!r}")
    if len(formulas) != len(targets):
        raise TaskError(f"{where}: {len(formulas)} formula(s) given for {len(targets)} target(s) {list(targets)}")
    r2 = ref.get("published_r2")
    initial_raw = _get(ref, "initial", dict, where, required=False) or {}
    bounds_raw = _get(ref, "bounds", dict, where, required=False) or {}
    initial = {str(k): _number(v, f"{where}: initial value of {k!r}") for k, v in initial_raw.items()}
    bounds: dict[str, tuple[float, float]] = {}
    for k, v in bounds_raw.items():
        if not (isinstance(v, list) and len(v) == 2):
            raise TaskError(f"{where}: bounds of {k!r} must be [low, high], got {v!r}")
        lo, hi = (_number(x, f"{where}: bound of {k!r}") for x in v)
        if not lo <= hi:
            raise TaskError(f"{where}: bounds of {k!r} have low > high: {v!r}")
        bounds[str(k)] = (lo, hi)
    return ReferenceLaw(
        formulas=formulas,
        citation=_get(ref, "citation", str, where, required=False) or "",
        published_r2=None if r2 is None else _number(r2, f"{where}: published_r2"),
        notes=_get(ref, "notes", str, where, required=False) or "",
        initial=initial,
        bounds=bounds,
    )


def _task_from_toml(toml_path: Path) -> Task:
    where = str(toml_path)
    try:
        with open(toml_path, "rb") as fh:
            meta = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise TaskError(f"{where}: invalid TOML: {exc}") from None
    except OSError as exc:
        raise TaskError(f"{where}: cannot read: {exc.strerror}") from None
    folder = toml_path.parent
    name = _get(meta, "name", str, where)
    data = _get(meta, "data", str, where)
    features = _str_list(meta, "features", where)
    targets = _str_list(meta, "targets", where)
    budget = _get(meta, "parameter_budget", int, where)
    group = _get(meta, "group", str, where, required=False)
    scale = _str_list(meta, "scale", where, required=False)
    split = _get(meta, "split", dict, where, required=False) or {"column": "split"}
    split_where = f"{where} [split]"
    split_column = _get(split, "column", str, split_where, required=False)
    split_rule = _get(split, "rule", str, split_where, required=False)
    if (split_column is None) == (split_rule is None):
        raise TaskError(f"{split_where}: give exactly one of 'column' (a train/test column) or 'rule' (a holdout rule)")
    columns_meta = _get(meta, "columns", dict, where, required=False) or {}
    columns: dict[str, ColumnInfo] = {}
    for col, info in columns_meta.items():
        cw = f"{where} [columns.{col}]"
        if not isinstance(info, dict):
            raise TaskError(f"{cw}: must be a table")
        columns[col] = ColumnInfo(
            col,
            _get(info, "description", str, cw, required=False) or "",
            _get(info, "unit", str, cw, required=False) or "",
        )
    source = _get(meta, "source", dict, where, required=False) or {}
    if not all(isinstance(v, str) for v in source.values()):
        raise TaskError(f"{where} [source]: values must be strings")
    assert features is not None and targets is not None
    reference = _parse_reference(meta.get("reference"), targets, where)
    validation_rule = _get(split, "validation", str, split_where, required=False)
    validation_reason = _get(split, "validation_reason", str, split_where, required=False) or ""
    if validation_rule is not None:
        unknown = [c for c in parse_holdout(validation_rule, allow_share=True).columns() if c not in features]
        if unknown:
            raise TaskError(f"{split_where}: validation rule uses {unknown[0]!r}, which is not a feature")
        if not validation_reason.strip():
            raise TaskError(f"{split_where}: a 'validation' rule needs a 'validation_reason' saying why the "
                            "protocol's default carve does not ask this task's test question")
    task = _build_task(
        csv_path=folder / data,
        features=features,
        targets=targets,
        group=group,
        split_column=split_column,
        split_rule=split_rule,
        name=name,
        title=_get(meta, "title", str, where, required=False) or name,
        description=_get(meta, "description", str, where, required=False) or "",
        parameter_budget=budget,
        scale=scale,
        columns=columns,
        reference=reference,
        source=dict(source),
        path=folder,
        split_description=_get(split, "description", str, split_where, required=False) or "",
        where=where,
    )
    collection = _get(meta, "collection", str, where, required=False) or ""
    return replace(task, holdout=split_rule, validation_rule=validation_rule, validation_reason=validation_reason,
                   collection=collection)


# ---------------------------------------------------------------------------
# csv


def task_from_csv(
    path: str | Path,
    features: Sequence[str],
    targets: Sequence[str],
    group: str | None = None,
    holdout: str | None = None,
    name: str | None = None,
    description: str = "",
    parameter_budget: int = 8,
    scale: Sequence[str] | None = None,
    validation: str | None = None,
    log: Callable[[str], None] | None = None,
) -> Task:
    """A task from a user's CSV; ``holdout`` is a rule (see lawagent.holdout) or None to use a train/test ``split`` column.

    ``scale`` names the features along which the held-out rows lie further out
    (default: the features the holdout rule uses); ``validation`` is an
    explicit validation rule (default: derived from the holdout rule, see
    :mod:`lawagent.selection.protocol`). ``log`` hears the progress of loading
    a large file (a line every few seconds).
    """
    csv_path = Path(path).expanduser()
    split_column = None
    split_rule = holdout
    if holdout is None:
        header = _read_header(csv_path)
        if "split" not in header:
            raise TaskError(
                f"{csv_path}: no holdout rule given and no 'split' column with train/test values; "
                "pass a holdout rule such as 'largest 20% by params'"
            )
        split_column = "split"
    if scale is None and split_rule is not None:
        used = [c for c in parse_holdout(split_rule).columns() if c in features]
        scale = used or list(features)
    if validation is not None:
        unknown = [c for c in parse_holdout(validation, allow_share=True).columns() if c not in features]
        if unknown:
            raise TaskError(f"validation rule {validation!r} uses {unknown[0]!r}, which is not a feature "
                            f"(features: {', '.join(features)})")
    task = _build_task(
        csv_path=csv_path,
        features=list(features),
        targets=list(targets),
        group=group,
        split_column=split_column,
        split_rule=split_rule,
        name=name or csv_path.stem,
        title=name or csv_path.stem,
        description=description,
        parameter_budget=parameter_budget,
        scale=None if scale is None else list(scale),
        columns={},
        reference=None,
        source={"data": str(csv_path)},
        path=csv_path,
        split_description=f"holdout rule: {holdout}" if holdout else "the 'split' column of the CSV",
        where=str(csv_path),
        log=log,
    )
    return replace(task, holdout=holdout, validation_rule=validation,
                   validation_reason="given by the user" if validation else "")


def _read_header(csv_path: Path) -> list[str]:
    if not csv_path.is_file():
        raise TaskError(f"data file not found: {csv_path}")
    try:
        with open(csv_path, newline="", encoding="utf-8-sig") as fh:
            header = next(csv.reader(fh), None)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise TaskError(f"{csv_path}: cannot read CSV header: {exc}") from None
    if not header or all(not h.strip() for h in header):
        raise TaskError(f"{csv_path}: empty CSV (no header line)")
    seen: set[str] = set()
    for i, col in enumerate(header):
        if col in seen:
            raise TaskError(f"{csv_path}: duplicate column name {col!r} in the header (position {i + 1})")
        seen.add(col)
    return header


def _read_csv(csv_path: Path, header: list[str], numeric: Sequence[str], text: Sequence[str],
              log: Callable[[str], None] | None = None) -> pd.DataFrame:
    """The CSV's rows: ``numeric`` columns as float64, ``text`` columns as strings, the others as categories.

    Numbers are parsed by pandas' C reader (the same values as Python's ``float``);
    when a numeric column holds something it cannot read, those columns are read again
    as text to name the row (:func:`_numbers`). Every column is read, so that a row with
    too many fields is still an error. A large file is read in chunks, and ``log``
    hears how far it got.
    """
    size = csv_path.stat().st_size
    log = log if log is not None and size >= LARGE_CSV_BYTES else None
    start = time.monotonic()
    if log:
        log(f"loading {csv_path.name} ({size / 1e6:.0f} MB) ...")
    dtypes: dict[str, Any] = {c: ("float64" if c in numeric else str if c in text else "category") for c in header}
    try:
        frame = _read_chunks(csv_path, dtypes, size, log, start)
    except ValueError:  # a numeric column holds text: read those as text to say where
        if not numeric:
            raise
        frame = _read_chunks(csv_path, dtypes | {c: str for c in numeric}, size, log, start)
        for c in numeric:
            frame[c] = _numbers(frame[c], c, csv_path)
    if len(frame) == 0:
        raise TaskError(f"{csv_path}: the CSV has a header but no data rows")
    if log:
        log(f"loaded {len(frame):,} rows of {csv_path.name} in {time.monotonic() - start:.1f}s")
    return frame


def _read_chunks(csv_path: Path, dtypes: dict[str, Any], size: int, log: Callable[[str], None] | None,
                 start: float) -> pd.DataFrame:
    """pandas' C reader over the file, :data:`CSV_CHUNK_ROWS` rows at a time (categories merged at the end)."""
    chunks: list[pd.DataFrame] = []
    last = start
    try:
        with open(csv_path, "rb") as fh:
            for chunk in pd.read_csv(fh, dtype=dtypes, keep_default_na=False, encoding="utf-8-sig",
                                     chunksize=CSV_CHUNK_ROWS):
                chunks.append(chunk)
                if log and time.monotonic() - last >= LOAD_PROGRESS_SECONDS:
                    last = time.monotonic()
                    rows = sum(len(c) for c in chunks)
                    log(f"loading {csv_path.name}: {rows:,} rows, {fh.tell() / 1e6:.0f} of {size / 1e6:.0f} MB")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise TaskError(f"{csv_path}: malformed CSV: {str(exc).strip()}") from None
    except OSError as exc:
        raise TaskError(f"{csv_path}: cannot read: {exc.strerror}") from None
    if not chunks:
        return pd.DataFrame({c: pd.Series(dtype="float64" if k == "float64" else object) for c, k in dtypes.items()})
    if len(chunks) == 1:
        return chunks[0]
    frame = pd.concat(chunks, ignore_index=True)
    for col, kind in dtypes.items():
        if kind == "category":  # chunks have their own categories, which concat turns into text: merge them
            frame[col] = union_categoricals([c[col] for c in chunks])
    return frame


def _row(i: int) -> str:
    return f"row {i + 1} (line {i + 2})"


def _rows(index: np.ndarray) -> str:
    """'row 3 (line 4), row 5 (line 6) and 12 more'."""
    listed = ", ".join(_row(int(i)) for i in index[:_MAX_LISTED])
    return listed + (f" and {len(index) - _MAX_LISTED} more" if len(index) > _MAX_LISTED else "")


def _numbers(column: pd.Series, col: str, csv_path: Path) -> np.ndarray:
    """A text column as float64, each cell as Python's ``float`` reads it (blank = NaN);
    the first cell that is not a number is an error naming its row and line."""
    text = column.str.strip()
    values = pd.to_numeric(text, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan, copy=True)
    for i in np.flatnonzero(np.isnan(values)):  # what pandas left: blanks, NaN spellings, 1_000, text
        cell = text.iat[i]
        if cell == "":
            continue
        try:
            number = float(cell)
        except ValueError:
            raise TaskError(f"{csv_path}: column {col!r} must be numeric, but {_row(int(i))} holds "
                            f"{column.iat[i]!r}") from None
        values[i] = number
    return values


def _finite(values: np.ndarray, col: str, csv_path: Path) -> np.ndarray:
    bad = np.flatnonzero(~np.isfinite(values))
    if len(bad):
        raise TaskError(f"{csv_path}: column {col!r} has missing, NaN or infinite values at {_rows(bad)}")
    return np.ascontiguousarray(values, dtype=np.float64)


def _labels(column: pd.Series) -> tuple[np.ndarray, list[str], np.ndarray]:
    """A text column as (an object array of its strings, the distinct strings, each row's index into them).

    Rows share one string object per distinct value: a million rows of eight
    groups hold eight strings, not a million.
    """
    cat = column.astype("category").cat
    names = [str(c) for c in cat.categories]
    codes = cat.codes.to_numpy()
    return np.asarray(names, dtype=object)[codes], names, codes


def _name_problem(name: str) -> str | None:
    """Why ``name`` cannot stand for a feature in a formula (None if it can)."""
    from lawagent.law.parse import MAX_NAME_LENGTH

    if not _FORMULA_NAME.fullmatch(name):
        return "a name in a formula is ASCII letters, digits and '_', starting with a letter"
    if len(name) > MAX_NAME_LENGTH:
        return f"a name in a formula has at most {MAX_NAME_LENGTH} characters"
    return None


def _suggested_name(name: str) -> str:
    """'model size' -> 'model_size', '2x' -> 'x_2x' (a name :func:`_name_problem` accepts)."""
    from lawagent.law.parse import MAX_NAME_LENGTH

    out = re.sub(r"[^A-Za-z0-9_]+", "_", name).strip("_") or "x"
    out = out if out[0].isalpha() else f"x_{out}"
    return out[:MAX_NAME_LENGTH]


def _build_task(
    *,
    csv_path: Path,
    features: list[str],
    targets: list[str],
    group: str | None,
    split_column: str | None,
    split_rule: str | None,
    name: str,
    title: str,
    description: str,
    parameter_budget: int,
    scale: list[str] | None,
    columns: dict[str, ColumnInfo],
    reference: ReferenceLaw | None,
    source: dict[str, str],
    path: Path | None,
    split_description: str,
    where: str,
    log: Callable[[str], None] | None = None,
) -> Task:
    # metadata checks (before touching the data)
    if not features:
        raise TaskError(f"{where}: no features given")
    if not targets:
        raise TaskError(f"{where}: no targets given")
    for kind, cols in (("feature", features), ("target", targets), ("scale feature", scale or [])):
        dup = next((c for i, c in enumerate(cols) if c in cols[:i]), None)
        if dup is not None:
            raise TaskError(f"{where}: {kind} {dup!r} is listed twice")
    both = next((t for t in targets if t in features), None)
    if both is not None:
        raise TaskError(f"{where}: {both!r} is both a feature and a target")
    if group is not None and group in features + targets:
        raise TaskError(f"{where}: group column {group!r} is also a feature or target")
    if isinstance(parameter_budget, bool) or not isinstance(parameter_budget, int) or parameter_budget < 1:
        raise TaskError(f"{where}: parameter_budget must be a positive integer, got {parameter_budget!r}")
    if scale is None:
        scale = list(features)
    not_feat = [s for s in scale if s not in features]
    if not_feat:
        raise TaskError(f"{where}: scale column(s) {not_feat} are not features {features}")
    for f in features:
        problem = _name_problem(f)
        if problem is not None:
            raise TaskError(f"{where}: feature column {f!r} cannot appear in a formula ({problem}); rename the "
                            f"column, e.g. to {_suggested_name(f)!r}, in the CSV header and wherever it is named")
    rule = parse_holdout(split_rule) if split_rule is not None else None

    header = _read_header(csv_path)
    available = ", ".join(header)
    for kind, cols in (
        ("feature", features),
        ("target", targets),
        ("group", [group] if group else []),
        ("split", [split_column] if split_column else []),
    ):
        for c in cols:
            if c not in header:
                raise TaskError(f"{csv_path}: {kind} column {c!r} not found; available columns: {available}")
    unknown_info = [c for c in columns if c not in header]
    if unknown_info:
        raise TaskError(f"{where}: [columns] describes column(s) {unknown_info} not in {csv_path.name}; available: {available}")

    numeric = [*features, *targets]
    rule_only = [c for c in (rule.columns() if rule else []) if c not in numeric and c != group]
    df = _read_csv(csv_path, header, numeric, rule_only, log)
    X = {f: _finite(df[f].to_numpy(dtype=np.float64), f, csv_path) for f in features}
    y = np.column_stack([_finite(df[t].to_numpy(dtype=np.float64), t, csv_path) for t in targets])
    if group is not None:
        groups, names, codes = _labels(df[group])
        empty = np.flatnonzero(np.isin(codes, [i for i, g in enumerate(names) if g.strip() == ""]))
        if len(empty):
            raise TaskError(f"{csv_path}: group column {group!r} is empty at {_row(int(empty[0]))}")
    else:
        groups = np.full(len(df), NO_GROUP, dtype=object)
    if scale:
        scale_values = np.prod(np.column_stack([X[s] for s in scale]), axis=1)
    else:
        scale_values = np.arange(len(df), dtype=np.float64)

    # test mask
    if split_column is not None:
        _, names, codes = _labels(df[split_column])
        kinds = [n.strip().lower() for n in names]
        bad = np.flatnonzero(np.isin(codes, [i for i, k in enumerate(kinds) if k not in ("train", "test")]))
        if len(bad):
            i = int(bad[0])
            raise TaskError(
                f"{csv_path}: split column {split_column!r} must hold 'train' or 'test', "
                f"but {_row(i)} holds {names[codes[i]]!r}"
            )
        test_mask = np.isin(codes, [i for i, k in enumerate(kinds) if k == "test"])
    else:
        assert rule is not None
        test_mask = rule.select(df, group)
    if not test_mask.any():
        raise TaskError(f"{csv_path}: the test split is empty (no held-out rows)")
    if test_mask.all():
        raise TaskError(f"{csv_path}: the train split is empty (every row is held out)")
    train_groups = set(groups[~test_mask])
    starved = [str(g) for g in pd.unique(groups[test_mask]) if g not in train_groups]
    if starved:
        raise TaskError(
            f"{csv_path}: group(s) {starved[:_MAX_LISTED]} in column {group!r} have no training rows "
            "(all their rows are held out)"
        )

    cols_info = dict(columns)
    for c in [*features, *targets, *([group] if group else [])]:
        cols_info.setdefault(c, ColumnInfo(c))
    return Task(
        name=name,
        title=title,
        description=description,
        features=tuple(features),
        targets=tuple(targets),
        group_column=group,
        parameter_budget=parameter_budget,
        scale=tuple(scale),
        columns=cols_info,
        reference=reference,
        source=source,
        path=path,
        split_description=split_description,
        _all=DataSplit(X=X, y=y, groups=groups, scale=scale_values),
        _test_mask=test_mask,
    )
