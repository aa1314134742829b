"""Turn a model's reply into candidate laws, never evaluating anything.

Models wrap formulas in prose, code fences, numbering, ``L = ...`` and
LaTeX-ish notation. :func:`extract` strips that junk line by line, splits off
a one-line rationale, and parses what is left with the whitelist parser
(:meth:`lawagent.law.law.Law.parse`). Lines that are not even attempts at a
formula (prose without operators or feature names) are ignored; attempts that
fail to parse or break the parameter budget are *rejected* with the parser's
message, so the next prompt can show the model what went wrong.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

from lawagent.errors import FormulaError
from lawagent.law.law import Law

_LATEX = [
    (r"\\left|\\right|\\displaystyle|\$", ""),
    (r"\\cdot|\\times|\\ast", "*"),
    (r"\\(ln|log|exp|sqrt|tanh)\b", r"\1"),
    (r"\\frac\s*\{([^{}]*)\}\s*\{([^{}]*)\}", r"((\1)/(\2))"),
    (r"\\(alpha|beta|gamma|delta|epsilon|lambda|mu|nu|rho|sigma|tau|theta|kappa|eta|phi|psi|omega)\b", r"\1"),
    (r"[{]", "("),
    (r"[}]", ")"),
]
_NUMBERING = re.compile(r"^\s*(?:[-*•]+\s+|\(?\d{1,2}[.):]\s+|(?:law|candidate|formula)\s*\d*\s*[:.)-]\s*)", re.I)
_RATIONALE = re.compile(r"\s*#\s*|\s+(?://|--|—|–|\|)\s*")  # 'law  # why', 'law -- why', 'law | why'
_OPERATOR = re.compile(r"[-+*/^()]")


@dataclass
class Candidate:
    """One line of a reply: the formula it held, and either a parsed law or why it was rejected."""

    raw: str
    formula: str
    rationale: str = ""
    law: Law | None = None
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.law is not None


def clean_line(line: str) -> tuple[str, str]:
    """(formula text, rationale) from one line of a reply."""
    text = line.strip().strip("`").strip()
    text = _NUMBERING.sub("", text)
    text = re.sub(r"^\*\*(.*?)\*\*:?", r"\1", text)  # **bold** labels
    inline = re.findall(r"`([^`]+)`", text)
    if inline:  # 'Law 1: `A/x^a + E` because ...'
        formula = max(inline, key=len)
        rationale = text.replace(f"`{formula}`", " ").strip(" :-—")
        return _delatex(formula), rationale
    parts = _RATIONALE.split(text, maxsplit=1)
    formula, rationale = parts[0], (parts[1] if len(parts) > 1 else "")
    return _delatex(formula), rationale.strip().rstrip(")").strip()


def _delatex(text: str) -> str:
    for pattern, repl in _LATEX:
        text = re.sub(pattern, repl, text)
    text = text.strip().rstrip(".,;:").strip()
    # 'L(N, D) = ...', but not 'log(loss) = ...' (a law fitted to the log of the target: the parser reads it)
    text = re.sub(r"^(?!log\s*\()(?:[A-Za-z_][A-Za-z0-9_]*\s*\([^()]*\)\s*=)", "", text).strip()
    head, sep, rest = text.partition("=")
    if sep and re.fullmatch(r"\s*[A-Za-z_][A-Za-z0-9_]*\s*", head) and "=" not in rest:
        text = rest.strip()  # 'loss = ...'
    return text


def is_attempt(formula: str, features: Sequence[str]) -> bool:
    """Does this look like an attempt at a formula (not a prose line like 'Here are five laws:')?"""
    if not formula:
        return False
    if any(re.search(rf"\b{re.escape(f)}\b", formula) for f in features):
        return True
    prose = re.search(r"\b[A-Za-z]{2,}\s+[A-Za-z]{2,}\b", formula)  # two words in a row
    return bool(_OPERATOR.search(formula)) and not prose


def extract(reply: str, features: Sequence[str], targets: Sequence[str], budget: int | None,
            limit: int = 50) -> list[Candidate]:
    """Every formula attempt in ``reply``, parsed (``ok``) or rejected with the parser's message."""
    out: list[Candidate] = []
    seen: set[str] = set()
    for line in reply.replace("\r", "").split("\n"):
        if line.strip().startswith("```") or not line.strip():
            continue
        formula, rationale = clean_line(line)
        if not is_attempt(formula, features) or formula in seen:
            continue
        seen.add(formula)
        cand = Candidate(raw=line.strip()[:300], formula=formula[:300], rationale=rationale[:200])
        try:
            cand.law = Law.parse(formula, features, targets=list(targets), budget=budget)
        except FormulaError as err:
            cand.error = str(err)
        except (RecursionError, ValueError, TypeError, OverflowError, ZeroDivisionError) as err:
            cand.error = f"could not be parsed ({type(err).__name__})"
        out.append(cand)
        if len(out) >= limit:
            break
    return out
