"""`lawagent bench`: benchmark an agent on the tasks, and compare benchmark runs."""

from __future__ import annotations

import argparse
import math
import sys

from lawagent.errors import LawagentError
from lawagent.proposers.registry import LOG_Y_HELP, OFFLINE
from lawagent.selection.dev import DEV_SPLITS, NEAR, dev_value
from lawagent.peers.operon import DEFAULT_EVALUATIONS, HYBRID_EVALUATIONS

EPILOG = """\
Develop against --dev, publish test rows once:
  --dev drops every task's test rows as it is loaded and scores each cell on its
  validation fold 1 instead (discovery runs on the rest, with the same protocol one
  step down). Judge method changes there. --dev far asks a longer question on
  the same pseudo-test rows: fold 2's validation rows are dropped too, so the
  pseudo-test lies two scale steps beyond what discovery sees, as many real test
  rows lie several steps out. A benchmark without --dev reads the test rows: a
  release measurement, published with its command and commit, never a reason to
  change the method.

Every (task, seed) cell is an independent discovery run (no seed laws) written to
<out>/bench-<id>/cells/<task>-s<seed>/. Finished cells are never rerun: run the same
command again to resume an interrupted benchmark (the default --id is made of the
options, so it is the same). At the end it writes leaderboard.md, leaderboard.csv,
leaderboard.png and cells.csv into <out>/bench-<id>/.

Budgets: --max-candidates N makes every cell reproducible (the same seed gives the
same cell on the same kind of machine: another CPU can round exp/log/power differently in the
last bit, which a search amplifies); --time S depends on the machine and its load. Cells run in
parallel, one process per core (--jobs), each discovery run on one core (--workers 0);
--executor ray runs each cell as a Ray task of one CPU on a cluster (docs/scale.md).

examples:
  lawagent bench --dev --tasks all --seeds 3 --max-candidates 500
  lawagent bench --dev --tasks all --seeds 3 --max-candidates 500 --blocks generic
  lawagent bench --dev far --tasks all --seeds 3 --max-candidates 500   (the pseudo-test two steps out)
  lawagent bench --tasks all --seeds 3 --max-candidates 500          (test rows: release only)
  lawagent bench --tasks sft_scaling_law,parallel_scaling_law --seeds 2 --time 10 --id quick
  lawagent bench --dev --tasks ./tasks-local/my_runs --seeds 3 --max-candidates 300   (your own task folder)
  lawagent bench --proposer llm --model openai/gpt-4o-mini --seeds 5 --time 300
  lawagent bench --proposer hybrid --model openai/local --api-base http://127.0.0.1:8080/v1
  lawagent bench --dev --tasks all --seeds 5 --max-candidates 500 --executor ray --address auto   (a Ray cluster)
  lawagent bench leaderboard quick              rewrite the leaderboard of results/bench-quick
  lawagent bench compare symbolic-60s quick     two runs side by side (per-task delta)
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "bench", help="benchmark an agent on the tasks (seeds x tasks), leaderboard, compare runs",
        description="Benchmark a proposer on the bundled tasks: every (task, seed) cell is an independent "
        "discovery run; the leaderboard reports R2 (mean and std over seeds, and the seed a user would pick by "
        "selection score) beside the reference law refit by lawagent and, on test rows, SLDBench's published numbers.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--dev", nargs="?", const=NEAR, choices=DEV_SPLITS, default=None, metavar="far",
                   help="the development split: drop the test rows, score on validation fold 1 (use this to "
                   "develop); --dev far drops fold 2's validation rows too, so the pseudo-test lies two scale "
                   "steps beyond what discovery sees")
    p.add_argument("--proposer", default="symbolic", choices=["symbolic", "llm", "hybrid", "hybrid-sr", "operon"],
                   help="who writes candidate laws (default symbolic: offline); operon = the symbolic-regression "
                   "engine Operon as a peer (pip install 'lawagent[sr]'), scored the same way; hybrid-sr = "
                   "Operon's models of the fit rows as the first candidates, then symbolic evolution")
    p.add_argument("--sr-evaluations", type=int, metavar="N",
                   help="operon: expression evaluations per model (one model per group and target; "
                   f"default {DEFAULT_EVALUATIONS}); hybrid-sr: per Operon run (default {HYBRID_EVALUATIONS})")
    p.add_argument("--blocks", choices=["all", "generic"], default=None,
                   help="symbolic proposer's starting blocks: all (default) or generic motifs only")
    p.add_argument("--log-y", action="store_true",
                   help=LOG_Y_HELP)
    p.add_argument("--model", help="LLM model for --proposer llm/hybrid (litellm name, e.g. openai/gpt-4o-mini)")
    p.add_argument("--api-base", help="OpenAI-compatible server URL for the LLM (e.g. http://127.0.0.1:8080/v1)")
    p.add_argument("--llm-config", metavar="FILE", help="TOML/JSON file with model / api_base / api_key_env for the LLM")
    p.add_argument("--local-llm", action="store_true",
                   help="use the bundled local model (each cell starts its own server; cells then run one at a time)")
    p.add_argument("--max-cost", type=float, metavar="USD", help="per cell: stop calling the LLM beyond this cost")
    p.add_argument("--max-tokens", type=int, metavar="N", help="per cell: stop calling the LLM beyond this many tokens")
    p.add_argument("--tasks", default="all",
                   help="'all' (the bundled tasks) or a comma-separated list of task names and task folders "
                   "(e.g. ./tasks-local/my_runs, made with `lawagent tasks new`)")
    p.add_argument("--seeds", type=int, default=3, metavar="N", help="seeds 0..N-1 per task (default 3)")
    p.add_argument("--time", type=float, default=None, metavar="SECONDS",
                   help="seconds per cell for its whole run, the final refit included (default 60 when no other "
                   "budget is given)")
    p.add_argument("--iterations", type=int, metavar="N", help="stop each cell after N iterations")
    p.add_argument("--max-candidates", type=int, metavar="N",
                   help="stop each cell after N candidates: reproducible on the same kind of machine (use it for "
                   "published runs)")
    p.add_argument("--jobs", type=int, default=0, metavar="N", help="cells run at once (default: one per core)")
    p.add_argument("--workers", type=int, default=0, metavar="N",
                   help="discovery worker processes inside each cell (default 0: in-process)")
    p.add_argument("--executor", choices=["local", "ray"], default="local",
                   help="where cells run: local processes (default) or Ray tasks of one CPU each on a cluster "
                   "(pip install 'lawagent[ray]'); cells are the same either way")
    p.add_argument("--address", metavar="ADDR",
                   help="with --executor ray: 'auto' joins the running Ray cluster (`ray start --head`), or "
                   "HOST:PORT; default: start a Ray instance on this machine")
    p.add_argument("--out", default="results", metavar="DIR", help="results folder (default results)")
    p.add_argument("--id", metavar="NAME", help="benchmark name: writes <out>/bench-NAME (default from the options)")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.set_defaults(run=run)
    actions = p.add_subparsers(dest="bench_action", metavar="{leaderboard,compare}")
    lb = actions.add_parser("leaderboard", help="(re)write the leaderboard of a benchmark run and print it",
                            description="Rebuild leaderboard.md/.csv/.png of a benchmark (e.g. after an interruption).")
    lb.add_argument("bench", help="a benchmark folder, 'bench-<id>' or '<id>' under --out")
    lb.add_argument("--out", default="results", metavar="DIR", help="where to look for the benchmark (default results)")
    lb.set_defaults(run=run_leaderboard)
    cp = actions.add_parser("compare", help="two benchmark runs side by side (per-task delta of R2)",
                            description="Put two benchmark runs side by side: per task the mean R2 and the "
                            "selected seed's R2 (test R2, or dev R2 for --dev runs) of A and B and the "
                            "difference B - A; then the mean over the tasks both ran.")
    cp.add_argument("a", help="benchmark A: a folder, 'bench-<id>' or '<id>' under --out")
    cp.add_argument("b", help="benchmark B")
    cp.add_argument("--out", default="results", metavar="DIR", help="where to look for the benchmarks (default results)")
    cp.add_argument("--save", metavar="DIR", help="also write compare.md, compare.csv and compare.png into DIR")
    cp.set_defaults(run=run_compare)


def task_specs(text: str) -> list[str]:
    """'all', or bundled task names and task folders (``./tasks-local/NAME``), comma-separated."""
    from pathlib import Path

    from lawagent.bench.layout import task_label
    from lawagent.task import list_tasks

    available = list_tasks()
    if text.strip().lower() == "all":
        return available
    specs = []
    for item in (t.strip() for t in text.split(",") if t.strip()):
        if item in available:
            specs.append(item)
        elif (Path(item).expanduser() / "task.toml").is_file():
            specs.append(str(Path(item).expanduser().resolve()))
        else:
            raise LawagentError(f"unknown task {item!r}: not a bundled task and not a folder with task.toml "
                                f"(bundled tasks: {', '.join(available)}; make a folder with `lawagent tasks new`)")
    labels = [task_label(t) for t in specs]
    dup = next((x for i, x in enumerate(labels) if x in labels[:i]), None)
    if dup:
        raise LawagentError(f"two tasks are named {dup!r}: give each task folder its own name")
    return specs


def run(args: argparse.Namespace) -> int:
    from lawagent.bench.runner import BenchConfig, run_bench

    tasks = task_specs(args.tasks)
    if args.seeds < 1:
        raise LawagentError(f"--seeds must be at least 1, got {args.seeds}")
    if args.time is None and args.iterations is None and args.max_candidates is None and args.proposer != "operon":
        args.time = 60.0
    if args.time is not None and not (args.time > 0 and math.isfinite(args.time)):
        raise LawagentError(f"--time must be a positive, finite number of seconds, got {args.time}")
    for flag, value in (("--iterations", args.iterations), ("--max-candidates", args.max_candidates)):
        if value is not None and value < 1:
            raise LawagentError(f"{flag} must be at least 1, got {value}")
    if args.jobs < 0 or args.workers < 0:
        raise LawagentError("--jobs and --workers must be >= 0")
    options = {k: v for k, v in (("model", args.model), ("api_base", args.api_base), ("llm_config", args.llm_config),
                                 ("local_llm", args.local_llm or None), ("max_cost", args.max_cost),
                                 ("max_tokens", args.max_tokens)) if v is not None}
    if options and args.proposer in OFFLINE:
        raise LawagentError("--model/--api-base/--llm-config/--local-llm/--max-cost/--max-tokens need --proposer llm or hybrid")
    if args.sr_evaluations is not None:
        if args.proposer not in ("operon", "hybrid-sr"):
            raise LawagentError("--sr-evaluations applies to --proposer operon or hybrid-sr")
        if args.sr_evaluations < 1:
            raise LawagentError(f"--sr-evaluations must be a positive whole number, got {args.sr_evaluations}")
        options["evaluations"] = args.sr_evaluations
    if args.proposer in ("operon", "hybrid-sr"):
        from lawagent.peers.operon import import_operon

        import_operon()  # a clear error now rather than one per cell
    if args.proposer == "operon":
        if args.iterations is not None or args.max_candidates is not None:
            raise LawagentError("--proposer operon takes --sr-evaluations (and optionally --time), not "
                                "--iterations or --max-candidates")
    if args.blocks is not None:
        if args.proposer not in OFFLINE:
            raise LawagentError("--blocks applies to the symbolic proposer (--proposer symbolic or hybrid-sr)")
        if args.blocks == "generic":
            options["blocks"] = "generic"
    if args.log_y:
        if args.proposer not in OFFLINE:
            raise LawagentError("--log-y applies to the symbolic proposer (--proposer symbolic or hybrid-sr)")
        options["log_y"] = True
    if args.local_llm:
        args.jobs = 1
    config = BenchConfig(proposer=args.proposer, tasks=tasks, seeds=list(range(args.seeds)), time_per_cell=args.time,
                         iterations=args.iterations, max_candidates=args.max_candidates, workers=args.workers,
                         jobs=args.jobs, proposer_options=options, dev=dev_value(args.dev), executor=args.executor,
                         address=args.address, id=args.id or "", out=args.out)
    log = (lambda s: None) if args.quiet else (lambda s: print(s, file=sys.stderr, flush=True))
    summary = run_bench(config, log=log)
    print(open(summary["outputs"]["md"], encoding="utf-8").read())
    print(f"written: {', '.join(summary['outputs'].values())}", file=sys.stderr)
    print(f"ran {summary['ran']} of {summary['cells']} cells in {summary['seconds']:.0f}s on {summary['where']}",
          file=sys.stderr)
    if summary["failures"]:
        print(f"{len(summary['failures'])} cell(s) failed; rerun the same command to retry them:", file=sys.stderr)
        for f in summary["failures"]:
            print(f"  {f}", file=sys.stderr)
        return 1
    return 0


def run_leaderboard(args: argparse.Namespace) -> int:
    from lawagent.bench.leaderboard import write_leaderboard
    from lawagent.bench.layout import resolve_bench_dir

    paths = write_leaderboard(resolve_bench_dir(args.bench, args.out))
    print(paths["md"].read_text(encoding="utf-8"))
    print(f"written: {', '.join(str(p) for p in paths.values())}", file=sys.stderr)
    return 0


def run_compare(args: argparse.Namespace) -> int:
    from pathlib import Path

    from lawagent.bench.figures import leaderboard_figure
    from lawagent.bench.leaderboard import compare, compare_csv, compare_markdown, label
    from lawagent.atomic import write_text
    from lawagent.bench.layout import resolve_bench_dir

    a, b = resolve_bench_dir(args.a, args.out), resolve_bench_dir(args.b, args.out)
    rows, la, lb = compare(a, b)
    text = compare_markdown(rows, la, lb)
    print(text)
    if args.save:
        d = Path(args.save)
        d.mkdir(parents=True, exist_ok=True)
        write_text(d / "compare.md", text)
        write_text(d / "compare.csv", compare_csv(rows))
        leaderboard_figure([("A: " + label(la), la), ("B: " + label(lb), lb)], d / "compare.png")
        print(f"written: {d / 'compare.md'}, {d / 'compare.csv'}, {d / 'compare.png'}", file=sys.stderr)
    return 0
