"""The validation protocol: folds carved from training rows only, derived the same way for every dataset."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lawagent.errors import LawagentError, TaskError
from lawagent.holdout import parse_holdout
from lawagent.selection.dev import dev_kind, dev_task, dev_value
from lawagent.selection.protocol import Protocol, StepDown, protocol_for
from lawagent.task import DataSplit, Task, list_tasks, load_task, task_from_csv

BUNDLED = list_tasks()


def rows_key(split: DataSplit, task: Task) -> set[tuple]:
    cols = [split.X[f] for f in task.features]
    return {(str(split.groups[i]), *(float(c[i]) for c in cols), *map(float, split.y[i])) for i in range(len(split))}


@pytest.fixture(scope="module")
def tasks() -> dict[str, Task]:
    return {n: load_task(n) for n in BUNDLED}


@pytest.fixture()
def families(tmp_path: Path) -> Path:
    """Two model families over sizes 1e7..1e10 and three token counts; loss falls with both."""
    rows = [(fam, n, d, 2 + 50 / n**0.3 + 80 / d**0.3) for fam in ("a", "b")
            for n in (1e7, 3e7, 1e8, 3e8, 1e9, 3e9, 1e10) for d in (1e9, 1e10, 1e11)]
    path = tmp_path / "runs.csv"
    pd.DataFrame(rows, columns=["family", "N", "D", "loss"]).to_csv(path, index=False)
    return path


# -- bundled tasks --------------------------------------------------------------

@pytest.mark.parametrize("name", BUNDLED)
def test_folds_step_down_inside_the_training_rows(tasks: dict[str, Task], name: str) -> None:
    t = tasks[name]
    folds = protocol_for(t).folds(t.train())
    assert len(folds) == 2
    test_rows = rows_key(t.test(), t)
    f1, f2 = folds
    assert rows_key(f1.fit, t) | rows_key(f1.val, t) == rows_key(t.train(), t)
    assert len(f1.val) >= 1 and not (rows_key(f1.fit, t) | rows_key(f1.val, t)) & test_rows
    # fold 2 is carved from fold 1's fit rows only
    assert rows_key(f2.fit, t) | rows_key(f2.val, t) == rows_key(f1.fit, t)
    assert len(f2.val) >= 1 and len(f2.fit) >= len(f2.val)


@pytest.mark.parametrize("name", BUNDLED)
def test_default_carve_is_the_largest_by_scale_per_group(tasks: dict[str, Task], name: str) -> None:
    t = tasks[name]
    p = protocol_for(t)
    if p.template is not None:
        pytest.skip("this task states its own validation rule (tested below)")
    assert p.origin == "default" and p.uses_fraction
    for a, b in zip(p.folds(t.train()), p.folds(t.train())[1:]):
        for g in b.val.group_names():
            assert b.val.scale[b.val.groups == g].max() <= a.val.scale[a.val.groups == g].min()
    fold = p.carve(t.train())
    for g in fold.fit.group_names():
        v = fold.val.scale[fold.val.groups == g]
        if len(v):
            assert v.min() >= fold.fit.scale[fold.fit.groups == g].max()


def test_scale_of_several_features_is_their_product(tasks: dict[str, Task]) -> None:
    lr = tasks["lr_bsz_scaling_law"].train()  # scale = ["non_embedding_param_size", "data_size"]
    assert np.allclose(lr.scale, lr.X["non_embedding_param_size"] * lr.X["data_size"])


def test_sft_detail(tasks: dict[str, Task]) -> None:
    fold = protocol_for(tasks["sft_scaling_law"]).carve(tasks["sft_scaling_law"].train())
    assert len(fold.val) == 42 * 2  # round(0.2 * 12) per group
    assert set(fold.val.X["sft_data_size"]) == {204800.0, 409600.0}


def test_task_rules_say_why_and_take_the_protocol_share(tasks: dict[str, Task]) -> None:
    t = tasks["data_constrained_scaling_law"]
    p = protocol_for(t)
    assert p.origin == "task" and "params OR of tokens" in p.reason and p.uses_fraction
    fold = p.carve(t.train())
    assert fold.rule == "largest 10.56% by params or largest 10.56% by tokens"  # 1 - (1 - 0.2)^(1/2)
    train = t.train()
    top = (fold.val.X["params"] >= np.quantile(train.X["params"], 0.85)) | \
          (fold.val.X["tokens"] >= np.quantile(train.X["tokens"], 0.85))
    assert top.all()
    wider = protocol_for(t, fraction=0.4).carve(train)
    assert len(wider.val) > len(fold.val)
    lr = protocol_for(tasks["lr_bsz_scaling_law"]).carve(tasks["lr_bsz_scaling_law"].train())
    assert lr.rule == "largest 44.72% by non_embedding_param_size and largest 44.72% by data_size"  # 0.2^(1/2)


def test_dev_task_drops_the_test_rows_and_tests_on_fold_one(tasks: dict[str, Task]) -> None:
    t = tasks["vocab_scaling_law"]
    p = protocol_for(t)
    dev = dev_task(t, p)
    assert dev.n_train + dev.n_test == t.n_train
    assert rows_key(dev.test(), t) == rows_key(p.carve(t.train()).val, t)
    assert not (rows_key(dev.train(), t) | rows_key(dev.test(), t)) & rows_key(t.test(), t)
    # discovery on the dev task validates one step further down: fold 2 of the real task
    assert rows_key(protocol_for(dev).carve(dev.train()).val, t) == rows_key(p.folds(t.train())[1].val, t)


def test_far_dev_task_keeps_the_pseudo_test_and_drops_the_next_fold(tasks: dict[str, Task]) -> None:
    t = tasks["vocab_scaling_law"]
    p = protocol_for(t)
    near, far = dev_task(t, p), dev_task(t, p, "far")
    f1, f2 = p.folds(t.train())
    assert far.dev == "far" and near.dev is True
    assert rows_key(far.test(), t) == rows_key(near.test(), t) == rows_key(f1.val, t)
    assert rows_key(far.train(), t) == rows_key(f2.fit, t)  # fold 2's validation rows are nowhere
    assert far.n_train + far.n_test + len(f2.val) == t.n_train
    assert "two steps beyond" in far.split_description
    # discovery on the far task validates one step below its own rows: fold 3 of the real task
    f3 = p.carve(f2.fit)
    assert rows_key(protocol_for(far).carve(far.train()).val, t) == rows_key(f3.val, t)


def test_far_dev_task_needs_rows_for_two_folds(families: Path) -> None:
    t = task_from_csv(families, ["N", "D"], ["loss"], group="family", holdout="N >= 1e10")
    tiny = task_from_csv(families, ["N", "D"], ["loss"], group="family", holdout="N >= 1e8")
    assert dev_task(t, protocol_for(t), "far").n_train > 0
    with pytest.raises(TaskError, match="too few training rows for the far development split"):
        dev_task(tiny, protocol_for(tiny), "far")


def test_dev_kind_reads_what_runs_recorded() -> None:
    assert [dev_kind(v) for v in (False, None, True, "near", "far")] == [None, None, "near", "near", "far"]
    assert [dev_value(v) for v in (None, "near", "far", True)] == [False, True, "far", True]
    with pytest.raises(LawagentError, match="unknown development split 'farther'"):
        dev_kind("farther")


# -- derived from a holdout rule ------------------------------------------------

def test_comparison_becomes_the_same_comparison_one_step_down(families: Path) -> None:
    t = task_from_csv(families, ["N", "D"], ["loss"], group="family", holdout="N >= 1e10")
    p = protocol_for(t)
    assert p.origin == "holdout" and p.template == StepDown("N", largest=True)
    assert "derived from the holdout rule 'N >= 1e10'" in p.describe()
    f1, f2 = p.folds(t.train())
    # whole model sizes, all families together: the largest training size, then the next
    assert f1.rule == "N >= 3e9" and set(f1.val.X["N"]) == {3e9}
    assert f2.rule == "N >= 1e9" and set(f2.val.X["N"]) == {1e9}
    smaller = task_from_csv(families, ["N", "D"], ["loss"], group="family", holdout="N <= 1e7")
    assert protocol_for(smaller).carve(smaller.train()).rule == "N <= 3e7"


def test_quantile_keeps_its_share_of_the_remaining_rows(families: Path) -> None:
    t = task_from_csv(families, ["N", "D"], ["loss"], group="family", holdout="largest 20% by D")
    p = protocol_for(t)
    assert p.template == parse_holdout("largest 20% by D").node and not p.uses_fraction
    fold = p.carve(t.train())
    assert fold.rule == "largest 20% by D" and set(fold.val.X["D"]) == {1e10}
    with pytest.raises(TaskError, match="--validation-fraction does not apply.*largest 20% by D"):
        protocol_for(t, fraction=0.3)


def test_and_or_spread_the_share_and_other_cases_fall_back(families: Path) -> None:
    t = task_from_csv(families, ["N", "D"], ["loss"], group="family", holdout="N >= 1e10 or D >= 1e11")
    assert protocol_for(t).carve(t.train()).rule == "N >= 3e9 or D >= 1e10"
    on_value = task_from_csv(families, ["N", "D"], ["loss"], group="family", holdout="N == 1e10")
    assert protocol_for(on_value).template == StepDown("N", largest=True)
    inside = task_from_csv(families, ["N", "D"], ["loss"], group="family", holdout="N == 1e9")
    assert protocol_for(inside).template is None  # interpolation: the default carve by scale


def test_explicit_validation_and_scale(families: Path) -> None:
    t = task_from_csv(families, ["N", "D"], ["loss"], group="family", holdout="N >= 1e10", scale=["D"],
                      validation="largest 2 by D")
    p = protocol_for(t)
    assert p.origin == "task" and t.scale == ("D",) and p.carve(t.train()).rule == "largest 2 by D"
    override = protocol_for(t, validation="N >= 1e9")
    assert override.origin == "user" and set(override.carve(t.train()).val.X["N"]) == {1e9, 3e9}
    with pytest.raises(TaskError, match="uses 'loss', which is not a feature"):
        protocol_for(t, validation="largest by loss")
    with pytest.raises(TaskError, match="uses 'params', which is not a feature"):
        task_from_csv(families, ["N", "D"], ["loss"], holdout="N >= 1e10", validation="largest by params")


def test_bad_protocol_numbers(families: Path) -> None:
    t = task_from_csv(families, ["N", "D"], ["loss"], holdout="N >= 1e10")
    with pytest.raises(TaskError, match="between 0 and 1"):
        protocol_for(t, fraction=1.5)
    with pytest.raises(TaskError, match="whole number"):
        protocol_for(t, n_folds=0)


def test_folds_stop_where_rows_run_out(tmp_path: Path) -> None:
    csv = tmp_path / "tiny.csv"
    csv.write_text("x,y\n" + "".join(f"{x},{1 / x}\n" for x in (1, 2, 3, 4, 5, 100)))
    t = task_from_csv(csv, features=["x"], targets=["y"], holdout="x >= 100")
    folds = Protocol(None, 0.4, 5, scale=("x",)).folds(t.train())
    assert 1 <= len(folds) < 5 and all(len(f.fit) >= len(f.val) >= 1 for f in folds)
    assert len(protocol_for(t, n_folds=1).folds(t.train())) == 1


def test_share_quantiles_only_in_validation_rules() -> None:
    with pytest.raises(TaskError, match="expected an amount"):
        parse_holdout("largest by N")
    assert parse_holdout("largest by N or smallest by D", allow_share=True).columns() == ["N", "D"]
