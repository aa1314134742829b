"""The five bundled tasks beyond SLDBench: prompt texts free of test values, the
validation protocol of each, and a short discovery run end to end on each.

Loading, row counts and the byte-exact data copy are in test_task.py; the
reference laws are evaluated with every other task in test_evaluate.py."""

from __future__ import annotations

import math
import re
import tomllib

import numpy as np
import pytest

from lawagent.discovery import discover
from lawagent.selection.protocol import protocol_for
from lawagent.task import Task, load_task

MORE = ["gemstones_scaling_law", "lr_schedule_scaling_law", "obs_scaling_law", "overtraining_scaling_law",
        "revisiting_lang_scaling_law"]
NUMBER = re.compile(r"(?<![A-Za-z_])\d+(?:\.\d+)?(?:[eE][+-]?\d+)?")


def prompt_texts(task: Task) -> list[str]:
    """Every text of task.toml that reaches a proposer's prompt."""
    texts = [task.title, task.description, task.split_description]
    texts += [f"{c.description} {c.unit}" for c in task.columns.values()]
    return texts


def test_leak_check_can_fail() -> None:
    """The leak check below can fail: a test-only value written into a description is caught."""
    task = load_task("obs_scaling_law")
    assert leaked_numbers(task, ["models up to 3.645e25 FLOPs are held out"]) == ["3.645e25"]
    assert leaked_numbers(task, ["the training models reach 8.4e22 FLOPs"]) == []


def leaked_numbers(task: Task, texts: list[str]) -> list[str]:
    """Numbers in ``texts`` that equal a test value lying outside the training range of its column."""
    train, test = task.train(), task.test()
    unseen = []
    for j, col in enumerate([*task.features, *task.targets]):
        tr = train.X[col] if col in train.X else train.y[:, j - len(task.features)]
        te = test.X[col] if col in test.X else test.y[:, j - len(task.features)]
        unseen += [v for v in te if not tr.min() <= v <= tr.max()]
    out = []
    for text in texts:
        for m in NUMBER.finditer(text):
            x = float(m.group())
            if any(math.isclose(x, v, rel_tol=5e-3) for v in unseen):
                out.append(m.group())
    return out


@pytest.mark.parametrize("name", MORE)
def test_prompt_texts_hold_no_test_values(name: str) -> None:
    task = load_task(name)
    assert leaked_numbers(task, prompt_texts(task)) == []
    assert "held-out rows" in task.description  # says where the law must extrapolate, in words


@pytest.mark.parametrize("name", MORE)
def test_validation_override_comes_with_a_reason(name: str) -> None:
    task = load_task(name)
    split = tomllib.loads((task.path / "task.toml").read_text(encoding="utf-8"))["split"]
    assert ("validation" in split) == ("validation_reason" in split)
    assert task.validation_rule == split.get("validation")
    assert task.reference is not None and task.reference.citation


def test_lr_schedule_validation_holds_out_a_schedule_and_late_steps() -> None:
    """Split by schedule: validation holds out the two-stage training schedule whole, plus the latest steps."""
    task = load_task("lr_schedule_scaling_law")
    train = task.train()
    fold = protocol_for(task).carve(task.train())
    fit, val = fold.fit, fold.val
    assert len(fit) + len(val) == len(train)
    for g in train.group_names():
        f, v = fit.groups == g, val.groups == g
        assert not (fit.X["total_steps"][f] == 16000).any()  # the two-stage schedule is in validation only
        assert (val.X["total_steps"][v] == 16000).sum() == (train.X["total_steps"][train.groups == g] == 16000).sum()
        late = v & (val.X["total_steps"] != 16000)
        assert late.any() and val.X["step"][late].min() > fit.X["step"][f].max()
        assert set(fit.X["total_steps"][f]) == {24000.0} and len(set(fit.X["final_lr"][f])) == 2


@pytest.mark.parametrize("name", ["gemstones_scaling_law", "obs_scaling_law", "overtraining_scaling_law",
                                  "revisiting_lang_scaling_law"])
def test_default_validation_carves_the_largest_training_rows(name: str) -> None:
    task = load_task(name)
    assert task.validation_rule is None and task.scale
    fold = protocol_for(task).carve(task.train())
    fit, val = fold.fit, fold.val
    for g in fit.group_names():
        v = val.scale[val.groups == g]
        assert len(v) and v.min() > fit.scale[fit.groups == g].max()


@pytest.mark.parametrize("name", MORE)
def test_discover_runs_end_to_end(name: str, tmp_path) -> None:
    res = discover(name, iterations=2, batch_size=8, workers=0, progress=False, time_limit=120.0, out_dir=tmp_path,
                   run_id="short")
    task = load_task(name)
    assert res.stopped == "iterations" and res.n_evaluated > 0
    assert res.best.test is not None and res.best.test["n_rows"] == task.n_test
    assert np.isfinite(res.best.val_r2) and np.isfinite(res.best.test_r2)
    assert res.reference is not None and np.isfinite(res.reference.test_r2)
    assert set(res.best.params) == set(task.train().group_names())
    assert (res.run_dir / "final.json").is_file()
