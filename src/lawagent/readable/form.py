"""The readable form of a fitted law: what every law shown or exported is printed as.

:func:`readable_form` simplifies, writes exponentials of logs as powers, folds redundant parameters, writes large
features as ``(N/1e9)``, and names parameters by role
(:mod:`~lawagent.readable.rewrite`, :mod:`~lawagent.readable.names`). Each
step is an exact reparametrisation, and each is *checked*: the readable law,
parsed back from its text by the whitelist parser, must predict every training
row as the raw law does (within 1e-9 relative); a step that fails the check is
dropped, so the worst case is the raw law with its parameters renamed.
Training rows only: the check never reads a test row.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np
import sympy

from lawagent.errors import LawagentError
from lawagent.fit.fitter import GroupIndex, predict
from lawagent.jsonio import json_safe
from lawagent.law.law import LOG_TARGET, Law, TextPrinter
from lawagent.readable.names import role_names
from lawagent.readable.roles import odd_constructs, parameter_roles
from lawagent.readable.rewrite import Rewrite, fold, normalise, powers, simplify

CHECK_RTOL = 1e-9
MIN_DECADES = 3  # features whose typical size is 1e3 or more (or 1e-3 or less) are written (x/1e9)


@dataclass
class Readable:
    """A law in readable form, beside the raw one it came from (stored in final.json as ``readable``)."""

    formulas: list[str]  # law-language text; scaled features appear as (x/1e9)
    params: dict[str, dict[str, float]]  # group -> readable parameter -> value
    roles: dict[str, dict[str, Any]]  # parameter -> {"role", "roles", "features", "from"}
    scales: dict[str, int] = field(default_factory=dict)  # feature -> k of its (feature/1e{k})
    notes: list[str] = field(default_factory=list)  # what could not be made readable (odd constructs)
    stderr: dict[str, dict[str, float]] = field(default_factory=dict)  # group -> parameter -> standard error

    @property
    def formula(self) -> str:
        return "; ".join(self.formulas)

    @property
    def parameters(self) -> list[str]:
        return list(self.roles)

    @property
    def reused(self) -> list[str]:
        """Parameters that still play two roles."""
        return [p for p, r in self.roles.items() if len(r.get("roles") or []) > 1]

    def law(self, features: Sequence[str], targets: Sequence[str] | None = None) -> Law:
        return Law.parse(self.formulas, features, targets=targets if targets and len(targets) > 1 else None)

    def to_dict(self) -> dict[str, Any]:
        return json_safe(asdict(self))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Readable":
        keys = cls.__dataclass_fields__
        return cls(**{k: v for k, v in data.items() if k in keys})


def readable_form(law: Law, params: Mapping[str, Mapping[str, float]], X: Mapping[str, np.ndarray],
                  groups: np.ndarray, targets: Sequence[str] | None = None) -> Readable:
    """The readable form of ``law`` with its fitted ``params`` (per group), checked on the rows ``X``, ``groups``
    (training rows)."""
    groups = GroupIndex.of(groups)  # once: every step's check predicts on these rows
    features = list(law.features)
    raw = predict(law, params, X, groups)
    check = _Checker(law, params, X, groups, raw, targets)
    positive = {f for f in features if f in X and np.all(np.asarray(X[f], float) > 0)}
    rw = Rewrite.start(law.expressions, features)  # a law fitted to log y: its right-hand side, as fitted
    for step in (lambda r: simplify(r, positive), powers, fold):
        rw = check.keep(rw, step(rw))
    for f in law.used_features:
        k = _decades(np.asarray(X[f], float)) if f in positive else 0
        if abs(k) >= MIN_DECADES:
            scaled = normalise(rw, f, k)
            if scaled is not None:
                rw = check.keep(rw, scaled)
    readable = _named(rw, law, params, targets)
    if not check.passes(readable):
        readable = _named(Rewrite.start(law.expressions, features), law, params, targets)
        if not check.passes(readable):  # renaming alone cannot change a prediction: a bug if it does
            raise LawagentError(f"readable form of {law.text()!r} does not reproduce the law")
    return readable


def _decades(x: np.ndarray) -> int:
    """The power of ten nearest the feature's typical (median) size."""
    x = x[np.isfinite(x) & (x > 0)]
    return int(round(math.log10(float(np.median(x))))) if len(x) else 0


class _Checker:
    """Accepts a rewrite only if it predicts the training rows as the raw law does."""

    def __init__(self, law: Law, params, X, groups, raw: np.ndarray, targets):
        self.law, self.params, self.X, self.groups, self.raw, self.targets = law, params, X, groups, raw, targets

    def keep(self, old: Rewrite, new: Rewrite) -> Rewrite:
        try:
            ok = self.passes(_named(new, self.law, self.params, self.targets))
        except (LawagentError, TypeError, ValueError, ZeroDivisionError, OverflowError):
            ok = False
        return new if ok else old

    def passes(self, readable: Readable) -> bool:
        try:
            law = readable.law(self.law.features, self.targets)
        except LawagentError:
            return False
        if set(law.parameters) != set(readable.roles):
            return False
        got = predict(law, readable.params, self.X, self.groups)
        return same_predictions(got, self.raw)


def same_predictions(got: np.ndarray, want: np.ndarray, rtol: float = CHECK_RTOL) -> bool:
    """Equal within ``rtol`` relative (NaN where the other is NaN)."""
    if got.shape != want.shape or not np.array_equal(np.isfinite(got), np.isfinite(want)):
        return False
    m = np.isfinite(want)
    scale = np.maximum(np.abs(want[m]), 1e-12 * (np.abs(want[m]).max() if m.any() else 1.0))
    return bool(np.all(np.abs(got[m] - want[m]) <= rtol * scale))


def _named(rw: Rewrite, law: Law, params: Mapping[str, Mapping[str, float]], targets) -> Readable:
    """Name the rewrite's parameters by role and print it; values computed from the original ones."""
    hats = {h: f for h, (f, _) in rw.scaled.items()}
    shown = tuple(e.xreplace({h: sympy.Symbol(f) for h, f in hats.items()}) for e in rw.exprs)
    order = list(dict.fromkeys(s.name for e in rw.exprs for s in sympy.preorder_traversal(e)
                               if rw.is_parameter(s)))
    roles = parameter_roles(shown, law.features)
    names = role_names(roles, order, law.features)
    rename = {sympy.Symbol(old): sympy.Symbol(new) for old, new in names.items()}
    exprs = tuple(e.xreplace(rename) for e in rw.exprs)
    printer = _Printer(rw.scaled)
    formulas = [LOG_TARGET + printer.doprint(e) if t in law.log_fitted else printer.doprint(e)
                for t, e in enumerate(exprs)]
    originals = [sympy.Symbol(p) for p in law.parameters]
    value_fns = {names[p.name]: sympy.lambdify(originals, formula, modules="math")
                 for p, formula in rw.values.items()}
    values = {}
    for g, ps in params.items():
        vec = [float(ps.get(p, math.nan)) if ps.get(p) is not None else math.nan for p in law.parameters]
        values[g] = {n: _call(fn, vec) for n, fn in value_fns.items()}
    table = {}
    for old, new in names.items():
        formula = rw.values[sympy.Symbol(old)]
        table[new] = {"role": roles.role(old), "roles": roles.kinds(old), "features": list(roles.features(old)),
                      "from": sympy.sstr(formula)}
    table = {n: table[n] for n in names.values()}
    notes = odd_constructs(shown, law.features, [f for f, _ in rw.scaled.values()])
    return Readable(formulas, values, table, {f: k for f, k in rw.scaled.values()}, notes)


def _call(fn, vec: list[float]) -> float:
    try:
        v = float(fn(*vec))
    except (ValueError, ZeroDivisionError, OverflowError, TypeError):
        return math.nan
    return v


class _Printer(TextPrinter):
    """Law-language text (:class:`lawagent.law.law.TextPrinter`), with scaled features as (x/1e9)."""

    def __init__(self, scaled: Mapping[sympy.Symbol, tuple[str, int]]):
        super().__init__({"order": "none"})
        self.scaled = dict(scaled)

    def _print_Symbol(self, expr: sympy.Symbol) -> str:
        if expr in self.scaled:
            feature, k = self.scaled[expr]
            return f"({feature}/1e{k})"
        return expr.name

    def doprint(self, expr) -> str:
        text = super().doprint(expr).replace("Min(", "min(").replace("Max(", "max(").replace("Abs(", "abs(")
        for feature, k in self.scaled.values():
            text = text.replace(f"(({feature}/1e{k}))", f"({feature}/1e{k})")
        return text
