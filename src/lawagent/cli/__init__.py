"""The ``lawagent`` command line. Each subcommand lives in its own module with
``register(subparsers)`` and ``run(args) -> int``; this file only dispatches
and turns user mistakes (:class:`LawagentError`) into one line on stderr."""

from __future__ import annotations

import argparse
import importlib
import re
import sys
from typing import Sequence

from lawagent.errors import LawagentError

# module name under lawagent.cli, in the order `lawagent --help` lists them
COMMANDS = ["tasks_cmd", "evaluate_cmd", "discover_cmd", "show_cmd", "bench_cmd", "export_cmd", "report_cmd", "bench_fit_cmd", "serve_local_cmd"]

DESCRIPTION = """\
lawagent discovers scaling laws: it evolves candidate formulas (sympy expressions),
fits their parameters per group on the training rows, and scores them on held-out
larger-scale rows (extrapolation). Works offline; LLM proposers are optional.

Start with:
  lawagent tasks                                  the bundled benchmark tasks
  lawagent evaluate sft_scaling_law --reference   score a task's human-derived law
  lawagent discover --task sft_scaling_law        search for a better one
"""


class _Parser(argparse.ArgumentParser):
    """argparse, plus a hint when a formula that starts with '-' was read as an option."""

    argv: list[str] = []  # the command line being parsed (set by main; the CLI parses one at a time)

    def error(self, message: str):  # type: ignore[override]
        formula = next((a for a in self.argv if _looks_like_formula(a)), None)
        if formula is not None:
            option = re.match(r"argument (--[\w-]+): expected one argument", message)
            if option:
                fix = f"give it with '=': {option.group(1)}={formula!r}"
            else:
                command = self.argv[0] if self.argv and not self.argv[0].startswith("-") else "COMMAND"
                fix = f"put -- before it: lawagent {command} TASK -- {formula!r}"
            message += f"; {formula!r} starts with '-', so it was read as an option: {fix}"
        super().error(message)


def _looks_like_formula(arg: str) -> bool:
    """'-A*x+E' or '-E + A/x' (not '-h', '--seed' or a negative number)."""
    return arg.startswith("-") and not arg.startswith("--") and len(arg) > 2 and any(c in arg for c in "*/^()+- ")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="lawagent", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    from lawagent import __version__

    parser.add_argument("--version", action="version", version=f"lawagent {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"lawagent.cli.{name}")
        except ModuleNotFoundError as err:
            if err.name == f"lawagent.cli.{name}":
                continue  # command not built yet
            raise
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    _Parser.argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    if not getattr(args, "run", None):
        parser.print_help()
        return 2
    try:
        return int(args.run(args) or 0)
    except LawagentError as err:
        print(f"lawagent {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as err:  # lawagent.errors.Interrupted says what can be done next
        print(f"lawagent {args.command}: {err or 'interrupted'}", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
