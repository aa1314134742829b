"""Physical sanity checks on real fits (training rows only), the readability penalty, and how ranking uses both."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pytest
import sympy

from lawagent.evaluate import FINAL_FIT, evaluate, parse_law
from lawagent.law.law import Law
from lawagent.proposers.base import CandidateRecord
from lawagent.proposers.symbolic import SymbolicProposer, fitness
from lawagent.proposers.blocks import Gene
from lawagent.readable.roles import parameter_roles, split_roles
from lawagent.sanity import Sanity, is_loss, sanity_checks, target_is_loss
from lawagent.selection import rank
from lawagent.selection.protocol import protocol_for
from lawagent.selection.view import TrainView
from lawagent.task import load_task


def _checks(task, formula):
    ev = evaluate(task, parse_law(task, formula), FINAL_FIT)
    return sanity_checks(ev.law, ev.fit.params_table(), task.train(), task.scale, target_is_loss(task))


def test_a_saturating_law_passes_and_reports_its_irreducible_loss():
    task = load_task("parallel_scaling_law")
    result = _checks(task, "E + A*num_params^(-alpha)*parallel_size^(-b)")
    assert result.failures == 0 and {c.name for c in result.checks} >= {"limit", "sign"}
    train = task.train()
    for g, limit in result.limits.items():
        y = train.y[train.groups == g, 0]
        assert 0 < limit < y.min()  # the irreducible loss lies below every observed loss


def test_a_log_law_has_no_finite_limit():
    task = load_task("parallel_scaling_law")
    log_law = _checks(task, "E + A*log(num_params) + B*log(parallel_size)")
    assert [c.name for c in log_law.checks if c.passed is False] == ["limit"]
    assert all(math.isnan(v) for v in log_law.limits.values())


def test_a_law_that_turns_back_past_the_data_fails_monotone():
    """sft losses fall with data; a parabola in log(data) whose vertex lies half a decade past each group's
    largest run (values set by hand, rows real) turns back inside the checked decade."""
    task = load_task("sft_scaling_law")
    train = task.train()
    law = Law.parse("E + A*(log(sft_data_size) - c)^2", task.features)
    params = {g: {"E": 1.0, "A": 0.05, "c": float(np.log(train.X["sft_data_size"][train.groups == g].max())) + 1.15}
              for g in train.group_names()}
    bowl = sanity_checks(law, params, train, task.scale, True)
    check = next(c for c in bowl.checks if c.name == "monotone")
    assert check.applies >= 30 and check.failed == check.applies and check.passed is False
    assert Sanity.from_dict(bowl.to_dict()).failures == bowl.failures >= 1
    params = {g: {**v, "c": v["c"] + 3} for g, v in params.items()}  # the vertex two decades further out
    assert next(c for c in sanity_checks(law, params, train, task.scale, True).checks
                if c.name == "monotone").failed == 0


def test_loss_targets_are_recognised():
    assert is_loss("loss") and is_loss("sft_loss") and is_loss("y", "validation perplexity")
    assert not is_loss("accuracy") and target_is_loss(load_task("sft_scaling_law"))


@dataclass
class _Cand:
    id: int
    complexity: int
    penalty: int
    score: float


def test_ranking_charges_readability_and_breaks_ties_by_sanity():
    a = _Cand(0, 12, 1, 0.950)  # best score, one parameter in two roles
    b = _Cand(1, 14, 0, 0.948)  # within the band, readable
    c = _Cand(2, 9, 0, 0.700)  # outside the band
    assert rank.cost(a) == 12 + rank.READABILITY_COST
    assert rank.choose_best([a, b, c]) is b  # simpler once readability is charged
    a.penalty = 0
    assert rank.choose_best([a, b, c]) is a
    assert rank.choose_best([a, b, c], failures={0: 2, 1: 0}) is b  # the saner law of the band
    assert rank.choose_best([a, b, c], failures={0: 1, 1: 1, 2: 0}) is a  # never from outside the band
    # a law of the band whose checks did not run is not taken for a sane one
    assert rank.choose_best([a, b, c], failures={0: 1}) is a
    assert [r.id for r in rank.sanity_order([a, b, c])] == [0, 1]  # checked simplest first, as the rule reads them


def test_the_separate_mutation_gives_each_role_its_own_parameter():
    task = load_task("moe_scaling_law")
    view = TrainView.of(task, protocol_for(task))
    proposer = SymbolicProposer(view.info, seed=0)
    law = Law.parse("A*num_experts^a + log(dense_parameter_count)*a", task.features)
    assert parameter_roles(law.expressions, task.features).reused == ["a"]
    gene = proposer._op_separate_roles(Gene(law.expressions[0]), np.random.default_rng(0), 0)
    assert gene is not None and parameter_roles([gene.expr], task.features).reused == []
    assert len(gene.expr.free_symbols) == len(law.expressions[0].free_symbols) + 1
    x = sympy.Symbol("x")
    assert split_roles(sympy.Symbol("k") * x ** sympy.Symbol("k"), ["x"], "k", sympy.Symbol("m")) == \
        sympy.Symbol("k") * x ** sympy.Symbol("m")
    plain = CandidateRecord(0, "f", "o", 0, complexity=10, val_r2=0.9)
    reused = CandidateRecord(1, "g", "o", 0, complexity=10, val_r2=0.9, penalty=1)
    assert fitness(reused) > fitness(plain)


@pytest.mark.parametrize("task_name", ["sft_scaling_law"])
def test_a_run_stores_sanity_and_the_reason_of_the_choice(task_name, tmp_path):
    from lawagent.discovery.api import discover

    result = discover(task_name, max_candidates=40, workers=0, progress=False, out_dir=tmp_path, run_id="r",
                      top_k=2)
    for law in result.laws:
        assert law.sanity is not None and "failures" in law.sanity
        names = {c["name"] for c in law.sanity["checks"]}
        assert names and names <= {"monotone", "limit", "sign"}  # sft: a loss along one scale feature
        assert "monotone" in names and "limit" in names
        assert law.sanity["failures"] == sum(c["passed"] is False for c in law.sanity["checks"])
    assert result.best.selection["why"].startswith("chosen")
