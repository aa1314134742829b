"""Building blocks of the symbolic proposer: which transforms each kind of feature gets."""

from __future__ import annotations

import numpy as np
import sympy

from lawagent.law.law import symbol
from lawagent.proposers.blocks import FeatureKinds, Names, instantiate, random_term

RANGES = {"params": (1e7, 1e9), "lr": (1e-4, 5e-4), "share": (0.0, 1.0), "delta": (-2.0, 3.0)}


def kinds() -> FeatureKinds:
    return FeatureKinds.from_ranges(list(RANGES), RANGES)


def test_feature_kinds_from_training_ranges() -> None:
    k = kinds()
    assert k.positive == ("params", "lr") and k.other == ("share", "delta") and k.unit == ("lr", "share")
    assert k.wide == ("params",)  # spans a decade or more; lr spans 5x only


def test_wide_features_never_enter_raw_linear_polynomial_or_exponential_blocks() -> None:
    made = dict(instantiate(kinds(), list(RANGES)))
    raw = ("linear_mixture", "quadratic", "exp_decay", "sigmoid_step", "exp_mixture")
    assert any(name.startswith("linear_mixture") and "lr" in name for name in made)
    assert not [name for name in made if name.startswith(raw) and "params" in name]
    assert any(name.startswith("power_offset(params") for name in made)


def test_random_terms_in_a_wide_feature_are_never_linear() -> None:
    x = symbol("params")
    rng = np.random.default_rng(0)
    linear_seen = False
    for _ in range(200):
        wide = random_term(x, Names(), rng, positive=True, wide=True).expr
        assert sympy.diff(wide, x, 2) != 0, wide
        narrow = random_term(x, Names(), rng, positive=True, wide=False).expr
        linear_seen |= sympy.diff(narrow, x, 2) == 0
    assert linear_seen  # a feature spanning less than a decade may still get a linear term


def test_raw_polynomial_terms_in_wide_features_are_caught() -> None:
    from lawagent.law.law import Law
    from lawagent.proposers.blocks import raw_wide_term

    wide = {symbol("N"), symbol("D")}
    cases = {
        "E + A*N^(-a)": False,
        "E + A*N^(-a) + C*N": True,  # a linear term fitted to a small trend
        "E + C*log(N) + exp(A*N)": True,
        "exp(d + a*log(N) + b*N)": True,
        "E + A*N^2": True,
        "E + A*exp(-k*D)": True,
        "E + B*(N*(1 + R*(1 - exp(-(D/N)/R))))^(-b)": False,  # transforms inside a power are fine
        "E + A*exp(-b*(s + D)^b)": False,
        "E + B*N*(1 + k*log(N))": False,
        "E + A/(1 + (N/s)^a)": False,
        "exp(d + a*log(N) + c*log(N)*log(D))": False,
        "E + A*N^(-0.5) + B*x": False,  # x is not wide
    }
    for text, raw in cases.items():
        expr = Law.parse(text, ["N", "D", "x"]).expressions[0]
        assert raw_wide_term(expr, wide) is raw, text


def test_log_y_search_fits_laws_to_log_y_where_the_target_is_positive() -> None:
    from dataclasses import replace

    from lawagent.law.law import Law
    from lawagent.proposers.base import CandidateRecord, ProposalContext
    from lawagent.proposers.symbolic import SymbolicProposer
    from lawagent.selection.view import task_info
    from lawagent.task import load_task

    task = load_task("parallel_scaling_law")
    info = task_info(task, task.train())
    assert info.positive_targets

    def proposed(info, log_y: bool, best=(), blocks: str = "generic") -> list:
        context = ProposalContext(info, list(best), [], [], 300, 1, np.random.default_rng(0))
        return SymbolicProposer(info, seed=0, blocks=blocks, log_y=log_y).propose(context)

    for blocks in ("generic", "all"):
        logs = [p for p in proposed(info, True, blocks=blocks) if p.text.startswith("log(y) = ")]
        assert {p.origin for p in logs} >= {"symbolic:block:log_product(num_params,parallel_size)"}
        assert all(Law.parse(p.text, info.features).log_fitted == (0,) for p in logs)
    assert not [p for p in proposed(info, False) if "log(y)" in p.text]  # not asked for
    negative = replace(info, target_ranges={"loss": (-0.5, 3.0)})
    assert not [p for p in proposed(negative, True) if "log(y)" in p.text]  # asked for, but y can be <= 0

    # the operator: a parent fitted to y has a child with the same expression fitted to log y
    parent = CandidateRecord(id=7, formula="E + A*num_params**a", origin="t", iteration=0, val_r2=0.9, fit_r2=0.9,
                             params={g: {"E": 1.5, "A": 30.0, "a": -0.2} for g in info.groups})
    same = Law.parse(parent.formula, info.features).expressions
    toggled = [p for p in proposed(info, True, [parent]) if p.origin == "symbolic:target"]
    assert [Law.parse(p.text, info.features).expressions for p in toggled] == [same]
    assert toggled[0].text.startswith("log(y) = ")
