"""The law card (`lawagent show`, the report's section): real short runs on bundled data and a user CSV."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from lawagent.card import law_card
from lawagent.card.compute_optimal import allocation, find_axes
from lawagent.cli import main
from lawagent.discovery.api import discover, discover_csv
from lawagent.law.law import Law
from lawagent.runfolder import load_run
from lawagent.task import load_task, tasks_dir


@pytest.fixture(scope="module")
def data_constrained_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("card")
    return discover("data_constrained_scaling_law", max_candidates=40, workers=0, progress=False, out_dir=root,
                    run_id="dc", top_k=2, seed=0).run_dir


def test_chinchilla_allocation_matches_the_closed_form():
    """For E + A/N^alpha + B/D^beta, N* ∝ C^(beta/(alpha+beta)) (Hoffmann et al. 2022)."""
    task = load_task("data_constrained_scaling_law")
    train = task.train()
    law = Law.parse("E + A/params^alpha + B/tokens^beta", task.features)
    values = {"E": 1.7, "A": 406.4, "alpha": 0.34, "B": 410.7, "beta": 0.28}
    axes = find_axes(task.features, law.used_features)
    assert (axes.size, axes.data) == ("params", "tokens")
    got = allocation(law, values, train, train.group_names()[0], axes)
    assert got.a == pytest.approx(0.28 / 0.62, abs=1e-4) and got.b == pytest.approx(0.34 / 0.62, abs=1e-4)
    assert got.tokens_per_parameter > 1
    flat = allocation(Law.parse("E + A*log(params) + B*log(tokens)", task.features),
                      {"E": 5.0, "A": 0.1, "B": -0.1}, train, train.group_names()[0], axes)
    assert math.isnan(flat.a) and flat.note  # a loss rising in N has no interior optimum: said, not invented


def test_show_prints_the_card_of_a_real_run(data_constrained_run, capsys):
    assert main(["show", str(data_constrained_run), "--bootstrap", "4", "--seconds", "20", "--groups", "1"]) == 0
    out = capsys.readouterr().out
    run = load_run(data_constrained_run)
    assert run.best.readable["formulas"][0] in out and "LaTeX:" in out and "\\begin{equation}" in out
    assert "roles:" in out and "sanity checks" in out and "held-out test R2" in out and "selection score" in out
    assert "compute-optimal allocation" in out and "N = params, D = tokens" in out
    assert "Pareto front" in out


def test_card_values_intervals_and_exponents(data_constrained_run):
    card = law_card(load_run(data_constrained_run), bootstrap=5, seconds=30)
    assert card.parameters and card.bootstrap >= 3
    g = next(iter(card.parameters[0].values))
    for p in card.parameters:
        assert p.role in ("offset", "coefficient", "exponent", "rate", "scale", "other")
        assert math.isfinite(p.values[g])
    assert any(p.interval for p in card.parameters)
    assert card.optimal is not None and set(card.optimal.a) == set(card.parameters[0].values)
    assert card.scores["test"] is not None  # stored, labelled held-out by the renderers


def test_a_user_csv_with_N_and_D_columns_gets_exponents(tmp_path, capsys):
    raw = pd.read_csv(tasks_dir() / "data_constrained_scaling_law" / "data.csv")
    frame = pd.DataFrame({"N": raw["params"], "D": raw["tokens"], "loss": raw["loss"]})
    path = tmp_path / "runs.csv"
    frame.to_csv(path, index=False)
    result = discover_csv(path, "N,D", "loss", holdout="N >= 1e9", max_candidates=30, workers=0, progress=False,
                          out_dir=tmp_path, run_id="csv", top_k=1)
    card = law_card(load_run(result.run_dir), bootstrap=0)
    assert card.optimal is not None and (card.optimal.axes.size, card.optimal.axes.data) == ("N", "D")
    assert main(["show", str(result.run_dir), "--bootstrap", "0"]) == 0
    assert "a (N*∝C^a)" in capsys.readouterr().out


def test_report_has_the_law_card(data_constrained_run, tmp_path):
    from lawagent.report import ReportOptions, make_report

    result = make_report(data_constrained_run, tmp_path / "rep", ReportOptions(bootstrap=2, dpi=50))
    page = result.html.read_text()
    assert "<h2>Law card</h2>" in page and "Sanity checks" in page and "Compute-optimal allocation" in page
    readable = load_run(data_constrained_run).best.readable["formulas"][0]
    assert readable.replace("*", "") in page.replace("*", "")


def test_show_errors_are_one_line(tmp_path, capsys):
    assert main(["show", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "no run found" in err and len(err.strip().splitlines()) == 1


def test_show_takes_one_law(data_constrained_run, capsys):
    assert main(["show", str(data_constrained_run), "--which", "all"]) == 2
    err = capsys.readouterr().err
    assert "--which all" in err and len(err.strip().splitlines()) == 1
