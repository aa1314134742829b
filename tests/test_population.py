"""Population: dedup, the Pareto front, per-complexity elites and context sampling."""

import math

import numpy as np

from lawagent.discovery.population import Population
from lawagent.proposers.base import CandidateRecord, TaskInfo


def rec(i, complexity, val, error="", key=None):
    return CandidateRecord(id=i, formula=f"f{i}", origin="t", iteration=0, complexity=complexity, n_params=2,
                           val_r2=val, fit_r2=val, error=error, key=key or f"k{i}")


def info():
    return TaskInfo("t", "t", "", ("x",), ("y",), 4, {}, ("all",), "")


def make():
    pop = Population(bin_width=4)
    pop.extend([rec(0, 5, 0.5), rec(1, 9, 0.9), rec(2, 9, 0.95), rec(3, 13, 0.93), rec(4, 20, 0.99),
                rec(5, 6, 0.4), rec(6, 7, -math.inf, error="fit failed"), rec(7, 30, 0.99)])
    return pop


def test_dedup_and_best():
    pop = make()
    assert pop.seen("k3") and not pop.seen("other")
    assert [r.id for r in pop.best(3)] == [4, 7, 2]  # tie 0.99: simpler first
    assert pop.n_ok == 7


def test_best_follows_every_addition():
    """best() is sorted once per change: a record added after it was asked for still ranks (a cache that
    missed an addition would hide a new best law from the progress line, the racing limits and the finalists)."""
    pop = make()
    assert pop.best(1)[0].id == 4
    pop.add(rec(8, 5, 0.999))
    assert [r.id for r in pop.best(2)] == [8, 4]
    pop.add(rec(9, 5, 0.2, key="k9"))
    pop.add(rec(10, 5, -math.inf, error="fit failed"))  # not ranked: no change
    assert [r.id for r in pop.best(len(pop))][-1] == 9 and len(pop.best(len(pop))) == 9
    pop.best(2).clear()  # a caller's list is its own
    assert len(pop.best(2)) == 2


def test_pareto_front():
    assert [r.id for r in make().pareto()] == [0, 2, 4]


def test_elites_per_bin_and_archive():
    pop = make()
    assert {b: r.id for b, r in pop.elites.items()} == {1: 0, 2: 2, 3: 3, 5: 4, 7: 7}
    ids = [r.id for r in pop.archive()]
    assert ids[0] == 4 and set(ids) == {0, 2, 3, 4, 7}


def test_failures_are_recent_errors():
    assert [r.id for r in make().failures()] == [6]


def test_context_is_deterministic_for_a_seed():
    pop = make()
    a = pop.context(info(), 8, 3, np.random.default_rng([0, 3]), n_best=2, n_diverse=2)
    b = pop.context(info(), 8, 3, np.random.default_rng([0, 3]), n_best=2, n_diverse=2)
    assert [r.id for r in a.best] == [4, 7]
    assert [r.id for r in a.diverse] == [r.id for r in b.diverse] and len(a.diverse) == 2
    assert not {r.id for r in a.diverse} & {4, 7}
    assert a.n == 8 and a.iteration == 3
