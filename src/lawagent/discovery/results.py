"""The run folder ``results/<run-id>/``: everything a run writes, written safely.

- ``config.json``      what was asked (task spec, proposer, budgets, seed, version)
- ``candidates.jsonl`` one evaluated candidate per line, appended, flushed and
                       fsynced per batch (a torn last line after kill -9 is ignored)
- ``state.json``       progress (iterations done, history), for ``--resume``
- ``equations.csv``    the current Pareto front, rewritten after every iteration
- ``best.json``        the current best candidate, rewritten after every iteration
- ``final.json``       the report: final laws refit on all training rows, test scores

Every file except the JSON-lines log is replaced atomically (temp + os.replace).
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any, Iterable, Mapping

from lawagent.atomic import write_text
from lawagent.errors import LawagentError
from lawagent.proposers.base import CandidateRecord
from lawagent.records import json_safe

CANDIDATES = "candidates.jsonl"
CONFIG = "config.json"
STATE = "state.json"
EQUATIONS = "equations.csv"
BEST = "best.json"
FINAL = "final.json"


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that readers see the old or the new file, never half of one."""
    write_text(path, text)


def atomic_write_json(path: Path, data: Any) -> None:
    atomic_write_text(path, json.dumps(json_safe(data), indent=2, allow_nan=False) + "\n")


def record_to_dict(record: CandidateRecord, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    return json_safe(asdict(record) | dict(extra or {}))


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


class RunDir:
    """Reads and writes one run folder."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def create(self) -> None:
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise LawagentError(f"cannot create run folder {self.path}: {err.strerror}") from None

    def exists(self) -> bool:
        return (self.path / CONFIG).is_file()

    # -- candidates --------------------------------------------------------
    def append_candidates(self, rows: Iterable[dict[str, Any]]) -> None:
        lines = "".join(json.dumps(r, allow_nan=False) + "\n" for r in rows)
        if not lines:
            return
        with open(self.path / CANDIDATES, "a", encoding="utf-8") as fh:
            fh.write(lines)
            fh.flush()
            os.fsync(fh.fileno())

    def load_candidates(self) -> list[dict[str, Any]]:
        """Every complete line of candidates.jsonl; a torn (unparseable) last line is dropped."""
        path = self.path / CANDIDATES
        if not path.is_file():
            return []
        out = []
        lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
        for i, line in enumerate(lines):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
            except json.JSONDecodeError:
                if i >= len(lines) - 1:
                    break  # torn last line: the process died while appending it
                raise LawagentError(f"{path}: line {i + 1} is not valid JSON (file damaged)") from None
            if not line.endswith("\n"):
                break  # a complete-looking but unterminated last line may still be torn
            out.append(data)
        return out

    def rewrite_candidates(self, rows: Iterable[dict[str, Any]]) -> None:
        atomic_write_text(self.path / CANDIDATES, "".join(json.dumps(r, allow_nan=False) + "\n" for r in rows))

    # -- json files --------------------------------------------------------
    def write(self, name: str, data: Any) -> None:
        atomic_write_json(self.path / name, data)

    def read(self, name: str) -> dict[str, Any] | None:
        path = self.path / name
        if not path.is_file():
            return None
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as err:
            raise LawagentError(f"{path}: cannot read: {err}") from None

    def write_equations(self, frame) -> None:
        atomic_write_text(self.path / EQUATIONS, frame.to_csv(index=False))
