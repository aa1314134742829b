"""Loading a large CSV, and how a `discover` run on it keeps its deadline: time and peak memory.

Writes a synthetic CSV (two features, eight groups, a planted law with 1% noise;
the same file for the same --rows and --seed), then measures, each in a fresh
process:

  load      task_from_csv on it: seconds (imports excluded) and the peak RSS of
            the process (imports included; an import-only process is measured
            too, so that loading's own share is visible);
  discover  with --discover SECONDS: `lawagent discover CSV ... --time SECONDS`:
            when its first progress line and its first status line appear,
            when it ends, its exit code, and the peak RSS of the main process
            and of the whole process tree (sampled every 0.1 s).

    python bench/bench_load.py                            1M rows, loading only
    python bench/bench_load.py --rows 200000 --discover 10
    python bench/bench_load.py --csv big.csv --json       an existing file (columns params, tokens, family, loss)

Speed claims compare runs on the same machine (see docs/reliability.md for the
numbers and the machine).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
FEATURES, TARGET, GROUP, HOLDOUT = "params,tokens", "loss", "family", "params >= 5e9"

LOAD = """
import json, sys, time
from lawagent.task import task_from_csv
start = time.perf_counter()
task = task_from_csv(sys.argv[1], ["params", "tokens"], ["loss"], group="family", holdout="params >= 5e9")
seconds = time.perf_counter() - start
hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM:")][0].split()[1]
print(json.dumps({"seconds": seconds, "rows": task.n_train + task.n_test, "peak_kb": int(hwm)}))
"""
IMPORT_ONLY = """
import lawagent.task
print([l for l in open("/proc/self/status") if l.startswith("VmHWM:")][0].split()[1])
"""


def write_csv(path: Path, rows: int, seed: int) -> None:
    """params in [1e6, 1e10], tokens in [1e8, 1e12], loss = 1.7 + 400/params^0.34 + 410/tokens^0.28, 1% noise."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    params = 10 ** rng.uniform(6, 10, rows)
    tokens = 10 ** rng.uniform(8, 12, rows)
    family = np.array([f"f{i}" for i in range(8)], dtype=object)[rng.integers(0, 8, rows)]
    loss = (1.7 + 400 / params**0.34 + 410 / tokens**0.28) * np.exp(rng.normal(0, 0.01, rows))
    pd.DataFrame({"params": params, "tokens": tokens, "family": family, "loss": loss}).to_csv(path, index=False)


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(SRC) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def run_python(code: str, *args: str) -> str:
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=child_env(),
                          check=False)
    if done.returncode != 0:
        raise SystemExit(f"measurement failed: {done.stderr.strip()[-2000:]}")
    return done.stdout.strip().splitlines()[-1]


def measure_load(csv: Path) -> dict:
    """Seconds of task_from_csv (imports excluded) and the process's peak RSS (VmHWM, imports included)."""
    out = json.loads(run_python(LOAD, str(csv)))
    base = int(run_python(IMPORT_ONLY))
    return {"rows": out["rows"], "load_seconds": round(out["seconds"], 3), "peak_rss_mb": round(out["peak_kb"] / 1024),
            "import_rss_mb": round(base / 1024)}


def _rss_mb(pid: int, tree: bool) -> float:
    """RSS of ``pid`` (and, with ``tree``, of all its descendants), in MB (Linux /proc)."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/status") as fh:
                for line in fh:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
            for task in os.listdir(f"/proc/{p}/task") if tree else ():
                with open(f"/proc/{p}/task/{task}/children") as fh:
                    todo += [int(c) for c in fh.read().split()]
        except (OSError, ValueError):
            continue
    return total / 1024


def measure_discover(csv: Path, seconds: float, workers: int | None) -> dict:
    out_dir = Path(tempfile.mkdtemp(prefix="lawagent-bench-load-"))
    cmd = [sys.executable, "-m", "lawagent", "discover", str(csv), "--features", FEATURES, "--target", TARGET,
           "--group", GROUP, "--holdout", HOLDOUT, "--time", str(seconds), "--out", str(out_dir)]
    if workers is not None:
        cmd += ["--workers", str(workers)]
    start = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=child_env())
    peak = {"main": 0.0, "tree": 0.0}
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            peak["main"] = max(peak["main"], _rss_mb(proc.pid, tree=False))
            peak["tree"] = max(peak["tree"], _rss_mb(proc.pid, tree=True))
            stop.wait(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    first_line = first_status = None
    lines = []
    assert proc.stderr is not None
    for line in proc.stderr:
        now = time.monotonic() - start
        lines.append(line.rstrip())
        first_line = first_line if first_line is not None else now
        if first_status is None and line.startswith("iter "):
            first_status = now
    proc.wait()
    total = time.monotonic() - start
    stop.set()
    sampler.join()
    return {"time_limit": seconds, "exit_code": proc.returncode, "wall_seconds": round(total, 2),
            "first_line_seconds": None if first_line is None else round(first_line, 2),
            "first_status_seconds": None if first_status is None else round(first_status, 2),
            "peak_rss_main_mb": round(peak["main"]), "peak_rss_tree_mb": round(peak["tree"]),
            "last_line": lines[-1] if lines else ""}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--csv", type=Path, help="measure this file instead of writing one")
    ap.add_argument("--discover", type=float, metavar="SECONDS", help="also run discover with --time SECONDS")
    ap.add_argument("--workers", type=int, help="discover's --workers (default: its own)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="lawagent-bench-load-") as tmp:
        csv = args.csv
        if csv is None:
            csv = Path(tmp) / f"synthetic-{args.rows}.csv"
            write_csv(csv, args.rows, args.seed)
        result = {"csv_mb": round(csv.stat().st_size / 1e6, 1), **measure_load(csv)}
        if args.discover is not None:
            result["discover"] = measure_discover(csv, args.discover, args.workers)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"{result['rows']:,} rows ({result['csv_mb']} MB): loaded in {result['load_seconds']:.2f} s, "
              f"peak RSS {result['peak_rss_mb']} MB (importing alone: {result['import_rss_mb']} MB)")
        d = result.get("discover")
        if d:
            print(f"discover --time {d['time_limit']:g}: exit {d['exit_code']} after {d['wall_seconds']} s; first line "
                  f"at {d['first_line_seconds']} s, first status line at {d['first_status_seconds']} s; peak RSS "
                  f"(sampled every 0.1 s) main process {d['peak_rss_main_mb']} MB, with its workers "
                  f"{d['peak_rss_tree_mb']} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
