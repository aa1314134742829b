"""A finished run folder read back: what export, report and ``lawagent show`` work from.

Reads through :class:`~lawagent.runfolder.files.RunDir` (one policy for damaged
files), and re-parses every law with the whitelist parser: a run folder is
untrusted input, it may have been edited or come from elsewhere.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from lawagent.errors import LawagentError
from lawagent.law.parse import split_formulas
from lawagent.records import LawRecord
from lawagent.runfolder.files import CONFIG, FINAL, RunDir
from lawagent.runfolder.task_spec import task_from_spec


@dataclass
class Run:
    """A discovery run folder read back: its final.json, laws and candidates."""

    path: Path
    final: dict[str, Any]
    laws: list[LawRecord]  # best first
    candidates: list[dict[str, Any]] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)  # config.json, if the run wrote one

    @property
    def run_id(self) -> str:
        return str(self.final.get("run_id") or self.path.name)

    @property
    def best(self) -> LawRecord:
        return self.laws[0]

    @property
    def history(self) -> list[list[float]]:
        return list(self.final.get("history") or [])

    @property
    def reference(self) -> LawRecord | None:
        """The task's human-derived law, refit by the run the same way (bundled tasks)."""
        ref = self.final.get("reference")
        return law_record(ref, f"{self.path / FINAL}: reference") if isinstance(ref, Mapping) else None

    def select(self, which: str | int | None = "best") -> list[tuple[int, LawRecord]]:
        """(rank, law) pairs for ``which``: 'best', 'all' or a 1-based rank N."""
        if which is None or which == "best":
            return [(1, self.laws[0])]
        if which == "all":
            return list(enumerate(self.laws, start=1))
        try:
            n = int(which)
        except (TypeError, ValueError):
            raise LawagentError(f"--which {which!r}: give 'best', 'all' or a rank N (1 = best)") from None
        if not 1 <= n <= len(self.laws):
            raise LawagentError(f"--which {n}: run {self.run_id} has {len(self.laws)} law(s); give 1..{len(self.laws)}")
        return [(n, self.laws[n - 1])]

    def one(self, which: str | int | None = "best") -> tuple[int, LawRecord]:
        """The (rank, law) pair of one law: 'best' or a rank N (a card or a report shows one law)."""
        if which == "all":
            raise LawagentError("--which all: this shows one law; give 'best' or a rank N (1 = best)")
        (pair,) = self.select(which)
        return pair

    def meta(self, rank: int = 1) -> dict[str, Any]:
        """Task and run metadata for exports (no data rows)."""
        keys = ("run_id", "lawagent_version", "seed", "proposer", "n_evaluated", "seconds")
        run = {k: self.final.get(k) for k in keys if k in self.final}
        run.setdefault("run_id", self.run_id)
        run["rank"] = rank
        return {"task": dict(self.final.get("task") or {}), "run": run}

    def task(self):
        """Rebuild the run's task (bundled name, task folder, or CSV + spec)."""
        spec = self.final.get("task") or self.config.get("task")
        return task_from_spec(spec, where=str(self.path / FINAL))


def load_run(path: str | os.PathLike) -> Run:
    """Read a run folder (or its final.json): laws best first, candidates if present."""
    p = Path(path).expanduser()
    final_path = p if p.is_file() else p / FINAL
    if not final_path.is_file():
        hint = " (the run may still be going: final.json is written when it ends)" if p.is_dir() else ""
        raise LawagentError(f"no run found at {p}: {final_path} does not exist{hint}")
    folder = RunDir(final_path.parent)
    final = folder.read(final_path.name) or {}
    raw = final.get("laws") or ([final["best"]] if final.get("best") else [])
    if not raw:
        raise LawagentError(f"{final_path}: the run recorded no law ('best' and 'laws' are empty)")
    laws = [law_record(item, f"{final_path}: law {i + 1}") for i, item in enumerate(raw)]
    return Run(folder.path, final, laws, folder.load_candidates(), folder.read(CONFIG) or {})


def law_record(data: Any, where: str) -> LawRecord:
    """A LawRecord from stored JSON, its formulas re-parsed by the whitelist parser; errors name ``where``."""
    if not isinstance(data, Mapping):
        raise LawagentError(f"{where}: expected an object, got {type(data).__name__}")
    missing = [k for k in ("formulas", "features", "targets", "params") if k not in data]
    if missing and not ("formula" in data and "features" in data):
        raise LawagentError(f"{where}: missing key(s) {', '.join(missing)}")
    data = dict(data)
    if "formulas" not in data:
        data["formulas"] = split_formulas(str(data["formula"]))
    data.setdefault("targets", [])
    data.setdefault("params", {})
    data.setdefault("parameters", [])
    try:
        record = LawRecord.from_dict(data)
        law = record.law()  # re-parse with the whitelist parser: fails loudly on bad text
    except LawagentError as err:
        raise LawagentError(f"{where}: {err}") from None
    except (TypeError, ValueError, AttributeError, KeyError) as err:
        raise LawagentError(f"{where}: malformed law record: {err}") from None
    if not record.parameters:
        record.parameters = list(law.parameters)
    return record
