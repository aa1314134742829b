"""What each parameter of a law does, and the constructs a reader trips over.

A parameter's *role* is read off where it stands in the expression tree:

- ``offset``: a term of its own at the top (the irreducible ``E`` of a loss);
- ``coefficient``: a factor of a term that holds features (``A`` in ``A*N^-alpha``);
- ``exponent``: inside the exponent of a power (``alpha``);
- ``rate``: inside ``exp(...)`` beside a feature (``k`` in ``exp(-k*x)``; ``s`` in ``exp(-x/s)`` is a scale);
- ``scale``: a shift or a divisor of a feature (``N0`` in ``(N + N0)`` or ``(N/N0)``);
- ``other``: anything else.

A parameter with two roles (a coefficient that is also an exponent) is what
makes a found law unreadable; so are *odd constructs*: the log of a power with
a fitted exponent (``log(x^a)`` is ``a*log(x)``), and a parameter of the law
reused as a shift of a wide feature inside a log or a power
(``log(N + 2*C + B*E)``). Search pays for both (:func:`penalty`), the readable
form avoids the first, and the law card shows what is left.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Sequence

import sympy

ROLES = ("offset", "coefficient", "exponent", "rate", "scale", "other")


@dataclass(frozen=True)
class Use:
    """One occurrence of a parameter: its role and the features it acts on."""

    role: str
    features: tuple[str, ...] = ()


@dataclass
class Roles:
    """Every parameter's uses, in reading order."""

    uses: dict[str, list[Use]] = field(default_factory=dict)

    def kinds(self, name: str) -> list[str]:
        """The distinct roles of ``name``, first use first."""
        return list(dict.fromkeys(u.role for u in self.uses.get(name, [])))

    def role(self, name: str) -> str:
        """The role a reader sees first (the law card names the others)."""
        kinds = self.kinds(name)
        return kinds[0] if kinds else "other"

    def features(self, name: str) -> tuple[str, ...]:
        """The features ``name`` acts on, over all its uses."""
        return tuple(dict.fromkeys(f for u in self.uses.get(name, []) for f in u.features))

    @property
    def reused(self) -> list[str]:
        """Parameters with two or more roles."""
        return [p for p in self.uses if len(self.kinds(p)) > 1]


def parameter_roles(exprs: Sequence[sympy.Expr], features: Iterable[str]) -> Roles:
    """The role of every parameter occurrence in ``exprs`` (one expression per target)."""
    feats = set(features)
    roles = Roles()
    for expr in exprs:
        _walk(expr, [], feats, roles)
    return roles


def odd_constructs(exprs: Sequence[sympy.Expr], features: Iterable[str], wide: Iterable[str] = ()) -> list[str]:
    """Descriptions of the constructs a reader trips over (see the module docstring)."""
    feats, wide = set(features), set(wide)
    out: list[str] = []
    for expr in exprs:
        for node in sympy.preorder_traversal(expr):
            if isinstance(node, sympy.log):
                for inner in sympy.preorder_traversal(node.args[0]):
                    if isinstance(inner, sympy.Pow) and _has(inner.base, feats) and _params(inner.exp, feats):
                        out.append(f"log of a power with a fitted exponent: {sympy.sstr(node)}")
                        break
            inner_adds = []
            if isinstance(node, sympy.log):
                inner_adds = [node.args[0]]
            elif isinstance(node, sympy.Pow) and not node.exp.is_Integer:
                inner_adds = [node.base]
            for add in inner_adds:
                if isinstance(add, sympy.Add) and any(_has(a, wide) for a in add.args):
                    inside = _params(add, feats)
                    outside = _params(_blank(expr, add), feats)
                    if inside & outside:
                        out.append(f"a parameter of the law reused as a shift of a wide feature: {sympy.sstr(add)}")
    return list(dict.fromkeys(out))


def penalty(exprs: Sequence[sympy.Expr], features: Iterable[str], wide: Iterable[str] = ()) -> int:
    """How unreadable a law is: parameters in two roles plus odd constructs (0 for a publishable form)."""
    features = list(features)
    return len(parameter_roles(exprs, features).reused) + len(odd_constructs(exprs, features, wide))


# ---------------------------------------------------------------------------


def _has(expr: sympy.Expr, names: set[str]) -> bool:
    return any(s.name in names for s in expr.free_symbols)


def _params(expr: sympy.Expr, feats: set[str]) -> set[str]:
    return {s.name for s in expr.free_symbols if s.name not in feats}


_HOLE = sympy.Symbol("_hole")


def _blank(expr: sympy.Expr, sub: sympy.Expr) -> sympy.Expr:
    return expr.xreplace({sub: _HOLE})


def _walk(node: sympy.Basic, path: list[tuple[sympy.Basic, int]], feats: set[str], roles: Roles) -> None:
    if isinstance(node, sympy.Symbol):
        if node.name not in feats:
            roles.uses.setdefault(node.name, []).append(_role(node, path, feats))
        return
    for i, arg in enumerate(node.args):
        _walk(arg, path + [(node, i)], feats, roles)


def _feature_names(expr: sympy.Expr, feats: set[str]) -> tuple[str, ...]:
    return tuple(sorted(s.name for s in expr.free_symbols if s.name in feats))


def _role(leaf: sympy.Symbol, path: list[tuple[sympy.Basic, int]], feats: set[str]) -> Use:
    """The role of one occurrence, from its ancestors (``path``: (ancestor, index of the child taken))."""
    for node, i in path:
        if isinstance(node, sympy.Pow) and i == 1:
            return Use("exponent", _feature_names(node.base, feats))
    for k, (node, _) in enumerate(path):
        if isinstance(node, sympy.exp) and _has(node.args[0], feats):
            divides = any(isinstance(a, sympy.Pow) and a.exp == -1 for a, _ in path[k + 1:])
            return Use("scale" if divides else "rate", _feature_names(node.args[0], feats))
    # climb through what only decorates the parameter: signs, inverses, parameter-only groups
    inverted = False
    k = len(path) - 1
    child: sympy.Basic = leaf
    while k >= 0:
        node, _ = path[k]
        siblings_with_features = [a for a in node.args if a is not child and _has(a, feats)]
        if isinstance(node, sympy.Pow) and node.exp == -1:
            inverted = True
        elif isinstance(node, sympy.Add):
            if k == 0:
                return Use("offset")
            if siblings_with_features:
                return Use("scale", _feature_names(node, feats))
        elif isinstance(node, sympy.Mul) and siblings_with_features:
            fs = _feature_names(node, feats)
            top = k == 0 or (k == 1 and isinstance(path[0][0], sympy.Add))
            if inverted and not top:
                return Use("scale", fs)
            return Use("coefficient", fs)
        elif isinstance(node, sympy.Function) and _has(node, feats):
            return Use("scale", _feature_names(node, feats))
        child = node
        k -= 1
    return Use("other")


def split_roles(expr: sympy.Expr, features: Iterable[str], name: str, fresh: sympy.Symbol) -> sympy.Expr:
    """``expr`` with the occurrences of parameter ``name`` outside its first role renamed ``fresh``:
    the two-parameter form of a parameter that plays two roles."""
    feats = set(features)
    first: list[str] = []

    def rebuild(node: sympy.Basic, path: list[tuple[sympy.Basic, int]]) -> sympy.Basic:
        if isinstance(node, sympy.Symbol):
            if node.name != name:
                return node
            role = _role(node, path, feats).role
            if not first:
                first.append(role)
            return node if role == first[0] else fresh
        if not node.args:
            return node
        return node.func(*[rebuild(a, path + [(node, i)]) for i, a in enumerate(node.args)])

    return rebuild(expr, [])
