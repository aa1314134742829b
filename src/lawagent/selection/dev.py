"""The development split: a task without its test rows, validation fold 1 standing in for them.

``lawagent bench --dev`` judges method changes here, so that the project can
keep improving without reading a test row again. The dev task holds the
training rows only; its pseudo-test rows are the protocol's first validation
fold, and discovery on it carves its own folds from the rest with the same
protocol, one step further down.

That pseudo-test lies one scale step beyond the rows discovery sees; a task's
real test rows often lie several steps out, and laws that hold for one step can
turn away after it. ``bench --dev far`` asks the longer question: the next
fold's validation rows are dropped as well, so the pseudo-test lies two steps
beyond discovery's rows (with a gap between). Same pseudo-test rows, less
data, a longer reach: where the two splits disagree, near-dev numbers overstate
extrapolation.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from lawagent.errors import LawagentError, TaskError
from lawagent.selection.protocol import Protocol, protocol_for
from lawagent.task import Task

__all__ = ["DEV_SPLITS", "FAR", "NEAR", "as_recorded", "dev_kind", "dev_task", "dev_value"]

NEAR, FAR = "near", "far"
DEV_SPLITS = (NEAR, FAR)


def dev_kind(value: object) -> str | None:
    """Which split a recorded ``dev`` value names: None (the real test rows), "near" or "far".

    Run folders and benchmark manifests record ``true`` for the near split (as
    they did before the far one existed) and ``"far"`` for the far one.
    """
    if value is None or value is False:
        return None
    if value is True or value == NEAR:
        return NEAR
    if value == FAR:
        return FAR
    raise LawagentError(f"unknown development split {value!r}: use {NEAR!r} or {FAR!r}")


def dev_value(kind: str | None) -> bool | str:
    """What to record for a split (``dev_kind``'s inverse): False, True (near) or "far"."""
    k = dev_kind(kind)
    return FAR if k == FAR else k is not None


def dev_task(task: Task, protocol: Protocol, kind: str = NEAR) -> Task:
    """``task`` with its test rows dropped and fold 1's validation rows as the (pseudo-)test split;
    ``kind="far"`` drops fold 2's validation rows too (discovery sees fold 2's fit rows only)."""
    far = dev_kind(kind) == FAR
    blind = task.without_test()
    train = blind.train()
    mask, rule = protocol.validation_mask(train)
    description = (f"dev split: pseudo-test = validation fold 1 of the training rows ({rule}); "
                   "the real test rows were dropped")
    if far:
        inner = np.flatnonzero(~mask)
        gap, gap_rule = protocol.validation_mask(train.subset(inner))
        if not gap.any() or gap.sum() > (~gap).sum():
            why = (f"its second validation fold ({gap_rule}) holds no row" if not gap.any() else
                   f"its second validation fold ({gap_rule}) would leave {int((~gap).sum())} rows to fit on")
            raise TaskError(f"task {task.name!r} has too few training rows for the far development split: {why}; "
                            "use the near one (--dev)")
        keep = np.ones(len(train), dtype=bool)
        keep[inner[gap]] = False
        train, mask = train.subset(keep), mask[keep]
        description = (f"far dev split: pseudo-test = validation fold 1 of the training rows ({rule}); "
                       f"fold 2's validation rows ({gap_rule}) were dropped too, so the pseudo-test lies two "
                       "steps beyond the rows discovery sees; the real test rows were dropped")
    return replace(
        blind, _all=train, _test_mask=mask, dev=dev_value(kind),
        # the concrete rule is what the pseudo-test asks (the LLM prompt says so, as it does the real test's
        # rule); a protocol derived from the holdout derives again from it, one step down; a task's own
        # validation rule still takes precedence over it
        holdout=rule if protocol.template is not None else None,
        split_description=description,
    )


def as_recorded(task: Task, dev: object) -> Task:
    """``task`` as a run or benchmark recorded it: itself, or its development split (``dev`` as recorded:
    False, True for the near split, "far"), with the task's own validation protocol."""
    kind = dev_kind(dev)
    return dev_task(task, protocol_for(task), kind) if kind else task
