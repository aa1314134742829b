"""The compiled refinement (lawagent.fit.native) against the numpy path it replaces.

The interpreter must give the tape's values and derivatives; the refinement the
numpy loop's fits. Both run on every bundled task's reference law.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from lawagent.discovery.evaluator import SEARCH_FIT
from lawagent.fit import native
from lawagent.fit.fitter import FitOptions, fit
from lawagent.law.compile import compile_law
from lawagent.law.law import Law
from lawagent.task import list_tasks, load_task

pytestmark = pytest.mark.skipif(not native.installed(), reason="numba is not installed")


@pytest.fixture(autouse=True)
def compiled(monkeypatch):
    """On for these tests unless one says otherwise, whatever the environment running them says."""
    monkeypatch.setenv("LAWAGENT_NATIVE", "1")

# every operation the interpreter knows, in small laws
OPERATION_LAWS = [
    "a*tanh(b*x) + c", "a + b*sqrt(x)", "a + b*exp(-c*x)", "a + b*log(x + c)", "a*x**b/(1 + c*x)",
    "a + b*min(x, c)", "a + b*max(x, c)", "a + b*abs(x - c)", "a + b*sigmoid(c*(x - 3))", "a + softplus(b*x - c)",
]


def _reference(name: str) -> tuple[Law, object]:
    task = load_task(name)
    ref = task.reference
    law = Law.parse(list(ref.formulas), task.features, targets=task.targets, bounds=dict(ref.bounds) or None,
                    initial=dict(ref.initial) or None)
    return law, task


def _program(law: Law) -> native.Program:
    compiled = compile_law(law)
    prog = native.program(compiled.tape, tuple(law.parameters.index(p) for p in compiled.linear))
    assert prog is not None, f"the interpreter lacks an operation of {law.text()}"
    return prog


def _close(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal where finite to 1e-9 (relative, absolute below 1e-12), and non-finite in the same places."""
    a, b = np.broadcast_arrays(np.asarray(a, float), np.asarray(b, float))
    fa, fb = np.isfinite(a), np.isfinite(b)
    if not np.array_equal(fa, fb):
        return False
    return bool(np.all(np.abs(a[fa] - b[fa]) <= 1e-9 * np.maximum(np.abs(b[fa]), 1e-3)))


def _check_interpreter(law: Law, X: dict[str, np.ndarray], P: np.ndarray) -> None:
    compiled = compile_law(law)
    prog = _program(law)
    rows = np.stack([np.asarray(X[f], float) for f in compiled.features]) if compiled.features else np.empty((0, 5))
    F, J = native.evaluate(prog, rows, P)
    values, jac = compiled.values_and_jacobian([X[f] for f in compiled.features], list(P))
    m = rows.shape[1]
    for t in range(len(values)):
        assert _close(F[t * m:(t + 1) * m], values[t]), f"values of {law.text()}"
        for p in range(len(P)):
            assert _close(J[t * m:(t + 1) * m, p], jac[t][p]), f"d/d{law.parameters[p]} of {law.text()}"


@pytest.mark.parametrize("formula", OPERATION_LAWS)
def test_interpreter_gives_the_tapes_values_and_derivatives(formula):
    law = Law.parse([formula], ["x"])
    x = np.array([0.5, 1.0, 2.0, 3.0, 5.0, 8.0, -1.0])  # x < 0: NaN from sqrt and log, as numpy gives
    rng = np.random.default_rng(0)
    for _ in range(5):
        _check_interpreter(law, {"x": x}, rng.normal(size=len(law.parameters)))


@pytest.mark.parametrize("name", list_tasks())
def test_interpreter_on_every_reference_law(name):
    law, task = _reference(name)
    train = task.train()
    X = {f: np.asarray(train.X[f], float)[:50] for f in law.used_features}
    rng = np.random.default_rng(1)
    for _ in range(3):
        _check_interpreter(law, X, np.abs(rng.normal(size=len(law.parameters))) + 0.1)


def _fits(law: Law, task, options: FitOptions, monkeypatch) -> tuple:
    train = task.train()
    out = []
    for flag in ("1", "0"):
        monkeypatch.setenv("LAWAGENT_NATIVE", flag)
        out.append(fit(law, train.X, train.y, train.groups, options))
    return tuple(out)


@pytest.mark.parametrize("name", [n for n in list_tasks() if n != "sft_scaling_law"])
def test_refinement_fits_what_the_numpy_loop_fits(name, monkeypatch):
    law, task = _reference(name)
    compiled, numpy_fit = _fits(law, task, SEARCH_FIT, monkeypatch)
    assert compiled.ok and numpy_fit.ok
    assert math.isclose(compiled.sse, numpy_fit.sse, rel_tol=1e-6), (compiled.sse, numpy_fit.sse)
    for group, g in numpy_fit.groups.items():
        assert compiled.groups[group].params.keys() == g.params.keys()


def test_refinement_on_sft_differs_in_one_groups_valley_only(monkeypatch):
    """sft's reference law has 42 groups; on one of them the last bits send the two loops to
    different places along a flat valley (both stop there): every other group matches."""
    law, task = _reference("sft_scaling_law")
    compiled, numpy_fit = _fits(law, task, SEARCH_FIT, monkeypatch)
    differ = [g for g in numpy_fit.groups
              if not math.isclose(compiled.groups[g].sse, numpy_fit.groups[g].sse, rel_tol=1e-4)]
    assert len(differ) <= 1, differ
    assert math.isclose(compiled.sse, numpy_fit.sse, rel_tol=1e-2)


def test_on_by_default_and_turned_off_by_the_environment(monkeypatch):
    monkeypatch.delenv("LAWAGENT_NATIVE")
    assert native.available()  # numba is installed here: on by default
    assert native.describe().startswith("compiled")
    monkeypatch.setenv("LAWAGENT_NATIVE", "0")
    assert not native.available()
    assert native.describe() == "numpy (LAWAGENT_NATIVE=0)"


def test_a_fit_cut_short_by_its_time_limit_keeps_its_starts(monkeypatch):
    """The limit is checked between rounds of starts: past it, the unrefined starts keep their screened
    values, and every group still gets finite parameters."""
    law, task = _reference("sft_scaling_law")
    train = task.train()
    quick = fit(law, train.X, train.y, train.groups, FitOptions(n_starts=8, n_refine=4, max_iter=100,
                                                               time_limit=1e-9))
    assert quick.ok
    assert all(all(math.isfinite(v) for v in g.params.values()) for g in quick.groups.values())
    assert max(g.n_iter for g in quick.groups.values()) == 0  # nothing was refined


def test_a_numba_that_cannot_build_leaves_fits_to_numpy(monkeypatch, capsys):
    class Broken:
        def refine(self, *args):
            raise RuntimeError("no LLVM target for this CPU")

    monkeypatch.setattr(native, "_kernels", lambda: Broken())
    monkeypatch.setattr(native, "_warmed", [])
    monkeypatch.setattr(native, "_failed", [])
    law, task = _reference("vocab_scaling_law")
    train = task.train()
    result = fit(law, train.X, train.y, train.groups, SEARCH_FIT)
    assert result.ok and not native.available()
    assert "the compiled fitter could not be built (RuntimeError: no LLVM target" in capsys.readouterr().err


# A fresh interpreter, where numba has not loaded the refinement yet: the first fit loads it (about 1 s)
FIRST_FIT = """
import sys
import numpy as np
from lawagent.discovery.clock import within
from lawagent.fit import native
from lawagent.fit.fitter import fit
from lawagent.law.guard import bounded
from lawagent.law.law import Law
from lawagent.errors import FormulaError

law = Law.parse(["a + b*x**c"], ["x"])
x = np.linspace(1.0, 10.0, 20)
y = 1.0 + 2.0 * x ** -0.5

def a_fit():
    return fit(law, {"x": x}, y, ["g"] * 20)

if sys.argv[1] == "within":
    first = within(0.0, "the first fit", a_fit)  # a deadline already passed: only the guard's grace is left
    print("first fit:", first.ok)
else:
    native.installed()  # numba imported: the guard fires while the refinement loads
    try:
        bounded(0.05, "loading the compiled fitter", native.warm)
        print("loaded")
    except FormulaError:
        print("interrupted")
second = a_fit()
print("second fit:", second.ok, "compiled:", native.available())
"""


def _first_fit(mode: str) -> list[str]:
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = {**os.environ, "LAWAGENT_NATIVE": "1", "PYTHONPATH": str(Path(__file__).parents[1] / "src")}
    done = subprocess.run([sys.executable, "-c", FIRST_FIT, mode], env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.splitlines()


def test_the_first_fit_of_a_process_loads_the_compiled_fitter_outside_the_guard():
    """The final refit is the main process's first fit when workers did the search: the run's guard fired
    inside numba's loader, and the next fit crashed the run ("generator raised StopIteration", CI of 0592ce0)."""
    assert _first_fit("within") == ["first fit: True", "second fit: True compiled: True"]


def test_loading_interrupted_does_not_break_later_fits():
    """Interrupted inside numba's loader, the process's later fits run with numpy; before it, warm() loads
    again at the next fit. Either way the next fit works (the guard fires at a moment this cannot choose)."""
    lines = _first_fit("interrupt")
    assert lines[0] in ("interrupted", "loaded") and lines[-1].startswith("second fit: True")
