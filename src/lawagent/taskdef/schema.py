"""The keys of a task.toml and the type of each: one place for `tasks check` and `tasks new`.

This mirrors what :mod:`lawagent.task` reads (the loader stays the authority:
a folder that passes the check is also loaded by it). A key missing here is
reported as unknown by `tasks check`, so a new task.toml key must be added here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["Key", "TOP", "SPLIT", "COLUMN", "REFERENCE", "kind_ok", "KIND_NAMES"]


@dataclass(frozen=True)
class Key:
    kind: str  # one of KIND_NAMES
    required: bool = False


KIND_NAMES = {
    "str": "a string",
    "int": "a whole number",
    "number": "a number",
    "str_list": "a list of strings",
    "formula": "a string or a list of strings",
    "table": "a table",
}

TOP: dict[str, Key] = {
    "name": Key("str", required=True),
    "title": Key("str"),
    "description": Key("str"),
    "data": Key("str", required=True),
    "collection": Key("str"),
    "features": Key("str_list", required=True),
    "targets": Key("str_list", required=True),
    "group": Key("str"),
    "parameter_budget": Key("int", required=True),
    "scale": Key("str_list"),
    "split": Key("table"),
    "columns": Key("table"),
    "reference": Key("table"),
    "source": Key("table"),
}
SPLIT: dict[str, Key] = {
    "column": Key("str"),
    "rule": Key("str"),
    "description": Key("str"),
    "validation": Key("str"),
    "validation_reason": Key("str"),
}
COLUMN: dict[str, Key] = {"description": Key("str"), "unit": Key("str")}
REFERENCE: dict[str, Key] = {
    "formula": Key("formula", required=True),
    "citation": Key("str"),
    "published_r2": Key("number"),
    "notes": Key("str"),
    "initial": Key("table"),
    "bounds": Key("table"),
}


def kind_ok(value: Any, kind: str) -> bool:
    """Whether a TOML value has the given kind (booleans are not numbers)."""
    if kind == "str":
        return isinstance(value, str)
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == "str_list":
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    if kind == "formula":
        return isinstance(value, str) or (isinstance(value, list) and bool(value) and all(isinstance(v, str) for v in value))
    if kind == "table":
        return isinstance(value, dict)
    raise ValueError(f"unknown kind {kind!r}")
