"""The LaTeX export: the equation (symbolic or with fitted values) and a table of values per group."""

from __future__ import annotations

import math
import re
from typing import Any

import sympy

from lawagent.export.common import group_values, targets_of
from lawagent.law.law import Law
from lawagent.records import LawRecord

_GREEK = {
    "alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa", "lambda", "mu", "nu",
    "xi", "pi", "rho", "sigma", "tau", "upsilon", "phi", "chi", "psi", "omega",
    "Gamma", "Delta", "Theta", "Lambda", "Xi", "Pi", "Sigma", "Upsilon", "Phi", "Psi", "Omega",
}
_LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                  "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}


def latex_escape(text: str) -> str:
    return "".join(_LATEX_SPECIAL.get(c, c) for c in str(text))


def latex_name(name: str) -> str:
    """x, E_max, alpha, beta_2 the way sympy sets them; longer names upright (\\mathrm{sft\\_loss})."""
    m = re.fullmatch(r"([A-Za-z]+)_?([A-Za-z0-9]*)", name)
    if m and (len(m.group(1)) == 1 or m.group(1) in _GREEK) and ("_" in name or m.group(2).isdigit() or not m.group(2)):
        return sympy.latex(sympy.Symbol(name))
    return r"\mathrm{" + latex_escape(name) + "}"


def to_latex(record: LawRecord, group: str | None = None, *, digits: int = 4, table: bool = True,
             equation_env: bool = True) -> str:
    """LaTeX of the law: symbolic, or with ``group``'s fitted values ('all' = one equation per group);
    ``table`` appends a tabular of fitted values per group."""
    law, names = _latex_law(record)
    groups = list(record.params) if group == "all" else ([] if group is None else [group])
    blocks = []
    blocks.append(_latex_equations(record, law, law.expressions, names, None, equation_env))
    for g in groups:
        values = {k: _round(v, digits) for k, v in group_values(record, g).items()}
        blocks.append(_latex_equations(record, law, law.with_values(values, as_written=True), names, g, equation_env))
    if table and record.params:
        blocks.append(_latex_table(record, law, names, digits))
    return "\n\n".join(blocks) + "\n"


_SCALED = re.compile(r"\((\w+)/1e(-?\d+)\)")


def _latex_law(record: LawRecord) -> tuple[Law, dict[sympy.Symbol, str]]:
    """The law and the LaTeX name of each symbol; a readable form's ``(N/1e9)`` is set as one
    :math:`(N/10^{9})` factor, not multiplied out."""
    features = set(record.features)
    scaled: dict[str, str] = {}

    def mark(m: re.Match) -> str:
        feature, k = m.group(1), int(m.group(2))
        if feature not in features:
            return m.group(0)
        name = f"{feature}__over_1e{k}".replace("-", "m")
        scaled[name] = "\\frac{%s}{10^{%d}}" % (latex_name(feature), k)
        return f"({name})"  # keeps a function's own parenthesis: log(N/1e9)

    formulas = [_SCALED.sub(mark, text) for text in record.formulas]
    law = Law.parse(formulas, [*record.features, *scaled],
                    targets=record.targets if len(record.targets) > 1 else None)
    names = {sympy.Symbol(n): latex_name(n) for n in (*record.features, *law.parameters)}
    names.update({sympy.Symbol(n): tex for n, tex in scaled.items()})
    return law, names


def _latex_equations(record, law: Law, exprs, names, group, env) -> str:
    """One equation per target: ``exprs`` are the right-hand sides as written, so a law fitted to log y
    reads ``\\log L = ...``."""
    lines = []
    if group is not None:
        lines.append(f"% group {latex_escape(group)}")
    for t, (target, expr) in enumerate(zip(targets_of(record), exprs)):
        lhs = f"\\log {latex_name(target)}" if t in law.log_fitted else latex_name(target)
        body = f"{lhs} = {sympy.latex(expr, symbol_names=names)}"
        lines.append("\\begin{equation}\n" + body + "\n\\end{equation}" if env else body)
    return "\n".join(lines)


def _latex_table(record: LawRecord, law: Law, names, digits: int) -> str:
    params = list(law.parameters)
    head = " & ".join([latex_escape(record.group_column or "group")] + [f"${names[sympy.Symbol(p)]}$" for p in params])
    rows = []
    for g, values in record.params.items():
        cells = [latex_escape(g)]
        for p in params:
            v = values.get(p)
            err = (record.stderr.get(g) or {}).get(p)
            cell = f"${_latex_number(v, digits)}$"
            if err is not None and isinstance(err, (int, float)) and math.isfinite(err) and err > 0:
                cell = f"${_latex_number(v, digits)} \\pm {_latex_number(err, 2)}$"
            cells.append(cell)
        rows.append(" & ".join(cells) + r" \\")
    return "\n".join([
        "% fitted parameters per group (on all training rows; \\pm = standard error)",
        "\\begin{tabular}{l" + "r" * len(params) + "}", "\\hline", head + r" \\", "\\hline", *rows, "\\hline",
        "\\end{tabular}",
    ])


def _latex_number(v: Any, digits: int) -> str:
    if v is None or not isinstance(v, (int, float)) or not math.isfinite(v):
        return r"\mathrm{nan}"
    return sympy.latex(sympy.Float(v, digits))


def _round(v: float, digits: int) -> sympy.Float:
    return sympy.Float(v if v is not None else math.nan, digits)

