"""What every export format needs: a law's target names, and one group's fitted values."""

from __future__ import annotations

import math

from lawagent.errors import LawagentError
from lawagent.records import LawRecord


def targets_of(record: LawRecord) -> list[str]:
    """The law's target names (y0, y1, ... where the record names none)."""
    return list(record.targets) if record.targets else [f"y{i}" for i in range(len(record.formulas))] or ["y"]


def group_values(record: LawRecord, group: str) -> dict[str, float]:
    """``group``'s fitted values (NaN where the run stored null)."""
    if group not in record.params:
        known = ", ".join(list(record.params)[:8]) + (", ..." if len(record.params) > 8 else "")
        raise LawagentError(f"unknown group {group!r}; groups of this law: {known}")
    return {k: (math.nan if v is None else float(v)) for k, v in record.params[group].items()}
