"""Test-blind by construction: search, ranking and proposers give the same result with the test rows gone.

Two proofs. (1) The train-only view, the whole discovery run (search, ranking,
the chosen law and its refit) and the LLM prompts are identical for a task and
for the same task with its test rows dropped from memory (``Task.without_test``).
(2) The prompt rendered for every bundled task contains no number that only the
test rows hold.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from lawagent.discovery import discover
from lawagent.llm import prompts
from lawagent.proposers.base import CandidateRecord, ProposalContext
from lawagent.selection.protocol import protocol_for
from lawagent.selection.view import TrainView
from lawagent.task import DataSplit, Task, list_tasks, load_task

FAST = dict(batch_size=8, workers=0, progress=False, time_limit=None)


def _same_split(a: DataSplit, b: DataSplit) -> None:
    assert a.X.keys() == b.X.keys()
    for f in a.X:
        np.testing.assert_array_equal(a.X[f], b.X[f])
    np.testing.assert_array_equal(a.y, b.y)
    np.testing.assert_array_equal(a.groups, b.groups)


@pytest.mark.parametrize("name", list_tasks())
def test_the_view_is_the_same_without_test_rows(name: str) -> None:
    task = load_task(name)
    blind = task.without_test()
    assert blind.n_test == 0 and len(blind.test()) == 0 and blind.n_train == task.n_train
    a, b = TrainView.of(task, protocol_for(task)), TrainView.of(blind, protocol_for(blind))
    assert a.info == b.info and a.protocol == b.protocol
    assert len(a.folds) == len(b.folds)
    for fa, fb in zip(a.folds, b.folds):
        assert fa.rule == fb.rule
        _same_split(fa.fit, fb.fit)
        _same_split(fa.val, fb.val)


@pytest.mark.parametrize("name", ["parallel_scaling_law", "data_constrained_scaling_law"])
def test_discovery_is_the_same_without_test_rows(name: str, tmp_path) -> None:
    task = load_task(name)
    seen = discover(task, iterations=2, seed=1, out_dir=tmp_path, run_id="seen", **FAST)
    blind = discover(task.without_test(), iterations=2, seed=1, out_dir=tmp_path, run_id="blind", **FAST)
    assert seen.n_evaluated == blind.n_evaluated
    cands = [[{k: v for k, v in json.loads(line).items() if k != "seconds"}
              for line in (tmp_path / run / "candidates.jsonl").read_text().splitlines()] for run in ("seen", "blind")]
    assert cands[0] == cands[1]  # every candidate, its fold scores, probe and fitted values
    assert [law.formula for law in seen.laws] == [law.formula for law in blind.laws]
    assert [law.selection for law in seen.laws] == [law.selection for law in blind.laws]
    assert seen.best.params == blind.best.params
    assert seen.best.test is not None and blind.best.test is None  # only the report differs


def _context(view: TrainView) -> ProposalContext:
    """A context with a population whose records carry train-fitted values (as a real run's do)."""
    rec = CandidateRecord(id=0, formula="E + A*x", origin="t", iteration=0, val_r2=0.9, fit_r2=0.95,
                          params={view.info.groups[0]: {"E": 0.01234567, "A": 7.654321}})
    return ProposalContext(view.info, [rec], [], [], 6, 1, np.random.default_rng(0))


@pytest.mark.parametrize("name", ["moe_scaling_law", "sft_scaling_law"])
def test_llm_prompts_are_the_same_without_test_rows(name: str) -> None:
    task = load_task(name)
    for compact in (False, True):
        texts = [prompts.render(prompts.build_messages(_context(TrainView.of(t, protocol_for(t))), 6,
                                                       compact=compact))
                 for t in (task, task.without_test())]
        assert texts[0] == texts[1]


_NUMBER = re.compile(r"(?<![A-Za-z_])(\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)\s*([kKMBT])?(?![A-Za-z0-9_])")
_SUFFIX = {"k": 1e3, "K": 1e3, "M": 1e6, "B": 1e9, "T": 1e12}


def _numbers(text: str) -> list[tuple[str, float, float]]:
    """(token, value, half a unit in its last written digit) for every number in ``text``."""
    out = []
    for m in _NUMBER.finditer(text):
        digits, suffix = m.group(1), m.group(2) or ""
        mantissa = digits.lower().split("e")[0]
        exponent = int(digits.lower().split("e")[1]) if "e" in digits.lower() else 0
        decimals = len(mantissa.split(".")[1]) if "." in mantissa else 0
        scale = _SUFFIX.get(suffix, 1.0)
        out.append((m.group(0), float(digits) * scale, 0.5 * 10.0 ** (exponent - decimals) * scale))
    return out


def _values(split: DataSplit) -> np.ndarray:
    return np.unique(np.concatenate([*split.X.values(), split.y.ravel()]))


def _test_only_values(task: Task) -> np.ndarray:
    """Feature and target values of the test rows that no training row holds in any column."""
    train_values, test_values = _values(task.train()), _values(task.test())
    near = np.array([np.any(np.isclose(train_values, v, rtol=1e-6, atol=0)) for v in test_values])
    return test_values[~near]


@pytest.mark.parametrize("name", list_tasks())
@pytest.mark.parametrize("compact", [False, True])
def test_prompts_hold_no_value_of_the_test_rows(name: str, compact: bool) -> None:
    task = load_task(name)
    view = TrainView.of(task, protocol_for(task))
    # the task's part of the prompt (the system text and examples are fixed; the population's numbers come from
    # the search, which the tests above show to be the same without test rows)
    context = ProposalContext(view.info, [], [], [], 6, 0, np.random.default_rng(0))
    text = prompts.build_messages(context, 6, compact=compact)[-1]["content"]
    secret, seen = _test_only_values(task), _values(task.train())
    assert len(secret)  # the check has something to find
    for token, value, half_ulp in _numbers(text):
        if value == 0 or half_ulp / abs(value) > 0.05:  # '1', '2', '8': too coarse to carry a test value
            continue
        tol = half_ulp * 1.0001 + 1e-12 * abs(value)
        if np.any(np.abs(seen - value) <= tol):  # a training value, as rounded for the prompt
            continue
        hits = secret[np.abs(secret - value) <= tol]
        assert not len(hits), f"{name}: prompt shows {token!r}, which matches test-only value(s) {hits[:3]}"
