"""Evaluate a law and its parameter derivatives straight from its expression tree.

A search compiles every new candidate once and then evaluates it a few hundred
times. Asking sympy for the Jacobian (``sympy.diff``) and for numpy code
(``lambdify`` with common-subexpression elimination) cost 10-200 ms per
candidate, more than many fits. Here the parsed sympy tree is walked once
into a flat list of numpy operations on numbered slots (a tape), which
broadcast over whatever shapes the inputs have (the fitter's groups x starts
x rows). Operations are hash-consed, so a subexpression that occurs twice, in
the law or in its derivatives, is computed once. Reverse-mode
differentiation adds the operations of every parameter's derivative to a
second list; evaluating only the values runs the first list, a Jacobian for
some parameters runs the part of the second list those parameters need.
Compiling takes well under a millisecond.

The derivative rules follow the ones sympy applies, including the
cancellations its automatic simplification makes: d(b^e) for a product or
power ``b`` is ``b^e * e * (db/b)`` with ``db/b`` cancelled factor by factor
(so ``d sqrt(a*N)/da`` is ``sqrt(a*N)/(2a)``, finite at ``N = 0``), and the
derivative of min/max uses sympy's Heaviside step (1/2 at a tie). That keeps
values, derivatives and where they are not finite the same as the sympy path
(:mod:`lawagent.law.sympy_compile`), which the tests check on every bundled
reference law and on hundreds of random laws.

Which parameters enter linearly is read off the tree's structure (sums and
products), not from symbolic derivatives.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import reduce
from typing import Callable, Sequence

import numpy as np
import sympy

Slot = int
Ref = tuple[Slot, bool]  # a slot and whether its value is to be negated
Op = tuple[Callable, Slot, tuple[Slot, ...]]


def step(x: np.ndarray) -> np.ndarray:
    """sympy's Heaviside as its numpy printer evaluates it: 0 below 0, 1/2 at 0, 1 above (and at NaN)."""
    return np.where(x < 0, 0.0, np.where(x == 0, 0.5, 1.0))


_COMMUTATIVE = {np.add, np.multiply, np.minimum, np.maximum}


class _Builder:
    """Emits hash-consed numpy operations on slots; folds constants with numpy's own arithmetic."""

    def __init__(self) -> None:
        self.n_slots = 0
        self.consts: dict[Slot, float] = {}
        self.values: list[Op] = []
        self.derivatives: list[Op] = []
        self.target = self.values
        self._seen: dict[tuple, Slot] = {}
        self._const_slots: dict[float | str, Slot] = {}

    def slot(self) -> Slot:
        self.n_slots += 1
        return self.n_slots - 1

    def const(self, value: float) -> Ref:
        value = float(value)
        key = value if value else value.hex()  # one slot per value, but -0.0 is not 0.0
        slot = self._const_slots.get(key) if value == value else None
        if slot is None:
            slot = self._const_slots[key] = self.slot()
            self.consts[slot] = value
        return slot, False

    def is_const(self, ref: Ref, value: float | None = None) -> bool:
        if ref[0] not in self.consts:
            return False
        return value is None or self.value_of(ref) == value

    def value_of(self, ref: Ref) -> float:
        v = self.consts[ref[0]]
        return -v if ref[1] else v

    def slot_of(self, ref: Ref) -> Slot:
        """A slot holding the ref's value (negating it if need be)."""
        slot, negated = ref
        if not negated:
            return slot
        if slot in self.consts:
            return self.const(-self.consts[slot])[0]
        return self._emit(np.negative, (slot,))

    def call(self, f: Callable, *refs: Ref) -> Ref:
        return self._emit(f, tuple(self.slot_of(r) for r in refs)), False

    def _emit(self, f: Callable, args: tuple[Slot, ...]) -> Slot:
        key = (f, tuple(sorted(args)) if f in _COMMUTATIVE else args)
        slot = self._seen.get(key)
        if slot is not None:
            return slot
        if all(a in self.consts for a in args):
            with np.errstate(all="ignore"):
                value = float(f(*(np.float64(self.consts[a]) for a in args)))
            slot = self.const(value)[0]
        else:
            slot = self.slot()
            self.target.append((f, slot, args))
        self._seen[key] = slot
        return slot

    # -- arithmetic on signed refs: a sign is carried along, not computed, until a function needs the value
    def neg(self, a: Ref) -> Ref:
        return (self.const(-self.value_of(a)) if self.is_const(a) else (a[0], not a[1]))

    def add(self, a: Ref | None, b: Ref | None) -> Ref | None:
        if a is None or self.is_const(a, 0.0):
            return b
        if b is None or self.is_const(b, 0.0):
            return a
        if a[1] == b[1]:
            return self._emit(np.add, (a[0], b[0])), a[1]
        if b[1]:  # a - b
            return self._emit(np.subtract, (a[0], b[0])), False
        return self._emit(np.subtract, (b[0], a[0])), False

    def mul(self, a: Ref | None, b: Ref | None) -> Ref | None:
        if a is None or b is None:
            return None
        for x, y in ((a, b), (b, a)):
            if self.is_const(x, 1.0):
                return y
            if self.is_const(x, -1.0):
                return self.neg(y)
        return self._emit(np.multiply, (a[0], b[0])), a[1] != b[1]

    def div(self, a: Ref, b: Ref) -> Ref:
        if self.is_const(b, 1.0):
            return a
        return self._emit(np.divide, (a[0], b[0])), a[1] != b[1]

    def product(self, refs: Sequence[Ref]) -> Ref:
        return reduce(self.mul, refs) if refs else self.const(1.0)


@dataclass(eq=False)
class _Node:
    """One distinct subexpression of the law."""

    kind: str  # param feature const add mul pow exp log tanh abs min max
    value: Ref
    deps: int  # bit i set: depends on parameter i
    args: tuple["_Node", ...] = ()  # mul: the numerator factors; pow: (base, exponent)
    den: tuple["_Node", ...] = ()  # mul: factors x of the form x^-1, divided by
    coeff: float = 1.0  # mul: the numeric coefficient
    power: float | None = None  # pow: the exponent if it is a number
    sqrt: bool = False  # pow: the exponent is the rational +-1/2, which lambdify writes with sqrt
    index: int = -1  # param: its position in the parameter list
    cache: dict = field(default_factory=dict)  # derivative pieces shared between parameters


class Tape:
    """The compiled law: value operations, derivative operations, and the tree they came from."""

    def __init__(self, expressions: Sequence[sympy.Expr], features: Sequence[str], parameters: Sequence[str]):
        self.features = tuple(features)
        self.parameters = tuple(parameters)
        self._b = b = _Builder()
        self._inputs: dict[str, _Node] = {}
        for name in self.features:
            self._inputs[name] = _Node("feature", (b.slot(), False), 0)
        for i, name in enumerate(self.parameters):
            self._inputs[name] = _Node("param", (b.slot(), False), 1 << i, index=i)
        self.input_slots = [self._inputs[n].value[0] for n in (*self.features, *self.parameters)]
        self._memo: dict[sympy.Basic, _Node] = {}
        self.roots = [self._walk(e) for e in expressions]
        self.nodes = list({id(n): n for n in self._memo.values()}.values())  # children before parents
        self.value_outputs = [b.slot_of(r.value) for r in self.roots]
        b.target = b.derivatives
        # every parameter's derivative of every target, built now so the cost is paid at compile time
        self.jacobian = [self._differentiate(r) for r in self.roots]
        self.jacobian_outputs = [[None if t is None else b.slot_of(t) for t in row] for row in self.jacobian]
        self.n_slots = b.n_slots
        self.constants = dict(b.consts)  # slot -> value
        self._template = [None] * b.n_slots
        for slot, value in b.consts.items():
            self._template[slot] = np.float64(value)
        self._programs: dict[tuple[int, ...] | None, list] = {}

    # -- from the sympy tree ------------------------------------------------
    def _walk(self, expr: sympy.Basic) -> _Node:
        node = self._memo.get(expr)
        if node is None:
            node = self._memo[expr] = self._node(expr)
        return node

    def _node(self, expr: sympy.Basic) -> _Node:
        b = self._b
        if expr.is_Symbol:
            return self._inputs[expr.name]
        if expr.is_Number or expr.is_NumberSymbol:
            return _Node("const", b.const(float(expr)), 0)
        if isinstance(expr, sympy.re):  # sympy writes abs(exp(x)) as exp(re(x)); every value here is real
            return self._walk(expr.args[0])
        kind = _KIND.get(type(expr))
        if expr.is_Add:
            args = [self._walk(a) for a in expr.args]
            value = reduce(b.add, (a.value for a in args))
            return _Node("add", value, _deps(args), tuple(args))
        if expr.is_Mul:
            coeff, num, den = 1.0, [], []
            for a in expr.args:
                if a.is_Number:
                    coeff *= float(a)
                elif a.is_Pow and a.exp == -1:
                    den.append(self._walk(a.base))
                else:
                    num.append(self._walk(a))
            value = b.product([a.value for a in num])
            if den:
                value = b.div(value, b.product([d.value for d in den]))
            if coeff != 1.0:
                value = b.mul(b.const(coeff), value)
            return _Node("mul", value, _deps(num + den), tuple(num), tuple(den), coeff)
        if expr.is_Pow:
            base, exp = self._walk(expr.base), self._walk(expr.exp)
            power = float(expr.exp) if expr.exp.is_Number else None
            root = expr.exp.is_Rational and abs(expr.exp) == sympy.S.Half
            node = _Node("pow", (0, False), base.deps | exp.deps, (base, exp), power=power, sqrt=root)
            node.value = self._power(node)
            return node
        if kind is None:
            raise ValueError(f"the law language has no {type(expr).__name__}")
        args = [self._walk(a) for a in expr.args]
        if kind in ("min", "max"):
            f = np.minimum if kind == "min" else np.maximum
            value = reduce(lambda x, y: b.call(f, x, y), (a.value for a in args))
        else:
            value = b.call(_UNARY[kind], args[0].value)
        return _Node(kind, value, _deps(args), tuple(args))

    def _power(self, n: _Node) -> Ref:
        """base^exp as lambdify computes it: NaN for a negative base and a fractional power."""
        b = self._b
        base, exp = n.args
        if n.sqrt:
            root = b.call(np.sqrt, base.value)
            return root if n.power > 0 else b.div(b.const(1.0), root)
        if n.power == -1.0:
            return b.div(b.const(1.0), base.value)
        return b.call(np.power, base.value, exp.value)

    # -- derivatives (reverse mode) -------------------------------------------
    def _differentiate(self, root: _Node) -> list[Ref | None]:
        """d root / d parameter, for every parameter (None where zero by structure).

        Reverse mode: adjoints flow from the root down, so a factor shared by all
        parameters' derivatives (the path from the root to where they part) is
        multiplied in once.
        """
        self._adjoint: dict[int, Ref] = {id(root): self._b.const(1.0)}
        grads: list[Ref | None] = [None] * len(self.parameters)
        for n in reversed(self.nodes):  # parents before children
            a = self._adjoint.pop(id(n), None)
            if a is None:
                continue
            if n.kind == "param":
                grads[n.index] = a
            else:
                self._backprop(n, a)
        return grads

    def _add_adjoint(self, n: _Node, a: Ref | None) -> None:
        if n.deps and a is not None:
            self._adjoint[id(n)] = self._b.add(self._adjoint.get(id(n)), a)

    def _backprop(self, n: _Node, a: Ref) -> None:
        """Pass n's adjoint on to its arguments, with the derivative rules sympy uses."""
        b = self._b
        acc = self._add_adjoint
        if n.kind == "add":
            for child in n.args:
                acc(child, a)
        elif n.kind == "mul":
            for i, f in enumerate(n.args):
                if f.deps:
                    acc(f, b.mul(a, self._cofactor(n, i)))
            for j, d in enumerate(n.den):
                if d.deps:
                    if ("over", j) not in n.cache:
                        n.cache["over", j] = b.div(n.value, d.value)  # d(x/d)/dd = -(x/d)/d
                    acc(d, b.neg(b.mul(a, n.cache["over", j])))
        elif n.kind == "pow":
            base, exp = n.args
            if exp.deps:  # d(b^e)/de = b^e*log(b)
                acc(exp, b.mul(b.mul(a, n.value), self._log(base)))
            if base.deps:
                if not exp.deps and n.power is not None and base.kind not in _CANCELLING:
                    acc(base, b.mul(a, self._power_slope(n)))  # sympy merges b^e/b into b^(e-1) for a number e
                else:  # b^e * e * db/b, with db/b cancelled factor by factor
                    self._backprop_log(base, b.mul(b.mul(a, n.value), exp.value))
        elif n.kind == "exp":
            acc(n.args[0], b.mul(a, n.value))
        elif n.kind == "log":
            self._backprop_log(n.args[0], a)
        elif n.kind == "tanh":
            if "slope" not in n.cache:
                n.cache["slope"] = b.add(b.const(1.0), b.neg(b.mul(n.value, n.value)))
            acc(n.args[0], b.mul(a, n.cache["slope"]))
        elif n.kind == "abs":
            acc(n.args[0], b.mul(a, b.call(np.sign, n.args[0].value)))
        elif n.kind in ("min", "max"):
            for i, arg in enumerate(n.args):
                if arg.deps:
                    acc(arg, b.mul(a, self._select(n, i)))
        else:
            raise AssertionError(n.kind)

    def _backprop_log(self, u: _Node, a: Ref) -> None:
        """Pass on the adjoint ``a`` of log(u), i.e. a * du/u, as sympy simplifies du/u.

        sympy writes 1/(x*y) as x^-1*y^-1 and cancels it against the factors of
        d(x*y) = x*dy + y*dx where only one factor holds the parameter: so
        d log(x*y)/dy is 1/y (finite where x = 0), d log(g^k) is k*dg/g and
        d log(exp(w)) is dw.
        """
        b = self._b
        if not u.deps:
            return
        if u.kind == "param":
            self._add_adjoint(u, b.div(a, u.value))
        elif u.kind == "mul" and _one_factor_per_parameter(u):
            for f in u.args:
                self._backprop_log(f, a)
            for d in u.den:
                self._backprop_log(d, b.neg(a))
        elif u.kind == "pow":  # log(g^e) = e*log(g)
            base, exp = u.args
            if exp.deps:
                self._add_adjoint(exp, b.mul(a, self._log(base)))
            self._backprop_log(base, b.mul(a, exp.value))
        elif u.kind == "exp":
            self._add_adjoint(u.args[0], a)
        else:
            self._add_adjoint(u, b.div(a, u.value))

    def _cofactor(self, n: _Node, i: int) -> Ref:
        """coeff * (the other numerator factors) / (the denominator): the derivative of n by factor i."""
        if i not in n.cache:
            b = self._b
            value = b.product([f.value for k, f in enumerate(n.args) if k != i])
            if n.den:
                value = b.div(value, b.product([d.value for d in n.den]))
            n.cache[i] = value if n.coeff == 1.0 else b.mul(b.const(n.coeff), value)
        return n.cache[i]

    def _power_slope(self, n: _Node) -> Ref:
        """d(b^e)/db = e*b^(e-1) for a number e, as sympy writes it (2*b for a square, 1/(2 sqrt b) for a root)."""
        if "slope" not in n.cache:
            b = self._b
            base, exp = n.args
            e = n.power
            if e == 2.0:
                slope = b.mul(b.const(2.0), base.value)
            elif n.sqrt and e == 0.5:
                slope = b.div(b.const(0.5), n.value)
            elif e == -1.0:
                slope = b.neg(b.div(b.const(1.0), b.mul(base.value, base.value)))
            else:
                slope = b.mul(exp.value, b.call(np.power, base.value, b.const(e - 1.0)))
            n.cache["slope"] = slope
        return n.cache["slope"]

    def _log(self, n: _Node) -> Ref:
        return self._b.call(np.log, n.value)

    def _select(self, n: _Node, i: int) -> Ref:
        """sympy's d min(a_1..a_k)/d a_i = Heaviside(min(others) - a_i) (max: a_i - max(others))."""
        if ("select", i) not in n.cache:
            b = self._b
            f = np.minimum if n.kind == "min" else np.maximum
            others = reduce(lambda x, y: b.call(f, x, y), (a.value for k, a in enumerate(n.args) if k != i))
            me = n.args[i].value
            gap = b.add(others, b.neg(me)) if n.kind == "min" else b.add(me, b.neg(others))
            n.cache["select", i] = b.call(step, gap)
        return n.cache["select", i]

    # -- linear parameters ------------------------------------------------------
    def linear_parameters(self, excluded: set[int]) -> list[int]:
        """Greedy largest set of parameters (in order) in which every target is jointly affine.

        Affine in a set S: sums of affine terms; products with at most one factor that
        depends on S (and none dividing); no power or function of anything that does.
        """
        chosen = 0
        out = []
        for p in range(len(self.parameters)):
            if p in excluded:
                continue
            trial = chosen | (1 << p)
            memo: dict = {}
            if all(_degree(r, trial, memo) <= 1 for r in self.roots if r.deps >> p & 1):
                chosen = trial
                out.append(p)
        return out

    # -- evaluation -------------------------------------------------------------
    def program(self, wrt: tuple[int, ...] | None) -> list:
        """Value ops (wrt None) or value + derivative ops for parameters ``wrt``, with slots freed after last use."""
        if wrt not in self._programs:
            ops = list(self._b.values)
            keep = set(self.value_outputs)
            if wrt is not None:
                wanted = {s for row in self.jacobian_outputs for j in wrt if (s := row[j]) is not None}
                keep |= wanted
                needed = set(wanted)
                chosen = []
                for op in reversed(self._b.derivatives):
                    if op[1] in needed:
                        chosen.append(op)
                        needed.update(op[2])
                ops += reversed(chosen)
            self._programs[wrt] = _schedule(ops, keep | set(self.input_slots))
        return self._programs[wrt]

    def run(self, inputs: Sequence[np.ndarray], wrt: tuple[int, ...] | None):
        """Values per target and, with ``wrt``, per target the derivative by each parameter in ``wrt``."""
        s = list(self._template)
        for slot, x in zip(self.input_slots, inputs):
            s[slot] = x
        with np.errstate(all="ignore"):
            for f, out, a, b, free in self.program(wrt):
                s[out] = f(s[a]) if b < 0 else f(s[a], s[b])
                for slot in free:
                    s[slot] = None
        values = [s[o] for o in self.value_outputs]
        if wrt is None:
            return values, None
        jac = [[0.0 if row[j] is None else s[row[j]] for j in wrt] for row in self.jacobian_outputs]
        return values, jac


def _schedule(ops: list[Op], keep: set[Slot]) -> list:
    """Attach to each op the slots whose last use it is, so big intermediate arrays are freed early."""
    last: dict[Slot, int] = {}
    for i, (_, _, args) in enumerate(ops):
        for a in args:
            last[a] = i
    frees: list[list[Slot]] = [[] for _ in ops]
    for slot, i in last.items():
        if slot not in keep:
            frees[i].append(slot)
    # every op is unary or binary: (function, out, a, b or -1, slots to free)
    return [(f, out, args[0], args[1] if len(args) == 2 else -1, tuple(fr)) for (f, out, args), fr in zip(ops, frees)]


def _one_factor_per_parameter(n: _Node) -> bool:
    """No parameter occurs in two factors of the product n (else sympy cannot cancel, see _backprop_log)."""
    seen = 0
    for f in (*n.args, *n.den):
        if seen & f.deps:
            return False
        seen |= f.deps
    return True


_CANCELLING = ("mul", "pow", "exp")  # bases whose d(base)/base sympy simplifies


def _deps(nodes: Sequence[_Node]) -> int:
    return reduce(lambda a, n: a | n.deps, nodes, 0)


def _degree(n: _Node, S: int, memo: dict) -> int:
    """0: free of the parameters in S; 1: jointly affine in them; 2: anything else."""
    if not n.deps & S:
        return 0
    key = id(n)
    if key in memo:
        return memo[key]
    if n.kind == "param":
        d = 1
    elif n.kind == "add":
        d = max(_degree(a, S, memo) for a in n.args)
    elif n.kind == "mul":
        if any(x.deps & S for x in n.den):
            d = 2
        else:
            d = _product_degree([_degree(a, S, memo) for a in n.args])
    elif n.kind == "log":
        d = _log_degree(n.args[0], S, memo)
    elif n.kind == "pow" and n.power == 1.0:  # x**1.0 stays a power in sympy, but its derivative is 1.0
        d = _degree(n.args[0], S, memo)
    else:
        d = 2
    memo[key] = d
    return d


def _log_degree(u: _Node, S: int, memo: dict) -> int:
    """The degree of log(u): sympy's derivative of log(x^(a*y)) is y*log(x), so a enters linearly.

    sympy writes 1/x^(a+b) as x^(-a-b), which it does not cancel against x^(a+b): its derivative
    of log(x^(a+b)) by a keeps both powers, so there a is not linear (nor in log(exp(a+b))).
    """
    if not u.deps & S:
        return 0
    if u.kind == "exp" and u.args[0].kind != "add":
        return _degree(u.args[0], S, memo)
    if u.kind == "pow" and u.args[1].kind != "add":
        base, exp = u.args
        return _product_degree([_degree(exp, S, memo), _log_degree(base, S, memo)])
    if u.kind == "mul":  # log of a product: a sum of logs, as long as sympy can cancel (one factor per parameter)
        factors = [*u.args, *u.den]
        bits = S & u.deps
        while bits:
            bit = bits & -bits
            if sum(1 for f in factors if f.deps & bit) > 1:
                return 2
            bits ^= bit
        return max(_log_degree(f, S, memo) for f in factors)
    return 2


def _product_degree(degrees: Sequence[int]) -> int:
    return 2 if max(degrees) > 1 or sum(degrees) > 1 else sum(degrees)


_KIND = {
    sympy.exp: "exp",
    sympy.log: "log",
    sympy.tanh: "tanh",
    sympy.Abs: "abs",
    sympy.Min: "min",
    sympy.Max: "max",
}
_UNARY = {"exp": np.exp, "log": np.log, "tanh": np.tanh, "abs": np.abs}
