"""Build small discovery-run folders (final.json, candidates.jsonl, equations.csv) for the
export and report tests, the way `lawagent discover` writes them, from real fits on a
bundled task. Each candidate is fitted on the fit rows and scored on the validation rows
(both carved from train); each kept law is refitted on all training rows and scored on test."""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import Sequence

from lawagent import __version__
from lawagent.evaluate import evaluate, fit_split, parse_law, score_split
from lawagent.fit.fitter import FitOptions
from lawagent.proposers.base import CandidateRecord
from lawagent.jsonio import json_safe
from lawagent.records import LawRecord
from lawagent.selection.protocol import protocol_for
from lawagent.task import load_task

FAST = FitOptions(n_starts=24, n_refine=4, max_iter=150, time_limit=20.0)


def make_run(folder: Path, task_name: str, formulas: Sequence[str], options: FitOptions = FAST,
             run_id: str = "fixture-run") -> Path:
    """Evaluate ``formulas`` (candidates in proposal order) on a bundled task; write a run folder."""
    start = time.perf_counter()
    task = load_task(task_name)
    fold = protocol_for(task).carve(task.train())
    fit_rows, val_rows = fold.fit, fold.val
    candidates, history, best_val = [], [], -float("inf")
    for i, text in enumerate(formulas):
        law = parse_law(task, text)
        res = fit_split(law, fit_rows, options)
        val = score_split(res, val_rows)
        fit_sc = score_split(res, fit_rows)
        iteration = i // 2
        candidates.append(CandidateRecord(
            id=i, formula=law.text(), origin="fixture", iteration=iteration, complexity=law.complexity,
            n_params=law.n_parameters, val_r2=val.r2, fit_r2=fit_sc.r2, params=res.params_table(),
            error=val.message if val.failed else "",
        ))
        best_val = max(best_val, val.r2)
        if not history or history[-1][0] != iteration:
            history.append([iteration, i + 1, best_val, time.perf_counter() - start])
        else:
            history[-1] = [iteration, i + 1, best_val, time.perf_counter() - start]
    ranked = sorted(candidates, key=lambda c: -c.val_r2)[:3]
    laws = []
    for c in ranked:
        ev = evaluate(task, parse_law(task, c.formula), options)
        laws.append(LawRecord.from_evaluation(ev, task, val_r2=c.val_r2, origin=c.origin).to_dict())
    final = {
        "lawagent_version": __version__, "run_id": run_id,
        "task": {"name": task.name, "features": list(task.features), "targets": list(task.targets),
                 "group_column": task.group_column, "source": "bundled", "path": None, "csv_spec": None},
        "best": laws[0], "laws": laws, "n_evaluated": len(candidates), "seconds": time.perf_counter() - start,
        "seed": 0, "proposer": "fixture", "proposer_stats": {}, "history": history,
    }
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "final.json").write_text(json.dumps(json_safe(final), indent=2))
    with open(folder / "candidates.jsonl", "w") as fh:
        for c in candidates:
            fh.write(json.dumps(json_safe(asdict(c))) + "\n")
    return folder


SFT_LAWS = [
    "B/(D_l + sft_data_size^beta) + E",
    "A*sft_data_size^(-alpha) + E",
    "a + b*log(sft_data_size)",
    "A*sft_data_size^(-alpha)",
    "E + A/(sft_data_size + c)",
]

PARALLEL_LAWS = [
    "(A/(num_params*(k*log(parallel_size) + 1)))^alpha + E",
    "A*num_params^(-alpha) + E",
    "A*num_params^(-alpha)*parallel_size^(-b) + E",
]


_CACHE: dict[str, Path] = {}


def real_run(task_name: str = "parallel_scaling_law") -> Path:
    """A tiny real `lawagent.discover` run (symbolic proposer, 2 iterations), made once per test session."""
    if task_name not in _CACHE:
        import atexit
        import shutil
        import tempfile

        from lawagent.discovery.api import discover

        root = Path(tempfile.mkdtemp(prefix="lawagent-export-test-"))
        atexit.register(shutil.rmtree, root, True)
        result = discover(task_name, iterations=2, batch_size=16, out_dir=root, run_id="tiny", progress=False,
                          workers=1, seed=0, top_k=3)
        _CACHE[task_name] = result.run_dir
    return _CACHE[task_name]
