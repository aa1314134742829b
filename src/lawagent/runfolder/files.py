"""The run folder ``results/<run-id>/``: its files, written safely and read back one way.

- ``config.json``      what was asked (task spec, proposer, budgets, seed, version)
- ``candidates.jsonl`` one evaluated candidate per line, appended, flushed and
                       fsynced per batch (a torn last line after kill -9 is ignored)
- ``state.json``       progress (iterations done, history), for ``--resume``
- ``equations.csv``    the current Pareto front, rewritten after every iteration
- ``best.json``        the current best candidate, rewritten after every iteration
- ``final.json``       the report: final laws refit on all training rows, test scores
- ``lock``             the writer's PID; locked while a run writes the folder (:mod:`.lock`)

Every file except the JSON-lines log is replaced atomically (temp + os.replace).
Discovery writes through :class:`RunDir`; export, report and ``lawagent show``
read through it too (:mod:`lawagent.runfolder.run`), so a damaged file means the
same thing to all of them.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterable

from lawagent.atomic import write_text
from lawagent.errors import LawagentError
from lawagent.jsonio import dumps, write_json
from lawagent.runfolder.lock import RunLock, lock_folder

CANDIDATES = "candidates.jsonl"
CONFIG = "config.json"
STATE = "state.json"
EQUATIONS = "equations.csv"
BEST = "best.json"
FINAL = "final.json"


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

    def lock(self) -> RunLock:
        """Take the folder's exclusive lock (creating the folder): one writer at a time, see :mod:`.lock`."""
        return lock_folder(self.path)

    def has_candidates(self) -> bool:
        """Whether any candidate has been recorded (a run with none has nothing to resume)."""
        path = self.path / CANDIDATES
        return path.is_file() and path.stat().st_size > 0

    # -- candidates --------------------------------------------------------
    def append_candidates(self, rows: Iterable[dict[str, Any]]) -> None:
        lines = "".join(dumps(r, indent=None) for r in rows)
        if not lines:
            return
        with open(self.path / CANDIDATES, "a", encoding="utf-8") as fh:
            fh.write(lines)
            fh.flush()
            os.fsync(fh.fileno())

    def load_candidates(self) -> list[dict[str, Any]]:
        """Every complete line of candidates.jsonl.

        A torn last line (the process died while appending it) is dropped; any
        other line that is not a JSON object means the file is damaged, and is an
        error naming the line.
        """
        path = self.path / CANDIDATES
        if not path.is_file():
            return []
        out = []
        try:
            lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
        except (OSError, UnicodeDecodeError) as err:
            raise LawagentError(f"{path}: cannot read: {err}") from None
        for i, line in enumerate(lines):
            if not line.strip():
                continue
            last = i >= len(lines) - 1
            try:
                data = json.loads(line)
            except json.JSONDecodeError:
                if last:
                    break
                raise LawagentError(f"{path}: line {i + 1} is not valid JSON (file damaged)") from None
            if not line.endswith("\n"):
                break  # a complete-looking but unterminated last line may still be torn
            if not isinstance(data, dict):
                raise LawagentError(f"{path}: line {i + 1} is not a JSON object (file damaged)")
            out.append(data)
        return out

    def rewrite_candidates(self, rows: Iterable[dict[str, Any]]) -> None:
        write_text(self.path / CANDIDATES, "".join(dumps(r, indent=None) for r in rows))

    # -- json files --------------------------------------------------------
    def write(self, name: str, data: Any) -> None:
        write_json(self.path / name, data)

    def read(self, name: str) -> dict[str, Any] | None:
        """A JSON object file of the folder, or None if it is not there."""
        path = self.path / name
        if not path.is_file():
            return None
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as err:
            raise LawagentError(f"{path}: cannot read: {err}") from None
        except json.JSONDecodeError as err:
            raise LawagentError(f"{path}: not valid JSON: {err}") from None
        if not isinstance(data, dict):
            raise LawagentError(f"{path}: expected a JSON object")
        return data

    def write_equations(self, frame) -> None:
        write_text(self.path / EQUATIONS, frame.to_csv(index=False))
