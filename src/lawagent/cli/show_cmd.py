"""`lawagent show`: the law card of a run's law, in the terminal."""

from __future__ import annotations

import argparse
import sys

EPILOG = """\
The card prints the law in readable form (parameters named by role: E irreducible, A, B
coefficients, alpha, beta exponents, N0 scales; large features as (N/1e9)) and LaTeX; each
parameter's role, value, standard error and bootstrap interval per group; the physical
sanity checks with the fitted irreducible loss; the validation scores that chose the law
(and the stored held-out test score, labelled as such); the Pareto front; and, when the
features include model size and data (or compute), the compute-optimal exponents
N* ∝ C^a, D* ∝ C^b and tokens per parameter, with intervals. Bootstrap refits and checks
use the training rows only.

examples:
  lawagent show results/sft_scaling_law-s0
  lawagent show results/data_constrained_scaling_law-s0 --which 2 --bootstrap 50
  lawagent show results/vocab_scaling_law-s0 --bootstrap 0      fast: no intervals
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "show", help="print the law card of a run's law (readable form, roles, sanity, compute-optimal)",
        description="Print the law card of a discovery run's law.", epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("run_path", metavar="RUN", help="a run folder (results/<run-id>) or its final.json")
    p.add_argument("--which", default="best", metavar="best|N", help="which law of the run (default best; N: 1 = best)")
    p.add_argument("--bootstrap", type=int, default=20, metavar="N",
                   help="bootstrap refits for the intervals (default 20; 0 = none)")
    p.add_argument("--seconds", type=float, default=20.0, metavar="S", help="time budget of the refits (default 20)")
    p.add_argument("--groups", type=int, default=8, metavar="N", help="groups listed (default 8)")
    p.add_argument("--seed", type=int, default=0, help="seed of the bootstrap resampling (default 0)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from lawagent.card import law_card
    from lawagent.card.text import card_text
    from lawagent.errors import LawagentError
    from lawagent.runfolder import load_run

    if args.bootstrap < 0 or args.seconds <= 0 or args.groups < 1:
        raise LawagentError("--bootstrap must be >= 0, --seconds > 0 and --groups >= 1")
    card = law_card(load_run(args.run_path), args.which, bootstrap=args.bootstrap, seconds=args.seconds,
                    seed=args.seed)
    sys.stdout.write(card_text(card, args.groups))
    return 0
