"""The train-only view of a task: all that search, ranking and proposers ever hold.

:class:`TrainView` is built from a :class:`~lawagent.task.Task` and keeps its
training rows, the validation folds carved from them by the protocol, and the
:class:`TaskInfo` a proposer reads (metadata, a train-only summary, a few
training rows, and where the law must extrapolate, said as a user with a new
dataset could say it: the holdout rule or the direction of scale). It holds no
reference to the Task, so no code path from search reaches a test row; the
Task itself goes only to the final report, ``evaluate`` and the benchmark.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass, field

import numpy as np

from lawagent.errors import LawagentError
from lawagent.selection.protocol import Fold, Protocol
from lawagent.task import ColumnInfo, DataSplit, Task

__all__ = ["TaskInfo", "TrainView", "extrapolation_text", "sample_rows"]

SAMPLE_GROUPS = 6
SAMPLE_ROWS = 5
_MAX_LISTED = 5


@dataclass(frozen=True)
class TaskInfo:
    """What a proposer may know about a task: metadata and a train-only summary."""

    name: str
    title: str
    description: str
    features: tuple[str, ...]
    targets: tuple[str, ...]
    parameter_budget: int
    columns: dict[str, ColumnInfo]
    groups: tuple[str, ...]
    data_summary: str  # ranges and trends, from training rows only
    sample_rows: str = ""  # a few training rows per group, as CSV text
    feature_ranges: dict[str, tuple[float, float]] = field(default_factory=dict)  # train min/max
    extrapolation: str = ""  # where the held-out rows lie (the holdout rule or the direction of scale)
    target_ranges: dict[str, tuple[float, float]] = field(default_factory=dict)  # train min/max

    @property
    def positive_targets(self) -> bool:
        """Whether every target is positive in every training row: a law may then be fitted to its log."""
        return bool(self.target_ranges) and all(lo > 0 for lo, _ in self.target_ranges.values())

    @property
    def fixed_features(self) -> tuple[str, ...]:
        """Features with one value in every training row: the data cannot show their effect, and a term in
        one is a constant the fit absorbs that says anything at all where held-out rows differ."""
        return tuple(f for f in self.features if f in self.feature_ranges
                     and self.feature_ranges[f][0] == self.feature_ranges[f][1])

    @property
    def varying_features(self) -> tuple[str, ...]:
        """The features laws are built over: all but the fixed ones (all of them if none varies)."""
        fixed = set(self.fixed_features)
        return tuple(f for f in self.features if f not in fixed) or self.features


@dataclass(frozen=True, eq=False)
class TrainView:
    """A task's training rows, validation folds and proposer info; never a test row."""

    name: str
    features: tuple[str, ...]
    targets: tuple[str, ...]
    group_column: str | None
    parameter_budget: int
    train: DataSplit
    protocol: Protocol
    folds: tuple[Fold, ...]
    info: TaskInfo

    @classmethod
    def of(cls, task: Task, protocol: Protocol) -> TrainView:
        """The view of ``task`` under ``protocol`` (reads ``task.train()`` and metadata only)."""
        train = task.train()
        folds = tuple(protocol.folds(train))
        if not len(folds[0].val):
            raise LawagentError(
                f"task {task.name!r}: no validation rows could be carved from the training rows with "
                f"{protocol.describe()} (every group has fewer than 3 training rows, or the rule selects none); "
                "pass --validation RULE")
        return cls(task.name, tuple(task.features), tuple(task.targets), task.group_column, task.parameter_budget,
                   train, protocol, folds, task_info(task, train))

    def fingerprint(self) -> str:
        """A short hash of every fold's fit and validation rows: a resumed run must score on the same rows."""
        h = hashlib.sha256()
        for fold in self.folds:
            for split in (fold.fit, fold.val):
                for f in self.features:
                    h.update(np.ascontiguousarray(split.X[f], dtype=float).tobytes())
                h.update(np.ascontiguousarray(split.y, dtype=float).tobytes())
                h.update("\x1f".join(map(str, split.groups.tolist())).encode())
                h.update(b"|")
        return h.hexdigest()[:16]

    @property
    def fit(self) -> DataSplit:
        """Fold 1's fit rows."""
        return self.folds[0].fit

    @property
    def val(self) -> DataSplit:
        """Fold 1's validation rows."""
        return self.folds[0].val


def extrapolation_text(task: Task) -> str:
    """Where the held-out rows lie, as the person who made the split could say it (no value from them)."""
    if task.holdout:
        return f"the held-out rows are those with {task.holdout}; the law must extrapolate to them"
    if task.scale:
        return (f"the held-out rows lie beyond the training rows in {', '.join(task.scale)} (larger values); "
                "the law must extrapolate there")
    return "the held-out rows are not a cut by scale: new combinations within the training range"


def task_info(task: Task, train: DataSplit) -> TaskInfo:
    """A :class:`TaskInfo` from metadata and ``train`` (the training rows)."""
    ranges = {f: (float(np.min(train.X[f])), float(np.max(train.X[f]))) for f in task.features}
    y = np.asarray(train.y, dtype=float).reshape(len(train), -1)
    target_ranges = {t: (float(np.min(y[:, i])), float(np.max(y[:, i]))) for i, t in enumerate(task.targets)} \
        if len(train) else {}
    return TaskInfo(
        name=task.name, title=task.title, description=task.description, features=tuple(task.features),
        targets=tuple(task.targets), parameter_budget=task.parameter_budget, columns=dict(task.columns),
        groups=tuple(train.group_names()), data_summary=train_summary(task, train),
        sample_rows=sample_rows(task, train), feature_ranges=ranges, extrapolation=extrapolation_text(task),
        target_ranges=target_ranges,
    )


def train_summary(task: Task, train: DataSplit) -> str:
    """Compact description of the training data for prompts: ranges per column, groups, where to extrapolate."""
    lines = [
        f"task {task.name}: {task.title}",
        f"training rows: {len(train)} in {len(train.group_names())} group(s); "
        f"parameter budget: {task.parameter_budget}",
    ]

    def col_line(name: str, values: np.ndarray) -> str:
        info = task.columns.get(name, ColumnInfo(name))
        unit = f" [{info.unit}]" if info.unit else ""
        desc = f": {info.description}" if info.description else ""
        return f"  {name}{unit}{desc}; train range {values.min():.6g} .. {values.max():.6g}"

    lines.append("features:")
    lines += [col_line(f, train.X[f]) for f in task.features]
    lines.append("targets:")
    lines += [col_line(t, train.y[:, j]) for j, t in enumerate(task.targets)]
    if task.group_column is not None:
        names = train.group_names()
        shown = ", ".join(names[:_MAX_LISTED]) + (", ..." if len(names) > _MAX_LISTED else "")
        lines.append(f"groups ({task.group_column}, fitted separately): {len(names)}: {shown}")
    lines.append(f"held-out rows: {extrapolation_text(task)}")
    return "\n".join(lines)


def sample_rows(task: Task, train: DataSplit, n_groups: int = SAMPLE_GROUPS, n_rows: int = SAMPLE_ROWS) -> str:
    """A few training rows per group (spread over the scale range), as CSV text."""
    buf = io.StringIO()
    cols = ([task.group_column] if task.group_column else []) + list(task.features) + list(task.targets)
    buf.write(",".join(cols) + "\n")
    for g in train.group_names()[:n_groups]:
        idx = np.flatnonzero(train.groups == g)
        idx = idx[np.argsort(train.scale[idx], kind="stable")]
        pick = idx[np.unique(np.linspace(0, len(idx) - 1, min(n_rows, len(idx))).round().astype(int))]
        for i in pick:
            vals = ([str(g)] if task.group_column else []) + [f"{train.X[f][i]:.6g}" for f in task.features]
            vals += [f"{v:.6g}" for v in train.y[i]]
            buf.write(",".join(vals) + "\n")
    return buf.getvalue()
