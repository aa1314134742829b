"""Build a proposer from its name (what ``--proposer`` and ``discover(proposer=...)`` accept)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lawagent.errors import LawagentError
from lawagent.proposers.base import Proposer, TaskInfo
from lawagent.task import DataSplit

PROPOSERS = ("symbolic", "llm", "hybrid", "hybrid-sr")
OFFLINE = ("symbolic", "hybrid-sr")  # the symbolic proposer's blocks apply; no LLM option does
LOG_Y_HELP = ("symbolic proposer: also write laws fitted to the log of the target (log(y) = ...: products of powers "
              "in log space, and any law's expression refitted to log y), where the target is positive in every "
              "training row; off by default (on the development split it did not improve the search)")


def build_proposer(name: str, info: TaskInfo, *, seed: int = 0, run_dir: Path | None = None,
                   rows: DataSplit | None = None, **options: Any) -> Proposer:
    """``symbolic`` (offline, the default), ``llm`` or ``hybrid`` (LLM + symbolic), ``hybrid-sr``
    (Operon's models of ``rows``, the fit rows, then symbolic)."""
    if name == "hybrid-sr":
        from lawagent.peers.operon import HYBRID_EVALUATIONS, import_operon
        from lawagent.proposers.sr import SRSeededProposer

        blocks = options.pop("blocks", "all")
        log_y = bool(options.pop("log_y", False))
        evaluations = options.pop("evaluations", HYBRID_EVALUATIONS)
        if options:
            raise LawagentError(f"the hybrid-sr proposer takes only 'blocks', 'log_y' and 'evaluations', got "
                                f"{', '.join(sorted(options))}")
        if rows is None:
            raise LawagentError("the hybrid-sr proposer needs the fit rows (discover passes them)")
        _check_blocks(blocks)
        import_operon()  # a one-line error if the [sr] extra is missing
        return SRSeededProposer(info, rows, seed=seed, blocks=blocks, log_y=log_y, evaluations=int(evaluations))
    if name == "symbolic":
        blocks = options.pop("blocks", "all")
        log_y = bool(options.pop("log_y", False))
        if options:
            raise LawagentError(f"the symbolic proposer takes only 'blocks' and 'log_y', got {', '.join(sorted(options))}")
        from lawagent.proposers.symbolic import SymbolicProposer

        _check_blocks(blocks)
        return SymbolicProposer(info, seed=seed, blocks=blocks, log_y=log_y)
    if name in ("llm", "hybrid"):
        try:
            from lawagent.proposers.llm import build_llm_proposer
        except ModuleNotFoundError as err:
            if err.name and err.name.startswith("lawagent"):
                raise LawagentError(
                    f"LLM proposers are not available in this installation ({err.name} is missing); "
                    "use --proposer symbolic"
                ) from None
            raise
        return build_llm_proposer(name, info, seed=seed, run_dir=run_dir, **options)
    raise LawagentError(f"unknown proposer {name!r}; choose one of {', '.join(PROPOSERS)}")


def _check_blocks(blocks: str) -> None:
    from lawagent.proposers.blocks import BLOCK_SETS

    if blocks not in BLOCK_SETS:
        raise LawagentError(f"blocks must be one of {', '.join(BLOCK_SETS)}, got {blocks!r}")
