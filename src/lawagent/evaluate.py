"""Fit a law on a task's training rows and score it on the held-out rows."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Mapping

import numpy as np

from lawagent.errors import FormulaError, LawagentError
from lawagent.fit.fitter import FitOptions, FitResult, fit
from lawagent.law.law import Law
from lawagent.scoring import Scores, failure, score
from lawagent.task import DataSplit, Task

# A final fit (one per reported law) can afford more starts than the search.
FINAL_FIT = FitOptions(n_starts=128, n_refine=12, max_iter=300, time_limit=60.0)


@dataclass
class Evaluation:
    """A law fitted on train rows, scored on the held-out rows (``test`` None: a task without them)."""

    task: str
    law: Law
    fit: FitResult
    test: Scores | None
    train: Scores
    seconds: float

    def as_dict(self) -> dict:
        """JSON-safe (NaN and infinities become null)."""
        from lawagent.jsonio import json_safe

        return json_safe({
            "task": self.task,
            "formula": self.law.text(),
            "parameters": list(self.law.parameters),
            "complexity": self.law.complexity,
            "test": None if self.test is None else self.test.as_dict(),
            "train": self.train.as_dict(),
            "fitted_params": self.fit.params_table(),
            "stderr": {g: dict(f.stderr) for g, f in self.fit.groups.items()},
            "converged": self.fit.converged,
            "seconds": self.seconds,
        })


def parse_law(
    task: Task,
    text: str | list[str],
    bounds: Mapping[str, tuple[float, float]] | None = None,
    initial: Mapping[str, float] | None = None,
) -> Law:
    """Parse formula text against a task's features, targets and parameter budget."""
    return Law.parse(text, task.features, targets=task.targets, budget=task.parameter_budget, bounds=bounds, initial=initial)


def check_budget(task: Task, law: Law) -> None:
    """A Law built in code gets the task's parameter budget, as text does in :func:`parse_law`."""
    if law.n_parameters > task.parameter_budget:
        raise FormulaError(f"law has {law.n_parameters} parameters ({', '.join(law.parameters)}); "
                           f"the budget of task {task.name!r} is {task.parameter_budget}")


def reference_law(task: Task) -> Law:
    if task.reference is None:
        raise LawagentError(f"task {task.name!r} has no reference law")
    ref = task.reference
    try:
        return parse_law(task, list(ref.formulas), bounds=ref.bounds, initial=ref.initial)
    except FormulaError as err:
        raise LawagentError(f"reference law of task {task.name!r} is invalid: {err}") from None


def fit_split(law: Law, split: DataSplit, options: FitOptions | None = None) -> FitResult:
    return fit(law, split.X, split.y, split.groups, options)


def score_split(result: FitResult, split: DataSplit) -> Scores:
    if not result.ok:
        bad = [g for g, f in result.groups.items() if not f.ok]
        return failure(len(split), f"fit failed on group(s) {', '.join(bad[:3])}")
    pred = result.predict(split.X, split.group_index)
    return score(split.y, pred, split.groups)


def evaluate(task: Task, law: Law | str, options: FitOptions | None = None) -> Evaluation:
    """Fit per group on ``task.train()``, score pooled predictions on ``task.test()``."""
    start = time.perf_counter()
    if not isinstance(law, Law):
        law = parse_law(task, law)
    else:
        check_budget(task, law)
    train = task.train()
    result = fit_split(law, train, options or FINAL_FIT)
    test_scores = score_split(result, task.test())
    train_scores = score_split(result, train)
    return Evaluation(task.name, law, result, test_scores, train_scores, time.perf_counter() - start)


def predictions(evaluation: Evaluation, split: DataSplit) -> np.ndarray:
    return evaluation.fit.predict(split.X, split.group_index)
