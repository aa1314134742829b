"""A candidate as one line of ``candidates.jsonl``, and back (for resume and reports)."""

from __future__ import annotations

import math
from dataclasses import fields
from typing import Any, Mapping

from lawagent.jsonio import json_safe
from lawagent.proposers.base import CandidateRecord


def record_to_dict(record: CandidateRecord, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The record's fields and ``extra``, JSON-safe. ``json_safe`` copies every dict and list it meets, so
    the fields are read as they are (``asdict``'s deep copy was most of writing a candidate)."""
    return json_safe({f.name: getattr(record, f.name) for f in fields(record)} | dict(extra or {}))


def record_from_dict(data: Mapping[str, Any]) -> CandidateRecord:
    keys = CandidateRecord.__dataclass_fields__
    values = {k: v for k, v in data.items() if k in keys}
    for k in ("val_r2", "fit_r2"):
        if values.get(k) is None:
            values[k] = -math.inf
    if values.get("probe_violation") is None:
        values["probe_violation"] = 0.0
    values["fold_r2"] = [-math.inf if v is None else float(v) for v in values.get("fold_r2") or []]
    values["params"] = {g: {p: (math.nan if v is None else float(v)) for p, v in ps.items()}
                        for g, ps in (values.get("params") or {}).items()}
    return CandidateRecord(**values)
