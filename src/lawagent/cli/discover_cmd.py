"""`lawagent discover`: search for the law that extrapolates best, on a bundled task or a CSV."""

from __future__ import annotations

import argparse
import math
import sys

from lawagent.cli.format import fmt, table
from lawagent.errors import LawagentError
from lawagent.proposers.registry import LOG_Y_HELP, OFFLINE

EPILOG = """\
how it works:
  Candidate laws are proposed (by default by the built-in symbolic proposer: no
  API key, no network), fitted per group on the training rows minus validation
  rows, and ranked on two rolling-origin validation folds. The finalists are
  refit on all training rows; the held-out test rows are used once, at the end,
  for the report. Results go to OUT/RUN_ID/ as the run goes.

validation rows (carved from the training rows only; the run prints its rule):
  --validation RULE     a rule in the holdout grammar; 'largest by X' (no amount)
                        takes --validation-fraction of the rows
  otherwise             the task's own rule, or one derived from --holdout: a
                        comparison is asked again one step down ("N >= 1e9" ->
                        the largest training models), a quantile keeps its share
                        of the remaining rows ("largest 20% by D" -> the largest
                        20% of the rest); with a split column, the largest
                        --validation-fraction of each group along --scale

examples:
  lawagent discover --task sft_scaling_law
  lawagent discover --task vocab_scaling_law --time 600 --seed 1
  lawagent discover data.csv --features params,tokens --target loss --holdout "params >= 1e9"
  lawagent discover data.csv --features n --target y1,y2 --group model --holdout "largest 20% by n"
  lawagent discover data.csv --features N,D --target loss --holdout "N >= 1e9" --validation "largest 2 by D"
  lawagent discover --task moe_scaling_law --seed-law "A/num_experts^a + B/dense_parameter_count^b + E"
  lawagent discover --resume results/sft_scaling_law-20250101-120000-s0
  lawagent discover --task moe_scaling_law --executor ray --address auto   (on a Ray cluster)
  lawagent discover --task sft_scaling_law --proposer hybrid --model openai/gpt-4o-mini --max-cost 1

--time is a deadline for the whole run: loading the data, the search and the
final refit of the finalists (the search stops early enough to leave the refit
its share; candidates still being evaluated then are dropped). With --resume it
is the total over all sessions of the run, not extra time.

Ctrl-C stops the search at once, refits and writes everything, and exits with
code 130 ("interrupted, resumable"); --resume continues. A second Ctrl-C stops
without the refit. One process at a time writes a run folder.
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "discover", help="search for a scaling law (bundled task or your CSV)",
        description="Evolve candidate scaling laws and report the ones that extrapolate best to the "
        "held-out larger-scale rows.", epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("csv", nargs="?", help="your data as CSV (with --features, --target and --holdout)")
    p.add_argument("--task", help="a bundled task name (see `lawagent tasks`) or a folder with task.toml")
    g = p.add_argument_group("your CSV")
    g.add_argument("--features", help="comma-separated feature columns, e.g. params,tokens")
    g.add_argument("--target", help="target column(s), comma-separated for several")
    g.add_argument("--group", help="column whose values are fitted separately (e.g. model family)")
    g.add_argument("--holdout", help="which rows are held out for the test, e.g. \"params >= 1e9\" or "
                   "\"largest 20%% by tokens\"; default: the CSV's train/test 'split' column")
    g.add_argument("--scale", metavar="COLS",
                   help="features along which held-out rows lie further out (default: the ones --holdout uses; "
                   "with a split column, all features); orders rows for the default validation carve")
    g.add_argument("--budget", type=int, default=8, metavar="N", help="maximum number of parameters per law (default 8)")
    g.add_argument("--name", help="task name used in the run id (default: the CSV file name)")
    b = p.add_argument_group("budget and run")
    b.add_argument("--time", type=float, default=None, metavar="SECONDS",
                   help="wall-clock seconds for the whole run: loading, search and final refit (default 180); "
                   "with --resume, the total over all sessions, not extra time")
    b.add_argument("--iterations", type=int, help="stop after this many iterations")
    b.add_argument("--max-candidates", type=int, metavar="N", help="stop after evaluating this many candidates")
    b.add_argument("--batch-size", type=int, default=64, metavar="N", help="candidates per iteration (default 64)")
    b.add_argument("--seed", type=int, default=0, help="random seed; same seed, same run (default 0)")
    b.add_argument("--workers", type=int, metavar="N",
                   help="evaluation processes (default: number of CPU cores; 0 = in this process)")
    b.add_argument("--executor", choices=["local", "ray"], default="local",
                   help="where candidates are evaluated: local processes (default) or Ray actors on a cluster "
                   "(pip install 'lawagent[ray]'); the same seed and --iterations give the same run")
    b.add_argument("--address", metavar="ADDR",
                   help="with --executor ray: 'auto' joins the running Ray cluster (`ray start --head`), or "
                   "HOST:PORT; default: start a Ray instance on this machine")
    b.add_argument("--out", default="results", metavar="DIR", help="where run folders go (default results/)")
    b.add_argument("--run-id", help="run folder name (default TASK-YYYYmmdd-HHMMSS-sSEED)")
    b.add_argument("--resume", metavar="RUN_DIR", help="continue an interrupted run from its folder")
    b.add_argument("--seed-law", action="append", default=[], metavar="FORMULA",
                   help="a formula to start from (repeatable). Benchmark numbers are reported without seeds, "
                   "so that they measure discovery, not recall")
    b.add_argument("--validation", metavar="RULE",
                   help="validation rule (holdout grammar) instead of the derived one, e.g. \"largest by params\" "
                   "or \"N >= 1e8\"")
    b.add_argument("--validation-fraction", type=float, default=None, metavar="F",
                   help="share of the training rows a validation cut takes where the rule leaves it open "
                   "(default 0.2); an error where the rule fixes its own shares")
    b.add_argument("--validation-folds", type=int, default=2, metavar="K",
                   help="rolling-origin folds: fold 1 validates on the largest rows, fold 2 carves the same "
                   "share again from the rest, and so on; candidates are ranked by their mean R2 (default 2; "
                   "1 = a single validation step)")
    b.add_argument("--no-racing", action="store_true",
                   help="fully evaluate every candidate (default: a cheap screen first; only candidates that "
                   "could still reach the top get the full fit on every fold and the probe)")
    b.add_argument("--top-k", type=int, default=5, help="finalists refit on all training rows besides the Pareto front (default 5)")
    b.add_argument("--quiet", action="store_true", help="no progress line")
    b.add_argument("--json", action="store_true", help="print final.json instead of the tables")
    l = p.add_argument_group("proposer (LLM options need an API or --local-llm)")
    l.add_argument("--proposer", choices=["symbolic", "llm", "hybrid", "hybrid-sr"], default=None,
                   help="symbolic (default, offline), llm, hybrid (LLM + symbolic), or hybrid-sr (the "
                   "symbolic-regression engine Operon's models of the fit rows first, then symbolic; offline, "
                   "pip install 'lawagent[sr]')")
    l.add_argument("--sr-evaluations", type=int, metavar="N",
                   help="hybrid-sr: expression evaluations per Operon run (default 50000; about a second each, "
                   "3 runs per group for the 4 largest groups)")
    l.add_argument("--blocks", choices=["all", "generic"], default=None,
                   help="symbolic proposer's starting blocks: all (default: generic motifs and the literature's law "
                   "families) or generic (powers, logs, exponentials, saturation, products only)")
    l.add_argument("--log-y", action="store_true", default=None,
                   help=LOG_Y_HELP)
    l.add_argument("--model", help="LLM model id, e.g. openai/gpt-4o-mini (litellm naming)")
    l.add_argument("--api-base", help="base URL of an OpenAI-compatible API")
    l.add_argument("--llm-weight", type=float, help="hybrid: share of proposals written by the LLM (0..1)")
    l.add_argument("--max-cost", type=float, metavar="USD", help="stop calling the LLM beyond this cost")
    l.add_argument("--max-tokens", type=int, help="stop calling the LLM beyond this many tokens")
    l.add_argument("--show-prompts", action="store_true", help="print prompts and replies")
    l.add_argument("--local-llm", action="store_true", help="use a local model server (see `lawagent serve-local`)")
    p.set_defaults(run=run)


def _proposer_options(args) -> dict:
    proposer = args.proposer or "symbolic"
    for flag, value in (("--blocks", args.blocks), ("--log-y", args.log_y)):
        if value is not None and proposer not in OFFLINE:
            raise LawagentError(f"{flag} applies to the symbolic proposer (--proposer symbolic or hybrid-sr)")
    if args.sr_evaluations is not None:
        if proposer != "hybrid-sr":
            raise LawagentError("--sr-evaluations applies to --proposer hybrid-sr")
        if args.sr_evaluations < 1:
            raise LawagentError(f"--sr-evaluations must be a positive whole number, got {args.sr_evaluations}")
    llm = {"model": args.model, "api_base": args.api_base, "llm_weight": args.llm_weight, "max_cost": args.max_cost,
           "max_tokens": args.max_tokens, "show_prompts": args.show_prompts or None, "local_llm": args.local_llm or None}
    # a resumed run keeps its own proposer (an LLM one may take these); a new run without --proposer is symbolic
    if proposer in OFFLINE and (args.proposer is not None or not args.resume) and any(v is not None for v in llm.values()):
        raise LawagentError("--model/--api-base/--llm-weight/--max-cost/--max-tokens/--show-prompts/--local-llm "
                            "need --proposer llm or hybrid")
    opts = {"blocks": args.blocks, "log_y": args.log_y, "evaluations": args.sr_evaluations, **llm}
    return {k: v for k, v in opts.items() if v is not None}


def run(args: argparse.Namespace) -> int:
    from lawagent.discovery import discover, discover_csv, resume_run
    from lawagent.discovery.clock import process_started

    started = process_started()  # --time counts the whole command: starting up and loading the data too

    opts = _proposer_options(args)
    common = dict(iterations=args.iterations, max_candidates=args.max_candidates, workers=args.workers,
                  progress=not args.quiet, started=started, executor=args.executor, address=args.address)
    if args.resume:
        if args.task or args.csv:
            raise LawagentError("--resume takes the run folder only; the task comes from its config.json")
        if args.validation or args.validation_fraction is not None:
            raise LawagentError("--resume keeps the run's validation protocol; --validation and "
                                "--validation-fraction cannot change it")
        result = resume_run(args.resume, time_limit=args.time, proposer_options=opts or None, **common)
    else:
        kw = dict(common, time_limit=180.0 if args.time is None else args.time, batch_size=args.batch_size,
                  seed=args.seed, out_dir=args.out, run_id=args.run_id, seed_laws=args.seed_law,
                  validation=args.validation, validation_fraction=args.validation_fraction,
                  validation_folds=args.validation_folds,
                  top_k=args.top_k, racing=not args.no_racing,
                  proposer=args.proposer or "symbolic", proposer_options=opts or None)
        if args.task and args.csv:
            raise LawagentError("give either --task NAME or a CSV file, not both")
        if args.task:
            for flag in ("features", "target", "group", "holdout", "name", "scale"):
                if getattr(args, flag):
                    raise LawagentError(f"--{flag} is for a CSV; a bundled task defines its own")
            result = discover(args.task, **kw)
        elif args.csv:
            if not args.features or not args.target:
                raise LawagentError("a CSV needs --features a,b and --target y (and usually --holdout RULE)")
            result = discover_csv(args.csv, args.features, args.target, group=args.group, holdout=args.holdout,
                                  name=args.name, parameter_budget=args.budget, scale=args.scale, **kw)
        else:
            raise LawagentError("give --task NAME (see `lawagent tasks`), a CSV file, or --resume RUN_DIR")
    if args.json:
        print((result.run_dir / "final.json").read_text(encoding="utf-8"))
    else:
        print(render(result))
    if result.stopped == "interrupted":
        sys.stdout.flush()
        print(f"lawagent discover: interrupted, resumable: lawagent discover --resume {result.run_dir}",
              file=sys.stderr)
        return 130
    return 0


def render(result) -> str:
    from lawagent.readable.record import readable_record

    raw = result.best
    best = readable_record(raw)
    shown = {law.formula: readable_record(law).formula for law in result.laws}
    speed = f", {result.per_core_second:.1f} per second per core" if math.isfinite(result.per_core_second) else ""
    lines = [f"task {result.task_name}: {result.n_evaluated} candidates in {result.seconds:.0f}s{speed}"
             + (f" (stopped: {result.stopped})" if result.stopped else "")
             + (f", evaluated on {result.where}" if result.where else ""), "",
             "equations (Pareto front: complexity vs selection score; val R2 = first validation fold, "
             "cv R2 = mean over the folds, fit R2 = on the fit rows; finalists in readable form)"]
    rows = [[int(r.complexity), r.val_r2, getattr(r, "cv_r2", r.val_r2), r.fit_r2, shown.get(r.formula, r.formula)]
            for r in result.equations.itertuples()]
    lines.append(table(["complexity", "val R2", "cv R2", "fit R2", "formula"], rows, max_width=90))
    sel = best.selection or {}
    lines += ["", f"validation: {result.protocol}" if result.protocol else "",
              f"best law: {best.formula}"]
    if best is not raw:
        lines.append(f"  as found: {raw.formula}")
    lines.append(f"  {len(best.parameters)} parameters, complexity {best.complexity}, origin {best.origin or '-'}"
                 f"; the law card: lawagent show {result.run_dir}")
    if sel:
        folds = ", ".join(_r2(v) for v in sel.get("fold_r2") or [])
        lines.append(f"  {sel.get('why', '')}: selection score {_r2(sel.get('score'))} = mean fold R2 "
                     f"{_r2(sel.get('cv_r2'))} (folds {folds}) - probe {_r2(sel.get('probe'))}")
    groups = list(best.params.items())
    prow = [[g, ", ".join(f"{k}={fmt(v)}" for k, v in ps.items())] for g, ps in groups[:10]]
    lines.append(table(["group", "fitted parameters (all training rows)"], prow, max_width=110))
    if len(groups) > 10:
        lines.append(f"... and {len(groups) - 10} more groups (see final.json)")
    lines.append("")
    test = best.test or {}
    ref_test = (result.reference.test or {}) if result.reference is not None else {}
    ratio = test.get("nmse") / ref_test["nmse"] if test.get("nmse") is not None and ref_test.get("nmse") else None
    lines.append(f"held-out test R2 of the best law:        {_r2(test.get('r2'))}"
                 + (f"   (FAILED: {test.get('message')})" if test.get("failed") else "")
                 + (f"   group R2 {_r2(test.get('group_r2'))}" if test.get("group_r2") is not None else "")
                 + (f"   NMSE/reference {ratio:.4g}" if ratio is not None else ""))
    lines += [f"warning (held-out test): {w}" for w in test.get("warnings") or []]
    if result.reference is not None:
        lines.append(f"held-out test R2 of the task's reference (human) law, refit the same way: "
                     f"{_r2(result.reference.test_r2)}   [{result.reference.formula}]")
    others = [law for law in result.laws[1:] if law.test_r2 is not None]
    if others:
        lines.append("other finalists (val R2 -> test R2): " + "; ".join(
            f"{_r2(l.val_r2)} -> {_r2(l.test_r2)}" for l in others[:4]))
    lines.append(f"\nrun folder: {result.run_dir}")
    return "\n".join(lines)


def _r2(v) -> str:
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.4f}"
