"""A run's laws in one format (``lawagent export``), and PySR-style access to one law's exports."""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from lawagent.errors import LawagentError
from lawagent.export.csv import to_csv
from lawagent.export.json import to_json, to_json_many
from lawagent.export.latex import latex_escape, to_latex
from lawagent.export.python import to_python
from lawagent.export.sldbench import to_sldbench
from lawagent.export.sympy import to_sympy, to_sympy_text
from lawagent.readable.record import readable_record
from lawagent.records import LawRecord
from lawagent.runfolder.run import Run

FORMATS = ("sympy", "latex", "python", "json", "csv", "sldbench")
FORMS = ("readable", "raw")


class LawExport:
    """PySR-style access to one law's exports: ``LawExport(run.best).latex()``."""

    def __init__(self, record: LawRecord, meta: Mapping[str, Any] | None = None):
        self.record = record
        self.meta = dict(meta or {})

    def sympy(self, group: str | None = None):
        return to_sympy(self.record, group)

    def latex(self, group: str | None = None, **kwargs) -> str:
        return to_latex(self.record, group, **kwargs)

    def to_python(self) -> str:
        return to_python(self.record, self.meta)

    def to_json(self) -> str:
        return to_json(self.record, self.meta)

    def to_sldbench(self) -> str:
        return to_sldbench(self.record, self.meta)

    def predict(self, X: Mapping[str, np.ndarray], groups) -> np.ndarray:
        return self.record.predict(X, groups)


def export_run(run: Run, fmt: str, which: str | int | None = None, *, group: str | None = None,
               form: str = "readable") -> str:
    """Render the selected laws of a run in one format (see :data:`FORMATS`), in their readable form
    (``form="raw"``: as the search wrote them)."""
    if fmt not in FORMATS:
        raise LawagentError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if form not in FORMS:
        raise LawagentError(f"unknown form {form!r}; choose one of {', '.join(FORMS)}")
    if which is None:
        which = "all" if fmt == "csv" else "best"
    selected = run.select(which)
    shown = shown_laws(run, [rec for _, rec in selected]) if form == "readable" else [rec for _, rec in selected]
    chosen = [(rank, law) for (rank, _), law in zip(selected, shown)]
    if fmt == "csv":
        return to_csv(chosen, raw=[rec for _, rec in selected])
    if fmt == "json":
        metas = [run.meta(rank) | ({"raw": {"formulas": raw.formulas, "params": raw.params}} if law is not raw else {})
                 for (rank, raw), (_, law) in zip(selected, chosen)]
        if len(chosen) == 1:
            return to_json(chosen[0][1], metas[0])
        return to_json_many([(rec, meta) for (_, rec), meta in zip(chosen, metas)])
    if fmt in ("python", "sldbench"):
        if len(chosen) != 1:
            raise LawagentError(f"--format {fmt} writes one law: use --which best or --which N")
        rank, rec = chosen[0]
        if group is not None:
            raise LawagentError(f"--group does not apply to --format {fmt} (it holds every group's values)")
        return to_python(rec, run.meta(rank)) if fmt == "python" else to_sldbench(rec, run.meta(rank))
    parts = []
    for rank, rec in chosen:
        if group not in (None, "all") and group not in rec.params:
            known = ", ".join(list(rec.params)[:8])
            raise LawagentError(f"--group {group!r} is not a group of this law; groups: {known}")
        title = _title(run, rank, rec)
        if fmt == "sympy":
            parts.append(f"# {title}\n{to_sympy_text(rec, group if group != 'all' else None)}")
        else:
            parts.append(f"% {latex_escape(title)}\n{to_latex(rec, group)}")
    return "\n\n".join(p.rstrip("\n") for p in parts) + "\n"


def shown_laws(run: Run, records: list[LawRecord]) -> list[LawRecord]:
    """``records`` in readable form: stored in the run, else computed from the task's training rows
    (the raw record where neither is possible)."""
    train = None
    if any(not rec.readable for rec in records):
        try:
            train = run.task().train()
        except LawagentError:
            train = None  # the task cannot be rebuilt here (a moved CSV): show the raw laws
    return [readable_record(rec, train) for rec in records]


def _title(run: Run, rank: int, rec: LawRecord) -> str:
    bits = [f"law {rank} of run {run.run_id}", f"task {rec.task or '?'}"]
    if isinstance(rec.val_r2, (int, float)):
        bits.append(f"validation R2 {rec.val_r2:.6g}")
    if isinstance(rec.test_r2, (int, float)):
        bits.append(f"test R2 {rec.test_r2:.6g}")
    return ", ".join(bits)

