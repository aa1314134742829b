"""The JSON export: one law (or several) with fitted values, scores and run metadata; read back by
:func:`law_from_json` and :func:`lawagent.export.law_file.load_law_file`."""

from __future__ import annotations

import json
from typing import Any, Mapping, Sequence

from lawagent.errors import LawagentError
from lawagent.export.common import targets_of
from lawagent.jsonio import dumps, json_safe
from lawagent.records import LawRecord
from lawagent.runfolder.run import law_record

JSON_FORMAT = "lawagent.law"  # the "format" tag of a one-law JSON export
JSON_FORMAT_MANY = "lawagent.laws"


def to_json(record: LawRecord, meta: Mapping[str, Any] | None = None, *, indent: int | None = 2) -> str:
    """Machine-readable, round-trippable law: read back by :func:`law_from_json` / :func:`load_law_file`."""
    return dumps(_json_dict(record, meta), indent=indent)


def _json_dict(record: LawRecord, meta: Mapping[str, Any] | None) -> dict[str, Any]:
    from lawagent import __version__

    data = {"format": JSON_FORMAT, "format_version": 1, "lawagent_version": __version__}
    data.update(record.to_dict())
    data["targets"] = targets_of(record)
    if meta:
        data.update(json_safe({k: v for k, v in meta.items() if k in ("task", "run", "raw")}))
    return data


def law_from_json(data: str | Mapping[str, Any]) -> LawRecord:
    """A LawRecord from a JSON export (text or parsed); a many-law export gives its first (best) law."""
    if isinstance(data, str):
        try:
            data = json.loads(data)
        except json.JSONDecodeError as err:
            raise LawagentError(f"not valid JSON: {err}") from None
    if isinstance(data, Mapping) and data.get("format") == JSON_FORMAT_MANY:
        data = (data.get("laws") or [None])[0]
    return law_record(data, "law JSON")


def to_json_many(items: Sequence[tuple[LawRecord, Mapping[str, Any] | None]]) -> str:
    from lawagent import __version__

    laws = [_json_dict(r, m) for r, m in items]
    return dumps({"format": JSON_FORMAT_MANY, "format_version": 1, "lawagent_version": __version__, "laws": laws})
