"""`lawagent export`: a run's law as sympy, LaTeX, a numpy module, JSON, CSV or an SLDBench program."""

from __future__ import annotations

import argparse
import sys

from lawagent.errors import LawagentError

EPILOG = """\
Laws are exported in their readable form (the one `lawagent show` prints): simplified,
parameters named by role (E irreducible, A, B coefficients, alpha, beta exponents, N0 scales),
large features written (N/1e9); it predicts exactly as the raw form. --form raw exports the
law as the search wrote it.

formats:
  sympy     readable sympy string and srepr, per target
  latex     the equation (symbolic; --group NAME or all substitutes fitted values) and a table of
            fitted values per group
  python    a standalone module needing only numpy: PARAMS per group and
            predict(features, group) (features: dict name -> array, or 2-D array in feature order)
  json      formula, parameters, fitted values per group, validation/test scores, task and run
            metadata; read back by `lawagent evaluate TASK --law-file FILE`
  csv       the equations table: rank, complexity, scores, formula (default --which all)
  sldbench  an SLDBench program: scaling_law_func(data_points, params) and
            fit_scaling_law(data_points, loss_values), numpy + scipy only

examples:
  lawagent export results/sft_scaling_law-s0 --format latex
  lawagent export results/sft_scaling_law-s0 --format python -o sft_law.py
  lawagent export results/sft_scaling_law-s0/final.json --format json --which 2 -o law2.json
  lawagent export results/sft_scaling_law-s0 --format csv
  lawagent export results/sft_scaling_law-s0 --format sldbench -o program.py
"""


def register(sub: argparse._SubParsersAction) -> None:
    from lawagent.export import FORMATS

    p = sub.add_parser(
        "export", help="export a run's laws (sympy, latex, python, json, csv, sldbench)",
        description="Write the laws a discovery run found in a format for papers, code or benchmarks.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("run_path", metavar="RUN", help="a run folder (results/<run-id>) or its final.json")
    p.add_argument("--format", "-f", required=True, choices=FORMATS, help="output format (see below)")
    p.add_argument("--which", default=None, metavar="best|N|all",
                   help="which law: best (default; csv: all), the N-th of the run's laws (1 = best), or all")
    p.add_argument("--group", default=None, metavar="NAME",
                   help="sympy/latex: substitute this group's fitted values ('all' = every group, latex only)")
    p.add_argument("--form", default="readable", choices=["readable", "raw"],
                   help="readable (default: simplified, parameters named by role, large features as (N/1e9)) or "
                   "raw (as the search wrote it)")
    p.add_argument("-o", "--output", default=None, metavar="FILE", help="write to FILE (atomically) instead of stdout")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from lawagent.export import export_run, load_run, write_text

    if args.group == "all" and args.format == "sympy":
        raise LawagentError("--group all applies to --format latex; for sympy give one group name")
    result = load_run(args.run_path)
    text = export_run(result, args.format, args.which, group=args.group, form=args.form)
    if args.output:
        path = write_text(args.output, text)
        print(f"wrote {path}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0
