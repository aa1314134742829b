"""Which floating-point machine a result came from: a seeded run repeats exactly only on the same kind.

A search with a candidate budget is deterministic on one machine. On another
CPU, numpy's vectorised exp, log and power can take other code paths (AVX-512
against AVX2; Intel's against AMD's) whose results differ in the last bit, and
a search amplifies such bits: a fit ends a step earlier, another law makes the
finalists. Seen on this project: commit 41d8559's dev cells for sft_scaling_law
came out differently on an AMD EPYC and an Intel Xeon with AVX-512 (seed 2:
dev R² 0.9721 against 0.9390). The fitter's refinement counts the same way: the
compiled one (lawagent.fit.native) and the numpy loop agree to the last bits, not
in them. So benchmarks record the machine and the refinement, and a comparison
of two runs says when they come from different ones.
"""

from __future__ import annotations

import platform
from typing import Any, Mapping

import numpy as np

from lawagent.fit import native

__all__ = ["describe", "numeric_machine", "same_machine"]


def numeric_machine() -> dict[str, str]:
    """The CPU model, numpy's version, the widest instruction set numpy dispatches to here, and
    which refinement fits run with ("compiled" or "numpy")."""
    return {"cpu": _cpu_model(), "numpy": np.__version__, "simd": _simd(),
            "refinement": "compiled" if native.available() else "numpy"}


def same_machine(a: Mapping[str, Any] | None, b: Mapping[str, Any] | None) -> bool | None:
    """Whether two recorded machines compute alike (None when either was not recorded; records from
    before the compiled refinement ran the numpy one)."""
    if not a or not b:
        return None
    return (all(a.get(k) == b.get(k) for k in ("cpu", "numpy", "simd"))
            and a.get("refinement", "numpy") == b.get("refinement", "numpy"))


def describe(machine: Mapping[str, Any] | None) -> str:
    """One line for people: ``Intel(R) Xeon(R) Processor, numpy 2.4.6 (AVX512_SPR)``."""
    if not machine:
        return "not recorded"
    simd = f" ({machine['simd']})" if machine.get("simd") else ""
    refinement = ", compiled fits" if machine.get("refinement") == "compiled" else ""
    return f"{machine.get('cpu') or '?'}, numpy {machine.get('numpy') or '?'}{simd}{refinement}"


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _simd() -> str:
    """The last of numpy's dispatch targets this CPU supports ("" where numpy does not say)."""
    try:
        from numpy._core import _multiarray_umath as umath

        features, targets = umath.__cpu_features__, umath.__cpu_dispatch__
    except (ImportError, AttributeError):
        return ""
    supported = [t for t in targets if features.get(t)]
    return supported[-1] if supported else "baseline"
