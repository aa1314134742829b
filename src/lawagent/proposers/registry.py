"""Build a proposer from its name (what ``--proposer`` and ``discover(proposer=...)`` accept)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lawagent.errors import LawagentError
from lawagent.proposers.base import Proposer, TaskInfo

PROPOSERS = ("symbolic", "llm", "hybrid")


def build_proposer(name: str, info: TaskInfo, *, seed: int = 0, run_dir: Path | None = None, **options: Any) -> Proposer:
    """``symbolic`` (offline, the default), ``llm`` or ``hybrid`` (LLM + symbolic)."""
    if name == "symbolic":
        blocks = options.pop("blocks", "all")
        if options:
            raise LawagentError(f"the symbolic proposer takes only 'blocks', got {', '.join(sorted(options))}")
        from lawagent.proposers.blocks import BLOCK_SETS
        from lawagent.proposers.symbolic import SymbolicProposer

        if blocks not in BLOCK_SETS:
            raise LawagentError(f"blocks must be one of {', '.join(BLOCK_SETS)}, got {blocks!r}")
        return SymbolicProposer(info, seed=seed, blocks=blocks)
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
