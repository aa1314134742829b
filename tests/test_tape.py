"""The tape compiler against the sympy path, on every bundled reference law and 300 random laws.

Agreement means, for the values and for every parameter's derivative:
- where both are finite, relative error < 1e-9; where the exact result cancels
  to (nearly) zero, both are rounding noise, so there the error is measured
  against the largest magnitude of that output instead (< 1e-12 of it);
- the same values are non-finite. Derivatives are compared where the value is
  finite: where it is not, the fitter discards the point, and sympy's own
  output there depends on how its common-subexpression pass happened to
  rewrite x^a * x^-a.

Known, documented differences (each asserted to stay confined to its case):
- abs(): to print d|f| at all, the sympy path uses real symbols; sympy then
  differentiates |f| as a complex modulus, through re(f), im(f) and arg(f), and
  divides by f, so it gives NaN where f = 0 or its cosh overflows. The tape uses
  sign(f) * df. There the tape is finite and the sympy path is not.
- 0^c (a constant zero base): sympy's derivative by c is nan (0^c * log 0), which
  its linearity check cannot see, so it calls c linear; the tape does not.
- the sympy path cannot evaluate the derivative of a min/max of three or more
  arguments on inputs of different shapes (its piecewise code does not
  broadcast), which is how the fitter calls it; it gets inputs broadcast to the
  full shape here. Some laws with min/max it cannot compile at all (sympy
  raises "argument is not comparable"); those are counted and skipped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import pytest
import sympy

from lawagent.evaluate import reference_law
from lawagent.law.compile import compile_law
from lawagent.law.law import Law
from lawagent.law.sympy_compile import compile_law_sympy
from lawagent.task import list_tasks, load_task
from random_laws import FEATURES, feature_values, random_laws

REL = 1e-9
CANCEL = 1e-12


@lru_cache(maxsize=1)
def some_random_laws() -> list[Law]:
    # min/max are rare here only because sympy takes ~0.5 s to print each one's derivative
    return random_laws(seed=0, count=300, max_depth=4, minmax=0.01)


@dataclass
class Agreement:
    compared: int = 0  # output entries finite in both and compared
    entries: int = 0
    abs_only: int = 0  # derivative entries where only the sympy path is non-finite, in laws with abs()
    zero_base: list[str] = field(default_factory=list)  # laws with 0^c whose linear parameters differ
    problems: list[str] = field(default_factory=list)


def parameter_values(c, rng: np.random.Generator, G: int, S: int, around: dict[str, float] | None = None) -> list[np.ndarray]:
    """(G, S, 1) per parameter; linear parameters are 0 in start 0, where the fitter evaluates its Jacobian."""
    P = []
    for p in c.parameters:
        if around and p in around:
            v = around[p] * np.exp(rng.normal(0.0, 0.1, (G, S, 1)))
        else:
            v = rng.uniform(0.2, 2.0, (G, S, 1)) * np.where(rng.random((G, S, 1)) < 0.3, -1.0, 1.0)
        if p in c.linear:
            v[:, 0] = 0.0
        P.append(v)
    return P


def compare(law: Law, X: dict[str, np.ndarray], rng: np.random.Generator, out: Agreement, G: int = 2, S: int = 3,
            around: dict[str, float] | None = None, s=None) -> None:
    c, s = compile_law(law), s or compile_law_sympy(law)
    if c.linear != s.linear:
        zero_base = any(n.is_Pow and n.base == 0 for e in law.expressions for n in sympy.preorder_traversal(e))
        if zero_base:
            out.zero_base.append(law.text())
        else:
            out.problems.append(f"{law}: linear {c.linear} vs sympy {s.linear}")
    xs = [np.asarray(X[f], dtype=float)[None, None, :] for f in c.features]
    ps = parameter_values(c, rng, G, S, around)
    shape = np.broadcast_shapes(*(a.shape for a in xs + ps))
    values, jac = c.values_and_jacobian(xs, ps)
    full = [np.broadcast_to(a, shape) for a in xs + ps]
    s_values, s_jac = s.values_and_jacobian(full[: len(xs)], full[len(xs):])
    has_abs = any(e.has(sympy.Abs) for e in law.expressions)
    for t in range(c.n_targets):
        np.testing.assert_array_equal(c.values(xs, ps)[t], values[t])  # values alone: the same numbers
        finite = np.isfinite(values[t]) & np.isfinite(s_values[t])
        if not np.array_equal(np.isfinite(values[t]), np.isfinite(s_values[t])):
            out.problems.append(f"{law}: values finite in one path only")
        outputs = [("value", values[t], s_values[t])]
        outputs += [(f"d/d{p}", np.where(finite, jac[t][j], 0.0), np.where(finite, s_jac[t][j], 0.0))
                    for j, p in enumerate(c.parameters)]
        for what, a, b in outputs:
            fa, fb = np.isfinite(a), np.isfinite(b)
            out.entries += a.size
            if not np.array_equal(fa, fb):
                only_sympy_bad = fa & ~fb
                if has_abs and what != "value" and np.array_equal(fa | fb, fa):
                    out.abs_only += int(only_sympy_bad.sum())
                else:
                    out.problems.append(f"{law}: {what} finite in one path only ({int((fa != fb).sum())} entries)")
            both = fa & fb
            err = np.abs(a[both] - b[both])
            scale = np.abs(b[both]).max() if both.any() else 0.0
            ok = (err <= REL * np.maximum(np.abs(a[both]), np.abs(b[both]))) | (err <= CANCEL * scale)
            out.compared += int(both.sum())
            if not ok.all():
                out.problems.append(f"{law}: {what} differs by {err.max():.3g} (scale {scale:.3g})")


@pytest.mark.parametrize("name", list_tasks())
def test_reference_laws_match_the_sympy_path(name: str) -> None:
    task = load_task(name)
    law = reference_law(task)
    out = Agreement()
    around = dict(law.initial) or None
    compare(law, task.train().X, np.random.default_rng(0), out, around=around)
    compare(law, task.train().X, np.random.default_rng(1), out)
    assert not out.problems, out.problems[:5]
    assert out.compared > 0.5 * out.entries


def test_random_laws_match_the_sympy_path() -> None:
    laws = some_random_laws()
    X = feature_values(np.random.default_rng(1), 16)
    rng = np.random.default_rng(2)
    out = Agreement()
    skipped = []
    for law in laws:
        try:
            s = compile_law_sympy(law)
        except ValueError as err:  # sympy: "The argument ... is not comparable" inside Min/Max
            skipped.append(f"{law}: {err}")
            continue
        compare(law, X, rng, out, s=s)
    assert not out.problems, out.problems[:10]
    assert len(skipped) <= 3, skipped
    assert len(out.zero_base) <= 3, out.zero_base
    assert out.compared > 0.8 * out.entries  # most outputs are finite: the check has teeth
    assert out.abs_only < 0.001 * out.entries


def test_random_laws_cover_the_language() -> None:
    """The generator reaches every function, fitted and fractional powers, and products with division."""
    laws = some_random_laws()
    heads = {type(n).__name__ for law in laws for e in law.expressions for n in sympy.preorder_traversal(e)}
    assert {"exp", "log", "tanh", "Abs", "Min", "Max", "Pow", "Mul", "Add"} <= heads
    texts = " ".join(law.text() for law in laws)
    assert "sqrt(" in texts and "**(-" in texts and "**(1/3)" in texts and "**1.5" in texts


def test_min_max_broadcast_over_groups_starts_rows() -> None:
    """The sympy path could not do this (the fitter's shapes); the tape can, with sympy's derivative."""
    law = Law.parse("min(a*N, b, N/c) + max(N, d)", ("N",))
    c = compile_law(law)
    N = np.array([1.0, 2.0, 4.0, 8.0])[None, None, :]
    P = {"a": np.full((1, 2, 1), 2.0), "b": np.array([3.0, 5.0]).reshape(1, 2, 1), "c": np.full((1, 2, 1), 0.25),
         "d": np.full((1, 2, 1), 2.0)}
    (v,), (jac,) = c.values_and_jacobian([N], [P[p] for p in c.parameters])
    np.testing.assert_allclose(v[0, 0], [2 + 2, 3 + 2, 3 + 4, 3 + 8])
    da = jac[c.parameters.index("a")]
    np.testing.assert_allclose(da[0, 0], [1.0, 0.0, 0.0, 0.0])  # a*N is the smallest only at N=1
    np.testing.assert_allclose(jac[c.parameters.index("d")][0, 0], [1.0, 0.5, 0.0, 0.0])  # a tie counts half


def test_jacobian_for_some_parameters_only() -> None:
    law = Law.parse("E + A/N^alpha + B/D^beta", ("N", "D"))
    c = compile_law(law)
    rng = np.random.default_rng(0)
    X = [rng.uniform(1e6, 1e9, (1, 1, 5)), rng.uniform(1e8, 1e11, (1, 1, 5))]
    P = [rng.uniform(0.2, 2.0, (2, 3, 1)) for _ in c.parameters]
    values, full = c.values_and_jacobian(X, P)
    for wrt in [(2,), (4, 0), ()]:
        part_values, part = c.values_and_jacobian(X, P, wrt)
        np.testing.assert_array_equal(part_values[0], values[0])
        assert len(part[0]) == len(wrt)
        for k, j in enumerate(wrt):
            np.testing.assert_array_equal(part[0][k], full[0][j])
    F, J = c.stacked(X, P, (3, 1))
    assert F.shape == (2, 3, 5) and J.shape == (2, 3, 5, 2)
    np.testing.assert_array_equal(J[..., 0], full[0][3])
    np.testing.assert_array_equal(J[..., 1], full[0][1])


def test_stacked_puts_targets_side_by_side() -> None:
    law = Law.parse("a*x; b*x^2 + a", ("x",), targets=["y1", "y2"])
    c = compile_law(law)
    x = np.array([1.0, 2.0, 3.0])[None, None, :]
    P = [np.full((1, 1, 1), 2.0), np.full((1, 1, 1), 3.0)]
    F, J = c.stacked([x], P, (0, 1))
    np.testing.assert_allclose(F[0, 0], [2, 4, 6, 5, 14, 29])
    np.testing.assert_allclose(J[0, 0, :, c.parameters.index("a")], [1, 2, 3, 1, 1, 1])
    np.testing.assert_allclose(J[0, 0, :, c.parameters.index("b")], [0, 0, 0, 1, 4, 9])


@pytest.mark.parametrize(
    "text, linear",
    [
        ("log(N^(-a)) + b", ("a", "b")),  # sympy's d/da is -log(N): a enters linearly
        ("log(exp(a*N)) + b", ("a", "b")),
        ("log(N^(a + t)) + b", ("b",)),  # sympy keeps N^(a+t)*N^(-a-t) in d/da
        ("a^1.0*N + b", ("a", "b")),
        ("log(a*N)", ()),
        ("c*log(a*N*log(a))", ("c",)),
    ],
)
def test_linear_parameters_follow_sympy(text: str, linear: tuple[str, ...]) -> None:
    law = Law.parse(text, ("N", "t"))
    tape, reference = compile_law(law).linear, compile_law_sympy(law).linear
    assert tape == reference and set(tape) == set(linear)


def test_re_from_sympy_is_the_identity() -> None:
    """sympy writes abs(exp(x)) as exp(re(x)); the parser drops the re (values are real), and a law
    built in sympy with one still compiles, re being x itself."""
    parsed = Law.parse("a*abs(exp(N*b))", ("N",))
    assert not any(isinstance(n, sympy.re) for n in sympy.preorder_traversal(parsed.expressions[0]))
    a, b, N_ = sympy.symbols("a b N")
    law = Law.from_sympy(a * sympy.exp(sympy.re(N_ * b)), ("N",))
    c = compile_law(law)
    N = np.array([0.5, 1.0])
    (v,), (jac,) = c.values_and_jacobian([N], [np.float64(2.0), np.float64(0.3)])
    np.testing.assert_allclose(v, 2.0 * np.exp(0.3 * N))
    np.testing.assert_allclose(jac[c.parameters.index("b")], 2.0 * N * np.exp(0.3 * N))


def test_negative_base_fractional_power_is_nan_like_numpy() -> None:
    c = compile_law(Law.parse("(N - a)^0.5 + (N - a)^(1/3) + (N - a)^2", ("N",)))
    (v,), (jac,) = c.values_and_jacobian([np.array([0.0, 4.0])], [np.float64(1.0)])
    assert np.isnan(v[0]) and np.isnan(jac[0][0])
    assert v[1] == pytest.approx(3**0.5 + 3 ** (1 / 3) + 9)
