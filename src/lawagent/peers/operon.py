"""A classical symbolic-regression engine as a peer on the leaderboard: Operon (pyoperon).

Users should see where a generic SR engine beats lawagent and where it does
not, on the same rows with the same metric. Per group and target, Operon
evolves expressions on the task's training rows (positive features enter as
log10, the usual transform for scale variables; the others raw) and picks its
own model by its minimum-description-length criterion; the chosen models
predict that group's held-out rows, which are pooled and scored by
:func:`lawagent.scoring.score` exactly like a law. No test row reaches the
fit; on a ``--dev`` benchmark the rows are the development split's.

Optional: ``pip install 'lawagent[sr]'`` (pyoperon 0.6.2, which installs and
runs offline; PySR needs Julia downloads). Operon is deterministic for a seed
with one thread, so an evaluation budget makes a cell reproducible.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

from lawagent.errors import LawagentError
from lawagent.scoring import Scores, score
from lawagent.task import Task

__all__ = ["OPERON_SYMBOLS", "OperonResult", "fit_operon", "import_operon"]

OPERON_SYMBOLS = "add,sub,mul,div,exp,log,constant,variable"  # arithmetic, exp and log: a generic SR alphabet
DEFAULT_EVALUATIONS = 200_000  # per model (group x target)
HYBRID_EVALUATIONS = 50_000  # per run inside --proposer hybrid-sr (lawagent.proposers.sr): about a second
ENGINE = "pyoperon 0.6.2"  # the pinned version of the lawagent[sr] extra
DESCRIPTION = f"{ENGINE} symbolic regression, log10 of positive features, one model per group and target"


def import_operon():
    """pyoperon's scikit-learn estimator, or a one-line error saying how to install it."""
    try:
        from pyoperon.sklearn import SymbolicRegressor
    except ImportError:
        raise LawagentError("the operon peer needs pyoperon: pip install 'lawagent[sr]'") from None
    return SymbolicRegressor


@dataclass
class OperonResult:
    """What Operon found on a task: one model per (group, target), and the pooled held-out scores."""

    task: str
    models: dict[str, list[str]]  # group -> one expression per target (features x1.. in the task's order)
    transforms: dict[str, str]  # feature -> "log10" or "raw"
    test: Scores
    train: Scores
    seconds: float
    evaluations: int
    seed: int
    lengths: list[int] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"task": self.task, "models": self.models, "transforms": self.transforms, "test": self.test.as_dict(),
                "train": self.train.as_dict(), "seconds": self.seconds, "evaluations": self.evaluations,
                "seed": self.seed, "engine": ENGINE, "symbols": OPERON_SYMBOLS}


def feature_transforms(features: Sequence[str], X: Mapping[str, np.ndarray]) -> dict[str, str]:
    """feature -> "log10" where every value is positive (the usual transform for scale variables), else "raw"."""
    return {f: "log10" if np.min(X[f]) > 0 else "raw" for f in features}


def operon_inputs(features: Sequence[str], X: Mapping[str, np.ndarray], transforms: dict[str, str]) -> np.ndarray:
    """The matrix Operon sees: one column per feature, in order (Operon's X1, X2, ...), transformed."""
    cols = [np.log10(X[f]) if transforms[f] == "log10" else X[f] for f in features]
    return np.column_stack(cols).astype(np.float64)


def regressor_for(regressor, seed: int, group_index: int, target: int, evaluations: int, **options: Any):
    """An Operon estimator on our alphabet, one thread (so deterministic), seeded per (group, target)."""
    return regressor(allowed_symbols=OPERON_SYMBOLS, random_state=seed * 100_003 + group_index * 101 + target,
                     n_threads=1, max_evaluations=evaluations, **options)


def fit_operon(task: Task, *, seed: int = 0, evaluations: int = DEFAULT_EVALUATIONS,
               time_limit: float | None = None) -> OperonResult:
    """Operon per group and target on ``task.train()``; scored on ``task.test()``.

    ``time_limit`` (seconds for the whole task) is split evenly over the models,
    as Operon's own ``max_time``; without it the evaluation budget alone decides.
    """
    regressor = import_operon()
    if not (isinstance(evaluations, int) and evaluations > 0):
        raise LawagentError(f"Operon's evaluation budget must be a positive whole number, got {evaluations!r}")
    start = time.perf_counter()
    train, test = task.train(), task.test()
    transforms = feature_transforms(task.features, train.X)
    groups = train.group_names()
    n_models = len(groups) * len(task.targets)
    max_time = None if time_limit is None else max(1, int(time_limit / n_models))
    pred_train = np.full(train.y.shape, np.nan)
    pred_test = np.full(test.y.shape, np.nan)
    models: dict[str, list[str]] = {}
    lengths: list[int] = []
    Xtr, Xte = operon_inputs(task.features, train.X, transforms), operon_inputs(task.features, test.X, transforms)
    for gi, g in enumerate(groups):
        rows_tr, rows_te = train.groups == g, test.groups == g
        models[g] = []
        for t in range(len(task.targets)):
            model = regressor_for(regressor, seed, gi, t, evaluations, max_time=max_time)
            with np.errstate(all="ignore"):
                model.fit(Xtr[rows_tr], train.y[rows_tr, t])
                pred_train[rows_tr, t] = model.predict(Xtr[rows_tr])
                if rows_te.any():
                    pred_test[rows_te, t] = model.predict(Xte[rows_te])
            models[g].append(model.get_model_string(model.model_, 8))
            lengths.append(int(model.model_.Length))
    return OperonResult(task.name, models, transforms, score(test.y, pred_test, test.groups),
                        score(train.y, pred_train, train.groups), time.perf_counter() - start, evaluations, seed,
                        lengths)


def mean_length(result: OperonResult) -> float:
    """Mean expression length (Operon's node count) over the models."""
    return float(np.mean(result.lengths)) if result.lengths else math.nan
