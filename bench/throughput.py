"""Search throughput of `lawagent discover`: candidates per second per core, this tree against another.

Runs ``python -m lawagent discover --task T --time S --seed K`` for each task and
seed, alternating between the two source trees (so both see the same machine),
and reads each run's candidates and search seconds from its final.json. An
other tree is a plain source snapshot, e.g. of the commit before a change;
``--other`` may be given several times (each is compared with this tree):

    git archive 4dc2bb2 src tasks | tar -x -C /tmp/old
    python bench/throughput.py --other /tmp/old --tasks sft_scaling_law,vocab_scaling_law --seeds 3 --time 90

Both use discover's default worker count (one per core); per core = per second
divided by the workers used. Laws are not shown: a speed measurement reads no
score.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]


def run(tree: Path, task: str, seed: int, seconds: float, out: Path, tag: str) -> dict:
    env = dict(os.environ, PYTHONPATH=str(tree / "src"), LAWAGENT_TASKS_DIR=str(tree / "tasks"))
    run_id = f"{tag}-{task}-s{seed}"
    subprocess.run([sys.executable, "-m", "lawagent", "discover", "--task", task, "--time", str(seconds),
                    "--seed", str(seed), "--out", str(out), "--run-id", run_id, "--quiet"],
                   env=env, check=True, stdout=subprocess.DEVNULL, cwd=out)
    final = json.loads((out / run_id / "final.json").read_text())
    cores = int((final.get("where") or {}).get("cpus") or os.cpu_count() or 1)
    return {"candidates": final["n_evaluated"], "seconds": final["seconds"], "cores": cores,
            "per_core_second": final["n_evaluated"] / final["seconds"] / cores}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--other", required=True, type=Path, action="append",
                   help="a source snapshot (src/ and tasks/) to compare with; repeat it for several")
    p.add_argument("--tasks", default="sft_scaling_law,vocab_scaling_law")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--time", type=float, default=90.0)
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    trees = {str(o): o.resolve() for o in args.other}
    trees["this"] = HERE
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for task in args.tasks.split(","):
            for seed in range(args.seeds):
                for i, (label, tree) in enumerate(trees.items()):
                    r = run(tree, task, seed, args.time, Path(tmp), f"tree{i}")
                    rows.append({"tree": label, "task": task, "seed": seed, **r})
                    print(f"{label} {task} s{seed}: {r['candidates']} candidates in {r['seconds']:.0f} s on "
                          f"{r['cores']} cores = {r['per_core_second']:.2f} per core-second", file=sys.stderr)
    summary = {}
    for task in args.tasks.split(","):
        med = {t: statistics.median(r["per_core_second"] for r in rows if r["task"] == task and r["tree"] == t)
               for t in trees}
        summary[task] = {t: {"per_core_second": v, "ratio": med["this"] / v} for t, v in med.items()}
        for t in trees:
            if t != "this":  # --json: stdout is JSON
                print(f"{task}: median per core-second {t} {med[t]:.2f} -> this {med['this']:.2f} "
                      f"({med['this'] / med[t]:.1f}x)", file=sys.stderr if args.json else sys.stdout)
    if args.json:
        print(json.dumps({"rows": rows, "summary": summary}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
