"""The machine a benchmark cell records: enough to tell that two runs computed on different CPUs."""

from __future__ import annotations

import numpy as np

from lawagent.machine import describe, numeric_machine, same_machine


def test_this_machine_is_named_and_equal_to_itself():
    here = numeric_machine()
    assert here["cpu"] and here["numpy"] == np.__version__ and here["simd"]
    assert same_machine(here, numeric_machine()) is True
    assert same_machine(here, {**here, "simd": "AVX2"}) is False
    assert same_machine(here, None) is None and same_machine({}, here) is None
    numpy_fits = {**here, "refinement": "numpy"}
    assert describe(numpy_fits) == f"{here['cpu']}, numpy {np.__version__} ({here['simd']})"
    assert describe(None) == "not recorded"


def test_the_refinement_counts_and_old_records_ran_numpy(monkeypatch):
    """The compiled refinement and the numpy loop agree to the last bits, not in them: another machine."""
    monkeypatch.setenv("LAWAGENT_NATIVE", "0")
    numpy_fits = numeric_machine()
    assert numpy_fits["refinement"] == "numpy"
    old = {k: v for k, v in numpy_fits.items() if k != "refinement"}  # recorded before the key existed
    assert same_machine(numpy_fits, old) is True
    assert same_machine({**numpy_fits, "refinement": "compiled"}, old) is False
    assert describe({**numpy_fits, "refinement": "compiled"}).endswith(", compiled fits")
