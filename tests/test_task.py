"""Tests for task loading and splits, on the real bundled data (validation carving: test_protocol.py)."""

from __future__ import annotations

import filecmp
import re
from pathlib import Path

import numpy as np
import pytest

from lawagent.errors import TaskError
from lawagent.task import DataSplit, Task, list_tasks, load_task, task_from_csv, tasks_dir

# name: (n_train, n_test, n_groups, n_targets)
EXPECTED = {
    "data_constrained_scaling_law": (161, 21, 1, 1),
    "domain_mixture_scaling_law": (80, 24, 4, 5),
    "easy_question_scaling_law": (389, 127, 9, 1),
    "lr_bsz_scaling_law": (2702, 117, 1, 1),
    "moe_scaling_law": (193, 28, 1, 1),
    "parallel_scaling_law": (36, 12, 2, 1),
    "sft_scaling_law": (504, 42, 42, 1),
    "vocab_scaling_law": (1080, 120, 1, 1),
    # the 5 "more" tasks (../shared/datasets/more)
    "gemstones_scaling_law": (665, 105, 1, 1),
    "lr_schedule_scaling_law": (1339, 2748, 3, 1),
    "obs_scaling_law": (69, 36, 1, 1),
    "overtraining_scaling_law": (95, 9, 3, 1),
    "revisiting_lang_scaling_law": (370, 342, 20, 1),
}
MORE = {"gemstones_scaling_law", "lr_schedule_scaling_law", "obs_scaling_law", "overtraining_scaling_law",
        "revisiting_lang_scaling_law"}
FUNCTIONS = {"exp", "log", "ln", "log10", "sqrt", "abs", "tanh", "sigmoid", "min", "max"}
SHARED = Path(__file__).resolve().parents[2] / "shared" / "datasets"


def rows_key(split: DataSplit, task: Task) -> set[tuple]:
    """Identify rows by group, features and targets."""
    cols = [split.X[f] for f in task.features]
    return {
        (str(split.groups[i]), *(float(c[i]) for c in cols), *map(float, split.y[i])) for i in range(len(split))
    }


@pytest.fixture(scope="module")
def tasks() -> dict[str, Task]:
    return {n: load_task(n) for n in EXPECTED}


def test_bundled_collection_listed() -> None:
    assert list_tasks() == sorted(EXPECTED)
    assert (tasks_dir() / "README.md").is_file()


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_counts(tasks: dict[str, Task], name: str) -> None:
    t = tasks[name]
    n_train, n_test, n_groups, n_targets = EXPECTED[name]
    assert (t.n_train, t.n_test) == (n_train, n_test)
    assert len(t.train()) == n_train and len(t.test()) == n_test
    assert len(t.groups) == n_groups and len(t.targets) == n_targets
    assert t.train().y.shape == (n_train, n_targets) and t.train().y.dtype == np.float64
    assert all(v.dtype == np.float64 and v.shape == (n_train,) for v in t.train().X.values())
    assert set(t.train().group_names()) == set(t.groups)
    assert t.name == name and t.description and t.reference is not None
    assert set(t.columns) >= set(t.features) | set(t.targets)


@pytest.mark.skipif(not SHARED.is_dir(), reason="shared source material not present")
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_data_is_byte_exact_copy(name: str) -> None:
    origin = SHARED / ("more" if name in MORE else "sldbench") / name / "data.csv"
    assert filecmp.cmp(tasks_dir() / name / "data.csv", origin, shallow=False)


def test_bundled_split_semantics(tasks: dict[str, Task]) -> None:
    par = tasks["parallel_scaling_law"]
    assert set(par.test().X["parallel_size"]) == {8.0}
    assert par.train().X["parallel_size"].max() == 4.0
    vocab = tasks["vocab_scaling_law"]
    assert vocab.train().X["vocab_size"].max() < vocab.test().X["vocab_size"].min()
    assert tasks["domain_mixture_scaling_law"].train().group_names() == ["70M", "160M", "305M", "410M"]


def _identifiers(formula: str) -> set[str]:
    return set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", re.sub(r"\d+\.?\d*[eE][+-]?\d+", "0", formula)))


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_reference_formula_within_budget(tasks: dict[str, Task], name: str) -> None:
    t = tasks[name]
    ref = t.reference
    assert ref is not None and len(ref.formulas) == len(t.targets)
    params: set[str] = set()
    for f in ref.formulas:
        assert not re.search(r"[^\w\s.+\-*/^(),]", f), f"unexpected character in {f!r}"
        params |= _identifiers(f) - set(t.features) - FUNCTIONS
    assert 1 <= len(params) <= t.parameter_budget
    assert set(ref.initial) <= params and set(ref.bounds) <= params
    if "baseline chosen by lawagent" in ref.notes:
        assert ref.published_r2 is None


def test_reference_details(tasks: dict[str, Task]) -> None:
    dm = tasks["domain_mixture_scaling_law"].reference
    assert dm is not None and len(dm.formulas) == 5
    dc = tasks["data_constrained_scaling_law"].reference
    assert dc is not None and dc.initial["A"] == 521.0 and dc.initial["R_D_star"] == 15.4
    assert tasks["lr_bsz_scaling_law"].parameter_budget == 12


def test_load_by_folder_and_toml_path() -> None:
    folder = tasks_dir() / "parallel_scaling_law"
    assert load_task(folder).n_test == 12
    assert load_task(folder / "task.toml").n_train == 36
    with pytest.raises(TaskError, match="unknown task 'nope'.*sft_scaling_law"):
        load_task("nope")


def test_tasks_dir_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LAWAGENT_TASKS_DIR", str(tmp_path))
    assert tasks_dir() == tmp_path and list_tasks() == []


# --------------------------------------------------------------------- user CSVs

GOOD = "g,N,D,loss\n" + "".join(
    f"{g},{n},{d},{3 + 1 / n + 1 / d}\n" for g in ("a", "b") for n in (1, 2, 4) for d in (10, 20)
)


def write(tmp_path: Path, text: str, name: str = "data.csv") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def test_csv_with_holdout_rule(tmp_path: Path) -> None:
    t = task_from_csv(write(tmp_path, GOOD), ["N", "D"], ["loss"], group="g", holdout="N >= 4")
    assert (t.n_train, t.n_test) == (8, 4) and t.groups == ["a", "b"]
    assert t.scale == ("N",) and t.name == "data"
    assert t.train().X["N"].max() == 2.0
    t2 = task_from_csv(write(tmp_path, GOOD), ["N", "D"], ["loss"], holdout="largest 1 by D")
    assert t2.scale == ("D",) and set(t2.train().groups) == {"all"} and t2.n_test == 6


def test_csv_with_split_column(tmp_path: Path) -> None:
    text = "x,y,split\n1,2,train\n2,3,train\n3,4,test\n"
    t = task_from_csv(write(tmp_path, text), ["x"], ["y"])
    assert (t.n_train, t.n_test) == (2, 1) and t.scale == ("x",)


def test_csv_without_split_or_rule(tmp_path: Path) -> None:
    with pytest.raises(TaskError, match="pass a holdout rule"):
        task_from_csv(write(tmp_path, GOOD), ["N"], ["loss"])


def nan_csv() -> str:
    lines = GOOD.splitlines()
    lines[3] = lines[3].rsplit(",", 1)[0] + ",nan"
    lines[5] = lines[5].rsplit(",", 1)[0] + ","
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    ("text", "kwargs", "message"),
    [
        (nan_csv(), {}, r"column 'loss' has missing, NaN or infinite values at row 3 \(line 4\), row 5"),
        (GOOD.replace("a,2,10", "a,2,inf"), {}, r"column 'D' has missing, NaN or infinite values at row 3"),
        (GOOD.replace("a,2,10", "a,two,10"), {}, r"column 'N' must be numeric, but row 3 \(line 4\) holds 'two'"),
        (GOOD, {"features": ["N", "params"]}, r"feature column 'params' not found; available columns: g, N, D, loss"),
        (GOOD, {"targets": ["L"]}, r"target column 'L' not found"),
        (GOOD, {"group": "grp"}, r"group column 'grp' not found"),
        (GOOD.replace("g,N,D,loss", "g,N,N,loss"), {}, r"duplicate column name 'N'"),
        (GOOD, {"holdout": "N > 100"}, r"selects no rows"),
        (GOOD, {"holdout": "N > 0"}, r"selects all"),
        (GOOD, {"holdout": "params > 1"}, r"unknown column 'params'; available columns: g, N, D, loss"),
        (GOOD, {"holdout": "D >= 20 or N >= 2 and g_is > 1"}, r"unknown column 'g_is'"),
        (GOOD, {"features": ["N", "N"]}, r"feature 'N' is listed twice"),
        (GOOD, {"features": ["N", "loss"]}, r"'loss' is both a feature and a target"),
        (GOOD + "a,1,2,3,4\n", {}, r"malformed CSV"),
        ("", {}, r"empty CSV"),
        ("g,N,D,loss\n", {}, r"no data rows"),
    ],
)
def test_csv_problems(tmp_path: Path, text: str, kwargs: dict, message: str) -> None:
    args = {"features": ["N", "D"], "targets": ["loss"], "group": "g", "holdout": "N >= 4"} | kwargs
    p = write(tmp_path, text)
    with pytest.raises(TaskError, match=message) as exc:
        task_from_csv(p, **args)
    assert "\n" not in str(exc.value) or "holdout" in str(exc.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(TaskError, match=r"data file not found: .*missing.csv"):
        task_from_csv(tmp_path / "missing.csv", ["N"], ["loss"], holdout="N > 1")


def test_group_with_no_train_rows_message(tmp_path: Path) -> None:
    text = "g,x,y\na,1,1\na,2,2\nb,5,3\nb,6,4\n"
    with pytest.raises(TaskError, match=r"group\(s\) \['b'\] in column 'g' have no training rows"):
        task_from_csv(write(tmp_path, text), ["x"], ["y"], group="g", holdout="x >= 5")


def test_bad_split_values(tmp_path: Path) -> None:
    text = "x,y,split\n1,2,train\n2,3,valid\n3,4,test\n"
    with pytest.raises(TaskError, match=r"must hold 'train' or 'test', but row 2 \(line 3\) holds 'valid'"):
        task_from_csv(write(tmp_path, text), ["x"], ["y"])
    text = "x,y,split\n1,2,train\n2,3,train\n"
    with pytest.raises(TaskError, match="test split is empty"):
        task_from_csv(write(tmp_path, text), ["x"], ["y"])


def test_cells_read_as_python_reads_numbers(tmp_path: Path) -> None:
    """The vectorised reader keeps the per-cell rules: spaces, '1_000' and full-width digits are numbers."""
    text = "x,y,note\n 1.5 ,1,a\n1_000,2,b\n\uff13,3,c\n4e0,4,\n5,5,e\n"
    t = task_from_csv(write(tmp_path, text), ["x"], ["y"], holdout="y >= 5")
    assert t._all.X["x"].tolist() == [1.5, 1000.0, 3.0, 4.0, 5.0]


@pytest.mark.parametrize("rows", [3, 1000])
def test_large_files_are_read_in_chunks_with_the_same_rows_and_messages(tmp_path: Path, monkeypatch, rows: int) -> None:
    """Chunks (here of 3 rows) give the same task; a bad cell in a late chunk names its own row and line."""
    import lawagent.task as task_module

    monkeypatch.setattr(task_module, "CSV_CHUNK_ROWS", rows)
    monkeypatch.setattr(task_module, "LARGE_CSV_BYTES", 0)
    lines: list[str] = []
    t = task_from_csv(write(tmp_path, GOOD), ["N", "D"], ["loss"], group="g", holdout="N >= 4", log=lines.append)
    assert (t.n_train, t.n_test) == (8, 4) and t.groups == ["a", "b"] and list(t._all.groups[:7]) == ["a"] * 6 + ["b"]
    assert lines[0].startswith("loading data.csv (") and lines[-1].startswith("loaded 12 rows of data.csv in ")
    bad = GOOD.replace("b,4,10,", "b,4,ten,")
    with pytest.raises(TaskError, match=r"column 'D' must be numeric, but row 11 \(line 12\) holds 'ten'"):
        task_from_csv(write(tmp_path, bad), ["N", "D"], ["loss"], group="g", holdout="N >= 4")
    with pytest.raises(TaskError, match=r"malformed CSV"):  # too many fields, in the last chunk
        task_from_csv(write(tmp_path, GOOD + "a,1,2,3,4\n"), ["N", "D"], ["loss"], group="g", holdout="N >= 4")
    with pytest.raises(TaskError, match=r"group column 'g' is empty at row 13 \(line 14\)"):
        task_from_csv(write(tmp_path, GOOD + " ,8,8,3\n"), ["N", "D"], ["loss"], group="g", holdout="N >= 4")


@pytest.mark.parametrize(("name", "suggested"), [("model size", "model_size"), ("2x", "x_2x"), ("_n", "n"),
                                                 ("params(M)", "params_M"), ("naïve", "na_ve")])
def test_a_feature_name_a_formula_cannot_use_is_refused_at_load(tmp_path: Path, name: str, suggested: str) -> None:
    """'model size' was accepted: every candidate then failed to parse and the run ended with 0 candidates."""
    text = GOOD.replace("g,N,D,loss", f"g,{name},D,loss")
    with pytest.raises(TaskError, match=re.escape(f"feature column {name!r} cannot appear in a formula")) as exc:
        task_from_csv(write(tmp_path, text), [name, "D"], ["loss"], group="g", holdout=f"`{name}` >= 4")
    assert f"rename the column, e.g. to {suggested!r}" in str(exc.value) and "\n" not in str(exc.value)
    renamed = task_from_csv(write(tmp_path, GOOD.replace("g,N,D,loss", f"g,{suggested},D,loss")), [suggested, "D"],
                            ["loss"], group="g", holdout=f"{suggested} >= 4")
    assert renamed.n_test == 4
    # targets and the group column never appear in a formula: any name will do
    spaced = task_from_csv(write(tmp_path, GOOD.replace("g,N,D,loss", "my group,N,D,final loss")), ["N", "D"],
                           ["final loss"], group="my group", holdout="N >= 4")
    assert spaced.n_test == 4


# --------------------------------------------------------------------- task.toml problems

TOML = """name = "t"
data = "data.csv"
features = ["N", "D"]
targets = ["loss"]
group = "g"
parameter_budget = 3
[split]
rule = "N >= 4"
[reference]
formula = "a + b/N^c"
"""


def make_task_dir(tmp_path: Path, toml: str) -> Path:
    write(tmp_path, GOOD)
    write(tmp_path, toml, "task.toml")
    return tmp_path


def test_toml_with_rule_loads(tmp_path: Path) -> None:
    t = load_task(make_task_dir(tmp_path, TOML))
    assert (t.n_train, t.n_test) == (8, 4) and t.reference is not None
    assert t.reference.formulas == ("a + b/N^c",) and t.path == tmp_path


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        (TOML.replace('name = "t"\n', ""), r"task.toml: missing required key 'name'"),
        (TOML.replace("parameter_budget = 3", 'parameter_budget = "3"'), r"'parameter_budget' must be int"),
        (TOML.replace('features = ["N", "D"]', 'features = "N"'), r"'features' must be list"),
        (TOML.replace('features = ["N", "D"]', "features = [1, 2]"), r"'features' must be a list of strings"),
        (TOML + "[[broken\n", r"invalid TOML"),
        (TOML.replace('formula = "a + b/N^c"', 'formula = ["a", "b"]'), r"2 formula\(s\) given for 1 target"),
        (TOML.replace('rule = "N >= 4"', 'rule = "N >= 4"\ncolumn = "split"'), r"exactly one of 'column'"),
        (TOML.replace('data = "data.csv"', 'data = "other.csv"'), r"data file not found: .*other.csv"),
        (TOML + "bounds = { c = [2.0, 1.0] }\n", r"low > high"),
        (TOML.replace('group = "g"\n', 'group = "g"\nscale = ["loss"]\n'), r"scale column\(s\) \['loss'\] are not features"),
        (TOML.replace('rule = "N >= 4"', 'rule = "N >= 4"\nvalidation = "largest by N"'), r"needs a 'validation_reason'"),
        (TOML.replace('rule = "N >= 4"', 'rule = "N >= 4"\nvalidation = "largest by loss"\nvalidation_reason = "x"'),
         r"validation rule uses 'loss', which is not a feature"),
    ],
)
def test_toml_problems(tmp_path: Path, toml: str, message: str) -> None:
    with pytest.raises(TaskError, match=message):
        load_task(make_task_dir(tmp_path, toml))
