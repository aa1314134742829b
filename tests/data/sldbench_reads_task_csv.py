"""A hostile SLDBench-format program: it opens the task's own CSV and answers with the held-out targets.

The CSV path is set by the test (__TASK_CSV__ is replaced). It recognises its group by the training
losses it is given, then returns that group's test-row losses. Without isolation it scores R2 = 1.0.
"""
import csv

import numpy as np

TASK_CSV = "__TASK_CSV__"


def _rows():
    with open(TASK_CSV, newline="") as fh:  # raises PermissionError when the sandbox holds
        return list(csv.DictReader(fh))


def fit_scaling_law(data_points, loss_values):
    rows = _rows()
    groups = sorted({r["group"] for r in rows})
    given = sorted(round(float(v), 6) for v in np.ravel(loss_values))
    for i, g in enumerate(groups):
        if sorted(round(float(r["loss"]), 6) for r in rows if r["group"] == g and r["split"] == "train") == given:
            return np.array([float(i)])
    return np.array([-1.0])


def scaling_law_func(data_points, params):
    rows = _rows()
    group = sorted({r["group"] for r in rows})[int(params[0])]
    answer = {(float(r["num_params"]), float(r["parallel_size"])): float(r["loss"])
              for r in rows if r["group"] == group and r["split"] == "test"}
    return np.array([answer.get((x[0], x[1]), np.nan) for x in np.asarray(data_points, dtype=float)])
