"""Building blocks for the first laws of a search, instantiated over any task's features.

Two kinds. Generic motifs: a power law with an irreducible term, products of
powers, log-linear terms, Hill saturation, quadratics, tanh steps, exponential
decay, linear mixtures, and, on request (``log_y``) where the target is
positive, products of powers fitted to its log (``log(y) = ...``). And
families of the scaling-law literature: sums of power laws (Chinchilla),
smoothly broken power laws, log-quadratic bowls
(learning rate, batch size), log-space interactions and drifting exponents
(routed LMs), effective-data saturation with exponential decay
(data-constrained), exponentials of linear mixtures (data mixing). Some of
the latter are the reference laws' families of bundled tasks: a search that
starts from them partly recalls rather than discovers, which is why
``blocks="generic"`` exists. No block carries any task's fitted values: they
are written over whatever features a task has, with fresh parameter names,
and the fitter finds the values.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Callable, Iterator, Sequence

import numpy as np
import sympy

from lawagent.law.law import symbol

POSITIVE = (0.0, float("inf"))


class Names:
    """Readable fresh parameter names by role: coefficients A B C.., exponents a b c.., offsets E."""

    ROLES = {
        "coef": list("ABCDFGHKMPQRSTUVWYZ"),
        "exp": list("abcdfghkmnpqrstuvwz"),
        "offset": ["E", "E0", "E1", "E2", "E3"],
        "scale": ["s", "s0", "s1", "s2", "s3", "s4"],
    }

    def __init__(self, taken: Sequence[str] = (), suffix: str = ""):
        self.taken = set(taken)
        self.suffix = suffix

    def new(self, role: str) -> sympy.Symbol:
        for base in self.ROLES[role]:
            name = base + self.suffix
            if name not in self.taken:
                self.taken.add(name)
                return symbol(name)
        i = 0
        while f"{role[0]}{i}{self.suffix}" in self.taken:
            i += 1
        self.taken.add(f"{role[0]}{i}{self.suffix}")
        return symbol(f"{role[0]}{i}{self.suffix}")


@dataclass
class Gene:
    """One target's expression with the bounds its parameters need; ``log_target``: the expression is
    fitted to the log of the target, and the law predicts its exp (``log(y) = expr``)."""

    expr: sympy.Expr
    bounds: dict[str, tuple[float, float]] = field(default_factory=dict)
    log_target: bool = False


# A quantity that spans a decade or more (model size, tokens, experts, learning
# rate) enters scaling laws through powers and logs, never as a raw linear,
# polynomial or exponential term: such a term fitted to a small trend explodes
# one step past the data (seen as laws with "+ C*data_size" that validate well
# and extrapolate to R² < -1).
WIDE_RANGE = 10.0


@dataclass(frozen=True)
class FeatureKinds:
    """What transforms a feature admits, from its training range."""

    positive: tuple[str, ...]  # min > 0: powers and logs are safe
    other: tuple[str, ...]  # may be zero or negative: polynomials, exp, sigmoids
    unit: tuple[str, ...]  # within [0, 1]: proportions, mixtures
    wide: tuple[str, ...] = ()  # positive, max/min >= WIDE_RANGE: enters through powers and logs only

    @classmethod
    def from_ranges(cls, features: Sequence[str], ranges: dict[str, tuple[float, float]]) -> "FeatureKinds":
        pos, other, unit, wide = [], [], [], []
        for f in features:
            lo, hi = ranges.get(f, (1.0, 1.0))
            (pos if lo > 0 else other).append(f)
            if lo >= 0 and hi <= 1:
                unit.append(f)
            if lo > 0 and hi / lo >= WIDE_RANGE:
                wide.append(f)
        return cls(tuple(pos), tuple(other), tuple(unit), tuple(wide))


Block = Callable[[Sequence[sympy.Symbol], Names], Gene]


def power_offset(xs, n: Names) -> Gene:
    """E + A*x^a (one feature)"""
    E, A, a = n.new("offset"), n.new("coef"), n.new("exp")
    return Gene(E + A * xs[0] ** a)


def sum_of_powers(xs, n: Names) -> Gene:
    """E + Σ A_i x_i^(-a_i): Chinchilla-style additive terms"""
    E = n.new("offset")
    return Gene(E + sum(n.new("coef") * x ** (-n.new("exp")) for x in xs))


def product_power(xs, n: Names) -> Gene:
    """E + A Π x_i^a_i"""
    E, A = n.new("offset"), n.new("coef")
    return Gene(E + A * sympy.Mul(*[x ** n.new("exp") for x in xs]))


def hill(xs, n: Names) -> Gene:
    """E + A/(1 + (x/s)^a): saturating power law (flat, then power-law decay)"""
    E, A, s, a = n.new("offset"), n.new("coef"), n.new("scale"), n.new("exp")
    return Gene(E + A / (1 + (xs[0] / s) ** a), {s.name: POSITIVE})


def broken_power(xs, n: Names) -> Gene:
    """E + A x^-a (1 + (x/s)^k)^-b: smoothly broken power law"""
    E, A, a, s, b = n.new("offset"), n.new("coef"), n.new("exp"), n.new("scale"), n.new("exp")
    return Gene(E + A * xs[0] ** (-a) * (1 + xs[0] / s) ** (-b), {s.name: POSITIVE})


def log_linear(xs, n: Names) -> Gene:
    """E + Σ A_i log x_i"""
    E = n.new("offset")
    return Gene(E + sum(n.new("coef") * sympy.log(x) for x in xs))


def log_quadratic(xs, n: Names) -> Gene:
    """E + A (log x - c)^2 + B log x ... a bowl in log space (optimum of lr, batch size)"""
    E, A, c = n.new("offset"), n.new("coef"), n.new("exp")
    return Gene(E + A * (sympy.log(xs[0]) - c) ** 2)


def log_interaction(xs, n: Names) -> Gene:
    """exp(d + a log x1 + b log x2 + c log x1 log x2): interaction in log space"""
    d, a, b, c = n.new("offset"), n.new("exp"), n.new("exp"), n.new("exp")
    l1, l2 = sympy.log(xs[0]), sympy.log(xs[1])
    return Gene(sympy.exp(d + a * l1 + b * l2 + c * l1 * l2))


def power_with_log_exponent(xs, n: Names) -> Gene:
    """E + A x1^(a + c log x2): exponent that drifts with a second variable"""
    E, A, a, c = n.new("offset"), n.new("coef"), n.new("exp"), n.new("exp")
    return Gene(E + A * xs[0] ** (-(a + c * sympy.log(xs[1]))))


def saturating_ratio(xs, n: Names) -> Gene:
    """E + A x2^-a + B (x1 (1 + R (1 - exp(-(x2/x1)/R))))^-b: effective amount with exponential decay of repeats"""
    E, A, a, B, b, R = n.new("offset"), n.new("coef"), n.new("exp"), n.new("coef"), n.new("exp"), n.new("scale")
    u, x = xs[0], xs[1]
    eff = u * (1 + R * (1 - sympy.exp(-(x / u) / R)))
    return Gene(E + B * eff ** (-b) + A * xs[2] ** (-a) if len(xs) > 2 else E + B * eff ** (-b), {R.name: POSITIVE})


def quadratic(xs, n: Names) -> Gene:
    """E + A x + B x^2: a U-shape (or inverted U)"""
    E, A, B = n.new("offset"), n.new("coef"), n.new("coef")
    return Gene(E + A * xs[0] + B * xs[0] ** 2)


def sigmoid_step(xs, n: Names) -> Gene:
    """E + A tanh(k (x - c)): a smooth transition"""
    E, A, k, c = n.new("offset"), n.new("coef"), n.new("exp"), n.new("exp")
    return Gene(E + A * sympy.tanh(k * (xs[0] - c)))


def exp_decay(xs, n: Names) -> Gene:
    """E + A exp(-k x)"""
    E, A, k = n.new("offset"), n.new("coef"), n.new("exp")
    return Gene(E + A * sympy.exp(-k * xs[0]))


def exp_mixture(xs, n: Names) -> Gene:
    """E + A exp(Σ t_i x_i): exponential of a linear mixture"""
    E, A = n.new("offset"), n.new("coef")
    return Gene(E + A * sympy.exp(sum(n.new("exp") * x for x in xs)))


def linear_mixture(xs, n: Names) -> Gene:
    """E + Σ A_i x_i"""
    E = n.new("offset")
    return Gene(E + sum(n.new("coef") * x for x in xs))


def sigmoid_log(xs, n: Names) -> Gene:
    """E + A sigmoid(k (log x - c)): a transition that is smooth in log space (saturation, emergence)"""
    E, A, k, c = n.new("offset"), n.new("coef"), n.new("exp"), n.new("exp")
    return Gene(E + A / (1 + sympy.exp(-k * (sympy.log(xs[0]) - c))))


def hill_product(xs, n: Names) -> Gene:
    """E + A/(1 + s x1^a x2^b): saturation in a product of powers"""
    E, A, s, a, b = n.new("offset"), n.new("coef"), n.new("scale"), n.new("exp"), n.new("exp")
    return Gene(E + A / (1 + s * xs[0] ** a * xs[1] ** b), {s.name: POSITIVE})


def additive_all(xs, n: Names) -> Gene:
    """E + Σ a_i log x_i over every feature given: each feature's own additive term"""
    E = n.new("offset")
    return Gene(E + sum(n.new("coef") * sympy.log(x) for x in xs))


def log_product(xs, n: Names) -> Gene:
    """log y = E + Σ a_i log x_i: a product of powers (Cobb-Douglas), fitted to log y"""
    E = n.new("offset")
    return Gene(E + sum(n.new("exp") * sympy.log(x) for x in xs), log_target=True)


# Blocks written for log y (linear in their parameters: the fitter solves them exactly), proposed with
# ``log_y`` only and for a target positive in every training row. Quadratic forms in log space (a translog
# interaction, log curvature) were tried here too and left the data one step out (DEVLOG.md).
LOG_TARGET_BLOCKS = {log_product}

# block, how many features it takes (None = any subset, -1 = all of them), which kind of features, and where
# it comes from:
# "generic" motifs (powers, logs, exponentials, saturation, products, polynomials) or a law family of the
# scaling-law literature. `--blocks generic` keeps only the former, so that recall of a published family
# can be told apart from discovery.
BLOCKS: list[tuple[Block, int | None, str, str]] = [
    (power_offset, 1, "positive", "generic"),
    (hill, 1, "positive", "generic"),
    (broken_power, 1, "positive", "broken power law (Caballero et al. 2023)"),
    (log_quadratic, 1, "positive", "learning-rate / batch-size bowl (e.g. Li et al. 2025)"),
    (sum_of_powers, None, "positive", "Chinchilla (Hoffmann et al. 2022)"),
    (product_power, None, "positive", "generic"),
    (log_linear, None, "positive", "generic"),
    (log_interaction, 2, "positive", "routed LMs (Clark et al. 2022)"),
    (power_with_log_exponent, 2, "positive", "routed LMs (Clark et al. 2022)"),
    (saturating_ratio, 2, "positive", "data-constrained (Muennighoff et al. 2023)"),
    (saturating_ratio, 3, "positive", "data-constrained (Muennighoff et al. 2023)"),
    (quadratic, 1, "any", "generic"),
    (sigmoid_step, 1, "any", "generic"),
    (exp_decay, 1, "any", "generic"),
    (exp_mixture, None, "any", "data mixing laws (Ye et al. 2024)"),
    (linear_mixture, None, "any", "generic"),
    (sigmoid_log, 1, "positive", "generic"),
    (hill_product, 2, "positive", "generic"),
    (additive_all, -1, "positive", "generic"),
    (log_product, None, "positive", "generic"),
]
SYMMETRIC = {hill_product}  # blocks whose features can be swapped: each feature set once
BLOCK_SETS = ("all", "generic")  # all = generic motifs and the literature's families


def instantiate(kinds: FeatureKinds, features: Sequence[str], max_subset: int = 3,
                blocks: str = "all", log_y: bool = False) -> Iterator[tuple[str, Callable[[Names], Gene]]]:
    """Every (block, feature tuple) pairing that makes sense for these features; ``blocks="generic"``: generic
    motifs only; ``log_y``: the blocks written for log y too."""
    if blocks not in BLOCK_SETS:
        raise ValueError(f"blocks must be one of {BLOCK_SETS}, got {blocks!r}")
    syms = {f: symbol(f) for f in features}
    for block, arity, kind, family in BLOCKS:
        if blocks == "generic" and family != "generic":
            continue
        if block in LOG_TARGET_BLOCKS and not log_y:
            continue
        pool = kinds.positive if kind == "positive" else tuple(f for f in features if f not in kinds.wide)
        if not pool:
            continue
        if arity == -1:
            combos = [tuple(pool)] if len(pool) > 1 else []
        elif arity is None:
            sizes = range(1, min(len(pool), max_subset) + 1) if len(pool) <= 6 else [len(pool)]
            combos = [c for k in sizes for c in itertools.combinations(pool, k)]
            if len(pool) > 1 and block in (exp_mixture, linear_mixture):
                combos = [tuple(pool)]
        elif arity == 1:
            combos = [(f,) for f in pool]
        else:
            if len(pool) < arity:
                continue
            pick = itertools.combinations if block in SYMMETRIC else itertools.permutations
            combos = list(pick(pool, arity))
        for combo in combos:
            xs = [syms[f] for f in combo]
            yield f"{block.__name__}({','.join(combo)})", (lambda n, b=block, xs=xs: b(xs, n))


def raw_wide_term(expr: sympy.Expr, wide: set[sympy.Symbol]) -> bool:
    """Whether a wide-ranging feature enters a top-level term, or the exponent of a top-level exp, polynomially.

    Catches what mutations can still make of a law (``C*data_size``, ``exp(A*params)``,
    an exponent tied to 1) while leaving transforms inside powers and logs alone
    (``(x + s)**a``, ``1 - exp(-x/s)`` inside a base, ``x*(1 + k*log(x))``).
    """
    if not wide:
        return False
    parts = []
    for term in sympy.Add.make_args(expr):
        parts.append(term)
        for factor in sympy.Mul.make_args(term):
            if isinstance(factor, sympy.exp):
                parts.extend(sympy.Add.make_args(factor.args[0]))
    for part in parts:
        for x in wide & part.free_symbols:
            try:
                if part.is_polynomial(x):
                    return True
            except Exception:  # sympy can raise on odd trees; such a part is not a raw polynomial
                continue
    return False


def random_term(x: sympy.Symbol, n: Names, rng: np.random.Generator, positive: bool, wide: bool = False) -> Gene:
    """A single new additive term in feature x (no raw linear term in a wide-ranging feature)."""
    choice = rng.integers(0, 6 if positive else 3)
    A = n.new("coef")
    if not positive:
        k = n.new("exp")  # taken even for the linear term: the names that follow stay as they were
        if choice == 1:
            return Gene(A * sympy.exp(-k * x))
        if choice == 2:
            return Gene(A * sympy.tanh(k * x))
        return Gene(A * x)
    a = n.new("exp")
    if choice == 0:
        return Gene(A * x ** (-a))
    if choice == 1:
        return Gene(A * sympy.log(x))
    if choice == 2:
        return Gene(A * (sympy.log(x) - a) ** 2)
    if choice == 3:
        s = n.new("scale")
        return Gene(A / (1 + (x / s) ** a), {s.name: POSITIVE})
    if choice == 4:
        return Gene(A * x**a) if wide else Gene(A * x)
    return Gene(A * x ** (-a) * sympy.log(x))
