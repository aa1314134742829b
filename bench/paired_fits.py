"""Fit the same candidates with the numpy refinement and the compiled one, and compare.

A change to how fits run (not to what is searched) is best judged on identical
candidates: a search amplifies last-bit differences into different candidate
lists, so comparing two searches measures the search's chaos, not the fitter.
This script takes the candidates a benchmark cell evaluated fully, evaluates
each one twice as the search would (fold 1, fold 2 and the probe, the search's
fit options, the candidate's own bounds and starts), once per refinement,
alternating which goes first, and writes one JSON line per candidate.

    python bench/paired_fits.py run --cells RUN/cells --tasks all --n 120 --out pairs.jsonl
    python bench/paired_fits.py summary pairs.jsonl [more.jsonl ...]

The cells must come from a `lawagent bench --dev` run (the near development
split): the candidates are re-evaluated on that split, never on test rows.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"  # before numpy is imported

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections import defaultdict  # noqa: E402
from pathlib import Path  # noqa: E402

from lawagent.discovery.evaluator import EvalOptions, evaluate_candidate  # noqa: E402
from lawagent.fit import native  # noqa: E402
from lawagent.proposers.base import Proposal  # noqa: E402
from lawagent.selection.dev import NEAR, dev_task  # noqa: E402
from lawagent.selection.protocol import protocol_for  # noqa: E402
from lawagent.task import list_tasks, load_task  # noqa: E402

VARIANTS = ("numpy", "compiled")


def candidates(cells: Path, task: str, n: int) -> list[dict]:
    """The first ``n`` distinct formulas seed 0's cell evaluated fully without error, in its order."""
    path = cells / f"{task}-s0" / "candidates.jsonl"
    out, seen = [], set()
    with open(path) as fh:
        for line in fh:
            rec = json.loads(line)
            if rec.get("stage") != "full" or rec.get("error") or rec["formula"] in seen:
                continue
            seen.add(rec["formula"])
            out.append(rec)
            if len(out) == n:
                break
    return out


def _evaluate(rec: dict, task, folds, variant: str) -> dict:
    os.environ["LAWAGENT_NATIVE"] = "1" if variant == "compiled" else "0"
    (fit, val), *extra = folds
    proposal = Proposal(tuple(rec["formula"].split(";")), bounds=rec.get("bounds") or {},
                        initial=rec.get("initial") or {})
    cpu = time.process_time()
    r = evaluate_candidate(proposal, task.features, task.targets, None, fit, val, EvalOptions(),
                           extra_folds=extra)
    return {"fit_r2": r.fit_r2, "val_r2": r.val_r2, "fold_r2": r.fold_r2, "probe": r.probe_violation,
            "error": r.error, "cpu": time.process_time() - cpu}


def run(args: argparse.Namespace) -> None:
    os.environ["LAWAGENT_NATIVE"] = "1"
    if not native.ready():
        sys.exit("the compiled refinement is not available here: pip install -e '.[fast]'")
    names = list_tasks() if args.tasks == "all" else args.tasks.split(",")
    with open(args.out, "a") as out:
        for name in names:
            base = load_task(name)
            task = dev_task(base, protocol_for(base), NEAR)
            folds = [(f.fit, f.val) for f in protocol_for(task).folds(task.train())]
            recs = candidates(Path(args.cells), name, args.n)
            for i, rec in enumerate(recs):
                order = VARIANTS if i % 2 == 0 else VARIANTS[::-1]
                row = {"task": name, "formula": rec["formula"]}
                for variant in order:
                    row[variant] = _evaluate(rec, task, folds, variant)
                out.write(json.dumps(row) + "\n")
                out.flush()
            print(f"{name}: {len(recs)} candidates", file=sys.stderr)


def _clip(v: float | None) -> float:
    return -1.0 if v is None or not math.isfinite(v) else max(-1.0, min(1.0, v))


def _selection_input(res: dict) -> float:
    """(fold-1 validation R² + fold-2 R²)/2, each clipped to [-1, 1]; -1 for a failed evaluation."""
    if res["error"]:
        return -1.0
    folds = [_clip(res["val_r2"])] + [_clip(v) for v in res["fold_r2"][:1]]
    return sum(folds) / len(folds)


def _sign_test_p(wins: int, losses: int) -> float:
    """Two-sided exact binomial test of wins vs losses at p = 1/2."""
    n, k = wins + losses, min(wins, losses)
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2 ** n
    return min(1.0, 2 * tail)


def summary(args: argparse.Namespace) -> None:
    rows = [json.loads(line) for path in args.files for line in open(path)]
    by_task: dict[str, list[float]] = defaultdict(list)
    cpu = {v: 0.0 for v in VARIANTS}
    better = worse = 0
    for row in rows:
        a, b = row["numpy"], row["compiled"]
        by_task[row["task"]].append(_selection_input(b) - _selection_input(a))
        for v in VARIANTS:
            cpu[v] += row[v]["cpu"]
        fa, fb = a["fit_r2"], b["fit_r2"]
        fa = -math.inf if fa is None or not math.isfinite(fa) else fa
        fb = -math.inf if fb is None or not math.isfinite(fb) else fb
        if fb > fa + 1e-9:
            better += 1
        elif fb < fa - 1e-9:
            worse += 1
    diffs = [d for ds in by_task.values() for d in ds]
    mean = sum(diffs) / len(diffs)
    p = _sign_test_p(better, worse)
    print(f"{len(rows)} candidates on {len(by_task)} tasks")
    print(f"fold-1 fit R2 (the objective), compiled vs numpy: higher {better}, lower {worse}, "
          f"sign test p = {p:.3g}")
    print(f"selection input (val R2 + fold-2 R2)/2, clipped, compiled - numpy: mean {mean:+.6f}")
    print(f"{'task':34s} {'n':>4s} {'mean diff':>10s} {'#differ':>8s} {'min':>9s} {'max':>9s}")
    for task, ds in sorted(by_task.items()):
        differ = sum(abs(d) > 1e-6 for d in ds)
        print(f"{task:34s} {len(ds):4d} {sum(ds) / len(ds):+10.6f} {differ:8d} {min(ds):+9.4f} {max(ds):+9.4f}")
    print(f"CPU seconds: numpy {cpu['numpy']:.1f}, compiled {cpu['compiled']:.1f} "
          f"({cpu['numpy'] / max(cpu['compiled'], 1e-9):.2f}x)")
    lowest = min(sum(ds) / len(ds) for ds in by_task.values())
    ok = not (p < 0.05 and worse > better) and mean >= -0.001 and lowest >= -0.01
    print(f"rule (docs/benchmarks/DEVLOG.md, 2026-12-03): {'PASS' if ok else 'FAIL'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="evaluate a dev run's candidates with both refinements")
    r.add_argument("--cells", required=True, help="a `lawagent bench --dev` run's cells/ folder")
    r.add_argument("--tasks", default="all")
    r.add_argument("--n", type=int, default=120, help="candidates per task (default 120)")
    r.add_argument("--out", required=True, help="JSON lines file to append to")
    s = sub.add_parser("summary", help="compare the two refinements from run's output")
    s.add_argument("files", nargs="+")
    args = parser.parse_args()
    run(args) if args.command == "run" else summary(args)


if __name__ == "__main__":
    main()
