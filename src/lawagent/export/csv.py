"""The CSV export: the equations table, one law per row."""

from __future__ import annotations

import csv
import io
import math
from typing import Any, Iterable, Sequence

from lawagent.records import LawRecord

_CSV_COLUMNS = ["rank", "complexity", "n_params", "val_r2", "train_r2", "test_r2", "test_nmse", "test_nmae",
                "origin", "formula", "raw_formula"]


def to_csv(records: Iterable[tuple[int, LawRecord]], raw: Sequence[LawRecord] | None = None) -> str:
    """The equations table: rank, complexity, scores and formula, one law per row; ``raw`` gives the form
    the search wrote of each (default: the formula itself)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(_CSV_COLUMNS)
    records = list(records)
    raw = list(raw) if raw is not None else [r for _, r in records]
    for (rank, r), source in zip(records, raw):
        test = r.test or {}
        w.writerow([rank, r.complexity, len(r.parameters), _cell(r.val_r2), _cell(r.train_r2), _cell(test.get("r2")),
                    _cell(test.get("nmse")), _cell(test.get("nmae")), r.origin, r.formula, source.formula])
    return buf.getvalue()


def _cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return repr(v) if math.isfinite(v) else ""
    return str(v)

