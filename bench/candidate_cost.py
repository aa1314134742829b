"""What the search pays per candidate, timed the same way on any lawagent commit.

`lawagent bench-fit --options candidate` measures the current code. To compare
commits, run this script with the other checkout's sources on PYTHONPATH: it
uses only what older commits have too (the search's validation folds, evaluate_candidate
with extra folds, Proposal, bench-fit's generic_formula), and takes the
synthetic tasks from the file next to it, so both sides time the same rows.

    PYTHONPATH=src python bench/candidate_cost.py --repeats 5 --tasks sft_scaling_law,synthetic-10k
    PYTHONPATH=/path/to/old/checkout/src python bench/candidate_cost.py --repeats 5 --tasks sft_scaling_law

One JSON line per (task, law): median wall and CPU seconds per candidate, and the scores.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"  # before numpy is imported

import argparse  # noqa: E402
import importlib.util  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from sympy.core.cache import clear_cache  # noqa: E402

from lawagent.cli.bench_fit_cmd import generic_formula  # noqa: E402
from lawagent.discovery.evaluator import EvalOptions, evaluate_candidate  # noqa: E402
from lawagent.proposers.base import Proposal  # noqa: E402
from lawagent.task import list_tasks, load_task  # noqa: E402

SYNTHETIC_FILE = Path(__file__).resolve().parents[1] / "src" / "lawagent" / "bench" / "synthetic.py"


def _synthetic():
    spec = importlib.util.spec_from_file_location("candidate_cost_synthetic", SYNTHETIC_FILE)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _folds(task):
    """The search's default folds: the selection protocol's (since issue 11), else Task.validation_folds."""
    try:
        from lawagent.selection.protocol import protocol_for
    except ImportError:
        return task.validation_folds(0.2, 2)
    return [(f.fit, f.val) for f in protocol_for(task).folds(task.train())]


def _cold() -> None:
    """A new candidate's text: nothing parsed or compiled is cached (newer commits cache both)."""
    clear_cache()
    from lawagent.law import compile as compile_module

    forget = getattr(compile_module, "forget_compiled", None)  # older commits cache nothing
    if forget is not None:
        forget()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--tasks", default="all", help="'all' (bundled), task names, synthetic-10k, synthetic-100k")
    args = parser.parse_args()
    synthetic = _synthetic()
    names = [n for part in args.tasks.split(",") for n in (list_tasks() if part == "all" else [part]) if n]
    for name in names:
        task = synthetic.synthetic_task(name) if synthetic.is_synthetic(name) else load_task(name)
        (fit, val), *extra = _folds(task)
        ref = task.reference
        laws = [("reference", Proposal(tuple(ref.formulas), bounds=dict(ref.bounds), initial=dict(ref.initial))),
                ("generic", Proposal(tuple(f.strip() for f in generic_formula(task).split(";"))))]
        for label, proposal in laws:
            walls, cpus = [], []
            for _ in range(args.repeats):
                _cold()
                wall, cpu = time.perf_counter(), time.process_time()
                record = evaluate_candidate(proposal, task.features, task.targets, task.parameter_budget, fit, val,
                                            EvalOptions(), extra_folds=extra)
                walls.append(time.perf_counter() - wall)
                cpus.append(time.process_time() - cpu)
            print(json.dumps({"task": name, "law": label, "repeats": args.repeats, "wall": float(np.median(walls)),
                              "cpu": float(np.median(cpus)), "val_r2": record.val_r2, "fold_r2": record.fold_r2,
                              "error": record.error}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
