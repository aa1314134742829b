"""How validation rows are carved from the training rows: one protocol for every dataset.

Search ranks candidate laws on validation rows that stand to the remaining
training rows as the held-out rows stand to the training rows: the test's
extrapolation question, asked again one step down. Where the rule comes from,
first match wins:

1. an explicit validation rule: ``--validation RULE`` (or ``discover(validation=...)``),
   or a task's own rule (``[split] validation`` in task.toml, which must say why
   in ``validation_reason``, or ``task_from_csv(validation=...)``);
2. derived from the holdout rule: a comparison becomes the same comparison one
   step down (``params >= 1e9`` -> the largest training rows by params, all
   groups together, cut at a whole value so no model size is split); a quantile
   keeps its share of the remaining rows (``largest 20% by D`` -> the largest
   20% of the training rows by D);
3. otherwise (a train/test ``split`` column): per group, the largest share of
   the training rows along the task's scale features.

Shares not fixed by the rule are the protocol's ``fraction`` (default 0.2),
spread over ``and``/``or`` so that about that share is selected. Rolling-origin
folds carve again, the same way, from the previous fold's fit rows.

Nothing here reads a test row: every function takes training rows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from lawagent.errors import TaskError
from lawagent.holdout import BoolOp, Compare, HoldoutRule, Quantile, format_rule, parse_holdout
from lawagent.task import DataSplit, Task

__all__ = ["DEFAULT_FOLDS", "DEFAULT_FRACTION", "Fold", "Protocol", "StepDown", "protocol_for"]

DEFAULT_FRACTION = 0.2
DEFAULT_FOLDS = 2
_GROUP = "__group__"


@dataclass(frozen=True)
class StepDown:
    """A holdout comparison asked again inside the training rows.

    Selects the rows furthest along ``column`` (all groups together), cut at
    the whole value whose selection comes nearest the protocol's share: the
    same kind of cut as the holdout's, one step further in.
    """

    column: str
    largest: bool


Template = StepDown | Compare | Quantile | BoolOp


@dataclass(frozen=True, eq=False)
class Fold:
    """One validation fold: fit on ``fit``, score on ``val``; ``rule`` says how ``val`` was chosen."""

    fit: DataSplit
    val: DataSplit
    rule: str


@dataclass(frozen=True)
class Protocol:
    """How to carve validation folds from training rows, and where that rule came from."""

    template: Template | None  # None: the largest share by scale, per group
    fraction: float = DEFAULT_FRACTION
    n_folds: int = DEFAULT_FOLDS
    origin: str = "default"  # default | holdout | task | user
    reason: str = ""  # why a task overrides the default (task.toml's validation_reason)
    scale: tuple[str, ...] = ()
    source_rule: str = ""  # the holdout or validation rule as written

    @property
    def uses_fraction(self) -> bool:
        """Whether ``fraction`` changes the carve (a rule with fixed amounts ignores it)."""
        return self.template is None or _has_share(self.template)

    def describe(self) -> str:
        """One line for people: the rule and where it came from."""
        pct = f"{100 * self.fraction:g}%"
        if self.template is None:
            scale = "*".join(self.scale) if self.scale else "row order"
            return f"the largest {pct} of each group's training rows by {scale}"
        rule = format_rule(_display(self.template))
        if self.origin == "holdout":
            how = f"derived from the holdout rule {self.source_rule!r}, the same cut one step down: "
        elif self.origin == "task":
            how = "the task's own rule: "
        else:
            how = "given: "
        shares = f" (unfixed shares from {pct} of the rows)" if _has_share(self.template) else ""
        return f"{how}{rule}{shares}"

    # -- carving --------------------------------------------------------
    def carve(self, rows: DataSplit) -> Fold:
        """Split ``rows`` (training rows) into fit and validation rows."""
        val, rule = self.validation_mask(rows)
        return Fold(rows.subset(~val), rows.subset(val), rule)

    def validation_mask(self, rows: DataSplit) -> tuple[np.ndarray, str]:
        """Which of ``rows`` are validation rows, and the concrete rule that chose them."""
        if self.template is None:
            return _by_scale(rows, self.fraction), _scale_rule(self.fraction, self.scale)
        node = _concrete(self.template, rows, self.fraction)
        frame = pd.DataFrame({c: rows.X[c] for c in _columns(node)})
        frame[_GROUP] = rows.groups
        rule = format_rule(node)
        val = HoldoutRule(rule, node).mask(frame, _GROUP)
        for g in rows.group_names():  # a group needs rows to fit on: keep its smallest row out
            in_group = rows.groups == g
            if val[in_group].all():
                idx = np.flatnonzero(in_group)
                val[idx[np.argmin(rows.scale[idx])]] = False
        return val, rule

    def folds(self, train: DataSplit) -> list[Fold]:
        """Rolling-origin folds: fold 1 from ``train``, fold k from fold k-1's fit rows.

        One validation step can rank laws by luck (a noisy largest scale);
        asking the same question one step further down rewards laws that
        extrapolate consistently. A fold that leaves no validation row, or
        fewer fit rows than validation rows, is not made.
        """
        folds = [self.carve(train)]
        while len(folds) < self.n_folds:
            try:
                fold = self.carve(folds[-1].fit)
            except TaskError:
                break
            if not len(fold.val) or len(fold.fit) < len(fold.val):
                break
            folds.append(fold)
        return folds


def protocol_for(
    task: Task,
    *,
    fraction: float | None = None,
    n_folds: int = DEFAULT_FOLDS,
    validation: str | None = None,
) -> Protocol:
    """The validation protocol of ``task`` (see the module docstring for the order of sources).

    ``fraction`` None means the default share; an explicit fraction that the
    chosen rule would ignore is an error, not a silent no-op.
    """
    if fraction is not None and not (isinstance(fraction, (int, float)) and 0 < fraction < 1):
        raise TaskError(f"validation fraction must be between 0 and 1 (exclusive), got {fraction!r}")
    if not (isinstance(n_folds, int) and not isinstance(n_folds, bool) and n_folds >= 1):
        raise TaskError(f"validation folds must be a whole number >= 1, got {n_folds!r}")
    base = Protocol(None, DEFAULT_FRACTION if fraction is None else float(fraction), n_folds, scale=task.scale)
    if validation is not None:
        protocol = replace(base, template=_parse_rule(validation, task, "--validation"), origin="user",
                           source_rule=validation)
    elif task.validation_rule:
        protocol = replace(base, template=_parse_rule(task.validation_rule, task, "the task's validation rule"),
                           origin="task", reason=task.validation_reason, source_rule=task.validation_rule)
    elif task.holdout:
        derived = _derive(parse_holdout(task.holdout).node, task)
        protocol = base if derived is None else replace(base, template=derived, origin="holdout",
                                                        source_rule=task.holdout)
    else:
        protocol = base
    if fraction is not None and not protocol.uses_fraction:
        raise TaskError(
            f"--validation-fraction does not apply: the validation rule {format_rule(_display(protocol.template))!r} "
            "fixes its own shares; write the share into --validation instead (e.g. 'largest 10% by params')")
    return protocol


# -- rules ----------------------------------------------------------------------

def _parse_rule(text: str, task: Task, what: str) -> Template:
    rule = parse_holdout(text, allow_share=True)
    unknown = [c for c in rule.columns() if c not in task.features]
    if unknown:
        raise TaskError(f"{what} {text!r} uses {unknown[0]!r}, which is not a feature of task {task.name!r} "
                        f"(features: {', '.join(task.features)})")
    return rule.node


def _derive(node, task: Task) -> Template | None:
    """The holdout's question one step down, or None where it has no such form."""
    if isinstance(node, BoolOp):
        parts = [p for p in (_derive(p, task) for p in node.parts) if p is not None]
        if not parts:
            return None
        return parts[0] if len(parts) == 1 else BoolOp(node.op, tuple(parts))
    if node.column not in task.features:
        return None  # the holdout cuts on a column the laws do not see: no feature to step down along
    if isinstance(node, Quantile):
        return node
    if node.op in (">=", ">"):
        return StepDown(node.column, largest=True)
    if node.op in ("<=", "<"):
        return StepDown(node.column, largest=False)
    if node.op == "==":  # a held-out value beyond the training range is a cut at that end
        values = task.train().X[node.column]
        if node.value > values.max():
            return StepDown(node.column, largest=True)
        if node.value < values.min():
            return StepDown(node.column, largest=False)
    return None


def _has_share(node: Template) -> bool:
    if isinstance(node, BoolOp):
        return any(_has_share(p) for p in node.parts)
    return isinstance(node, StepDown) or (isinstance(node, Quantile) and node.amount is None)


def _columns(node) -> list[str]:
    if isinstance(node, BoolOp):
        return list(dict.fromkeys(c for p in node.parts for c in _columns(p)))
    return [node.column]


def _display(node: Template):
    """A template as rule text: a step-down shows as 'largest by X' (its share is the protocol's)."""
    if isinstance(node, BoolOp):
        return BoolOp(node.op, tuple(_display(p) for p in node.parts))
    if isinstance(node, StepDown):
        return Quantile(node.column, node.largest, None, True)
    return node


def _part_share(op: str, share: float, k: int) -> float:
    """Each of k independent cuts selects this share, so that their and/or selects about ``share``."""
    return share ** (1.0 / k) if op == "and" else 1.0 - (1.0 - share) ** (1.0 / k)


def _concrete(node: Template, rows: DataSplit, share: float):
    """A holdout node for these rows: step-downs become comparisons, open shares become percentages."""
    if isinstance(node, BoolOp):
        part = _part_share(node.op, share, len(node.parts))
        return BoolOp(node.op, tuple(_concrete(p, rows, part) for p in node.parts))
    if isinstance(node, Quantile) and node.amount is None:
        return Quantile(node.column, node.largest, round(100.0 * share, 2), True)
    if isinstance(node, StepDown):
        return _step_down(node, rows.X[node.column], share)
    return node


def _step_down(node: StepDown, values: np.ndarray, share: float) -> Compare:
    """The comparison at a whole value whose selection comes nearest ``share`` of the rows (never all of them)."""
    levels, counts = np.unique(values, return_counts=True)
    if node.largest:
        levels, counts = levels[::-1], counts[::-1]
    if len(levels) < 2:  # a single value: nothing to step down to
        return Compare(node.column, ">" if node.largest else "<", float(levels[0]))
    reach = np.cumsum(counts)[:-1]  # leave the last level to fit on
    k = int(np.argmin(np.abs(reach - share * len(values))))  # first of equals: the smaller step
    return Compare(node.column, ">=" if node.largest else "<=", float(levels[k]))


def _by_scale(rows: DataSplit, fraction: float) -> np.ndarray:
    """Per group with n >= 3 rows: the largest round(fraction*n) rows by scale (ties kept together), one left to fit."""
    val = np.zeros(len(rows), dtype=bool)
    for g in rows.group_names():
        idx = np.flatnonzero(rows.groups == g)
        n = len(idx)
        if n < 3:
            continue
        k = min(max(math.floor(fraction * n + 0.5), 1), n - 1)
        s = rows.scale[idx]
        order = np.argsort(s, kind="stable")
        chosen = idx[s >= s[order[n - k]]]
        if len(chosen) >= n:
            chosen = idx[order[n - k:]]
        val[chosen] = True
    return val


def _scale_rule(fraction: float, scale: tuple[str, ...]) -> str:
    return f"largest {100 * fraction:g}% by {'*'.join(scale) if scale else 'row order'} (per group)"
