"""Replay racing's screen on recorded runs: what a tighter slack would cut, and what it would save.

Racing (:mod:`lawagent.selection.rank`) sends a screened candidate on to the
full evaluation when its screen could still reach the limits, allowing its
validation NMSE ``RACE_SLACK`` times theirs. A recorded run keeps only the full
record of a candidate that went on, so ``run`` computes each such candidate's
screen again, as the search does, and ``summary`` replays every run at several
slacks: iteration by iteration, limits from the full records kept so far, a
candidate cut when its screen fails them. It reports how many full evaluations
(and seconds) each slack saves, and whether it cuts a run's chosen law or its
finalists. The candidate list is held fixed: what the saved time would buy is
not measured here.

    python bench/race_replay.py run --cells RUN/cells --tasks all --out screens.jsonl
    python bench/race_replay.py summary --cells RUN/cells screens.jsonl [more.jsonl ...]

The cells must come from a `lawagent bench --dev` run (the near development
split): the screens are computed on that split, never on test rows.
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
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402

from lawagent.discovery.candidate_rows import record_from_dict  # noqa: E402
from lawagent.discovery.evaluator import FOLD1, FULL, SCREEN, EvalOptions, evaluate_candidate  # noqa: E402
from lawagent.proposers.base import CandidateRecord  # noqa: E402
from lawagent.selection import rank  # noqa: E402
from lawagent.selection.dev import NEAR, dev_task  # noqa: E402
from lawagent.selection.protocol import protocol_for  # noqa: E402
from lawagent.task import list_tasks, load_task  # noqa: E402
from paired_fits import proposal_of  # noqa: E402  (bench/, beside this script)

SLACKS = (1.5, 2.0, 3.0)
SENT_ON = (FULL, FOLD1)  # the stages of a candidate whose screen let it go on


def cells_of(cells: Path, task: str) -> list[Path]:
    """The task's cells (one per seed), by seed."""
    found = [p for p in cells.glob(f"{task}-s*") if p.name[len(task) + 2:].isdigit()]
    return sorted(found, key=lambda p: int(p.name[len(task) + 2:]))


def _records(cell: Path) -> list[dict]:
    with open(cell / "candidates.jsonl") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def run(args: argparse.Namespace) -> None:
    names = list_tasks() if args.tasks == "all" else args.tasks.split(",")
    done = set()
    if Path(args.out).exists():  # resume: a cell already written is skipped
        with open(args.out) as fh:
            done = {(r["cell"], r["id"]) for r in map(json.loads, fh)}
    with open(args.out, "a") as out:
        for name in names:
            base = load_task(name)
            task = dev_task(base, protocol_for(base), NEAR)
            (fit, val), *_ = [(f.fit, f.val) for f in protocol_for(task).folds(task.train())]
            for cell in cells_of(Path(args.cells), name):
                n = 0
                for rec in _records(cell):
                    if rec.get("stage") not in SENT_ON or (cell.name, rec["id"]) in done:
                        continue
                    proposal = proposal_of(rec)
                    cpu = time.process_time()
                    screen = evaluate_candidate(proposal, task.features, task.targets, None, fit, val,
                                                EvalOptions(), stage=SCREEN)
                    out.write(json.dumps({"cell": cell.name, "id": rec["id"], "val_r2": screen.val_r2,
                                          "error": screen.error, "cpu": time.process_time() - cpu}) + "\n")
                    n += 1
                out.flush()
                print(f"{cell.name}: {n} screens", file=sys.stderr)


@dataclass
class Outcome:
    """One cell replayed at one slack."""

    sent_on: int = 0  # candidates the recorded run sent on to the full evaluation
    cut: int = 0  # ... of which this slack would have cut
    seconds_saved: float = 0.0
    seconds_full: float = 0.0  # the recorded full evaluations' seconds (screen excluded)
    chosen_cut: int = 0  # 1 when the chosen law is cut (summed over cells in totals)
    finalists: int = 0
    finalists_cut: int = 0
    disagree_at_recorded: int = 0  # candidates the recorded run sent on that the recomputed screen would cut
    cut_formulas: list[str] = field(default_factory=list)


def replay(records: list[dict], screens: dict[int, dict], top_k: int, slack: float,
           chosen: str | None, finalists: set[str]) -> Outcome:
    """The run's iterations in order, racing at ``slack`` with the recomputed screens."""
    out = Outcome(finalists=len(finalists))
    kept: list[CandidateRecord] = []
    by_iteration: dict[int, list[dict]] = defaultdict(list)
    for r in records:
        by_iteration[r["iteration"]].append(r)
    for it in sorted(by_iteration):
        limits = rank.race_limits(sorted(kept, key=rank.rank_key), top=max(rank.RACE_TOP, top_k), slack=slack)
        batch = []
        for r in by_iteration[it]:
            rec = record_from_dict(r)
            if r.get("stage") in SENT_ON:
                out.sent_on += 1
                screen = screens.get(r["id"])
                if screen is None:
                    raise SystemExit(f"no recomputed screen for candidate {r['id']}: run `run` on this cell")
                r2 = screen["val_r2"] if not screen["error"] else -math.inf
                r2 = -math.inf if r2 is None else r2
                if not rank.could_still_win(r2, rec.complexity, limits):
                    out.cut += 1
                    out.seconds_full += max(rec.seconds - screen["cpu"], 0.0)
                    out.seconds_saved += max(rec.seconds - screen["cpu"], 0.0)
                    out.cut_formulas.append(rec.formula)
                    out.chosen_cut = max(out.chosen_cut, int(rec.formula == chosen))
                    out.finalists_cut += rec.formula in finalists
                    continue
                out.seconds_full += max(rec.seconds - screen["cpu"], 0.0)
            batch.append(rec)
        kept.extend(r for r in batch if r.ranked)  # the limits change between iterations, never within one
    return out


def summary(args: argparse.Namespace) -> None:
    screens: dict[str, dict[int, dict]] = defaultdict(dict)
    for path in args.files:
        with open(path) as fh:
            for line in fh:
                s = json.loads(line)
                screens[s["cell"]][s["id"]] = s
    totals = {s: Outcome() for s in args.slacks}
    per_task: dict[str, dict[float, Outcome]] = defaultdict(lambda: {s: Outcome() for s in args.slacks})
    cells = [c for name in list_tasks() for c in cells_of(Path(args.cells), name) if c.name in screens]
    for cell in cells:
        task = cell.name.rsplit("-s", 1)[0]
        records = _records(cell)
        config = json.loads((cell / "config.json").read_text())
        final = json.loads((cell / "final.json").read_text())
        chosen = (final.get("best") or {}).get("formula")
        finalists = {law["formula"] for law in final.get("laws") or []}
        for s in args.slacks:
            o = replay(records, screens[cell.name], int(config.get("top_k") or 0), s, chosen, finalists)
            for agg in (totals[s], per_task[task][s]):
                agg.sent_on += o.sent_on
                agg.cut += o.cut
                agg.seconds_saved += o.seconds_saved
                agg.seconds_full += o.seconds_full
                agg.chosen_cut += o.chosen_cut
                agg.finalists += o.finalists
                agg.finalists_cut += o.finalists_cut
            if o.chosen_cut:
                print(f"  slack {s:g}: {cell.name}'s chosen law is cut: {chosen}")
    print(f"{len(cells)} cells replayed")
    print(f"{'slack':>5s} {'sent on':>8s} {'cut':>6s} {'saved':>6s} {'seconds saved':>14s} "
          f"{'chosen cut':>10s} {'finalists cut':>14s}")
    for s in args.slacks:
        o = totals[s]
        print(f"{s:5g} {o.sent_on:8d} {o.cut:6d} {o.cut / max(o.sent_on, 1):6.1%} "
              f"{o.seconds_saved:8.0f} ({o.seconds_saved / max(o.seconds_full, 1e-9):4.0%}) "
              f"{int(o.chosen_cut):10d} {o.finalists_cut:6d} ({o.finalists_cut / max(o.finalists, 1):5.1%})")
    print("per task: share of full evaluations cut / chosen laws cut / finalists cut")
    for task, by_slack in sorted(per_task.items()):
        cols = "  ".join(f"s={s:g}: {o.cut / max(o.sent_on, 1):5.1%} {int(o.chosen_cut)} {o.finalists_cut:2d}"
                         for s, o in by_slack.items())
        print(f"  {task:34s} {cols}")
    verdict = None
    for s in sorted(x for x in args.slacks if x < 3.0):
        o = totals[s]
        if (o.chosen_cut <= 1 and o.finalists_cut <= 0.02 * o.finalists
                and o.cut >= 0.2 * o.sent_on):
            verdict = s
            break
    print(f"rule (docs/benchmarks/DEVLOG.md, 2026-12-03, second session): "
          f"{'RACE_SLACK = %g' % verdict if verdict else 'RACE_SLACK stays 3'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="compute the screens of the candidates a dev run sent on")
    r.add_argument("--cells", required=True, help="a `lawagent bench --dev` run's cells/ folder")
    r.add_argument("--tasks", default="all")
    r.add_argument("--out", required=True, help="JSON lines file to append to (a cell already in it is skipped)")
    s = sub.add_parser("summary", help="replay the runs at several slacks")
    s.add_argument("--cells", required=True)
    s.add_argument("--slacks", type=lambda t: [float(x) for x in t.split(",")], default=list(SLACKS))
    s.add_argument("files", nargs="+")
    args = parser.parse_args()
    run(args) if args.command == "run" else summary(args)


if __name__ == "__main__":
    main()
