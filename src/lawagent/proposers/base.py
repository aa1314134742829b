"""The proposer interface: anything that writes candidate law forms.

A proposer sees a :class:`ProposalContext` (the task's public description,
a train-only data summary, and a sample of the population with scores) and
returns :class:`Proposal` records: formula *text* in the law language. Text,
not sympy objects, so that LLM output, user seeds and built-in mutations all
pass through the same whitelist parser before anything is fitted.

Proposers never see the held-out test rows: :class:`TaskInfo` comes from the
train-only :class:`~lawagent.selection.view.TrainView`, and nothing in the
context can reach the Task itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Protocol, Sequence, runtime_checkable

import numpy as np

from lawagent.selection import rank
from lawagent.selection.view import TaskInfo

__all__ = ["CandidateRecord", "MixedProposer", "Proposal", "ProposalContext", "Proposer", "TaskInfo"]


@dataclass(frozen=True)
class Proposal:
    """A candidate law as text (one formula per target), with where it came from."""

    formulas: tuple[str, ...]
    origin: str = ""  # e.g. "symbolic:mutate", "llm:openai/gpt-4o", "seed"
    rationale: str = ""
    bounds: dict[str, tuple[float, float]] = field(default_factory=dict)
    initial: dict[str, float] = field(default_factory=dict)

    @property
    def text(self) -> str:
        return "; ".join(self.formulas)


@dataclass
class CandidateRecord:
    """An evaluated candidate, as the population and the proposers see it."""

    id: int
    formula: str  # canonical law text ('; ' between targets)
    origin: str
    iteration: int
    complexity: int = 0
    n_params: int = 0
    val_r2: float = -np.inf  # R² on validation fold 1 (rows carved from train)
    fit_r2: float = -np.inf  # R² on the rows it was fitted on
    params: dict[str, dict[str, float]] = field(default_factory=dict)  # per group, fitted on the fit rows
    error: str = ""  # why it failed ('' if it did not)
    rationale: str = ""
    seconds: float = 0.0
    key: str = ""  # canonical dedup key
    probe_violation: float = 0.0  # share of predictions past the validation range that leave the band or turn back
    fold_r2: list[float] = field(default_factory=list)  # R² on further validation folds, one scale step down each
    penalty: int = 0  # parameters in two roles + odd constructs (lawagent.readable.roles.penalty)
    stage: str = "full"  # how far racing took it: "screen" (a cheap look), "fold1" (fold 1 fully fitted), "full"

    @property
    def ok(self) -> bool:
        return not self.error and np.isfinite(self.val_r2)

    @property
    def ranked(self) -> bool:
        """Whether it competes for the finalists: fully evaluated and successful."""
        return self.ok and self.stage == "full"

    @property
    def cv_r2(self) -> float:
        """Validation R² averaged over the folds (:func:`lawagent.selection.rank.cv_r2`)."""
        return rank.cv_r2(self.val_r2, self.fold_r2) if self.ok else -np.inf

    @property
    def score(self) -> float:
        """The selection score (:func:`lawagent.selection.rank.selection_score`)."""
        return rank.selection_score(self.val_r2, self.fold_r2, self.probe_violation) if self.ok else -np.inf


@dataclass
class ProposalContext:
    info: TaskInfo
    best: list[CandidateRecord]  # the best so far by selection score (lawagent.selection.rank)
    diverse: list[CandidateRecord]  # others from the archive (other complexities, other origins)
    failures: list[CandidateRecord]  # recent failures with their error messages
    n: int  # how many proposals are wanted
    iteration: int
    rng: np.random.Generator
    seed_laws: Sequence[str] = ()
    deadline: float | None = None  # time.monotonic() at which the search ends: answers after it are wasted


@runtime_checkable
class Proposer(Protocol):
    name: str

    def propose(self, context: ProposalContext) -> list[Proposal]: ...


class MixedProposer:
    """Split each request between proposers by weight (e.g. symbolic 3 : llm 1)."""

    def __init__(self, parts: Sequence[tuple[Proposer, float]]):
        if not parts or any(w < 0 for _, w in parts) or sum(w for _, w in parts) <= 0:
            raise ValueError("MixedProposer needs proposers with non-negative weights summing to > 0")
        self.parts = list(parts)
        self.name = "+".join(p.name for p, _ in self.parts)

    def propose(self, context: ProposalContext) -> list[Proposal]:
        total = sum(w for _, w in self.parts)
        out: list[Proposal] = []
        remaining = context.n
        for i, (proposer, weight) in enumerate(self.parts):
            share = remaining if i == len(self.parts) - 1 else int(round(context.n * weight / total))
            share = min(share, remaining)
            remaining -= share
            if share > 0:
                out.extend(proposer.propose(replace(context, n=share)))
        return out
