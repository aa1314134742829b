"""The fitter's Levenberg-Marquardt refinement compiled with numba: one (group, start) pair at a time.

Why: the numpy refinement (:meth:`lawagent.fit.fitter._Problem.solve`) steps every
pair of a fit together, a few hundred numpy calls per iteration on arrays of a few
hundred numbers. Their cost is the calls', not the arithmetic's, and it is paid
every iteration until the slowest pair of the slowest group has converged, though
most pairs are done in a fifth of that. Compiled, a pair's iteration is a few
microseconds and a converged pair costs nothing more.

The law is evaluated by a small interpreter over the same tape the numpy path runs
(:class:`lawagent.law.tape.Tape`: values, then reverse-mode derivatives, as
unary and binary operations on slots), so there is no compilation per law. The
algorithm is the numpy path's, step for step: variable projection (linear
parameters solved by scaled Cholesky least squares, SVD where that fails; Kaufman's
Jacobian), Marquardt damping, the same convergence, stall and give-up rules.

On by default where numba is installed (``pip install 'lawagent[fast]'``); ``LAWAGENT_NATIVE=0``
turns it off, and without numba the numpy path runs. Its fits equal the numpy
loop's to the last bits (those bits can still change which candidates a run goes
on to). It became the default by a rule declared before the measurement
(docs/benchmarks/DEVLOG.md, 3 December 2026): the same 1,560 development-split
candidates fitted both ways, fits no worse, at a third of the CPU.
"""

from __future__ import annotations

import os
import sys
from functools import lru_cache
from typing import Any

import numpy as np

from lawagent.law.tape import Tape, step
from lawagent.fit.transforms import U_LIMIT

# the operations a tape can hold, by the numpy function it calls
_OPCODES = {
    np.add: 0, np.subtract: 1, np.multiply: 2, np.divide: 3, np.power: 4, np.negative: 5, np.exp: 6,
    np.log: 7, np.tanh: 8, np.sqrt: 9, np.sign: 10, np.abs: 11, np.minimum: 12, np.maximum: 13, step: 14,
}
KINDS = {"none": 0, "lower": 1, "upper": 2, "box": 3}  # lawagent.fit.transforms.Transform.kind


_failed: list[str] = []  # why the compiled refinement could not be built, if it could not


def available() -> bool:
    """Whether fits use the compiled refinement: numba installed and working, not turned off (``LAWAGENT_NATIVE=0``)."""
    if os.environ.get("LAWAGENT_NATIVE", "1") == "0" or _failed:
        return False
    return installed()


def installed() -> bool:
    """Whether numba is there to compile the refinement."""
    return _kernels() is not None


@lru_cache(maxsize=1)
def _kernels() -> Any:
    try:
        from lawagent.fit import _native_kernels
    except ImportError:
        return None
    return _native_kernels


def describe() -> str:
    """Which refinement fits run with, for benchmark reports."""
    if available():
        import numba

        return f"compiled (numba {numba.__version__})"
    if os.environ.get("LAWAGENT_NATIVE", "1") == "0":
        return "numpy (LAWAGENT_NATIVE=0)"
    if _failed:
        return f"numpy (numba could not build the compiled refinement: {_failed[0][:120]})"
    return "numpy (numba is not installed: pip install 'lawagent[fast]')"


def cached() -> bool:
    """Whether the compiled refinement is on disk already (else the first fit compiles it: about half a minute)."""
    kernels = _kernels()
    try:
        return os.path.exists(kernels.refine._cache._cache_file._index_path)
    except AttributeError:  # numba's cache layout is its own: assume it is there
        return True


def ready() -> bool:
    """:func:`available`, once the refinement is loaded (:func:`warm`): what the fitter asks."""
    if not _warmed:
        warm()
    return available()


_warmed: list[bool] = []


def warm() -> None:
    """Load the compiled refinement now (compiling it the first time), not in the middle of the first fit:
    evaluation workers start from it, and a run's clock should not pay it twice. If numba cannot build it
    here, say so once: fits then run with numpy. Call it outside any wall-clock guard (as
    :func:`lawagent.discovery.clock.within` does): interrupted, it leaves fits to numpy for the process."""
    if _warmed or not available():
        return
    from lawagent.law.law import Law  # here: the fitter imports this module

    law = Law.parse(["a + b*x**c"], ["x"])
    tape = Tape(law.outputs, law.used_features, law.parameters)
    prog = program(tape, (0, 1))
    x = np.linspace(1.0, 2.0, 4)
    try:
        refine(prog, x.reshape(1, 1, 4), np.ones((1, 4)), np.ones((1, 4)), np.array([0, 1]), np.array([2]),
               np.array([0]), np.array([-np.inf]), np.array([np.inf]), np.zeros((1, 1), bool), np.ones((1, 1)),
               np.zeros((1, 1)), 2, 1e-10, 1e-8, 20)
    except Exception as err:  # noqa: BLE001 - a numba that cannot build here must not stop a fit
        _failed.append(f"{type(err).__name__}: {err}")
        print(f"note: the compiled fitter could not be built ({_failed[0][:200]}); fitting with numpy instead",
              file=sys.stderr)
    except BaseException as err:
        # Ctrl-C, or a wall-clock guard's timeout (lawagent.law.guard), raised inside numba's loader: numba
        # is left half-loaded, and every later call would fail ("generator raised StopIteration")
        _failed.append(f"interrupted while loading ({type(err).__name__})")
        raise
    _warmed.append(True)


class Program:
    """A tape as integer arrays the compiled interpreter reads: its operations, constants and outputs."""

    def __init__(self, tape: Tape, linear: tuple[int, ...]):
        everything = tuple(range(len(tape.parameters)))
        nonlinear = tuple(i for i in everything if i not in linear)
        self.code = _code(tape.program(everything))  # values and every parameter's derivative
        self.code_nl = _code(tape.program(nonlinear))  # values and the nonlinear parameters' derivatives
        self.n_slots = tape.n_slots
        self.const_slots = np.array(list(tape.constants), dtype=np.int64)
        self.const_values = np.array(list(tape.constants.values()), dtype=float)
        n_feat = len(tape.features)
        self.feature_slots = np.array(tape.input_slots[:n_feat], dtype=np.int64)
        self.param_slots = np.array(tape.input_slots[n_feat:], dtype=np.int64)
        self.value_out = np.array(tape.value_outputs, dtype=np.int64)
        self.jac_out = np.array([[-1 if s is None else s for s in row] for row in tape.jacobian_outputs],
                                dtype=np.int64).reshape(len(tape.value_outputs), len(tape.parameters))
        self.jac_out_nl = self.jac_out.copy()
        self.jac_out_nl[:, list(linear)] = -1


def _code(ops: list) -> np.ndarray:
    code = np.empty((len(ops), 4), dtype=np.int64)
    for i, (f, out, a, b, _free) in enumerate(ops):
        code[i] = (_OPCODES[f], out, a, b)
    return code


@lru_cache(maxsize=4096)  # a Tape hashes by identity; compile_law keeps as many
def program(tape: Tape, linear: tuple[int, ...]) -> Program | None:
    """The tape as a :class:`Program` (``linear``: the positions of the linear parameters), or None if it
    holds an operation the interpreter does not know. Made once per tape."""
    try:
        return Program(tape, linear)
    except KeyError:
        return None


def refine(prog: Program, X: np.ndarray, Y: np.ndarray, mask: np.ndarray, lin_idx: np.ndarray,
           nl_idx: np.ndarray, kinds: np.ndarray, lo: np.ndarray, hi: np.ndarray, logmode: np.ndarray,
           sign: np.ndarray, U: np.ndarray, max_iter: int, tol: float, stall_tol: float, window: int):
    """Refine one start per group: ``U`` (groups, nonlinear parameters) in internal variables, on each group's
    rows ``X`` (groups, features, m), ``Y`` and ``mask`` (groups, targets * m).

    Returns the refined U, and per group the cost, whether it converged and the iterations taken."""
    U = np.array(U, dtype=float, order="C")
    out = np.zeros((U.shape[0], 3))
    _kernels().refine(
        prog.code, prog.code_nl, prog.n_slots, prog.const_slots, prog.const_values, prog.feature_slots,
        prog.param_slots, prog.value_out, prog.jac_out, prog.jac_out_nl, X, Y, mask, lin_idx, nl_idx, kinds, lo, hi,
        np.ascontiguousarray(logmode), np.ascontiguousarray(sign, dtype=float), U, out,
        int(max_iter), float(tol), float(stall_tol), int(window), float(U_LIMIT))
    return U, out[:, 0], out[:, 1] > 0, out[:, 2].astype(int)


def evaluate(prog: Program, X: np.ndarray, P: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The compiled interpreter's values (targets * m) and Jacobian (targets * m, parameters) on rows
    ``X`` (features, m) at parameter values ``P``: what the refinement sees (checked against the tape)."""
    X = np.ascontiguousarray(X, dtype=float)
    m = X.shape[1]
    M = len(prog.value_out) * m
    F, J = np.empty(M), np.empty((M, prog.jac_out.shape[1]))
    S = np.empty((max(prog.n_slots, 1), m))
    _kernels()._evaluate(prog.code, prog.const_slots, prog.const_values, prog.feature_slots, prog.param_slots,
                         prog.value_out, prog.jac_out, X, np.asarray(P, dtype=float), S, F, J)
    return F, J
