"""A fitted law as a plain record: what runs save, exports read, and benchmarks compare.

``final.json`` of a discovery run holds a ``best`` LawRecord and a list of
``laws``; export and report read them back with :meth:`LawRecord.from_dict`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Mapping

import numpy as np

from lawagent.fit.fitter import predict as _predict
from lawagent.jsonio import json_safe
from lawagent.law.law import Law


@dataclass
class LawRecord:
    formulas: list[str]  # one per target, law-language text (parse back with Law.parse)
    features: list[str]
    targets: list[str]
    parameters: list[str]
    params: dict[str, dict[str, float]]  # group -> parameter -> fitted value (on all training rows)
    stderr: dict[str, dict[str, float]] = field(default_factory=dict)
    bounds: dict[str, tuple[float, float]] = field(default_factory=dict)
    complexity: int = 0
    val_r2: float | None = None  # R² on validation fold 1 (rows carved from train)
    train_r2: float | None = None
    test: dict[str, Any] | None = None  # Scores.as_dict() on the held-out rows, if scored
    origin: str = ""
    task: str = ""
    group_column: str | None = None
    selection: dict[str, Any] | None = None  # why it won: score, cv_r2, fold_r2, probe, why (lawagent.selection.rank)
    readable: dict[str, Any] | None = None  # the readable form beside the raw one (lawagent.readable.Readable)
    sanity: dict[str, Any] | None = None  # physical sanity checks on training information (lawagent.sanity)

    @property
    def formula(self) -> str:
        return "; ".join(self.formulas)

    @property
    def test_r2(self) -> float | None:
        return None if self.test is None else self.test.get("r2")

    def law(self) -> Law:
        return Law.parse(self.formulas, self.features, targets=self.targets if len(self.targets) > 1 else None,
                         bounds={k: bound_pair(v) for k, v in self.bounds.items()})

    def predict(self, X: Mapping[str, np.ndarray], groups) -> np.ndarray:
        """Predictions (n, n_targets) with the stored per-group parameters."""
        return _predict(self.law(), self.params, X, groups)

    def to_dict(self) -> dict[str, Any]:
        return json_safe(asdict(self) | {"formula": self.formula})

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "LawRecord":
        keys = cls.__dataclass_fields__
        return cls(**{k: v for k, v in data.items() if k in keys})

    @classmethod
    def from_evaluation(cls, evaluation, task, *, val_r2: float | None = None, origin: str = "",
                        selection: dict[str, Any] | None = None) -> "LawRecord":
        """From a :class:`lawagent.evaluate.Evaluation` (fit on all train rows; scored on test where it was)."""
        law = evaluation.law
        return cls(
            formulas=law.texts(),
            features=list(task.features), targets=list(task.targets), parameters=list(law.parameters),
            params=evaluation.fit.params_table(),
            stderr={g: dict(f.stderr) for g, f in evaluation.fit.groups.items()},
            bounds=dict(law.bounds), complexity=law.complexity, val_r2=val_r2,
            train_r2=evaluation.train.r2, test=None if evaluation.test is None else evaluation.test.as_dict(),
            origin=origin,
            task=task.name, group_column=task.group_column, selection=selection,
        )


def bound_pair(pair) -> tuple[float, float]:
    """A (low, high) bound from JSON, which stores infinite bounds as null."""
    lo, hi = pair
    return (-math.inf if lo is None else float(lo), math.inf if hi is None else float(hi))

