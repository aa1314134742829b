"""Read a law back from a file: a lawagent JSON export, a run's final.json / best.json, or formula text.

``lawagent evaluate TASK --law-file FILE`` scores what an external agent or a
past run wrote, so any benchmark cell can be re-scored: plain text holds one
formula, or one per target on lines or ';'-separated ('#' starts a comment);
JSON holds ``formula`` or ``formulas`` and optional ``bounds``; a run file
(``{"best": {...}}``) gives its best law.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Mapping

from lawagent.errors import LawagentError
from lawagent.export.json import JSON_FORMAT_MANY
from lawagent.law.parse import split_formulas
from lawagent.records import bound_pair

_MAX_FILE = 50_000_000


def load_law_file(path: str | os.PathLike) -> tuple[list[str], dict[str, tuple[float, float]]]:
    """(formulas, bounds) from a law file: a JSON export or run file, or plain text.

    Plain text holds one formula, or one per target on separate lines or separated
    by ';'; blank lines and lines starting with '#' are ignored. Formulas are
    returned as text: parse them against a task with ``lawagent.evaluate.parse_law``.
    """
    p = Path(path).expanduser()
    try:
        if p.is_file() and p.stat().st_size > _MAX_FILE:
            raise LawagentError(f"law file {p}: larger than {_MAX_FILE // 1_000_000} MB")
        text = p.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise LawagentError(f"law file not found: {p}") from None
    except (OSError, UnicodeDecodeError) as err:
        raise LawagentError(f"law file {p}: cannot read: {err}") from None
    stripped = text.strip()
    if stripped.startswith("{"):
        try:
            data = json.loads(stripped)
        except json.JSONDecodeError as err:
            raise LawagentError(f"law file {p}: looks like JSON but is not valid: {err}") from None
        if not isinstance(data, dict):
            raise LawagentError(f"law file {p}: JSON needs an object with 'formulas' (a list of formula strings) or 'formula'")
        if isinstance(data.get("best"), dict) and "formulas" not in data and "formula" not in data:
            data = data["best"]  # a run's final.json or best.json: its best law
        if data.get("format") == JSON_FORMAT_MANY:
            laws = data.get("laws") or []
            if not laws:
                raise LawagentError(f"law file {p}: holds no laws")
            data = laws[0]
        formulas = data.get("formulas")
        if formulas is None and isinstance(data.get("formula"), str):
            formulas = split_formulas(data["formula"])
        if not (isinstance(formulas, list) and formulas and all(isinstance(f, str) and f.strip() for f in formulas)):
            raise LawagentError(f"law file {p}: JSON needs 'formulas' (a list of formula strings) or 'formula'")
        bounds_raw = data.get("bounds") or {}
        if not isinstance(bounds_raw, Mapping):
            raise LawagentError(f"law file {p}: 'bounds' must map parameter names to [low, high]")
        bounds = {}
        for name, pair in bounds_raw.items():
            try:
                bounds[str(name)] = bound_pair(pair)
            except (TypeError, ValueError):
                raise LawagentError(f"law file {p}: bounds of {name!r} must be [low, high], got {pair!r}") from None
        return [f.strip() for f in formulas], bounds
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.strip().startswith("#")]
    formulas = split_formulas(";".join(lines))
    if not formulas:
        raise LawagentError(f"law file {p}: no formula in it (blank lines and '#' comments are ignored)")
    return formulas, {}

