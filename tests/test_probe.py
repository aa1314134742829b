"""The train-only extrapolation probe and the fold-averaged selection score."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from lawagent.fit.fitter import FitOptions, fit
from lawagent.law.law import Law
from lawagent.proposers.base import CandidateRecord
from lawagent.selection.probe import probe_rows, violation
from lawagent.selection.protocol import protocol_for
from lawagent.task import Task, task_from_csv


def make_task(folder: Path, linear: float) -> Task:
    """y = 2 + 10 x^-0.5 + linear*x: a scaling law, plus a term that turns it up far out."""
    rng = np.random.default_rng(0)
    x = np.geomspace(10, 1e6, 40)
    y = 2 + 10 * x**-0.5 + linear * x + rng.normal(0, 1e-4, x.size)
    csv = folder / "power.csv"
    csv.write_text("x,y\n" + "".join(f"{float(a)!r},{float(b)!r}\n" for a, b in zip(x, y)))
    return task_from_csv(csv, features=["x"], targets=["y"], holdout="x >= 2e5")


@pytest.fixture(scope="module")
def power_task(tmp_path_factory: pytest.TempPathFactory) -> Task:
    return make_task(tmp_path_factory.mktemp("power"), 0.0)


def fold1(task: Task):
    fold = protocol_for(task).carve(task.train())
    return fold.fit, fold.val


def fitted_violation(task: Task, formula: str) -> float:
    fit_rows, val_rows = fold1(task)
    law = Law.parse(formula, task.features, targets=task.targets)
    result = fit(law, fit_rows.X, fit_rows.y, fit_rows.groups, FitOptions(n_starts=24, n_refine=4))
    return violation(result, fit_rows, val_rows)


def test_probe_moves_validation_rows_out_and_back_in_log_space(power_task: Task) -> None:
    fit_rows, val_rows = fold1(power_task)
    ratio = val_rows.X["x"].max() / fit_rows.X["x"].max()
    out = probe_rows(fit_rows, val_rows, 2.0)
    back = probe_rows(fit_rows, val_rows, -1.0)
    assert np.allclose(out["x"], val_rows.X["x"] * ratio**2)
    assert np.allclose(back["x"], val_rows.X["x"] / ratio)


def test_a_flattening_power_law_passes_the_probe(power_task: Task) -> None:
    assert fitted_violation(power_task, "E + A*x^(-a)") == 0.0


def test_a_law_that_turns_back_past_the_data_is_flagged(tmp_path: Path) -> None:
    # still falling at the largest x, but a small linear term turns it up two steps further out
    task = make_task(tmp_path, 2e-8)
    assert fitted_violation(task, "E + A*x^(-a)") == 0.0
    # flagged at the validation rows where the law still falls (past the others it already rises)
    assert fitted_violation(task, "E + A*x^(-a) + B*x") > 0.25


def test_an_exploding_law_leaves_the_band(power_task: Task) -> None:
    assert fitted_violation(power_task, "a + b*log(x) + c*log(x)^2 + d*log(x)^3") > 0.5


def record(val: float, folds: list[float], probe: float = 0.0) -> CandidateRecord:
    return CandidateRecord(id=0, formula="f", origin="t", iteration=0, val_r2=val, fold_r2=folds,
                           probe_violation=probe)


def test_selection_score_averages_folds_with_a_floor() -> None:
    assert record(0.7, []).score == pytest.approx(0.7)  # one fold: plain validation R²
    assert record(-5.0, []).score == pytest.approx(-5.0)
    assert record(0.7, [0.9]).cv_r2 == pytest.approx(0.8)
    assert record(0.7, [-300.0]).cv_r2 == pytest.approx(-0.15)  # one disastrous fold counts as -1
    assert record(0.7, [-math.inf]).cv_r2 == pytest.approx(-0.15)
    assert record(0.7, [0.9], probe=0.5).score == pytest.approx(0.3)
    # a law that is good on both steps beats one that is a little better on the last step only
    assert record(0.61, [0.94]).score > record(0.70, [0.41]).score
