"""Fit the same candidates with two or more fitting variants, and compare.

A change to how fits run (not to what is searched) is best judged on identical
candidates: a search amplifies last-bit differences into different candidate
lists, so comparing two searches measures the search's chaos, not the fitter.
This script takes the candidates a benchmark cell evaluated fully, evaluates
each one as the search would (fold 1, fold 2 and the probe, the candidate's own
bounds and starts) once per variant (:data:`VARIANTS`: the refinement, numpy or
compiled, and the search's fit options), rotating which goes first, and writes
one JSON line per candidate.

    python bench/paired_fits.py run --cells RUN/cells --tasks all --n 120 --out pairs.jsonl
    python bench/paired_fits.py summary pairs.jsonl [more.jsonl ...]

    python bench/paired_fits.py run --variants compiled,refine2 --spread --cells ... --out lean.jsonl
    python bench/paired_fits.py summary --base compiled --new refine2 --rule selection lean.jsonl

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

from dataclasses import replace  # noqa: E402

from lawagent.discovery.evaluator import SEARCH_FIT, EvalOptions, evaluate_candidate  # noqa: E402
from lawagent.fit import native  # noqa: E402
from lawagent.proposers.base import Proposal  # noqa: E402
from lawagent.selection.dev import NEAR, dev_task  # noqa: E402
from lawagent.selection.protocol import protocol_for  # noqa: E402
from lawagent.task import list_tasks, load_task  # noqa: E402

# name -> (compiled refinement?, the search's fit options)
VARIANTS = {
    "numpy": (False, SEARCH_FIT),
    "compiled": (True, SEARCH_FIT),
    "refine3": (True, replace(SEARCH_FIT, n_refine=3)),
    "refine2": (True, replace(SEARCH_FIT, n_refine=2)),
    "refine2-starts12": (True, replace(SEARCH_FIT, n_starts=12, n_refine=2)),
}


def candidates(cells: Path, task: str, n: int, spread: bool = False) -> list[dict]:
    """``n`` distinct formulas seed 0's cell evaluated fully without error, in its order: the first ``n``,
    or with ``spread`` ``n`` evenly spaced over all of them (early and late candidates)."""
    path = cells / f"{task}-s0" / "candidates.jsonl"
    out, seen = [], set()
    with open(path) as fh:
        for line in fh:
            rec = json.loads(line)
            if rec.get("stage") != "full" or rec.get("error") or rec["formula"] in seen:
                continue
            seen.add(rec["formula"])
            out.append(rec)
            if len(out) == n and not spread:
                break
    if spread and len(out) > n:
        out = [out[round(i * (len(out) - 1) / (n - 1))] for i in range(n)] if n > 1 else out[:1]
    return out


def proposal_of(rec: dict) -> Proposal:
    """The proposal a candidate row was evaluated from: its JSON wrote an infinite bound as null."""
    bounds = {k: (-math.inf if lo is None else lo, math.inf if hi is None else hi)
              for k, (lo, hi) in (rec.get("bounds") or {}).items()}
    return Proposal(tuple(rec["formula"].split(";")), bounds=bounds, initial=rec.get("initial") or {})


def _evaluate(rec: dict, task, folds, variant: str) -> dict:
    compiled, options = VARIANTS[variant]
    os.environ["LAWAGENT_NATIVE"] = "1" if compiled else "0"
    (fit, val), *extra = folds
    cpu = time.process_time()
    r = evaluate_candidate(proposal_of(rec), task.features, task.targets, None, fit, val, EvalOptions(fit=options),
                           extra_folds=extra)
    return {"fit_r2": r.fit_r2, "val_r2": r.val_r2, "fold_r2": r.fold_r2, "probe": r.probe_violation,
            "error": r.error, "cpu": time.process_time() - cpu}


def run(args: argparse.Namespace) -> None:
    os.environ["LAWAGENT_NATIVE"] = "1"
    if not native.ready():
        sys.exit("the compiled refinement is not available here: pip install -e '.[fast]'")
    names = list_tasks() if args.tasks == "all" else args.tasks.split(",")
    variants = args.variants.split(",")
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        sys.exit(f"unknown variant(s) {', '.join(unknown)}: choose from {', '.join(VARIANTS)}")
    with open(args.out, "a") as out:
        for name in names:
            base = load_task(name)
            task = dev_task(base, protocol_for(base), NEAR)
            folds = [(f.fit, f.val) for f in protocol_for(task).folds(task.train())]
            recs = candidates(Path(args.cells), name, args.n, args.spread)
            for i, rec in enumerate(recs):
                order = variants[i % len(variants):] + variants[:i % len(variants)]
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


def _fit_r2(res: dict) -> float:
    v = res["fit_r2"]
    return -math.inf if v is None or not math.isfinite(v) else v


def summary(args: argparse.Namespace) -> None:
    rows = [json.loads(line) for path in args.files for line in open(path)]
    base, new = args.base, args.new
    rows = [r for r in rows if base in r and new in r]
    if not rows:
        sys.exit(f"no candidate was evaluated with both {base} and {new}")
    by_task: dict[str, list[float]] = defaultdict(list)
    fit_diffs: list[float] = []
    cpu = {base: 0.0, new: 0.0}
    better = worse = 0
    for row in rows:
        a, b = row[base], row[new]
        by_task[row["task"]].append(_selection_input(b) - _selection_input(a))
        for v in (base, new):
            cpu[v] += row[v]["cpu"]
        fa, fb = _fit_r2(a), _fit_r2(b)
        fit_diffs.append(_clip(fb) - _clip(fa))
        if fb > fa + 1e-9:
            better += 1
        elif fb < fa - 1e-9:
            worse += 1
    diffs = [d for ds in by_task.values() for d in ds]
    mean = sum(diffs) / len(diffs)
    p = _sign_test_p(better, worse)
    big_losses = sum(d < -0.05 for d in diffs)
    print(f"{len(rows)} candidates on {len(by_task)} tasks; {new} against {base}")
    print(f"fold-1 fit R2 (the objective): {new} higher {better}, lower {worse}, sign test p = {p:.3g}; "
          f"mean change (clipped) {sum(fit_diffs) / len(fit_diffs):+.6f}")
    print(f"selection input (val R2 + fold-2 R2)/2, clipped, {new} - {base}: mean {mean:+.6f}; "
          f"{big_losses} candidates ({big_losses / len(diffs):.1%}) lose more than 0.05")
    print(f"{'task':34s} {'n':>4s} {'mean diff':>10s} {'#differ':>8s} {'min':>9s} {'max':>9s}")
    for task, ds in sorted(by_task.items()):
        differ = sum(abs(d) > 1e-6 for d in ds)
        print(f"{task:34s} {len(ds):4d} {sum(ds) / len(ds):+10.6f} {differ:8d} {min(ds):+9.4f} {max(ds):+9.4f}")
    print(f"CPU seconds: {base} {cpu[base]:.1f}, {new} {cpu[new]:.1f} ({cpu[base] / max(cpu[new], 1e-9):.2f}x)")
    lowest = min(sum(ds) / len(ds) for ds in by_task.values())
    if args.rule == "refinement":  # the compiled refinement's judgement (2026-12-03)
        ok = not (p < 0.05 and worse > better) and mean >= -0.001 and lowest >= -0.01
        print(f"rule (docs/benchmarks/DEVLOG.md, 2026-12-03): {'PASS' if ok else 'FAIL'}")
    else:  # fewer refined starts (2026-12-03, second session): what selection reads, not the objective
        ok = mean >= -0.001 and lowest >= -0.01 and big_losses <= 0.01 * len(diffs)
        print(f"rule (docs/benchmarks/DEVLOG.md, 2026-12-03, second session): {'PASS' if ok else 'FAIL'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="evaluate a dev run's candidates with each variant")
    r.add_argument("--cells", required=True, help="a `lawagent bench --dev` run's cells/ folder")
    r.add_argument("--tasks", default="all")
    r.add_argument("--n", type=int, default=120, help="candidates per task (default 120)")
    r.add_argument("--out", required=True, help="JSON lines file to append to")
    r.add_argument("--variants", default="numpy,compiled", help=f"comma-separated, from {', '.join(VARIANTS)}")
    r.add_argument("--spread", action="store_true", help="candidates evenly spaced over the run, not the first n")
    s = sub.add_parser("summary", help="compare two variants from run's output")
    s.add_argument("--base", default="numpy", help="the reference variant (default numpy)")
    s.add_argument("--new", default="compiled", help="the variant judged (default compiled)")
    s.add_argument("--rule", choices=("refinement", "selection"), default="refinement",
                   help="which declared rule to apply (docs/benchmarks/DEVLOG.md)")
    s.add_argument("files", nargs="+")
    args = parser.parse_args()
    run(args) if args.command == "run" else summary(args)


if __name__ == "__main__":
    main()
