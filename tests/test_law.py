"""Law objects: round-trip text, parameters, complexity, substitution."""

from __future__ import annotations

import pytest
import sympy

from lawagent.errors import FormulaError
from lawagent.evaluate import parse_law, reference_law
from lawagent.law.law import Law
from lawagent.task import list_tasks, load_task


@pytest.mark.parametrize("name", list_tasks())
def test_reference_law_round_trips(name: str) -> None:
    task = load_task(name)
    law = reference_law(task)
    again = parse_law(task, law.text())
    assert again.expressions == law.expressions
    assert again.parameters == law.parameters
    assert again.complexity == law.complexity
    assert again.text() == law.text()
    assert law.n_parameters <= task.parameter_budget
    assert set(law.used_features) <= set(task.features)


@pytest.mark.parametrize(
    "text",
    [
        "E + A/N^alpha",
        "lambda*exp(-beta*x) + gamma",
        "min(a*x, b) + max(x, c)",
        "abs(a - x)^0.5 + log10(x)*b",
        "sigmoid(a*x) + softplus(b*x) + tanh(c*x)",
        "sqrt(x)*a + log2(x)",
        "x^(-a) + (x + 1)^-2",
        "a*x*1.5e-7 + 0.051*x",
        "-(a*x) - -b",
        "pi*x + zoo + nan*x",
        "a*x^exp(1) + b",
        "abs(2^x)*a + abs((-2)^x)*b",
    ],
)
def test_text_round_trips(text: str) -> None:
    law = Law.parse(text, ("x", "N"))
    assert Law.parse(law.text(), ("x", "N")).expressions == law.expressions


def test_multi_target_round_trip_and_shared_budget() -> None:
    law = Law.parse("a + b*x; a + c*x", ("x",), targets=["y1", "y2"], budget=3)
    assert law.parameters == ("a", "b", "c")
    assert Law.parse(law.text(), ("x",), targets=["y1", "y2"]).expressions == law.expressions
    with pytest.raises(FormulaError, match="budget is 2"):
        Law.parse("a + b*x; a + c*x", ("x",), targets=["y1", "y2"], budget=2)


def test_parameters_in_reading_order_and_features_excluded() -> None:
    law = Law.parse("E + A/N^alpha + B/D^beta", ("N", "D"))
    assert set(law.parameters) == {"E", "A", "alpha", "B", "beta"}
    assert law.used_features == ("N", "D")
    # the printed law and the parameter order agree: first appearance in text()
    text = law.text()
    positions = [text.index(p) for p in ("E", "A", "B")]
    order = [p for p in law.parameters if p in ("E", "A", "B")]
    assert order == [p for _, p in sorted(zip(positions, ("E", "A", "B")))]


def test_with_values_substitutes_parameters_only() -> None:
    law = Law.parse("E + A/N^alpha", ("N",))
    (expr,) = law.with_values({"E": 1.5, "A": 2.0, "alpha": 0.5})
    assert expr.free_symbols == {sympy.Symbol("N")}
    assert float(expr.subs(sympy.Symbol("N"), 4.0)) == pytest.approx(2.5)


def test_complexity_sums_targets() -> None:
    one = Law.parse("a*x", ("x",))
    two = Law.parse("a*x; b*x", ("x",), targets=["y1", "y2"])
    assert two.complexity == 2 * one.complexity == 6


def test_complexity_limit() -> None:
    text = " + ".join(f"a{i}*x^{i}" for i in range(2, 120))
    with pytest.raises(FormulaError, match="complexity"):
        Law.parse(text, ("x",))


def test_repr_and_str() -> None:
    law = Law.parse("a*x + b", ("x",))
    assert str(law) == law.text()
    assert "parameters=" in repr(law)


def test_from_sympy() -> None:
    x, a = sympy.symbols("x a")
    law = Law.from_sympy(a * x**2, ("x",))
    assert law.parameters == ("a",) and law.used_features == ("x",)


def test_float_constants_round_trip_exactly() -> None:
    law = Law.parse("0.30000000000000004*x + a", ("x",))
    assert Law.parse(law.text(), ("x",)).expressions == law.expressions


def test_constants_and_abs_print_back_into_the_law_language() -> None:
    # sympy prints Euler's number as E (a parameter here) and abs(2^x) as 2^re(x) (no such function)
    assert Law.parse("a*x^exp(1) + b", ("x",)).text() == "b + a*x**exp(1)"
    assert Law.parse("abs(2^x)*a", ("x",)).text() == "a*2**x"
    assert Law.parse("a*x^exp(1) + b", ("x",)).parameters == ("b", "a")


def test_a_target_written_as_its_log_is_fitted_to_the_log() -> None:
    law = Law.parse("log(loss) = E + a*log(N)", ["N"], targets=["loss"])
    assert law.log_fitted == (0,) and law.parameters == ("E", "a")
    assert law.outputs == (sympy.exp(law.expressions[0]),)  # what it predicts
    assert law.text() == "log(y) = E + a*log(N)"
    again = Law.parse(law.text(), ["N"])
    assert again.log_fitted == (0,) and again.expressions == law.expressions
    plain = Law.parse("E + a*log(N)", ["N"])
    assert plain.log_fitted == () and plain.fit_form is plain
    assert law.fit_form.log_fitted == () and law.fit_form.expressions == law.expressions
    both = Law.parse("a + b*x; log(y) = c + d*log(x)", ["x"], targets=["u", "v"])
    assert both.log_fitted == (1,) and both.texts() == ["a + b*x", "log(y) = c + d*log(x)"]


def test_a_log_of_something_else_on_the_left_is_an_error() -> None:
    with pytest.raises(FormulaError, match=r"left of '=' must be the target \(loss\) or its log.*got 'log\(N\)'"):
        Law.parse("log(N) = E + a*log(N)", ["N"], targets=["loss"])


def test_canonical_key_tells_a_log_fitted_law_from_the_same_expression_for_y() -> None:
    from lawagent.discovery.canonical import canonical_key

    log = Law.parse("log(y) = E + a*log(N)", ["N"])
    assert canonical_key(log) == canonical_key(Law.parse("log(y) = b*log(N) + C", ["N"]))
    assert canonical_key(log) != canonical_key(Law.parse("E + a*log(N)", ["N"]))


def test_an_equation_names_the_target_or_its_log() -> None:
    from lawagent.law.law import equation

    law = Law.parse("log(loss) = E + a*log(N); B*N", ["N"], targets=["loss", "acc"])
    assert [equation(t, x) for t, x in zip(["loss", "acc"], law.texts())] == \
        ["log(loss) = E + a*log(N)", "acc = B*N"]
