"""GBNF grammars (llama.cpp's constrained decoding) generated from the law language.

A grammar keeps a small model inside the law language's alphabet: the task's
feature names, a fixed set of parameter names, numbers, operators and the
whitelisted functions of :data:`lawagent.law.parse.FUNCTIONS`. It does not
make an answer *correct* (it can still exceed the parameter budget), so every
answer still goes through ``Law.parse``.

Given ``max_chars``, the grammar is *bounded*: no sentence it accepts is longer
than ``max_chars`` characters. A token is at least one character, so with
``max_chars = max_tokens`` a reply always completes before the token limit
(a 135M model cut off at 64 tokens mid-formula otherwise parsed nothing).
The bounded grammar trades open recursion for a fixed shape: a few terms of
an optional coefficient times a few factors, each a feature, ``(feature ± c)``
or ``fn(±c*feature)``, optionally raised to a constant; :func:`bounded_shape`
picks the richest shape whose longest sentence fits.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterator, Sequence

from lawagent.law.parse import FUNCTIONS

# Names a law may use for parameters under the grammar (features win on a clash).
PARAMETER_NAMES = ("A", "B", "C", "E", "F", "G", "K", "a", "b", "c", "k", "alpha", "beta", "gamma", "delta")

ONE_ARG = tuple(name for name, f in FUNCTIONS.items() if f.min_args == 1 and f.max_args == 1)
TWO_ARG = tuple(name for name, f in FUNCTIONS.items() if f.min_args <= 2 <= f.max_args)


def _literal(text: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9_ .;#*/^()+,-]*", text):
        raise ValueError(f"cannot put {text!r} in a grammar literal")
    return '"' + text + '"'


def parameter_names(features: Sequence[str]) -> tuple[str, ...]:
    return tuple(p for p in PARAMETER_NAMES if p not in set(features))


def law_grammar(features: Sequence[str], n_targets: int = 1, max_lines: int = 1, rationale: bool = True,
                max_chars: int | None = None) -> str:
    """A GBNF grammar for 1..max_lines laws, one per line, each ``f1; f2 ...  # why``.

    With ``max_chars``, the bounded grammar of :func:`bounded_shape` (see the module docstring).
    """
    if not features:
        raise ValueError("a grammar needs at least one feature")
    if max_chars is not None:
        return bounded_shape(features, n_targets, max_lines, max_chars, rationale).grammar()
    feats = sorted(features, key=len, reverse=True)  # longest first: no prefix shadows a longer name
    # Each formula must use a feature (a law without one is always rejected): the *F rules are
    # the same as their plain twins but derive at least one feature somewhere inside.
    law = "exprF" + ' "; " exprF' * (n_targets - 1)
    more = f' ("\\n" line){{0,{max_lines - 1}}}' if max_lines > 1 else ""
    fn1 = "(" + " | ".join(_literal(f) for f in ONE_ARG) + ")"
    fn2 = "(" + " | ".join(_literal(f) for f in TWO_ARG) + ")"
    lines = [
        f"root ::= line{more}",
        "line ::= law" + (" why?" if rationale else ""),
        f"law ::= {law}",
        'why ::= "  # " [a-zA-Z0-9 ,.()=+*/^-]{1,60}',
        'expr ::= term (ws [-+] ws term)*',
        'exprF ::= (term ws [-+] ws)* termF (ws [-+] ws term)*',
        'term ::= factor (ws [*/] ws factor)*',
        'termF ::= (factor ws [*/] ws)* factorF (ws [*/] ws factor)*',
        'pow ::= ws ("^" | "**") ws',
        'factor ::= unary (pow unary)?',
        'factorF ::= unaryF (pow unary)? | unary pow unaryF',
        'unary ::= "-"? atom',
        'unaryF ::= "-"? atomF',
        'atom ::= number | feature | param | fn1 "(" expr ")" | fn2 "(" expr ", " expr ")" | "(" expr ")"',
        'atomF ::= feature | fn1 "(" exprF ")" | fn2 "(" exprF ", " expr ")" | fn2 "(" expr ", " exprF ")" | "(" exprF ")"',
        f"fn1 ::= {fn1}",
        f"fn2 ::= {fn2}",
        "feature ::= " + " | ".join(_literal(f) for f in feats),
        "param ::= " + " | ".join(_literal(p) for p in parameter_names(features)),
        'number ::= [0-9]{1,6} ("." [0-9]{1,6})?',
        'ws ::= " "?',
    ]
    return "\n".join(lines) + "\n"


# -- bounded grammars -------------------------------------------------------

SHORT_PARAMETER_NAMES = tuple(p for p in PARAMETER_NAMES if len(p) == 1)
_ADD = '" " [-+] " "'  # 3 characters between terms
_MUL = "[*/]"
_MAX_WHY = 60


@dataclass(frozen=True)
class Shape:
    """A bounded law shape and the longest text it admits."""

    features: tuple[str, ...]
    n_targets: int
    max_lines: int
    terms: int  # terms per formula
    factors: int  # feature factors per term
    functions: bool  # may a factor be fn(±c*feature)?
    digits: int  # digits before and after the decimal point of a number
    parameters: tuple[str, ...]
    why: int  # characters of rationale after '  # ' (0: none)
    max_chars: int  # the budget it was chosen for

    @property
    def coef(self) -> int:
        return max(max(map(len, self.parameters)), 2 * self.digits + 1)

    @property
    def factor(self) -> int:
        feature = max(map(len, self.features))
        arg = 1 + self.coef + 1 + feature  # -c*feature
        base = max(feature, feature + self.coef + 5)  # (feature + c)
        if self.functions:
            base = max(base, max(map(len, ONE_ARG)) + 2 + arg)
        return base + 1 + self.coef + 3  # ^(-c)

    @property
    def formula(self) -> int:
        term = 1 + self.coef + 1 + self.factors * self.factor + (self.factors - 1)
        return self.terms * term + 3 * (self.terms - 1)

    @property
    def line(self) -> int:
        return self.n_targets * self.formula + 2 * (self.n_targets - 1) + (4 + self.why if self.why else 0)

    @property
    def length(self) -> int:
        """The longest sentence of the grammar, in characters."""
        return self.max_lines * self.line + (self.max_lines - 1)

    @property
    def fits(self) -> bool:
        return self.length <= self.max_chars

    def grammar(self) -> str:
        feats = sorted(self.features, key=len, reverse=True)
        t, f = self.terms, self.factors
        law = "exprF" + ' "; " exprF' * (self.n_targets - 1)
        more = f' ("\\n" line){{0,{self.max_lines - 1}}}' if self.max_lines > 1 else ""
        exprf = " | ".join(_repeat(f"term {_ADD}", i, i) + "termF" + _repeat(f"{_ADD} term", 0, t - 1 - i, lead=" ")
                           for i in range(t))
        base = ['feature', f'"(" feature {_ADD} coef ")"']
        if self.functions:
            base.append('fn1 "(" "-"? (coef ' + _MUL + ')? feature ")"')
        lines = [
            f"root ::= line{more}",
            "line ::= law" + (" why?" if self.why else ""),
            f"law ::= {law}",
            f"exprF ::= {exprf}",
            'term ::= termF | "-"? coef',
            f'termF ::= "-"? (coef {_MUL})? factor' + _repeat(f"{_MUL} factor", 0, f - 1, lead=" "),
            'factor ::= base ("^" expo)?',
            "base ::= " + " | ".join(base),
            'expo ::= "-"? coef | "(-" coef ")"',
            "coef ::= param | number",
            f'number ::= [0-9]{{1,{self.digits}}} ("." [0-9]{{1,{self.digits}}})?',
            "feature ::= " + " | ".join(_literal(x) for x in feats),
            "param ::= " + " | ".join(_literal(p) for p in self.parameters),
        ]
        if self.functions:
            lines.append("fn1 ::= (" + " | ".join(_literal(x) for x in ONE_ARG) + ")")
        if self.why:
            lines.append(f'why ::= "  # " [a-zA-Z0-9 ,.()=+*/^-]{{1,{self.why}}}')
        return "\n".join(lines) + "\n"


def _repeat(item: str, low: int, high: int, lead: str = "") -> str:
    """``(item){low,high}`` in GBNF, or nothing when high is 0."""
    if high <= 0:
        return ""
    count = f"{{{low}}}" if low == high else f"{{{low},{high}}}"
    return f"{lead}({item}){count}" + ("" if lead else " ")


def _shapes(features: Sequence[str], n_targets: int, max_lines: int, max_chars: int) -> Iterator[Shape]:
    """Candidate shapes, richest first."""
    for terms, factors, functions in ((3, 2, True), (2, 2, True), (3, 1, True), (2, 2, False), (2, 1, True),
                                      (3, 1, False), (2, 1, False), (1, 2, False), (1, 1, False)):
        for names in (parameter_names(features), tuple(p for p in SHORT_PARAMETER_NAMES if p not in set(features))):
            for digits in (3, 2, 1):
                yield Shape(tuple(features), n_targets, max_lines, terms, factors, functions, digits, names, 0, max_chars)


def bounded_shape(features: Sequence[str], n_targets: int = 1, max_lines: int = 1, max_chars: int = 128,
                  rationale: bool = True) -> Shape:
    """The richest shape whose longest sentence fits ``max_chars`` (a rationale only if room is left over).

    If none fits (very long feature names, a tiny budget), the smallest shape, with ``fits`` False:
    the caller should say that the budget is too small.
    """
    chosen = None
    for shape in _shapes(features, n_targets, max_lines, max_chars):
        chosen = shape
        if shape.fits:
            break
    assert chosen is not None
    room = (max_chars - (max_lines - 1)) // max_lines - chosen.line - 4
    if rationale and room >= 8:
        chosen = Shape(**{**chosen.__dict__, "why": min(_MAX_WHY, room)})
    return chosen
