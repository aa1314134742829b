"""`lawagent tasks new` and `lawagent tasks check` on real data: a folder made from a CSV
checks and loads, and every kind of broken folder gives one line naming file and line."""

from __future__ import annotations

import filecmp
import re
import shutil
from pathlib import Path

import pytest

from lawagent.cli import main
from lawagent.errors import TaskError
from lawagent.task import list_tasks, load_task, tasks_dir
from lawagent.taskdef import check_task_folder, create_task
from lawagent.taskdef.toml_lines import key_lines

SOURCE_CSV = tasks_dir() / "parallel_scaling_law" / "data.csv"  # 48 rows, 2 groups, a split column
HOLDOUT = "num_params >= 1e9"


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture()
def good(tmp_path) -> Path:
    """A task folder made by `tasks new` from a real CSV."""
    shutil.copyfile(SOURCE_CSV, tmp_path / "runs.csv")
    made = create_task("par", tmp_path / "runs.csv", ["num_params", "parallel_size"], ["loss"], group="group",
                       holdout=HOLDOUT, parent=tmp_path / "tasks-local", parameter_budget=4,
                       reference="(A/(num_params*(k*log(parallel_size) + 1)))^alpha + E")
    return made.folder


# -- tasks new ---------------------------------------------------------------------------------


def test_new_then_check_passes(tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    shutil.copyfile(SOURCE_CSV, "runs.csv")
    code, out, err = run(capsys, "tasks", "new", "mylab", "--from", "runs.csv", "--features", "num_params,parallel_size",
                         "--target", "loss", "--group", "group", "--holdout", HOLDOUT, "--budget", "4")
    assert code == 0, err
    folder = tmp_path / "tasks-local" / "mylab"
    assert filecmp.cmp(folder / "data.csv", SOURCE_CSV, shallow=False)
    for line in ("lawagent discover --task ./tasks-local/mylab", "lawagent bench --tasks ./tasks-local/mylab",
                 "lawagent tasks check ./tasks-local/mylab"):
        assert line in out
    code, out, err = run(capsys, "tasks", "check", "./tasks-local/mylab")
    assert code == 0 and err == "" and out.startswith("./tasks-local/mylab: ok")
    task = load_task(folder)
    source = load_task("parallel_scaling_law")
    assert (task.n_train + task.n_test, len(task.groups)) == (source.n_train + source.n_test, 2)
    assert task.scale == ("num_params",) and task.parameter_budget == 4 and task.reference is None
    assert set(task.test().X["num_params"]) == {v for v in source.train().X["num_params"].tolist() +
                                                source.test().X["num_params"].tolist() if v >= 1e9}
    # the rule's threshold is a test value: it stays out of every text a proposer reads
    assert "1e9" not in task.description + task.split_description and "largest num_params" in task.description


def test_new_task_runs_with_its_reference(good) -> None:
    from lawagent.evaluate import evaluate, reference_law

    task = load_task(good)
    ev = evaluate(task, reference_law(task))
    assert not ev.test.failed and ev.test.n_rows == task.n_test
    assert check_task_folder(good) == []


def test_new_with_bad_input_writes_nothing(tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    shutil.copyfile(SOURCE_CSV, "runs.csv")
    code, _, err = run(capsys, "tasks", "new", "mylab", "--from", "runs.csv", "--features", "num_params,flops",
                       "--target", "loss", "--holdout", HOLDOUT)
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert err.startswith("lawagent tasks: error:") and "'flops'" in err and "runs.csv" in err
    code, _, err = run(capsys, "tasks", "new", "mylab", "--from", "runs.csv", "--features", "num_params",
                       "--target", "loss", "--reference", "a + b*num_params + c*num_params^2", "--budget", "2")
    assert code == 2 and "budget is 2" in err
    assert not (tmp_path / "tasks-local").exists() or not any((tmp_path / "tasks-local").iterdir())


def test_new_refuses_to_overwrite_without_force(good, tmp_path) -> None:
    args = ("par", tmp_path / "runs.csv", ["num_params"], ["loss"])
    with pytest.raises(TaskError, match="already exists; pass --force"):
        create_task(*args, group="group", holdout=HOLDOUT, parent=good.parent)
    made = create_task(*args, group="group", holdout="largest 1 by num_params", parent=good.parent, force=True)
    assert made.task.features == ("num_params",) and made.task.reference is None
    assert sorted(p.name for p in good.parent.iterdir()) == ["par"]  # no temporary folder left behind


@pytest.mark.parametrize("name", ["../escape", ".hidden", "a b", ""])
def test_new_rejects_bad_names(name: str, tmp_path) -> None:
    with pytest.raises(TaskError, match="task name"):
        create_task(name, SOURCE_CSV, ["num_params"], ["loss"], parent=tmp_path)


# -- tasks check: broken folders ----------------------------------------------------------------


def line_of(text: str, start: str) -> int:
    """1-based line of the first line of ``text`` that starts with ``start``."""
    return next(i for i, line in enumerate(text.splitlines(), start=1) if line.startswith(start))


def edit(folder: Path, old: str, new: str) -> str:
    path = folder / "task.toml"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    return path.read_text()


# name: (breakage applied to the good folder, file the message names, line starting with ..., words)
BROKEN = {
    "invalid TOML": (lambda f: edit(f, "parameter_budget = 4", "parameter_budget = 4 4"), "task.toml",
                     "parameter_budget =", ["invalid TOML"]),
    "missing key": (lambda f: edit(f, 'targets = ["loss"]\n', ""), "task.toml", None, ["missing required key 'targets'"]),
    "misspelt key": (lambda f: edit(f, "features =", "feature ="), "task.toml", "feature =", ["'feature'", "'features'"]),
    "wrong type": (lambda f: edit(f, "parameter_budget = 4", 'parameter_budget = "4"'), "task.toml", "parameter_budget",
                   ["whole number"]),
    "unknown column": (lambda f: edit(f, '"parallel_size"]', '"flops"]'), "task.toml", "features =",
                       ["'flops'", "not in data.csv"]),
    "duplicate feature": (lambda f: edit(f, '"parallel_size"]', '"num_params"]'), "task.toml", "features =",
                          ["listed twice"]),
    "feature is target": (lambda f: edit(f, 'targets = ["loss"]', 'targets = ["parallel_size"]'), "task.toml",
                          "targets =", ["both a feature and a target"]),
    "scale not a feature": (lambda f: edit(f, 'scale = ["num_params"]', 'scale = ["loss"]'), "task.toml", "scale =",
                            ["not features"]),
    "missing data file": (lambda f: (f / "data.csv").unlink(), "task.toml", "data =", ["'data.csv' not found"]),
    "duplicate CSV column": (lambda f: _rewrite_csv(f, 0, "num_params,parallel_size,group,loss,num_params"), "data.csv", 1,
                             ["duplicate column name 'num_params'"]),
    "non-numeric value": (lambda f: _rewrite_csv(f, 5, "535813376,2,pile,n/a,train"), "data.csv", 6,
                          ["'loss'", "'n/a'"]),
    "column and rule": (lambda f: edit(f, "[split]\n", '[split]\ncolumn = "split"\n'), "task.toml", "[split]",
                        ["exactly one of 'column'"]),
    "malformed rule": (lambda f: edit(f, f'rule = "{HOLDOUT}"', 'rule = "num_params >>= 1e9"'), "task.toml", "rule =",
                       ["malformed holdout rule"]),
    "rule holds out nothing": (lambda f: edit(f, f'rule = "{HOLDOUT}"', 'rule = "num_params >= 1e12"'), "task.toml",
                               "rule =", ["selects no rows"]),
    "bad split label": (lambda f: (edit(f, f'rule = "{HOLDOUT}"', 'column = "split"'),
                                   _rewrite_csv(f, 3, "535813376,2,pile,2.0,validation")), "data.csv", 4,
                        ["'validation'", "'train' or 'test'"]),
    "validation not a feature": (lambda f: edit(f, "[split]\n", '[split]\nvalidation = "largest 20% by loss"\n'
                                                'validation_reason = "r"\n'), "task.toml", "validation =",
                                 ["'loss'", "not a feature"]),
    "unknown described column": (lambda f: edit(f, "[columns.loss]", "[columns.lost]"), "task.toml", "[columns.lost]",
                                 ["[columns.lost]", "not in data.csv"]),
    "over-budget reference": (lambda f: edit(f, "parameter_budget = 4", "parameter_budget = 3"), "task.toml", "formula =",
                              ["4 parameters", "budget is 3"]),
    "unparsable reference": (lambda f: edit(f, "formula = \"", "formula = \"exp(( + "), "task.toml", "formula =",
                             ["reference law"]),
    "bad bounds": (lambda f: edit(f, "[reference]\n", "[reference]\nbounds = { alpha = [2.0, 1.0] }\n"), "task.toml",
                   "bounds =", ["low > high"]),
}


def _rewrite_csv(folder: Path, index: int, line: str) -> None:
    path = folder / "data.csv"
    lines = path.read_text().splitlines()
    lines[index] = line
    path.write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize("kind", sorted(BROKEN))
def test_check_names_file_and_line(kind: str, good: Path, capsys) -> None:
    breakage, file, line, words = BROKEN[kind]
    breakage(good)
    code, out, err = run(capsys, "tasks", "check", str(good))
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    where = str(good / file)
    if isinstance(line, str):  # the line of task.toml that starts with this text
        line = line_of((good / file).read_text(), line)
    prefix = f"{where}:{line}: error: " if line else f"{where}: error: "
    assert lines[0].startswith(prefix), (lines[0], prefix)
    for w in words:
        assert w in lines[0]


def test_check_of_missing_folder_and_missing_toml(tmp_path, capsys) -> None:
    code, _, err = run(capsys, "tasks", "check", str(tmp_path / "nope"))
    assert code == 2 and err.strip() == f"{tmp_path / 'nope'}: error: not a folder (a task is a folder with task.toml and its data file)"
    code, _, err = run(capsys, "tasks", "check", str(tmp_path))
    assert code == 2 and err.startswith(f"{tmp_path}: error: no task.toml") and len(err.strip().splitlines()) == 1


def test_check_reports_each_problem_of_a_layer(good) -> None:
    edit(good, "features =", "feature =")
    edit(good, "parameter_budget = 4", 'parameter_budget = "4"')
    problems = check_task_folder(good)
    text = (good / "task.toml").read_text()
    assert [(p.line, p.warning) for p in problems] == [(line_of(text, "feature ="), False),
                                                        (line_of(text, "parameter_budget ="), False)]
    assert "did you mean 'features'?" in problems[0].message and "whole number" in problems[1].message


@pytest.mark.parametrize("name", list_tasks())
def test_bundled_tasks_check(name: str) -> None:
    problems = check_task_folder(tasks_dir() / name)
    assert all(p.warning and "validation_reason" in p.message for p in problems), [str(p) for p in problems]


# -- the line finder and the CLI surface --------------------------------------------------------


def test_key_lines_skip_multiline_strings_and_arrays() -> None:
    text = '\n'.join([
        'name = "x"',
        'description = """a text',
        'features = ["not a key"]',
        '"""',
        'formula = [',
        '  "a = b",',
        ']',
        '[reference]',
        'initial = { A = 1.0, "b c" = 2 }',
        '[columns."my col"]',
        'unit = "s"',
    ])
    lines = key_lines(text)
    assert lines == {"name": 1, "description": 2, "formula": 5, "reference": 8, "reference.initial": 9,
                     "reference.initial.A": 9, "reference.initial.b c": 9, "columns.my col": 10,
                     "columns.my col.unit": 11}


def test_tasks_help_teaches_new_and_check(capsys) -> None:
    with pytest.raises(SystemExit) as done:
        main(["tasks", "--help"])
    out = capsys.readouterr().out
    assert done.value.code == 0 and "lawagent tasks new NAME --from" in out and "lawagent tasks check" in out
    with pytest.raises(SystemExit) as done:
        main(["tasks", "new", "--help"])
    out = capsys.readouterr().out
    assert done.value.code == 0 and re.search(r"--holdout RULE", out) and "tasks-local" in out


def test_show_takes_json_after_the_name(capsys) -> None:
    code, out, _ = run(capsys, "tasks", "obs_scaling_law", "--json")
    assert code == 0 and '"name": "obs_scaling_law"' in out
