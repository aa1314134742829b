"""Random laws from the law language's grammar, and feature values like the tasks' own.

Used to check the tape compiler against the sympy path on laws nobody wrote by
hand. Every function of the language, integer, fractional, negative and fitted
powers, division and min/max occur; features range over realistic values,
including zeros (mixture proportions), values below 1, huge counts and a
feature that is 1 on some rows (so ``E - 1`` is 0 there).
"""

from __future__ import annotations

import numpy as np

from lawagent.errors import FormulaError
from lawagent.law.law import Law

FEATURES = ("N", "D", "r", "t", "lr", "E")
PARAMS = ("a", "b", "c", "k", "alpha", "beta", "E0")
UNARY = ("exp", "log", "ln", "log10", "log2", "sqrt", "abs", "tanh", "sigmoid", "softplus")
EXPONENTS = ("2", "3", "-1", "-2", "0.5", "(1/3)", "-0.5", "2.5", "1.5")


def feature_values(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """n rows: model sizes, token counts, proportions (with exact 0 and 1), log-compute around 0, learning rates, expert counts."""
    r = rng.uniform(0.0, 1.0, n)
    r[rng.random(n) < 0.2] = 0.0
    r[rng.random(n) < 0.05] = 1.0
    return {
        "N": 10 ** rng.uniform(6, 11, n),
        "D": 10 ** rng.uniform(8, 13, n),
        "r": r,
        "t": rng.uniform(-3.0, 3.0, n),
        "lr": 10 ** rng.uniform(-4, -2, n),
        "E": 2.0 ** rng.integers(0, 10, n),
    }


class Grammar:
    """expr -> sum | product | power | function call | min/max | pow() | parameter * atom | leaf.

    ``minmax`` is the share of min/max calls: sympy takes about half a second to print
    their derivatives, so a test keeps them rarer than a search would.
    """

    def __init__(self, rng: np.random.Generator, minmax: float = 0.08):
        self.rng = rng
        self.minmax = minmax

    def pick(self, options):
        return options[int(self.rng.integers(len(options)))]

    def leaf(self) -> str:
        u = self.rng.random()
        if u < 0.35:
            return self.pick(FEATURES)
        if u < 0.5:
            return f"log({self.pick(('N', 'D', 'lr', 'E'))})"
        if u < 0.85:
            return self.pick(PARAMS)
        if u < 0.93:
            return str(int(self.rng.integers(1, 10)))
        return repr(round(float(self.rng.uniform(0.01, 5.0)), 3))

    def expr(self, depth: int) -> str:
        if depth <= 0:
            return self.leaf()
        u = self.rng.random()
        d = depth - 1
        if u < 0.22:
            return f"{self.expr(d)} {self.pick(('+', '-'))} {self.expr(d)}"
        if u < 0.42:
            return f"{self.atom(d)}{self.pick(('*', '/'))}{self.atom(d)}"
        if u < 0.58:
            exponent = self.pick((*EXPONENTS, "P", "-P", "E"))
            if exponent == "P":
                exponent = self.pick(PARAMS)
            elif exponent == "-P":
                exponent = f"(-{self.pick(PARAMS)})"
            elif exponent == "E":
                exponent = f"({self.expr(d - 1)})"
            return f"{self.atom(d)}^{exponent}"
        if u < 0.78:
            return f"{self.pick(UNARY)}({self.expr(d)})"
        if u < 0.78 + self.minmax:
            args = ", ".join(self.expr(d) for _ in range(int(self.rng.integers(2, 4))))
            return f"{self.pick(('min', 'max'))}({args})"
        if u < 0.82 + self.minmax:
            return f"pow({self.expr(d)}, {self.expr(d - 1)})"
        if u < 0.87 + self.minmax:
            return f"{self.pick(PARAMS)}*{self.atom(d)}"
        return self.leaf()

    def atom(self, depth: int) -> str:
        text = self.expr(depth)
        return text if text.replace("_", "").isalnum() else f"({text})"


def random_laws(seed: int, count: int, max_depth: int = 4, minmax: float = 0.08) -> list[Law]:
    """``count`` distinct laws that parse (with at least one feature and one parameter)."""
    rng = np.random.default_rng(seed)
    grammar = Grammar(rng, minmax)
    laws: dict[str, Law] = {}
    while len(laws) < count:
        text = grammar.expr(int(rng.integers(2, max_depth + 1)))
        try:
            law = Law.parse(text, FEATURES)
        except (FormulaError, ValueError):  # ValueError: sympy's Min/Max of a complex constant, see parse.py
            continue
        if law.parameters and law.text() not in laws:
            laws[law.text()] = law
    return list(laws.values())
