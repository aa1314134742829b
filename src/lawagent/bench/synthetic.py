"""Synthetic tasks for timing: many groups and many rows, which no bundled task has.

The bundled tasks have 24 to 2,702 training rows and 1 to 42 groups; a user's
data can be far bigger. ``synthetic-10k`` and ``synthetic-100k`` are
Chinchilla-shaped losses for 100 model families, with the rows spread evenly
over the families. They are drawn from a fixed seed, so every run times the
same rows. They exist for ``lawagent bench-fit`` only: nothing is learnt from them.
"""

from __future__ import annotations

import numpy as np

from lawagent.task import DataSplit, ReferenceLaw, Task

SYNTHETIC_ROWS = {"synthetic-10k": 10_000, "synthetic-100k": 100_000}
GROUPS = 100
NOISE = 0.005  # relative
TEST_SHARE = 0.1  # per family, the largest rows by N*D


def is_synthetic(name: str) -> bool:
    return name in SYNTHETIC_ROWS


def synthetic_task(name: str, seed: int = 0) -> Task:
    """L = E + A/N^alpha + B/D^beta per family, 0.5% noise; the largest 10% by N*D of each family are test rows."""
    rows = SYNTHETIC_ROWS[name]
    rng = np.random.default_rng(seed)
    family = np.repeat(np.arange(GROUPS), rows // GROUPS)
    n = len(family)
    N = 10 ** rng.uniform(7.0, 10.0, n)
    D = 10 ** rng.uniform(9.0, 12.0, n)
    E, A, alpha = rng.uniform(1.5, 2.5, GROUPS), 10 ** rng.uniform(2.0, 3.0, GROUPS), rng.uniform(0.25, 0.4, GROUPS)
    B, beta = 10 ** rng.uniform(2.0, 3.0, GROUPS), rng.uniform(0.25, 0.4, GROUPS)
    clean = E[family] + A[family] / N ** alpha[family] + B[family] / D ** beta[family]
    y = clean * (1.0 + NOISE * rng.standard_normal(n))
    scale = N * D
    test = np.zeros(n, dtype=bool)
    for g in range(GROUPS):
        idx = np.flatnonzero(family == g)
        k = max(1, round(TEST_SHARE * len(idx)))
        test[idx[np.argsort(scale[idx], kind="stable")[-k:]]] = True
    names = np.array([f"family{g:03d}" for g in range(GROUPS)], dtype=object)
    data = DataSplit(X={"N": N, "D": D}, y=y[:, None], groups=names[family], scale=scale)
    return Task(
        name=name,
        title=f"synthetic Chinchilla-shaped loss, {n} rows in {GROUPS} families",
        description="for timing only",
        features=("N", "D"),
        targets=("loss",),
        group_column="family",
        parameter_budget=8,
        scale=("N", "D"),
        columns={},
        reference=ReferenceLaw(("E + A/N^alpha + B/D^beta",), citation="the law the rows were drawn from"),
        source={},
        path=None,
        split_description=f"the largest {TEST_SHARE:.0%} of each family by N*D",
        _all=data,
        _test_mask=test,
    )
