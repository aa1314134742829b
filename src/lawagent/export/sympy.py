"""The sympy export: expressions (symbolic, or with one group's values) and their readable text."""

from __future__ import annotations

import sympy

from lawagent.export.common import group_values, targets_of
from lawagent.records import LawRecord


def to_sympy(record: LawRecord, group: str | None = None) -> sympy.Expr | list[sympy.Expr]:
    """The law as sympy (one expression, or a list for multi-target laws); ``group`` substitutes its values."""
    law = record.law()
    exprs = law.with_values(group_values(record, group)) if group is not None else law.outputs
    return exprs[0] if len(exprs) == 1 else list(exprs)


def to_sympy_text(record: LawRecord, group: str | None = None) -> str:
    """Readable string and srepr of each target's expression."""
    exprs = to_sympy(record, group)
    exprs = exprs if isinstance(exprs, list) else [exprs]
    lines = []
    for target, expr in zip(targets_of(record), exprs):
        lines += [f"{target} = {sympy.sstr(expr)}", f"srepr: {sympy.srepr(expr)}"]
    return "\n".join(lines)
