"""Extracting laws from LLM replies: junk stripped, hostile or cut-off text rejected, never evaluated."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from lawagent.llm.answers import clean_line, extract
from lawagent.llm.grammar import law_grammar

FEATURES = ("num_params", "parallel_size")
TARGETS = ("loss",)


def formulas(reply: str, budget: int = 4) -> tuple[list[str], list[str]]:
    cands = extract(reply, FEATURES, TARGETS, budget)
    return [c.law.text() for c in cands if c.ok], [c.error for c in cands if not c.ok]


def test_plain_lines_with_rationales():
    good, bad = formulas("E + A/num_params^alpha  # power law in size\nE + A/(num_params*parallel_size)^alpha -- streams multiply N")
    assert good == ["E + A/num_params**alpha", "E + A/(num_params*parallel_size)**alpha"] and bad == []
    assert clean_line("E + A/num_params^alpha  # power law in size")[1] == "power law in size"


@pytest.mark.parametrize("line", [
    "1. L = E + A/num_params^alpha",
    "2) loss = E + A/num_params^alpha.",
    "- **Law 3:** `E + A/num_params^alpha` because it saturates",
    "$E + A \\cdot num_params^{-alpha}$",
    "L(N, P) = E + A/num_params^alpha",
    "* E + A/num_params^alpha | classic",
])
def test_junk_around_expressions_is_stripped(line):
    good, bad = formulas(line)
    assert len(good) == 1 and bad == [], (line, bad)
    assert "num_params" in good[0]


def test_prose_and_fences_are_ignored_not_rejected():
    good, bad = formulas("Here are three candidate laws:\n```\nE + A/num_params^alpha\n```\nI hope this helps!")
    assert good == ["E + A/num_params**alpha"] and bad == []


def test_hostile_cut_off_and_over_budget_are_rejected(tmp_path: Path):
    marker = tmp_path / "pwned"
    reply = "\n".join([
        f"__import__('pathlib').Path('{marker}').touch()",
        "__import__('os').system('x') + num_params",
        "E + A/num_params^(",  # cut off by max_tokens
        "A*num_params^a + B*parallel_size^b + C + D",  # 6 parameters, budget 4
        "E + A/num_params^alpha",
    ])
    good, bad = formulas(reply)
    assert good == ["E + A/num_params**alpha"]
    assert len(bad) == 4
    assert any("budget is 4" in e for e in bad)
    assert any("end of the formula" in e for e in bad)
    assert not marker.exists()


def test_duplicate_lines_count_once():
    good, _ = formulas("E + A/num_params^alpha\nE + A/num_params^alpha")
    assert len(good) == 1


def test_grammar_mentions_features_and_functions():
    g = law_grammar(FEATURES, n_targets=2, max_lines=3)
    assert '"num_params"' in g and '"parallel_size"' in g and '"log"' in g and '"min"' in g
    assert 'law ::= exprF "; " exprF' in g and "{0,2}" in g


@pytest.mark.skipif(importlib.util.find_spec("llama_cpp") is None, reason="llama-cpp-python not installed")
def test_grammar_compiles_in_llama_cpp():
    from llama_cpp import LlamaGrammar

    for n_targets, lines in ((1, 1), (1, 4), (5, 3)):
        assert LlamaGrammar.from_string(law_grammar(FEATURES, n_targets, lines), verbose=False) is not None


# -- bounded grammars: the longest answer fits the token budget --------------

def gbnf_max_length(grammar: str) -> float:
    """The longest sentence a GBNF grammar accepts (inf if unbounded), computed from its text alone."""
    import math
    import re

    rules = dict(line.split(" ::= ", 1) for line in grammar.strip().splitlines())
    memo: dict[str, float] = {}

    def rule(name: str) -> float:
        if name not in memo:
            memo[name] = math.inf  # recursion = unbounded
            memo[name] = alternatives(rules[name])[0]
        return memo[name]

    def alternatives(text: str, i: int = 0) -> tuple[float, int]:
        best, i = sequence(text, i)
        while i < len(text) and text[i] == "|":
            length, i = sequence(text, i + 1)
            best = max(best, length)
        return best, i

    def sequence(text: str, i: int) -> tuple[float, int]:
        total = 0.0
        while True:
            while i < len(text) and text[i] == " ":
                i += 1
            if i >= len(text) or text[i] in "|)":
                return total, i
            if text[i] == '"':
                end = i + 1
                while text[end] != '"':
                    end += 2 if text[end] == "\\" else 1
                length, i = float(len(text[i + 1:end].encode().decode("unicode_escape"))), end + 1
            elif text[i] == "[":
                length, i = 1.0, text.index("]", i + 1) + 1
            elif text[i] == "(":
                length, i = alternatives(text, i + 1)
                assert text[i] == ")"
                i += 1
            else:
                name = re.match(r"[A-Za-z0-9_-]+", text[i:]).group()
                length, i = rule(name), i + len(name)
            if i < len(text) and text[i] in "?*+{":
                if text[i] == "?":
                    i += 1
                elif text[i] in "*+":
                    length, i = (math.inf if length else 0.0), i + 1
                else:
                    counts = re.match(r"\{(\d+)(,(\d*))?\}", text[i:])
                    high = counts.group(3) if counts.group(2) else counts.group(1)
                    length = math.inf if high == "" else length * int(high)
                    i += len(counts.group())
            total += length

    return rule("root")


@pytest.mark.parametrize("features, n_targets, lines", [(("sft_data_size",), 1, 1), (FEATURES, 1, 1), (FEATURES, 1, 3),
                                                         (("dense_parameter_count", "num_experts"), 1, 1),
                                                         (tuple(f"proportion_domain_{i}" for i in range(1, 6)), 5, 1)])
@pytest.mark.parametrize("budget", [64, 96, 128, 320, 2000])
def test_bounded_grammar_never_admits_an_answer_longer_than_the_budget(features, n_targets, lines, budget):
    """A token is at least one character: a grammar whose longest sentence fits max_tokens always completes."""
    from lawagent.llm.grammar import bounded_shape

    assert gbnf_max_length(law_grammar(features, n_targets, lines)) == float("inf")  # the open grammar: unbounded
    shape = bounded_shape(features, n_targets, lines, budget)
    longest = gbnf_max_length(law_grammar(features, n_targets, lines, max_chars=budget))
    assert longest == shape.length  # the shape's own arithmetic agrees with the grammar text
    assert longest <= budget or not shape.fits
    if budget >= 128 and n_targets == 1 and lines == 1:
        assert shape.fits and shape.terms >= 2  # room for 'E + A*x^(-a)' at the local model's default


@pytest.mark.skipif(importlib.util.find_spec("llama_cpp") is None, reason="llama-cpp-python not installed")
def test_bounded_grammar_compiles_in_llama_cpp():
    from llama_cpp import LlamaGrammar

    for n_targets, lines, budget in ((1, 1, 64), (1, 1, 128), (1, 4, 320), (5, 3, 2000)):
        grammar = law_grammar(FEATURES, n_targets, lines, max_chars=budget)
        assert LlamaGrammar.from_string(grammar, verbose=False) is not None


def test_a_law_for_the_log_of_the_target_stays_one() -> None:
    from lawagent.llm.answers import clean_line, extract

    assert clean_line("log(loss) = a + b*log(N)")[0] == "log(loss) = a + b*log(N)"
    assert clean_line("L(N, D) = a + b*N")[0] == "a + b*N"
    assert extract("log(y) = c + b*log(N)", ["N"], ["loss"], 8)[0].law.log_fitted == (0,)
