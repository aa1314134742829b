"""How readable a benchmark's laws are: the share of finalists with no parameter in two roles.

Reads every cell's final.json of one or more benchmark folders (``lawagent bench ... --id NAME``
writes ``<out>/bench-NAME``) and counts, over the finalists (all laws a cell refit) and over the
chosen laws, those where no parameter plays two roles (lawagent.readable.roles), and those with
no odd construct either. The forms are the raw ones the search wrote, so that runs made before
readable forms existed compare like with like.

    python bench/readability.py /work/bench-readable14/bench-before /work/bench-readable14/bench-after
    python bench/readability.py results/bench-dev --tasks sft_scaling_law,moe_scaling_law
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from lawagent.law.law import Law
from lawagent.proposers.blocks import FeatureKinds
from lawagent.readable.roles import odd_constructs, parameter_roles
from lawagent.runfolder import task_from_spec


def readability(bench: Path, tasks: set[str] | None) -> dict[str, list[int]]:
    """task -> [finalists, finalists without reuse, without reuse or odd construct, chosen, chosen without reuse]."""
    out: dict[str, list[int]] = {}
    for final in sorted((bench / "cells").glob("*/final.json")):
        data = json.loads(final.read_text(encoding="utf-8"))
        spec = data["task"]
        if tasks and spec["name"] not in tasks:
            continue
        task = task_from_spec(spec, where=str(final))
        train = task.train()
        ranges = {f: (float(train.X[f].min()), float(train.X[f].max())) for f in task.features}
        wide = FeatureKinds.from_ranges(task.features, ranges).wide
        counts = out.setdefault(spec["name"], [0, 0, 0, 0, 0])
        for i, law in enumerate(data["laws"]):
            exprs = Law.parse(law["formulas"], task.features,
                              targets=task.targets if len(task.targets) > 1 else None).expressions
            clean = not parameter_roles(exprs, task.features).reused
            counts[0] += 1
            counts[1] += clean
            counts[2] += clean and not odd_constructs(exprs, task.features, wide)
            if i == 0:
                counts[3] += 1
                counts[4] += clean
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bench", nargs="+", type=Path, help="benchmark folders (bench-NAME)")
    parser.add_argument("--tasks", help="comma-separated task names (default: all in the folder)")
    args = parser.parse_args()
    tasks = set(args.tasks.split(",")) if args.tasks else None
    for bench in args.bench:
        per_task = readability(bench, tasks)
        total = [sum(c[i] for c in per_task.values()) for i in range(5)]
        print(f"{bench}: finalists with no parameter in two roles {total[1]}/{total[0]} "
              f"({total[1] / max(total[0], 1):.0%}); also no odd construct {total[2]}/{total[0]} "
              f"({total[2] / max(total[0], 1):.0%}); chosen laws with no reuse {total[4]}/{total[3]}")
        for name, c in sorted(per_task.items()):
            print(f"  {name}: {c[1]}/{c[0]} finalists, {c[4]}/{c[3]} chosen")


if __name__ == "__main__":
    main()
