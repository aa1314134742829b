"""JSON out, one way: :func:`json_safe` for values, :func:`write_json` for files.

Every JSON file lawagent writes (run folders, benchmark cells, LLM statistics)
goes through :func:`write_json`: strict JSON (no NaN tokens, which other
readers reject), indented, and replaced atomically (:mod:`lawagent.atomic`),
so a reader or a resumed run never sees half a file.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from lawagent.atomic import write_text

__all__ = ["dumps", "json_safe", "write_json"]


def json_safe(value: Any) -> Any:
    """JSON-safe: NaN/inf become None, tuples become lists, numpy scalars become floats."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, (np.floating, float)):
        v = float(value)
        return v if math.isfinite(v) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


def dumps(data: Any, indent: int | None = 2) -> str:
    """Strict JSON text of ``data`` (after :func:`json_safe`), ending in a newline."""
    return json.dumps(json_safe(data), indent=indent, allow_nan=False) + "\n"


def write_json(path: str | os.PathLike, data: Any) -> Path:
    """Write ``data`` as strict JSON to ``path`` atomically (temp file, fsync, rename)."""
    return write_text(path, dumps(data))
