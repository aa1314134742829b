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
    assert describe(here) == f"{here['cpu']}, numpy {np.__version__} ({here['simd']})"
    assert describe(None) == "not recorded"
