"""One benchmark cell: an independent discovery run (or the peer's fit) and its summary.

A cell writes its own run folder and ``bench_cell.json``. A cell started again
(after Ctrl-C, or after its worker died) finds its half-written folder and
resumes it with ``discover(resume=True)``, so nothing is lost or counted
twice. No cell ever gets seed laws.

A Ray worker on a node that does not see the benchmark folder (no shared
filesystem) runs its cell in a scratch folder and sends the finished files back
(:func:`run_cell_anywhere`); the driver puts them in place in one rename
(:func:`install_cell`).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import tempfile
import time
from pathlib import Path
from typing import Any

from lawagent.bench.layout import BENCH_FILE, CELL_FILE, FINAL, PEER, bench_task, cell_dir, is_finished
from lawagent.errors import LawagentError
from lawagent.jsonio import json_safe, write_json
from lawagent.machine import numeric_machine
from lawagent.records import LawRecord


def run_cell(bench_dir: str, task_name: str, seed: int, spec: dict[str, Any]) -> dict[str, Any]:
    """One independent discovery run (no seed laws); writes and returns its summary. Never raises."""
    from lawagent.discovery import discover

    d = cell_dir(Path(bench_dir), task_name, seed)
    if is_finished(d):  # a retried cell whose first attempt got as far as final.json
        summary = summary_from_final(d, task_name, seed)
        if summary["status"] == "done":
            write_json(d / CELL_FILE, summary)
        return summary
    if spec["proposer"] == PEER:
        return _peer_cell(d, task_name, seed, spec)
    try:
        task = bench_task(task_name, spec.get("dev") or False)
        resume = d.is_dir() and (d / "config.json").is_file()
        started = time.perf_counter()
        result = discover(
            task, proposer=spec["proposer"], iterations=spec["iterations"], max_candidates=spec["max_candidates"],
            time_limit=spec["time_limit"], batch_size=spec["batch_size"], seed=seed, workers=spec["workers"],
            out_dir=str(d.parent), run_id=d.name, resume=resume, seed_laws=(), progress=False,
            proposer_options=spec["proposer_options"],
        )
        if getattr(result, "stopped", "") == "interrupted":
            # Ctrl-C: discovery stopped early and wrote final.json; the cell did not get its budget,
            # so it stays unfinished (resumed next time) rather than entering the leaderboard
            final = d / FINAL
            if final.is_file():
                os.replace(final, d / "final.interrupted.json")
            return {"task": task_name, "seed": seed, "status": "interrupted", "error": "interrupted (Ctrl-C)"}
        summary = summary_from_result(result, task_name, seed)
        summary["wall_seconds"] = time.perf_counter() - started  # search + final refit (this session, if resumed)
        summary["resumed"] = resume
        summary["machine"] = numeric_machine()  # another CPU can give another cell (lawagent.machine)
    except LawagentError as err:
        summary = {"task": task_name, "seed": seed, "status": "failed", "error": str(err)}
    except Exception as err:  # a bug in a cell must not stop the other cells; keep the message
        summary = {"task": task_name, "seed": seed, "status": "failed", "error": f"{type(err).__name__}: {err}"}
    if summary["status"] == "done":
        write_json(d / CELL_FILE, summary)
    return summary


def _peer_cell(d: Path, task_name: str, seed: int, spec: dict[str, Any]) -> dict[str, Any]:
    """A cell of the Operon peer: its models and scores in ``final.json``, a summary like a law's."""
    from lawagent.peers.operon import DEFAULT_EVALUATIONS, fit_operon, mean_length

    options = spec.get("proposer_options") or {}
    try:
        task = bench_task(task_name, spec.get("dev") or False)
        result = fit_operon(task, seed=seed, evaluations=int(options.get("evaluations", DEFAULT_EVALUATIONS)),
                            time_limit=spec["time_limit"])
    except Exception as err:  # noqa: BLE001 - like run_cell: a cell never raises, its failure is recorded
        msg = str(err) if isinstance(err, LawagentError) else f"{type(err).__name__}: {err}"
        return {"task": task_name, "seed": seed, "status": "failed", "error": msg}
    d.mkdir(parents=True, exist_ok=True)
    summary = json_safe({
        "task": task_name, "seed": seed, "status": "done", "peer": "operon",
        "formula": "; ".join(next(iter(result.models.values()))), "n_parameters": None,
        "complexity": mean_length(result), "val_r2": None, "selection_score": None, "train_r2": result.train.r2,
        "test": {k: result.test.as_dict().get(k) for k in ("r2", "group_r2", "nmse", "nmae", "failed", "message")},
        "n_evaluated": result.evaluations * len(result.lengths), "seconds": result.seconds,
        "wall_seconds": result.seconds, "run_dir": str(d), "machine": numeric_machine(),
    })
    write_json(d / CELL_FILE, summary)  # first: a cell counts as finished once final.json exists
    write_json(d / FINAL, {**result.as_dict(), "peer": "operon", "task": {"name": task.name, "dev": task.dev}})
    return summary


def summary_from_result(result: Any, task: str, seed: int) -> dict[str, Any]:
    best: LawRecord | None = result.best
    if best is None:
        return {"task": task, "seed": seed, "status": "failed", "error": "the run found no valid law"}
    return _summary(best, task, seed, n_evaluated=result.n_evaluated, seconds=result.seconds,
                    proposer_stats=dict(getattr(result, "proposer_stats", None) or {}), run_dir=str(result.run_dir))


def summary_from_final(d: Path, task: str, seed: int) -> dict[str, Any]:
    """Rebuild a cell summary from discovery's final.json (when bench_cell.json is missing)."""
    data = json.loads((d / FINAL).read_text(encoding="utf-8"))
    best = data.get("best")
    if not isinstance(best, dict):
        return {"task": task, "seed": seed, "status": "failed", "error": f"{d / FINAL} holds no best law"}
    return _summary(LawRecord.from_dict(best), task, seed, n_evaluated=_first(data, "n_evaluated", "evaluated"),
                    seconds=_first(data, "seconds", "wall_seconds", "elapsed"),
                    proposer_stats=data.get("proposer_stats") or {}, run_dir=str(d))


def _summary(best: LawRecord, task: str, seed: int, **extra: Any) -> dict[str, Any]:
    return json_safe({
        "task": task, "seed": seed, "status": "done", "formula": best.formula, "formulas": list(best.formulas),
        "n_parameters": len(best.parameters), "complexity": best.complexity, "val_r2": best.val_r2,
        "selection_score": (best.selection or {}).get("score"),
        "train_r2": best.train_r2, "test": {k: (best.test or {}).get(k) for k in ("r2", "group_r2", "nmse", "nmae", "failed", "message")},
        **extra,
    })


def _first(data: dict, *keys: str) -> Any:
    for k in keys:
        if data.get(k) is not None:
            return data[k]
    for v in data.values():
        if isinstance(v, dict):
            for k in keys:
                if v.get(k) is not None:
                    return v[k]
    return None




# -- a cell on a node that may not see the benchmark folder ---------------------------------------

def run_cell_anywhere(bench_dir: str, task: str, seed: int,
                      spec: dict[str, Any]) -> tuple[dict[str, Any], dict[str, bytes] | None]:
    """Run a cell in place when this node sees the benchmark folder; else in a scratch folder,
    returning the finished cell's files (relative path -> bytes) for the driver to install."""
    host = socket.gethostname()
    if (Path(bench_dir) / BENCH_FILE).is_file():
        return run_cell(bench_dir, task, seed, spec) | {"host": host}, None
    with tempfile.TemporaryDirectory(prefix="lawagent-cell-") as scratch:
        summary = run_cell(scratch, task, seed, spec) | {"host": host}
        if summary.get("status") != "done":
            return summary, None
        d = cell_dir(Path(scratch), task, seed)
        summary["run_dir"] = str(cell_dir(Path(bench_dir), task, seed))  # where the driver puts it
        write_json(d / CELL_FILE, summary)
        files = {p.relative_to(d).as_posix(): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}
    return summary, files


def install_cell(d: Path, files: dict[str, bytes]) -> None:
    """Put a finished cell's files at ``d`` in one rename (a stale unfinished folder there is replaced)."""
    d = Path(d)
    if is_finished(d) and (d / CELL_FILE).is_file():
        return  # the same cell already arrived (e.g. a retry that finished twice)
    d.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{d.name}.", suffix=".incoming", dir=d.parent)).resolve()
    try:
        for rel, data in files.items():
            target = tmp / rel
            if tmp not in target.resolve().parents:
                raise ValueError(f"cell file {rel!r} points outside its folder")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        if d.exists():
            stale = d.with_name(f".{d.name}.stale")
            shutil.rmtree(stale, ignore_errors=True)
            os.replace(d, stale)
            shutil.rmtree(stale, ignore_errors=True)
        os.replace(tmp, d)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
