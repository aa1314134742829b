"""The development split: a task without its test rows, validation fold 1 standing in for them.

``lawagent bench --dev`` judges method changes here, so that the project can
keep improving without reading a test row again. The dev task holds the
training rows only; its pseudo-test rows are the protocol's first validation
fold, and discovery on it carves its own folds from the rest with the same
protocol, one step further down.
"""

from __future__ import annotations

from dataclasses import replace

from lawagent.selection.protocol import Protocol
from lawagent.task import Task

__all__ = ["dev_task"]


def dev_task(task: Task, protocol: Protocol) -> Task:
    """``task`` with its test rows dropped and fold 1's validation rows as the (pseudo-)test split."""
    blind = task.without_test()
    train = blind.train()
    mask, rule = protocol.validation_mask(train)
    return replace(
        blind, _all=train, _test_mask=mask, dev=True,
        # the concrete rule is what the pseudo-test asks (the LLM prompt says so, as it does the real test's
        # rule); a protocol derived from the holdout derives again from it, one step down; a task's own
        # validation rule still takes precedence over it
        holdout=rule if protocol.template is not None else None,
        split_description=f"dev split: pseudo-test = validation fold 1 of the training rows ({rule}); "
                          "the real test rows were dropped",
    )
