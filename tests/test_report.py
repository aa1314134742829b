"""`lawagent report`: the HTML page and its PNG figures for runs on bundled tasks."""

from __future__ import annotations

import base64
import re
import shutil

import numpy as np
import pytest

from export_fixtures import SFT_LAWS, make_run, real_run
from lawagent.cli import main
from lawagent.runfolder import load_run
from lawagent.errors import LawagentError
from lawagent.report import ReportOptions, _rows, _run_protocol, make_report
from lawagent.selection.protocol import protocol_for

PNG = b"\x89PNG\r\n\x1a\n"


def _images(html: str) -> list[bytes]:
    return [base64.b64decode(m) for m in re.findall(r"data:image/png;base64,([A-Za-z0-9+/=]+)", html)]


def test_report_of_a_real_run(tmp_path):
    run_dir = real_run("parallel_scaling_law")
    result = make_report(run_dir, tmp_path / "rep", ReportOptions(bootstrap=4, dpi=70))
    assert set(result.figures) == {"parity", "curves", "pareto", "history"}
    for path in result.figures.values():
        assert path.read_bytes().startswith(PNG) and path.stat().st_size > 5_000
    html = result.html.read_text()
    images = _images(html)
    assert len(images) == 4 and all(img.startswith(PNG) for img in images)
    run = load_run(run_dir)
    assert run.best.law().text() in html
    assert f"{run.best.test_r2:.6g}" in html  # the stored held-out score, next to the recomputed one
    assert "http://" not in html and "https://" not in html  # self-contained
    assert not [n for n in result.notes if "differs" in n]  # recomputed test R² matches the run's


def test_report_cli_on_many_groups(tmp_path, capsys):
    run_dir = make_run(tmp_path / "sft", "sft_scaling_law", SFT_LAWS[:2])
    out = tmp_path / "out"
    assert main(["report", str(run_dir), "-o", str(out), "--bootstrap", "0", "--max-groups", "4"]) == 0
    printed = capsys.readouterr().out
    assert "report.html" in printed
    html = (out / "report.html").read_text()
    assert len(_images(html)) == 4
    assert sorted(p.name for p in out.glob("*.png")) == ["curves.png", "history.png", "pareto.png", "parity.png"]
    # 42 groups: the parameter table lists them all, the figures cap the panels
    assert html.count("<tr><td class='l'>(") >= 42


def test_report_without_candidates_notes_it(tmp_path):
    src = real_run("parallel_scaling_law")
    dst = tmp_path / "copy"
    dst.mkdir()
    shutil.copy(src / "final.json", dst / "final.json")
    result = make_report(dst, None, ReportOptions(bootstrap=0, dpi=60))
    assert result.html == dst / "report" / "report.html"
    assert "pareto" not in result.figures and "history" in result.figures
    assert any("candidates.jsonl" in n for n in result.notes)


def test_report_marks_the_runs_validation_rows():
    run = load_run(real_run("parallel_scaling_law"))
    task = run.task()
    rows = _rows(task, run.best, _run_protocol(run, task, None))
    val = protocol_for(task).carve(task.train()).val
    marked = rows["split"] == "validation"
    assert marked.sum() == len(val)
    np.testing.assert_array_equal(rows["y"][marked], val.y)


def test_report_bad_run(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 2
    assert "no run found" in capsys.readouterr().err
    with pytest.raises(LawagentError, match="no run found"):
        make_report(tmp_path)
