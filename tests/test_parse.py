"""The whitelist parser: what the law language accepts, and hostile text it must refuse."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
import sympy

from lawagent.errors import FormulaError, LawagentError
from lawagent.evaluate import evaluate, parse_law
from lawagent.fit.fitter import FitOptions, fit
from lawagent.law.law import Law
from lawagent.law.parse import FUNCTIONS, MAX_DEPTH, MAX_TEXT_LENGTH, parse_expression
from lawagent.task import load_task

X = ("x",)
SYMPY_NAMES = ["E", "N", "S", "I", "Q", "beta", "gamma", "lambda", "pi", "zeta", "O"]
FAST = FitOptions(n_starts=16, n_refine=3, max_iter=60, time_limit=10)


def canary_formula(path: Path) -> str:
    return f"__import__('os').system('touch {path}')"


# -- what is accepted -----------------------------------------------------

@pytest.mark.parametrize(
    "text, expected",
    [
        ("1", sympy.Integer(1)),
        ("2.5e-3*x", sympy.Float(2.5e-3) * sympy.Symbol("x")),
        ("a + b - c", sympy.Symbol("a") + sympy.Symbol("b") - sympy.Symbol("c")),
        ("a*x/b", sympy.Symbol("a") * sympy.Symbol("x") / sympy.Symbol("b")),
        ("x**2", sympy.Symbol("x") ** 2),
        ("x^2", sympy.Symbol("x") ** 2),
        ("(a + x)*b", (sympy.Symbol("a") + sympy.Symbol("x")) * sympy.Symbol("b")),
        ("-x^2", -(sympy.Symbol("x") ** 2)),  # unary minus binds looser than power
        ("x^-a", sympy.Symbol("x") ** -sympy.Symbol("a")),
        ("2^3^2", sympy.Integer(2**9)),  # right associative
        ("exp(log(x))", sympy.Symbol("x")),
        ("log10(x)", sympy.log(sympy.Symbol("x")) / sympy.log(10)),
        ("min(x, a, 3)", sympy.Min(sympy.Symbol("x"), sympy.Symbol("a"), 3)),
        ("pow(x, a)", sympy.Symbol("x") ** sympy.Symbol("a")),
    ],
)
def test_grammar(text: str, expected: sympy.Expr) -> None:
    assert parse_expression(text) == expected


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_every_allowed_function_parses(name: str) -> None:
    f = FUNCTIONS[name]
    args = ", ".join(["x"] * f.min_args)
    law = Law.parse(f"a*{name}({args}) + b", X)
    assert law.parameters == ("a", "b") or set(law.parameters) == {"a", "b"}
    assert law.used_features == ("x",)


def test_unicode_minus_and_middle_dot() -> None:
    law = Law.parse("A\u00b7x \u2212 B\u00d7x^2", X)
    assert law.expressions == Law.parse("A*x - B*x^2", X).expressions


def test_equation_prefix_is_accepted() -> None:
    assert Law.parse("y = a*x", X).expressions == Law.parse("a*x", X).expressions
    assert Law.parse("loss = a*x", X, targets=["loss"]).expressions == Law.parse("a*x", X).expressions


@pytest.mark.parametrize("name", SYMPY_NAMES)
def test_sympy_builtin_names_are_plain_parameters(name: str) -> None:
    law = Law.parse(f"{name}*x + {name}^2", X)
    assert law.parameters == (name,)
    sym = sympy.Symbol(name)
    assert sym in law.expressions[0].free_symbols
    # sympy's own objects would make the expression constant or a function
    assert not law.expressions[0].has(sympy.E, sympy.pi, sympy.I, sympy.EulerGamma)


@pytest.mark.parametrize("name", SYMPY_NAMES)
def test_sympy_builtin_names_are_plain_features(name: str) -> None:
    law = Law.parse(f"a*{name}^b + c", (name,))
    assert law.used_features == (name,)
    assert set(law.parameters) == {"a", "b", "c"}


def test_sympy_builtin_names_are_fitted() -> None:
    """Every awkward name as a feature or a parameter, fitted on real numbers."""
    rng = np.random.default_rng(1)
    n = rng.uniform(1.0, 10.0, 40)
    s = rng.uniform(1.0, 10.0, 40)
    y = 2.0 + 3.0 * n ** -0.5 + 0.25 * s
    law = Law.parse("E + lambda*N^(-beta) + gamma*S", ("N", "S"))
    assert set(law.parameters) == {"E", "lambda", "beta", "gamma"}
    result = fit(law, {"N": n, "S": s}, y, np.zeros(40, dtype=object), FAST)
    got = result.groups[0].params
    assert got == pytest.approx({"E": 2.0, "lambda": 3.0, "beta": 0.5, "gamma": 0.25}, rel=1e-6)
    # and the one-letter sympy constants I, Q, O, pi, zeta as parameters
    law = Law.parse("I + Q*N + O*S + pi*N*S + zeta*N^2", ("N", "S"))
    y2 = 1.0 + 2.0 * n - 0.5 * s + 0.1 * n * s + 0.01 * n**2
    got = fit(law, {"N": n, "S": s}, y2, np.zeros(40, dtype=object), FAST).groups[0].params
    assert got == pytest.approx({"I": 1.0, "Q": 2.0, "O": -0.5, "pi": 0.1, "zeta": 0.01}, rel=1e-6)


# -- what is rejected -----------------------------------------------------

HOSTILE = [
    ("__import__('os').system('x')", "unexpected character"),
    ("().__class__", "unexpected character '.'"),
    ("lambda: 1", "unexpected character ':'"),
    ("a.b", "unexpected character '.'"),
    ("x[0]", "unexpected character '['"),
    ('"str"', "unexpected character '\"'"),
    ("open('f')", "unexpected character"),
    ("eval('1')", "unexpected character"),
    ("eval(x)", "unknown function 'eval'"),
    ("open(x)", "unknown function 'open'"),
    ("__import__(x)", "unknown function '__import__'"),
    ("x.__class__", "unexpected character '.'"),
    ("x if x else 1", None),
    ("x; import os", None),
    ("x @ x", "unexpected character '@'"),
    ("x % 2", "unexpected character '%'"),
    ("x == 1", "unexpected character '='"),
    ("{x}", "unexpected character '{'"),
    ("x\\n", "unexpected character"),
    ("2x", "unexpected 'x' at position 1"),
    ("2 x", "unexpected 'x'"),
    ("x(2)", "unknown function 'x'"),
    ("(x", "expected ')'"),
    ("x)", "unexpected ')'"),
    ("x +", "expected a number, name or '('"),
    ("* x", "expected a number, name or '('"),
    ("x ** ** 2", "expected a number, name or '('"),
    ("exp()", "expected a number, name or '('"),
    ("exp(x, x)", "exp() takes 1 argument"),
    ("min(x)", "min() takes 2-8 argument"),
    ("x/0", "division by zero"),
    ("x*1e999", "out of range"),
    ("_a*x", "may not start with '_'"),
    ("__class__*x", "may not start with '_'"),
    ("exp*x", "function name"),
    ("x*" + "a" * 100, "longer than"),
    ("sqrt(-1)*x", "complex"),
    ("log(0)*x", "infinite"),
]


@pytest.mark.parametrize("text, message", HOSTILE)
def test_hostile_text_rejected_with_message(text: str, message: str | None) -> None:
    with pytest.raises(FormulaError) as err:
        Law.parse(text, X, budget=10)
    assert isinstance(err.value, LawagentError)
    if message:
        assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_hostile_text_is_not_executed(tmp_path: Path) -> None:
    canary = tmp_path / "canary"
    for text in [canary_formula(canary), f"x + exec(\"open('{canary}', 'w')\")", f"x*__import__('pathlib').Path('{canary}').touch()"]:
        with pytest.raises(FormulaError):
            Law.parse(text, X)
        with pytest.raises(FormulaError):
            parse_expression(text)
    assert not canary.exists()


def test_parser_source_never_evaluates_text() -> None:
    """No call of eval/exec/compile/sympify/parse_expr anywhere in the parser module."""
    import ast

    import lawagent.law.parse as parse_module

    tree = ast.parse(Path(parse_module.__file__).read_text())
    called = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            f = node.func
            called.add(f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else "")
    assert not called & {"eval", "exec", "sympify", "parse_expr", "S", "__import__"}


def test_unknown_function_lists_the_allowed_ones() -> None:
    with pytest.raises(FormulaError, match="unknown function 'erf'") as err:
        Law.parse("erf(x)", X)
    for name in FUNCTIONS:
        assert name in str(err.value)


@pytest.mark.parametrize("text", ["", "   ", "\n", " ; "])
def test_empty_text_rejected(text: str) -> None:
    with pytest.raises(FormulaError, match="formula"):
        Law.parse(text, X)


def test_empty_expression_message() -> None:
    with pytest.raises(FormulaError, match="empty"):
        parse_expression("   ")


def test_long_expression_rejected_by_length_limit() -> None:
    text = " + ".join(f"a{i}*x" for i in range(10_000))
    start = time.perf_counter()
    with pytest.raises(FormulaError, match=f"limit is {MAX_TEXT_LENGTH}"):
        Law.parse(text, X)
    assert time.perf_counter() - start < 5


def test_many_tokens_within_length_rejected() -> None:
    with pytest.raises(FormulaError, match="tokens"):
        Law.parse("+".join(["x"] * 1500), X)


def test_deep_nesting_rejected() -> None:
    depth = MAX_DEPTH + 5
    with pytest.raises(FormulaError, match=f"nested more than {MAX_DEPTH} levels"):
        parse_expression("(" * depth + "x" + ")" * depth)
    with pytest.raises(FormulaError):  # the token limit or the depth limit, whichever first
        parse_expression("(" * 1000 + "x" + ")" * 1000)
    with pytest.raises(FormulaError, match="nested"):
        parse_expression("exp(" * 100 + "x" + ")" * 100)
    with pytest.raises(FormulaError, match="nested"):
        parse_expression("-" * 500 + "x")
    with pytest.raises(FormulaError, match="nested"):
        parse_expression("x^" * 500 + "x")
    assert parse_expression("(" * 20 + "x" + ")" * 20) == sympy.Symbol("x")


@pytest.mark.parametrize("text", ["9^9^9^9", "9**9**9**9", "10^10^10", "2^(3^(4^5))", "(-8)^(1/3)*x", "0^-1*x", "99999999^99999999*x"])
def test_huge_constant_powers_do_not_hang(text: str) -> None:
    start = time.perf_counter()
    with pytest.raises(FormulaError):
        Law.parse(text, X)
    assert time.perf_counter() - start < 5  # a hang check, not a speed test


def test_large_but_finite_constant_power_is_folded() -> None:
    law = Law.parse("x*2^100 + x*1.5^2.5", X)
    assert float(law.expressions[0].coeff(sympy.Symbol("x"))) == pytest.approx(2.0**100 + 1.5**2.5)


# -- validation against a task --------------------------------------------

def test_wrong_number_of_formulas_for_multi_target_task() -> None:
    task = load_task("domain_mixture_scaling_law")
    one = "c + k*exp(t*proportion_domain_1)"
    with pytest.raises(FormulaError, match="expected 5 formula"):
        parse_law(task, one)
    with pytest.raises(FormulaError, match="got 6"):
        parse_law(task, "; ".join([one] * 6))
    law = parse_law(task, [f"c{i} + k{i}*proportion_domain_{i}" for i in range(1, 6)])
    assert len(law.expressions) == 5 and law.n_parameters == 10


def test_error_in_one_target_names_it() -> None:
    task = load_task("domain_mixture_scaling_law")
    texts = [f"c{i} + k{i}*proportion_domain_{i}" for i in range(1, 6)]
    texts[2] = "c3 + foo(proportion_domain_3)"
    with pytest.raises(FormulaError, match=r"formula 3, for loss_domain_3"):
        parse_law(task, texts)


def test_parameter_budget() -> None:
    task = load_task("sft_scaling_law")  # budget 4
    assert parse_law(task, "a + b*sft_data_size^c + d").n_parameters == 4
    with pytest.raises(FormulaError, match="5 parameters .* the budget is 4"):
        parse_law(task, "a + b*sft_data_size^c + d + e")
    # a misspelt feature is just another parameter, so the budget catches it
    with pytest.raises(FormulaError, match="budget is 4"):
        parse_law(task, "a + b*sft_data_sise^c + d + e*sft_data_size")


def test_law_must_use_a_feature() -> None:
    task = load_task("sft_scaling_law")
    with pytest.raises(FormulaError, match="uses none of the features"):
        parse_law(task, "a + b")
    with pytest.raises(FormulaError, match="uses none of the features"):
        parse_law(task, "A/D^alpha + E")  # D is not this task's feature name


def test_complexity_is_node_count() -> None:
    law = Law.parse("a*x + b", X)
    assert law.complexity == len(list(sympy.preorder_traversal(law.expressions[0]))) == 5


def test_bounds_must_name_parameters() -> None:
    with pytest.raises(FormulaError, match="not a parameter"):
        Law.parse("a*x", X, bounds={"x": (0, 1)})
    with pytest.raises(FormulaError, match="empty"):
        Law.parse("a*x", X, bounds={"a": (1, 0)})


def test_not_text_rejected() -> None:
    with pytest.raises(FormulaError, match="must be text"):
        parse_expression(42)  # type: ignore[arg-type]


# -- hostile text that parses: scored as a failure, never a crash ----------

def test_overflowing_tower_with_a_parameter_scores_as_failure() -> None:
    task = load_task("sft_scaling_law")
    ev = evaluate(task, "a*sft_data_size**sft_data_size**sft_data_size", FAST)
    assert ev.test.failed and ev.test.r2 == -1.0
    assert "fit failed" in ev.test.message


def test_overflowing_tower_without_parameters_scores_as_failure() -> None:
    task = load_task("sft_scaling_law")
    ev = evaluate(task, "sft_data_size**sft_data_size**sft_data_size**sft_data_size", FAST)
    assert ev.test.failed and ev.test.r2 == -1.0 and ev.test.message
    assert ev.law.parameters == ()


def test_from_sympy_refuses_text(tmp_path: Path) -> None:
    canary = tmp_path / "canary"
    with pytest.raises(FormulaError, match="Law.parse"):
        Law.from_sympy([canary_formula(canary)], X)
    with pytest.raises(FormulaError):
        Law.from_sympy(canary_formula(canary), X)
    assert not canary.exists()


def test_huge_folded_integer_is_rejected() -> None:
    task = load_task("sft_scaling_law")
    with pytest.raises(FormulaError, match="out of range"):
        evaluate(task, "a*sft_data_size*" + "*".join(["999999999999999"] * 30), FAST)
    # large but float-sized products still work
    ev = evaluate(task, "a*sft_data_size^b*999999999999999*999999999999999 + c", FAST)
    assert not ev.test.failed


# -- numbers are bounded before they are computed (issue 16) ----------------

_PARSE_ONE = """
import sys
from lawagent.errors import FormulaError
from lawagent.law.law import Law
print("ready", flush=True)
text = sys.stdin.readline().rstrip("\\n")
try:
    law = Law.parse(text, ("x",))
    print("parsed", law.text()[:80], flush=True)
except FormulaError as err:
    print("error", err, flush=True)
"""

SLOW_BEFORE = [
    "pow(10, 10^7)*x",  # pow() skipped the size guard of '^' and built a 10-million-digit integer
    "pow(10, 10^6)*x",
    "(3*x)^(10^15)",  # sympy distributes the exponent: 3**(10**15), exactly
    "exp(999999999999999*log(3))*x",  # exp(c*log(b)) is rewritten as b**c
    "sigmoid(999999999999999*log(3*x))",
    "((((1/999999)^16)^16)^16)^16*x",
]


@pytest.mark.parametrize("text", SLOW_BEFORE)
def test_huge_powers_are_refused_within_two_seconds(text: str) -> None:
    """Measured from a child process (imports done first), so a hang fails the test instead of freezing it."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1] / "src")}
    proc = subprocess.Popen([sys.executable, "-c", _PARSE_ONE], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout.readline().strip() == "ready"
        proc.stdin.write(text + "\n")
        proc.stdin.flush()
        out, err = proc.communicate(timeout=2)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        pytest.fail(f"parsing {text!r} took more than 2 s")
    assert proc.returncode == 0, err
    assert out.startswith("error ") and ("out of range" in out or "underflows" in out or "cannot be computed" in out), out


@pytest.mark.parametrize("text", ["pow(1/3, 10^6)*x", "pow(1/3, 10000)*x", "x/999999^16/999999^16/999999^16/999999^16",
                                  "(x/999999)^16*(x/999999)^16*(x/999999)^16", "x*(1/7)^16*(1/9)^16*(1/11)^16*(1/13)^16"])
def test_text_form_of_a_parsed_law_never_raises(text: str) -> None:
    """pow(1/3, 10^6) parsed, and then its text form raised on Python's int-to-string digit limit."""
    try:
        law = Law.parse(text, X)
    except FormulaError as err:
        assert "\n" not in str(err)
        return
    again = Law.parse(law.text(), X)  # prints, and reads back
    assert again.text() == law.text()
    for number in law.expressions[0].atoms(sympy.Rational):
        assert abs(number.p) <= 2**53 and number.q <= 2**53


def test_text_form_of_a_huge_exact_number_from_sympy_prints_as_a_float() -> None:
    x = sympy.Symbol("x")
    law = Law.from_sympy(sympy.Rational(1, 3**100_000) * x + sympy.Integer(7) ** 30_000, X)
    text = law.text()
    assert "e+47712" in text and "e+25352" in text  # x/1.33e+47712 + 8.73e+25352


def test_exact_numbers_stay_exact_while_small() -> None:
    assert Law.parse("x/3 + 2^10*x^2", X).text() == Law.parse("1024*x^2 + x/3", X).text()
    assert Law.parse("(8*x)^(1/3)", X).expressions[0] == 2 * sympy.Symbol("x") ** sympy.Rational(1, 3)
    coeff = Law.parse("x/999999^16", X).expressions[0].as_coeff_Mul()[0]
    assert isinstance(coeff, sympy.Float) and float(coeff) == pytest.approx(999999.0**-16)


@pytest.mark.parametrize("text, char, pos", [("\uff13*x", "\uff13", 0), ("x^\u0967", "\u0967", 2), ("x*1\u0662", "\u0662", 3)])
def test_non_ascii_digits_are_refused_with_their_position(text: str, char: str, pos: int) -> None:
    """'３' and '१' were read as 3 and 1."""
    with pytest.raises(FormulaError, match=f"non-ASCII digit '{char}' at position {pos}"):
        Law.parse(text, X)


@pytest.mark.parametrize("text", ["max(a, b, sft_data_size)", "min(a, b*sft_data_size, c, sft_data_size^2)"])
def test_min_and_max_of_several_arguments_evaluate(text: str) -> None:
    """The derivative of max(a, b, x) printed as logical_and.reduce over arrays of different shapes."""
    task = load_task("sft_scaling_law")
    ev = evaluate(task, text, FAST)
    assert not ev.test.failed, ev.test.message
    assert np.isfinite(ev.test.r2)
