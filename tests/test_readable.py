"""Readable forms: every finalist of a short real run on every bundled task predicts its training rows as
the raw law does; parameters are folded, named by role, and O(1) after a power-of-ten rescaling."""

from __future__ import annotations

import math

import numpy as np
import pytest

from lawagent.discovery.api import discover
from lawagent.evaluate import FINAL_FIT, evaluate, reference_law
from lawagent.fit.fitter import FitOptions, fit, predict
from lawagent.law.law import Law
from lawagent.readable import parameter_roles, penalty, readable_form
from lawagent.readable.record import attach_readable, readable_record
from lawagent.records import LawRecord
from lawagent.runfolder import load_run
from lawagent.task import list_tasks, load_task

QUICK = FitOptions(n_starts=12, n_refine=2, max_iter=60, time_limit=5.0)


def _relative_gap(got: np.ndarray, want: np.ndarray) -> float:
    m = np.isfinite(want)
    assert np.array_equal(np.isfinite(got), m)
    return float(np.max(np.abs(got[m] - want[m]) / np.maximum(np.abs(want[m]), 1e-300))) if m.any() else 0.0


@pytest.mark.parametrize("task_name", list_tasks())
def test_every_finalist_reads_and_predicts_the_same(task_name, tmp_path):
    task = load_task(task_name)
    result = discover(task, iterations=1, batch_size=6, top_k=2, workers=0, progress=False, out_dir=tmp_path,
                      run_id="r", seed=0)
    train = task.train()
    stored = load_run(result.run_dir)
    assert len(stored.laws) == len(result.laws) >= 1
    for law in stored.laws:
        assert law.readable, f"{law.formula}: no readable form stored in final.json"
        shown = readable_record(law)
        assert shown.formulas != law.formulas or not law.readable["scales"]
        gap = _relative_gap(shown.predict(train.X, train.groups), law.predict(train.X, train.groups))
        assert gap <= 1e-8, f"{law.formula} -> {shown.formula}: relative gap {gap:.2e}"
        assert set(shown.parameters) == set(shown.law().parameters)


def test_fold_and_names_follow_the_fields_conventions():
    task = load_task("vocab_scaling_law")
    ev = evaluate(task, reference_law(task), FINAL_FIT)
    record = LawRecord.from_evaluation(ev, task)
    readable = attach_readable(record, task.train())
    assert readable.formula == ("E + A/(non_vocab_parameters/1e8)**alpha + B/(vocab_size/1e4)**beta"
                                " + C/(num_characters/1e10)**gamma")
    assert {p: r["role"] for p, r in readable.roles.items()} == {
        "A": "coefficient", "alpha": "exponent", "B": "coefficient", "beta": "exponent", "C": "coefficient",
        "gamma": "exponent", "E": "offset"}
    raw, shown = record.params, readable.params
    for g in raw:
        assert max(abs(v) for v in raw[g].values()) > 1e3  # the raw coefficients are not O(1)
        assert all(1e-3 < abs(v) < 1e3 for v in shown[g].values()), shown[g]
        assert shown[g]["alpha"] == raw[g]["alpha"]  # exponents are not touched by the rescaling
    assert readable.stderr and all(math.isfinite(v) and v > 0 for v in next(iter(readable.stderr.values())).values())


def test_redundant_parameters_fold_into_one():
    task = load_task("sft_scaling_law")
    train = task.train()
    law = Law.parse("2*A*B/(1 + (sft_data_size/s)^a) + E + c", task.features)  # 6 parameters, 4 degrees of freedom
    fitted = fit(law, train.X, train.y, train.groups, QUICK)
    readable = readable_form(law, fitted.params_table(), train.X, train.groups)
    assert readable.formula == "E + A/(1 + ((sft_data_size/1e4)/sft_data_size_0)**alpha)"
    assert readable.roles["A"]["from"] == "2*A*B" and readable.roles["E"]["from"] == "E + c"
    pred = predict(readable.law(task.features), readable.params, train.X, train.groups)
    assert _relative_gap(pred, fitted.predict(train.X, train.groups)) <= 1e-8


@pytest.mark.parametrize("task_name, formula, shown", [
    # a log-linear exponent is a product of powers, its constant a coefficient; powers of one base join
    ("moe_scaling_law",
     "exp(a + b*log(dense_parameter_count) + c*log(num_experts) + d*log(dense_parameter_count)*log(num_experts))",
     "A*dense_parameter_count**(beta + gamma*log(num_experts))*num_experts**alpha"),
    ("lr_bsz_scaling_law", "E + exp(a + b*log(lr) + c*log(lr)**2 + d*log(bsz))",
     "E + A*bsz**beta*lr**(alpha + gamma*log(lr))"),
    # a function of a parameter found nowhere else is one parameter: B^4 and log(c) fold
    ("obs_scaling_law", "A*log(tokens) + B**4*log(flops)**4 + log(c)",
     "E + A*log(tokens/1e12) + B*log(flops)**4"),
])
def test_exponentials_of_logs_read_as_powers(task_name, formula, shown):
    task = load_task(task_name)
    train = task.train()
    law = Law.parse(formula, task.features)
    fitted = fit(law, train.X, train.y, train.groups, QUICK)
    readable = readable_form(law, fitted.params_table(), train.X, train.groups)
    assert readable.formula == shown
    pred = predict(readable.law(task.features), readable.params, train.X, train.groups)
    assert _relative_gap(pred, fitted.predict(train.X, train.groups)) <= 1e-8
    assert "exp(" in readable.roles["A"]["from"] or "**4" in readable.roles["B"]["from"]


@pytest.mark.parametrize("formula, features, reused", [
    ("A/(1 + (1/C)**C*(C + sft_data_size + D*log(sft_data_size))**C)", ["sft_data_size"], ["C"]),
    ("1 + a*log(num_experts) + (1 + num_experts)**d*log(dense_parameter_count**a)**f",
     ["num_experts", "dense_parameter_count"], ["a"]),
    ("B + C*log(parallel_size) + 3*C*log(num_params + 2*C + B*E + 2*B*num_params)", ["parallel_size", "num_params"],
     ["B", "C"]),
    ("E + A/N^alpha + B/D^beta", ["N", "D"], []),
    ("a + b*exp(-c*x)", ["x"], []),
])
def test_roles_find_the_parameters_in_two_roles(formula, features, reused):
    """The laws of issue 14: a parameter that is a coefficient and an exponent (or a shift) is found."""
    law = Law.parse(formula, features)
    assert parameter_roles(law.expressions, features).reused == reused
    assert (penalty(law.expressions, features, features) > 0) == bool(reused)


def test_a_law_fitted_to_log_y_reads_as_fitted_and_stays_fitted_to_log_y() -> None:
    task = load_task("moe_scaling_law")
    train = task.train()
    law = Law.parse("log(y) = E0 + a*log(dense_parameter_count) + b*log(num_experts)", task.features)
    result = fit(law, train.X, train.y, train.groups)
    readable = readable_form(law, result.params_table(), train.X, train.groups)
    assert readable.formulas == ["log(y) = E + A*log(dense_parameter_count/1e8) + B*log(num_experts)"]
    back = readable.law(task.features)
    assert back.log_fitted == (0,)
    np.testing.assert_allclose(predict(back, readable.params, train.X, train.groups),
                               result.predict(train.X, train.groups), rtol=1e-9)


def test_a_log_fitted_law_reads_as_its_right_hand_side_not_a_log_of_exp() -> None:
    task = load_task("moe_scaling_law")
    train = task.train()
    law = Law.parse("log(y) = E + A/(1 + num_experts/s)", task.features, bounds={"s": (0, math.inf)})
    result = fit(law, train.X, train.y, train.groups)
    readable = readable_form(law, result.params_table(), train.X, train.groups)
    assert readable.formulas[0].startswith("log(y) = ") and "log(exp(" not in readable.formulas[0]
    back = readable.law(task.features)
    assert back.log_fitted == (0,)
    np.testing.assert_allclose(predict(back, readable.params, train.X, train.groups),
                               result.predict(train.X, train.groups), rtol=1e-9)
