"""Canonical form of a law, so that equivalent rewritings count as one candidate.

Called for every proposal, so it must be cheap (no ``simplify``). Three steps:

1. light normalisation: floats that are small-denominator rationals become
   exact (``x^0.5`` is ``sqrt(x)``), and a numeric factor or offset on a
   parameter that appears only once and has no bounds is absorbed into it
   (``2*A`` is ``A``, ``N^(-a)`` is ``N^a``, ``E + 1`` is ``E``);
2. parameters are renamed ``_c0, _c1, ...`` in an order that does not depend on
   their names: each parameter gets a structural signature (the law printed
   with that parameter marked and all others blanked), ties broken by
   iterating first-appearance renaming to a fixed point;
3. the renamed expressions printed with the terms of every sum and product
   sorted (so the text follows structure, not sympy's name-dependent argument
   order, and no new expression is built), plus the renamed bounds.

So ``A/N^a + E``, ``E + B*N^(-b)`` and ``C + D/N**g`` share one key.

Every proposal goes through here, so it runs under the same wall-clock guard as
the parser (:func:`lawagent.law.guard.bounded`): a law whose canonical form
takes too long raises :class:`~lawagent.errors.FormulaError` instead of holding
up the search (the loop then keys it by its text).
"""

from __future__ import annotations

import hashlib

import sympy

from lawagent.law.guard import PARSE_SECONDS, bounded
from lawagent.law.law import Law, exact_numbers

CANONICAL_SECONDS = PARSE_SECONDS  # a real law's key takes milliseconds

def canonical_key(law: Law) -> str:
    """A string equal for equivalent rewritings and renamings of ``law`` (FormulaError if it takes too long)."""
    return bounded(CANONICAL_SECONDS, "finding the canonical form of a law", lambda: _canonical_key(law))


def _canonical_key(law: Law) -> str:
    features = set(law.features)
    exprs = tuple(_normalise(e, law, features) for e in law.expressions)
    params = _params(exprs, features)
    order = _order(exprs, params)
    names = {p: f"_c{i}" for i, p in enumerate(order)}
    text = " ; ".join(("log: " if t in law.log_fitted else "") + _shape(e, names) for t, e in enumerate(exprs))
    bounds = sorted((names[k], lo, hi) for k, (lo, hi) in law.bounds.items() if k in names)
    if bounds:
        text += " | bounds " + repr(bounds)
    return text


def key_digest(key: str) -> str:
    """A short fixed-length form of a canonical key, for storage."""
    return hashlib.sha1(key.encode()).hexdigest()[:20]


def _shape(expr: sympy.Basic, names: dict[str, str]) -> str:
    """The tree as text with parameters printed by ``names`` and the terms of sums and products sorted.

    Sorting makes the text independent of the order sympy keeps arguments in (which
    follows symbol names), so it depends on structure only, and no new sympy
    expression has to be built (building one makes sympy re-derive assumptions).
    """
    if isinstance(expr, sympy.Symbol):
        return names.get(expr.name, expr.name)
    if not expr.args:
        return sympy.srepr(expr)
    args = [_shape(a, names) for a in expr.args]
    if isinstance(expr, (sympy.Add, sympy.Mul)):
        args.sort()
    return f"{type(expr).__name__}({', '.join(args)})"


def _params(exprs: tuple[sympy.Expr, ...], features: set[str]) -> list[str]:
    seen: dict[str, None] = {}
    for e in exprs:
        for node in sympy.preorder_traversal(e):
            if isinstance(node, sympy.Symbol) and node.name not in features:
                seen.setdefault(node.name, None)
    return list(seen)


def _order(exprs: tuple[sympy.Expr, ...], params: list[str]) -> list[str]:
    """Parameters in an order that depends on structure only, not on names."""
    if len(params) <= 1:
        return params
    signature = {}
    for p in params:
        marks = {q: "_p" for q in params} | {p: "_x"}
        signature[p] = " ; ".join(_shape(e, marks) for e in exprs)
    order = sorted(params, key=lambda p: signature[p])
    if len(set(signature.values())) == len(params):
        return order
    # Ties (parameters in symmetric-looking positions): rename by rank, then
    # iterate first appearance in the canonical text until it stops changing.
    seen_states: list[tuple[str, ...]] = []
    current = tuple(order)
    for _ in range(6):
        marks = {p: f"_t{i:03d}" for i, p in enumerate(current)}
        text = " ; ".join(_shape(e, marks) for e in exprs)
        pos = {p: text.find(marks[p]) for p in params}
        # stable: keep signature ranking, break ties by appearance
        nxt = tuple(sorted(params, key=lambda p: (signature[p], pos[p])))
        if nxt == current or nxt in seen_states:
            current = min([nxt, current])
            break
        seen_states.append(current)
        current = nxt
    return list(current)


def _normalise(expr: sympy.Expr, law: Law, features: set[str]) -> sympy.Expr:
    expr = exact_numbers(expr)
    counts: dict[str, int] = {}
    for node in sympy.preorder_traversal(expr):
        if isinstance(node, sympy.Symbol) and node.name not in features:
            counts[node.name] = counts.get(node.name, 0) + 1
    # appearance counts across all targets
    for other in law.expressions:
        if other is not expr:
            for node in sympy.preorder_traversal(other):
                if isinstance(node, sympy.Symbol) and node.name in counts:
                    counts[node.name] += 1
    free = {n for n, c in counts.items() if c == 1 and n not in law.bounds}
    if not free:
        return expr

    def absorb(node: sympy.Expr) -> sympy.Expr:
        if isinstance(node, (sympy.Mul, sympy.Add)):
            if any(isinstance(a, sympy.Symbol) and a.name in free for a in node.args):
                kept = [a for a in node.args if not a.is_Number]
                if len(kept) < len(node.args):
                    return node.func(*kept)
        return node

    try:
        return expr.replace(lambda n: isinstance(n, (sympy.Mul, sympy.Add)), absorb)
    except (TypeError, ValueError, RecursionError):
        return expr
