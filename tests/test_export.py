"""Exports of found laws: every format from a real tiny discovery run and from fixture runs
on bundled tasks; the python and json exports reproduce the run's predictions, the
sldbench export scores the same R² as the law."""

from __future__ import annotations

import csv
import importlib.util
import io
import json
import math
from pathlib import Path

import numpy as np
import pytest
import sympy

from export_fixtures import SFT_LAWS, make_run, real_run
from lawagent.cli import main
from lawagent.errors import LawagentError
from lawagent.evaluate import parse_law
from lawagent.export.run import shown_laws
from lawagent.export import (FORMATS, LawExport, export_run, law_from_json, load_law_file, load_run, to_csv,
                             to_json, to_latex, to_python, to_sldbench, to_sympy, to_sympy_text)

# laws fitted to the log of the target: every export must keep them fitted that way
LOG_LAWS = [
    "log(y) = E + a*log(num_params) + b*log(parallel_size) + c*log(num_params)*log(parallel_size)",
    "log(loss) = E + a*log(num_params) + b*log(parallel_size)",
]
DOMAIN_LAWS = [
    "; ".join(f"a{i} + b{i}*exp(-c{i}*proportion_domain_{i})" for i in range(1, 6)),
    "; ".join(f"a{i} + b{i}*proportion_domain_{i}" for i in range(1, 6)),
]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    return {
        "real": real_run("parallel_scaling_law"),
        "sft": make_run(root / "sft", "sft_scaling_law", SFT_LAWS[:3]),
        "domain": make_run(root / "domain", "domain_mixture_scaling_law", DOMAIN_LAWS),
        "log": make_run(root / "log", "parallel_scaling_law", LOG_LAWS),
    }


def _import(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # our own generated file
    return module


def _all_rows(task):
    tr, te = task.train(), task.test()
    X = {f: np.concatenate([tr.X[f], te.X[f]]) for f in task.features}
    return X, np.concatenate([tr.groups, te.groups]).astype(object)


def _assert_close(got, want):
    got, want = np.asarray(got, float).reshape(want.shape), np.asarray(want, float)
    assert np.isfinite(want).all()
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=0)


@pytest.mark.parametrize("name", ["real", "sft", "domain", "log"])
def test_python_export_reproduces_predictions(runs, name, tmp_path):
    run = load_run(runs[name])
    task = run.task()
    X, groups = _all_rows(task)
    for rank, record in run.select("all"):
        path = tmp_path / f"law_{name}_{rank}.py"
        path.write_text(to_python(record, run.meta(rank)))
        mod = _import(path, f"law_{name}_{rank}")
        want = record.predict(X, groups)
        _assert_close(mod.predict(X, groups), want)  # dict input, one label per row
        matrix = np.column_stack([X[f] for f in mod.FEATURES])
        _assert_close(mod.predict(matrix, groups), want)  # 2-D array in feature order
        g = str(groups[0])
        rows = groups == g
        _assert_close(mod.predict({f: v[rows] for f, v in X.items()}, g), want[rows])  # one label for all rows
        assert set(mod.PARAMS) == set(record.params)
        assert "sympy" not in mod.__dict__
        with pytest.raises(KeyError, match="unknown group"):
            mod.predict(matrix[:2], "no-such-group")


@pytest.mark.parametrize("name", ["real", "domain", "log"])
def test_json_export_round_trips(runs, name, tmp_path):
    run = load_run(runs[name])
    task = run.task()
    X, groups = _all_rows(task)
    text = export_run(run, "json")
    data = json.loads(text)
    assert data["format"] == "lawagent.law" and data["task"]["name"] == task.name
    assert data["run"]["run_id"] == run.run_id and data["run"]["rank"] == 1
    assert data["test"]["r2"] == pytest.approx(run.best.test_r2) and data["val_r2"] == pytest.approx(run.best.val_r2)
    assert set(data["params"]) == set(run.best.params)
    back = law_from_json(text)
    _assert_close(back.predict(X, groups), run.best.predict(X, groups))
    # the file form, as `lawagent evaluate --law-file` reads it
    path = tmp_path / "law.json"
    path.write_text(text)
    formulas, bounds = load_law_file(path)
    law = parse_law(task, formulas, bounds=bounds)
    assert law.text() == back.law().text()
    assert data["raw"]["formulas"] == run.best.formulas  # the readable form is exported, the raw one beside it
    many = json.loads(export_run(run, "json", "all"))
    assert many["format"] == "lawagent.laws" and len(many["laws"]) == len(run.laws)
    assert many["laws"][1]["raw"]["formulas"] == run.laws[1].formulas
    _assert_close(law_from_json(many["laws"][1]).predict(X, groups), run.laws[1].predict(X, groups))


def test_evaluate_reads_the_json_export(runs, tmp_path, capsys):
    path = tmp_path / "law.json"
    assert main(["export", str(runs["real"]), "--format", "json", "-o", str(path)]) == 0
    capsys.readouterr()
    assert main(["evaluate", "parallel_scaling_law", "--law-file", str(path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    best = load_run(runs["real"]).best
    assert out["formula"] == law_from_json(path.read_text()).law().text()  # the readable form
    assert out["test"]["r2"] == pytest.approx(best.test_r2, abs=1e-4)  # an independent refit: the same law


@pytest.mark.parametrize("name", ["real", "domain", "log"])
def test_sldbench_export_scores_like_the_law(runs, name, tmp_path):
    from lawagent.bench.sldbench_program import score_program

    run = load_run(runs[name])
    task = run.task()
    path = tmp_path / f"{name}_program.py"
    assert main(["export", str(runs[name]), "--format", "sldbench", "-o", str(path)]) == 0
    text = path.read_text()
    assert "import sympy" not in text and "lawagent" not in text.split('"""')[-1]
    result = score_program(task, path, timeout=120)
    assert not result.failed, result.test.message
    # The program starts least_squares at the run's fitted values; it may polish them a little.
    assert result.test.r2 == pytest.approx(run.best.test_r2, abs=1e-6)


def test_sldbench_program_in_process_matches_law_predictions(runs, tmp_path):
    run = load_run(runs["domain"])
    rec = run.best
    task = run.task()
    mod = _import(_write(tmp_path / "p.py", to_sldbench(rec)), "sld_domain")
    tr = task.train()
    g = tr.group_names()[0]
    rows = tr.groups == g
    Xg = np.column_stack([tr.X[f][rows] for f in task.features])
    params = np.array([rec.params[g][p] for p in mod.PARAMETERS])
    _assert_close(mod.scaling_law_func(Xg, params), rec.predict({f: tr.X[f][rows] for f in task.features},
                                                                 tr.groups[rows]))
    fitted = mod.fit_scaling_law(Xg, tr.y[rows])
    assert fitted.shape == (len(mod.PARAMETERS),)
    sse = lambda p: float(((mod.scaling_law_func(Xg, p) - tr.y[rows]) ** 2).sum())  # noqa: E731
    assert sse(fitted) <= sse(params) * (1 + 1e-9)


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_sympy_latex_csv_formats(runs):
    run = load_run(runs["sft"])
    rec = run.best
    expr = to_sympy(rec)
    assert isinstance(expr, sympy.Expr) and expr == rec.law().expressions[0]
    g = next(iter(rec.params))
    sub = to_sympy(rec, g)
    assert not ({s.name for s in sub.free_symbols} & set(rec.parameters))
    text = to_sympy_text(rec)
    assert sympy.srepr(expr) in text and text.startswith("sft_loss = ")
    latex = to_latex(rec)
    assert latex.count(r"\begin{equation}") == 1
    assert latex.count(r" \\") == len(rec.params) + 1  # header + one row per group
    assert r"\mathrm{sft\_data\_size}" in latex and r"\beta" in latex
    per_group = to_latex(rec, "all", table=False)
    assert per_group.count(r"\begin{equation}") == 1 + len(rec.params)
    rows = list(csv.DictReader(io.StringIO(export_run(run, "csv"))))
    assert [r["raw_formula"] for r in rows] == [law.formula for law in run.laws]
    # each row shows the law as `lawagent show` does: its readable form (stored, or made from the training rows)
    assert [r["formula"] for r in rows] == [law.formula for law in shown_laws(run, run.laws)]
    assert any(r["formula"] != r["raw_formula"] for r in rows)  # the fixture's laws do get readable forms
    assert float(rows[0]["test_r2"]) == rec.test_r2 and int(rows[0]["rank"]) == 1
    multi = to_sympy(load_run(runs["domain"]).best)
    assert isinstance(multi, list) and len(multi) == 5
    ex = LawExport(rec, run.meta())
    assert ex.sympy() == expr and ex.latex() == latex and ex.to_python() == to_python(rec, run.meta())


@pytest.mark.parametrize("fmt", FORMATS)
def test_cli_writes_every_format(runs, fmt, tmp_path, capsys):
    out = tmp_path / f"out.{fmt}"
    assert main(["export", str(runs["real"]), "--format", fmt, "-o", str(out)]) == 0
    assert out.stat().st_size > 100
    assert main(["export", str(runs["real"] / "final.json"), "--format", fmt]) == 0
    assert capsys.readouterr().out == out.read_text()


def test_cli_errors_are_one_line(runs, tmp_path, capsys):
    assert main(["export", str(runs["real"]), "--format", "json", "--which", "99"]) == 2
    assert "--which 99" in capsys.readouterr().err
    assert main(["export", str(tmp_path / "nope"), "--format", "json"]) == 2
    assert "no run found" in capsys.readouterr().err
    assert main(["export", str(runs["real"]), "--format", "python", "--which", "all"]) == 2
    assert "writes one law" in capsys.readouterr().err


def test_hostile_run_file_cannot_inject_code(runs, tmp_path):
    """Formulas are re-parsed by the whitelist parser; names and labels enter code only as literals."""
    final = json.loads((runs["sft"] / "final.json").read_text())
    evil = tmp_path / "evil"
    evil.mkdir()
    bad = json.loads(json.dumps(final))
    bad["laws"][0]["formulas"] = ["__import__('os').system('echo pwned')"]
    (evil / "final.json").write_text(json.dumps(bad))
    with pytest.raises(LawagentError):
        load_run(evil)
    # a group label full of quotes and newlines stays data
    label = 'x"""\nimport os; os.system("echo pwned")\n\'\'\''
    odd = json.loads(json.dumps(final))
    rec = odd["laws"][0]
    rec["params"] = {label: next(iter(rec["params"].values()))}
    rec["task"] = 'sft"""; raise SystemExit'
    (evil / "final.json").write_text(json.dumps(odd))
    run = load_run(evil)
    for fmt, name in (("python", "odd_py"), ("sldbench", "odd_sld")):
        path = _write(tmp_path / f"{name}.py", export_run(run, fmt))
        mod = _import(path, name)
        if fmt == "python":
            assert list(mod.PARAMS) == [label]
            out = mod.predict({"sft_data_size": [1000.0, 2000.0]}, label)
            assert out.shape == (2,) and np.isfinite(out).all()


def test_load_law_file_text_and_errors(tmp_path):
    p = _write(tmp_path / "law.txt", "# my law\nA/num_params^alpha + E\n")
    assert load_law_file(p) == (["A/num_params^alpha + E"], {})
    p = _write(tmp_path / "multi.txt", "a + b*x; c + d*x")
    assert load_law_file(p)[0] == ["a + b*x", "c + d*x"]
    p = _write(tmp_path / "lines.txt", "a + b*x\n\nc + d*x\n")
    assert load_law_file(p)[0] == ["a + b*x", "c + d*x"]
    p = _write(tmp_path / "b.json", json.dumps({"formula": "A*x^a + E", "bounds": {"a": [0, None]}}))
    assert load_law_file(p) == (["A*x^a + E"], {"a": (0.0, math.inf)})
    for name, text, msg in [("empty.txt", "# nothing\n", "no formula"), ("bad.json", "{oops", "not valid"),
                            ("nof.json", "{}", "formulas"), ("bb.json", json.dumps({"formula": "x", "bounds": {"a": 3}}),
                                                             "bounds of 'a'")]:
        with pytest.raises(LawagentError, match=msg):
            load_law_file(_write(tmp_path / name, text))
    with pytest.raises(LawagentError, match="not found"):
        load_law_file(tmp_path / "missing.txt")


def test_to_json_is_strict_json(runs):
    rec = load_run(runs["sft"]).best
    rec.params[next(iter(rec.params))]["E"] = float("nan")
    data = json.loads(to_json(rec))  # NaN becomes null, not an invalid token
    assert data["params"][next(iter(rec.params))]["E"] is None
    assert to_csv([(1, rec)]).splitlines()[0].startswith("rank,complexity")


def test_one_reader_for_damaged_candidate_logs(runs, tmp_path):
    """export, report and resume read candidates.jsonl alike: a torn last line is dropped, a damaged
    middle line is an error naming the file and line."""
    from lawagent.runfolder import RunDir

    src = runs["sft"]
    torn, damaged = tmp_path / "torn", tmp_path / "damaged"
    for folder in (torn, damaged):
        folder.mkdir()
        (folder / "final.json").write_text((src / "final.json").read_text())
    lines = (src / "candidates.jsonl").read_text().splitlines(keepends=True)
    (torn / "candidates.jsonl").write_text("".join(lines[:-1]) + lines[-1][: len(lines[-1]) // 2])
    assert len(load_run(torn).candidates) == len(lines) - 1 == len(RunDir(torn).load_candidates())
    (damaged / "candidates.jsonl").write_text(lines[0] + "{not json\n" + "".join(lines[1:]))
    for read in (load_run, lambda p: RunDir(p).load_candidates()):
        with pytest.raises(LawagentError, match=r"candidates.jsonl: line 2 is not valid JSON"):
            read(damaged)


def test_a_law_fitted_to_log_y_is_exported_as_one(runs):
    run = load_run(runs["log"])
    best = run.best
    assert best.formulas[0].startswith("log(y) = ") and best.law().log_fitted == (0,)
    assert "LOG_FITTED = [0]" in to_sldbench(best)
    latex = to_latex(best, "all")
    assert "\\log \\mathrm{loss} = E + a \\log{\\left(\\mathrm{num\\_params} \\right)}" in latex, latex
    assert to_sympy(best) == sympy.exp(best.law().expressions[0])  # sympy: the prediction


def test_sldbench_program_refuses_a_log_fitted_target_that_is_not_positive(runs, tmp_path):
    path = tmp_path / "log_program.py"
    path.write_text(to_sldbench(load_run(runs["log"]).best))
    program = _import(path, "log_program")
    X = np.array([[1e9, 1.0], [2e9, 2.0], [4e9, 4.0]])
    assert np.isfinite(program.fit_scaling_law(X, np.array([3.0, 2.5, 2.2]))).all()
    with pytest.raises(ValueError, match="fitted to the log of target 0, which has values <= 0"):
        program.fit_scaling_law(X, np.array([3.0, -2.5, 2.2]))
