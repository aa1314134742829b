"""A law record in its readable form: what the CLI, exports and the law card show.

Discovery stores the readable form in each record (``final.json``: ``readable``
beside the raw ``formulas``/``params``); for records without one (older runs,
hand-made files) it is computed from the task's training rows.
"""

from __future__ import annotations

import dataclasses
import re

from lawagent.errors import LawagentError
from lawagent.readable.form import Readable, readable_form
from lawagent.records import LawRecord
from lawagent.task import DataSplit
from lawagent.uncertainty import standard_errors


def attach_readable(record: LawRecord, train: DataSplit) -> Readable:
    """Compute the readable form (and its standard errors) from the training rows ``train``; store it in
    ``record``."""
    readable = readable_form(record.law(), record.params, train.X, train.groups, record.targets)
    readable.stderr = standard_errors(readable.law(record.features, record.targets), readable.params, train)
    record.readable = readable.to_dict()
    return readable


def readable_of(record: LawRecord, train: DataSplit | None = None) -> Readable | None:
    """The record's readable form: stored, else computed from ``train`` (None without either)."""
    if record.readable:
        try:
            return Readable.from_dict(record.readable)
        except TypeError:
            pass  # a damaged entry: compute it again below
    if train is None:
        return None
    try:
        return attach_readable(record, train)
    except LawagentError:
        return None


def readable_record(record: LawRecord, train: DataSplit | None = None) -> LawRecord:
    """``record`` with its readable formulas and values (bounds kept where a parameter was only renamed);
    the record itself when it has no readable form."""
    readable = readable_of(record, train)
    if readable is None:
        return record
    bounds = {}
    for name, info in readable.roles.items():
        source = str(info.get("from", ""))
        if source in record.bounds and _is_name(source):
            bounds[name] = record.bounds[source]
    stderr = {g: dict(v) for g, v in readable.stderr.items()}
    return dataclasses.replace(record, formulas=list(readable.formulas), parameters=list(readable.parameters),
                               params={g: dict(v) for g, v in readable.params.items()}, stderr=stderr,
                               bounds=bounds, readable=None)


def _is_name(text: str) -> bool:
    return re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", text) is not None
