"""A whitelist parser for the law language.

Formula text comes from people and from LLMs, so it is never handed to
``eval``, ``exec`` or ``sympify``. A small tokenizer and a recursive-descent
parser accept exactly: numbers, names, ``+ - * / ** ^``, parentheses, commas
and calls of the functions in :data:`FUNCTIONS`. Every name that is not a
function is a plain :class:`sympy.Symbol`, so ``E``, ``N``, ``S``, ``I``,
``beta`` or ``lambda`` are ordinary names here, never sympy builtins.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Callable

import sympy

from lawagent.errors import FormulaError
from lawagent.law.guard import PARSE_SECONDS, bounded

MAX_TEXT_LENGTH = 4000
MAX_TOKENS = 1200
MAX_DEPTH = 60
MAX_NAME_LENGTH = 64
MAX_NUMBER_MAGNITUDE = 1e300
MIN_NUMBER_MAGNITUDE = 1e-300  # nonzero constants smaller than this are refused, not rounded to 0
# Exact integers and rationals stay exact while numerator and denominator fit in
# a float's mantissa; larger ones become floats. So every exact number sympy
# computes with is small, and no exact result can grow without bound.
MAX_EXACT = 2**53
# An exact number is raised exactly only to an exponent p/q with |p|, q <= this;
# for larger exponents the base's numbers become floats first (mpmath computes
# those in bounded time), as 3**(10**15) would otherwise be computed digit by digit.
MAX_EXACT_EXPONENT = 16


def _sigmoid(x: sympy.Expr) -> sympy.Expr:
    return 1 / (1 + _exp(-x))


def _softplus(x: sympy.Expr) -> sympy.Expr:
    return sympy.log(1 + _exp(x))


def _abs(x: sympy.Expr) -> sympy.Expr:
    """|x| for real x: sympy, not knowing the symbols are real, would write abs(2^x) as 2^re(x),
    which the law language cannot read back."""
    return sympy.Abs(x).replace(sympy.re, lambda a: a).replace(sympy.im, lambda a: sympy.Integer(0))


@dataclass(frozen=True)
class Function:
    build: Callable[..., sympy.Expr]
    min_args: int
    max_args: int
    doc: str


FUNCTIONS: dict[str, Function] = {
    "exp": Function(lambda x: _exp(x), 1, 1, "e to the power x"),
    "log": Function(sympy.log, 1, 1, "natural logarithm"),
    "ln": Function(sympy.log, 1, 1, "natural logarithm (alias of log)"),
    "log10": Function(lambda x: sympy.log(x) / sympy.log(10), 1, 1, "base-10 logarithm"),
    "log2": Function(lambda x: sympy.log(x) / sympy.log(2), 1, 1, "base-2 logarithm"),
    "sqrt": Function(sympy.sqrt, 1, 1, "square root"),
    "abs": Function(_abs, 1, 1, "absolute value"),
    "tanh": Function(sympy.tanh, 1, 1, "hyperbolic tangent"),
    "sigmoid": Function(_sigmoid, 1, 1, "1/(1+exp(-x))"),
    "softplus": Function(_softplus, 1, 1, "log(1+exp(x))"),
    "min": Function(sympy.Min, 2, 8, "smallest argument"),
    "max": Function(sympy.Max, 2, 8, "largest argument"),
    "pow": Function(lambda a, b: _safe_pow(a, b), 2, 2, "a to the power b"),
}

# Unicode that LLMs and papers like to emit, mapped to the ASCII operators.
_TRANSLATE = str.maketrans({"\u2212": "-", "\u00b7": "*", "\u00d7": "*", "\u22c5": "*", "\u2013": "-"})

_TOKEN = re.compile(
    r"(?P<ws>\s+)"
    r"|(?P<number>(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)"  # ASCII digits only: '３' is not 3
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<op>\*\*|[-+*/^(),])"
)


@dataclass(frozen=True)
class Token:
    kind: str  # "number", "name", "op", "end"
    text: str
    pos: int


def tokenize(text: str) -> list[Token]:
    if len(text) > MAX_TEXT_LENGTH:
        raise FormulaError(f"formula is {len(text)} characters long; the limit is {MAX_TEXT_LENGTH}")
    text = text.translate(_TRANSLATE)
    tokens: list[Token] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            what = "non-ASCII digit" if text[pos].isdigit() else "unexpected character"
            hint = "; write digits as 0-9" if text[pos].isdigit() else ""
            raise FormulaError(f"{what} {text[pos]!r} at position {pos} in {_clip(text)!r}{hint}")
        kind = match.lastgroup or ""
        if kind != "ws":
            tokens.append(Token(kind, match.group(), pos))
            if len(tokens) > MAX_TOKENS:
                raise FormulaError(f"formula has more than {MAX_TOKENS} tokens; write a shorter law")
        pos = match.end()
    tokens.append(Token("end", "", len(text)))
    return tokens


def _clip(text: str, n: int = 60) -> str:
    return text if len(text) <= n else text[: n - 3] + "..."


class _Parser:
    """expr := term (('+'|'-') term)* ; term := unary (('*'|'/') unary)* ;
    unary := ('+'|'-') unary | power ; power := atom (('**'|'^') unary)? ;
    atom := number | name | name '(' expr (',' expr)* ')' | '(' expr ')'"""

    def __init__(self, text: str, symbol: Callable[[str], sympy.Symbol]):
        self.text = text
        self.tokens = tokenize(text)
        self.i = 0
        self.depth = 0
        self.symbol = symbol
        self.bound = _Bounder()

    def peek(self) -> Token:
        return self.tokens[self.i]

    def take(self) -> Token:
        token = self.tokens[self.i]
        self.i += 1
        return token

    def expect(self, op: str) -> None:
        token = self.take()
        if token.text != op:
            found = "the end of the formula" if token.kind == "end" else repr(token.text)
            raise FormulaError(f"expected {op!r} at position {token.pos} but found {found} in {_clip(self.text)!r}")

    def parse(self) -> sympy.Expr:
        if self.peek().kind == "end":
            raise FormulaError("formula is empty")
        expr = self.expr()
        token = self.peek()
        if token.kind != "end":
            raise FormulaError(f"unexpected {token.text!r} at position {token.pos} in {_clip(self.text)!r}")
        return expr

    def nested(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise FormulaError(f"formula is nested more than {MAX_DEPTH} levels deep")

    def expr(self) -> sympy.Expr:
        self.nested()
        terms = [self.term()]
        while self.peek().text in ("+", "-"):
            op = self.take().text
            right = self.term()
            terms.append(right if op == "+" else -right)
        self.depth -= 1
        return self.bound(sympy.Add(*terms))

    def term(self) -> sympy.Expr:
        left = self.unary()
        while self.peek().text in ("*", "/"):
            op = self.take().text
            right = self.unary()
            if op == "*":
                left = self.bound(left * right)
            else:
                if right.is_zero:
                    raise FormulaError(f"division by zero in {_clip(self.text)!r}")
                left = self.bound(left / right)
        return left

    def unary(self) -> sympy.Expr:
        token = self.peek()
        if token.text in ("+", "-"):
            self.take()
            self.nested()
            operand = self.unary()
            self.depth -= 1
            return operand if token.text == "+" else self.bound(-operand)
        return self.power()

    def power(self) -> sympy.Expr:
        base = self.atom()
        if self.peek().text in ("**", "^"):
            self.take()
            self.nested()
            exponent = self.unary()
            self.depth -= 1
            return self.bound(_safe_pow(base, exponent))
        return base

    def atom(self) -> sympy.Expr:
        token = self.take()
        if token.kind == "number":
            return self.bound(_number(token.text))
        if token.kind == "name":
            if self.peek().text == "(" and token.text in FUNCTIONS:
                return self.call(token)
            if self.peek().text == "(":
                known = ", ".join(sorted(FUNCTIONS))
                raise FormulaError(f"unknown function {token.text!r} at position {token.pos}; allowed functions: {known}")
            return self.symbol(token.text)
        if token.text == "(":
            self.nested()
            inner = self.expr()
            self.depth -= 1
            self.expect(")")
            return inner
        found = "the end of the formula" if token.kind == "end" else repr(token.text)
        raise FormulaError(f"expected a number, name or '(' at position {token.pos} but found {found} in {_clip(self.text)!r}")

    def call(self, name: Token) -> sympy.Expr:
        function = FUNCTIONS[name.text]
        self.expect("(")
        self.nested()
        args = [self.expr()]
        while self.peek().text == ",":
            self.take()
            args.append(self.expr())
        self.depth -= 1
        self.expect(")")
        if not function.min_args <= len(args) <= function.max_args:
            want = str(function.min_args) if function.min_args == function.max_args else f"{function.min_args}-{function.max_args}"
            raise FormulaError(f"{name.text}() takes {want} argument(s), got {len(args)}")
        return self.bound(function.build(*args))


def _number(text: str) -> sympy.Expr:
    value = float(text)
    if not math.isfinite(value) or abs(value) > MAX_NUMBER_MAGNITUDE:
        raise FormulaError(f"number {_clip(text, 30)} is out of range")
    if value == 0 and re.search(r"[1-9]", text.lower().split("e")[0]):  # 1e-400: not zero, just too small
        raise FormulaError(f"number {_clip(text, 30)} is out of range (nonzero but |x| < {MIN_NUMBER_MAGNITUDE:g})")
    if re.fullmatch(r"\d{1,15}", text):
        return sympy.Integer(int(text))
    return sympy.Float(value)


class _Bounder:
    """Keeps every number of an expression exact-and-small or a float in range.

    Called on each node the parser builds. Subtrees already seen are skipped,
    so the work over a whole parse stays proportional to the nodes sympy creates.
    """

    def __init__(self) -> None:
        self.seen: set[sympy.Basic] = set()

    def __call__(self, expr: sympy.Expr) -> sympy.Expr:
        out = self._walk(expr)
        if out is not expr:  # rebuilding re-evaluates, which may fold numbers anew (once more at most)
            out = self._walk(out)
        return out

    def _walk(self, expr: sympy.Expr) -> sympy.Expr:
        if expr in self.seen:
            return expr
        if expr.is_Number:
            out = _bounded_number(expr)
        elif not expr.args:
            out = expr
        else:
            args = [self._walk(a) for a in expr.args]
            out = expr if all(a is b for a, b in zip(args, expr.args)) else expr.func(*args)
        if out is expr:
            self.seen.add(expr)
        return out


def _bounded_number(x: sympy.Expr) -> sympy.Expr:
    """``x`` itself when exact and small or a float in range; big exact numbers become floats."""
    if x.is_Rational:
        if abs(x.p) <= MAX_EXACT and x.q <= MAX_EXACT:
            return x
        x = sympy.Float(x)  # mpmath rounds it in time proportional to its (already computed) size
    if x.is_Float:
        magnitude = abs(x)
        if not magnitude.is_finite or magnitude > MAX_NUMBER_MAGNITUDE:
            raise FormulaError(f"a constant in the formula is out of range (|x| > {MAX_NUMBER_MAGNITUDE:g})")
        if 0 < magnitude < MIN_NUMBER_MAGNITUDE:
            raise FormulaError(f"a constant in the formula is out of range (nonzero but |x| < {MIN_NUMBER_MAGNITUDE:g})")
    return x  # zoo, nan and oo are left to Law.validate, which names them


def _small_exponent(exponent: sympy.Expr) -> bool:
    return bool(exponent.is_Rational and abs(exponent.p) <= MAX_EXACT_EXPONENT and exponent.q <= MAX_EXACT_EXPONENT)


def _floats(expr: sympy.Expr, keep: Callable[[sympy.Rational], bool]) -> sympy.Expr:
    """``expr`` with its exact numbers (except those ``keep`` accepts) as floats."""
    sub = {r: sympy.Float(r) for r in expr.atoms(sympy.Rational) if not keep(r)}
    return expr.xreplace(sub) if sub else expr


def _safe_pow(base: sympy.Expr, exponent: sympy.Expr) -> sympy.Expr:
    """A power whose numbers are bounded before sympy computes them.

    Numeric powers are exact only when the result fits :data:`MAX_EXACT`, else
    folded in floating point (so `9^9^9^9` and `pow(10, 10^7)` cannot hang).
    A symbolic base raised to a large numeric exponent gets float numbers
    first, since sympy distributes the exponent over them: `(3*x)^(10^15)`.
    """
    if base.is_Number and exponent.is_Number:
        if base.is_Rational and exponent.is_Integer and _exact_power_fits(base, exponent):
            return base**exponent
        shown = f"{_operand(base)}^{_operand(exponent)}"
        try:
            value = float(base) ** float(exponent)
        except OverflowError:
            raise FormulaError(f"constant {shown} is out of range (too large for a float)") from None
        except ZeroDivisionError:
            raise FormulaError(f"constant {shown} divides by zero") from None
        if isinstance(value, complex) or not math.isfinite(value) or abs(value) > MAX_NUMBER_MAGNITUDE:
            raise FormulaError(f"constant {shown} is not a finite real number")
        if value == 0 and base != 0:
            raise FormulaError(f"constant {shown} underflows to 0")
        return sympy.Float(value)
    if exponent.is_Rational and not _small_exponent(exponent):  # float exponents compute in mpmath anyway
        base = _floats(base, lambda r: r in (0, 1, -1))
    return sympy.Pow(base, exponent)


def _operand(x: sympy.Expr) -> str:
    text = str(x)
    return text if x.is_Integer and x >= 0 or x.is_Float and x >= 0 else f"({text})"


def _exact_power_fits(base: sympy.Rational, exponent: sympy.Integer) -> bool:
    e = abs(int(exponent))
    m = max(abs(base.p), base.q)
    return e <= MAX_EXACT_EXPONENT and (m <= 1 or e * math.log2(m) <= math.log2(MAX_EXACT))


def _exp(arg: sympy.Expr) -> sympy.Expr:
    """sympy's exp, which rewrites ``exp(c*log(b))`` as ``b**c``: so the same bound as a power."""
    if arg.has(sympy.log):
        arg = _floats(arg, _small_exponent)
    return sympy.exp(arg)


def parse_expression(text: str, symbol: Callable[[str], sympy.Symbol] | None = None) -> sympy.Expr:
    """Parse one formula text into a sympy expression, whitelisting everything."""
    if not isinstance(text, str):
        raise FormulaError(f"a formula must be text, got {type(text).__name__}")
    make = symbol or _default_symbol
    try:
        return bounded(PARSE_SECONDS, f"parsing {_clip(text, 40)!r}", lambda: _Parser(text, make).parse())
    except RecursionError:
        raise FormulaError("formula is nested too deeply") from None


def _default_symbol(name: str) -> sympy.Symbol:
    if name.startswith("__"):
        raise FormulaError(f"name {name!r} is not allowed (names may not start with '__')")
    if len(name) > MAX_NAME_LENGTH:
        raise FormulaError(f"name {name[:20]!r}... is longer than {MAX_NAME_LENGTH} characters")
    return sympy.Symbol(name)


def split_formulas(text: str) -> list[str]:
    """Split a multi-target formula text on ';' or new lines."""
    return [part.strip() for part in re.split(r"[;\n]", text) if part.strip()]
