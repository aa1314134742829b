"""Which law wins: the selection score, the ranking, the finalists and the parsimony rule.

One place decides. A candidate's *selection score* is its validation R²
averaged over the rolling-origin folds (each fold floored at −1, so one
disastrous fold cannot hide the others) less the probe term: the share of its
predictions past the data that leave the plausible band or turn back
(:mod:`lawagent.selection.probe`). Candidates rank by that score, then by
simplicity, then by age. The law a run reports is the *simplest* one whose
selection NMSE (1 − score) is within 10% of the best one: validation
differences that small are noise at extrapolation, and the simpler law
extrapolates more safely (the one-standard-error rule of model selection).

*Simplicity* is the node count plus :data:`READABILITY_COST` nodes for each
parameter playing two roles and each odd construct
(:func:`lawagent.readable.roles.penalty`, the candidate's ``penalty``): of two
laws that validate alike, the one a scientist can read wins.

Among the laws inside that 10% band, physical sanity breaks ties before
simplicity: the law failing fewer of the checks of :mod:`lawagent.sanity`
(monotone where the training data are, a finite irreducible loss, no change of
sign past the data; computed from training rows and fitted values only) is
preferred. It is a *soft* tie-breaker: it never lifts a law from outside the
band, and without sanity counts (``failures`` not given) the rule is the plain
parsimony rule.

Everything here reads validation numbers and training information only; a
test score never enters.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field
from typing import Any, Mapping, Protocol, Sequence

FOLD_FLOOR = -1.0
PARSIMONY_TOLERANCE = 0.1  # a simpler law may be up to 10% worse in selection NMSE
MAX_FINALISTS = 10
READABILITY_COST = 8  # nodes charged per parameter in two roles and per odd construct
RACE_TOP = 10  # racing keeps a candidate if its screen could still place it among this many
RACE_SLACK = 3.0  # ... allowing its validation NMSE this many times the current k-th best's


class Ranked(Protocol):
    """What ranking needs of a candidate (``CandidateRecord`` has it)."""

    id: int
    complexity: int
    penalty: int  # parameters in two roles + odd constructs (lawagent.readable.roles.penalty)

    @property
    def score(self) -> float: ...


def cv_r2(val_r2: float, fold_r2: Sequence[float]) -> float:
    """Validation R² over the folds: fold 1 (``val_r2``) and the further ones, each floored at −1, averaged."""
    if not math.isfinite(val_r2):
        return -math.inf
    if not fold_r2:
        return float(val_r2)
    folds = [val_r2, *fold_r2]
    return sum(max(FOLD_FLOOR, v) if math.isfinite(v) else FOLD_FLOOR for v in folds) / len(folds)


def selection_score(val_r2: float, fold_r2: Sequence[float], probe: float) -> float:
    """What candidates are ranked by: :func:`cv_r2` less the probe's share of implausible extrapolations."""
    return cv_r2(val_r2, fold_r2) - probe


def cost(r: Ranked) -> int:
    """Simplicity as ranking reads it: nodes, plus :data:`READABILITY_COST` per readability penalty."""
    return r.complexity + READABILITY_COST * int(getattr(r, "penalty", 0) or 0)


def rank_key(r: Ranked) -> tuple[float, int, int]:
    """Higher selection score first, then simpler, then older (deterministic for a seed)."""
    return (-r.score, cost(r), r.id)


def near_best(records: Sequence[Ranked], tolerance: float = PARSIMONY_TOLERANCE) -> list[Ranked]:
    """The records whose selection NMSE is within ``tolerance`` of the best one (the parsimony band)."""
    top = min(records, key=rank_key)
    return [r for r in records if r.score >= parsimony_limit(top.score, tolerance)]


def choose_best(records: Sequence[Ranked], tolerance: float = PARSIMONY_TOLERANCE,
                failures: Mapping[int, int] | None = None) -> Ranked:
    """In the parsimony band: the record failing fewest sanity checks (``failures``: id -> count), then the
    simplest, then the best scored. With ``failures``, a law of the band that was not checked
    (:func:`sanity_order` says which are) counts as failing them all: unknown is not sane."""
    if not failures:
        return min(near_best(records, tolerance), key=lambda r: (cost(r), -r.score, r.id))
    return min(near_best(records, tolerance), key=lambda r: (failures.get(r.id, math.inf), cost(r), -r.score, r.id))


def sanity_order(records: Sequence[Ranked], tolerance: float = PARSIMONY_TOLERANCE) -> list[Ranked]:
    """The parsimony band in the order :func:`choose_best` reads it after sanity: simplest first.

    Sanity checks cost a few fits' worth of evaluations each, so only the first few laws of
    the band are checked; checking them in this order means the unchecked ones are those the
    rule would reach last.
    """
    return sorted(near_best(records, tolerance), key=lambda r: (cost(r), -r.score, r.id))


def parsimony_limit(best_score: float, tolerance: float = PARSIMONY_TOLERANCE) -> float:
    """The lowest selection score still 'as good as' ``best_score`` under the parsimony rule."""
    return 1.0 - (1.0 - best_score) * (1.0 + tolerance)


def final_candidates(ranked: Sequence[Ranked], pareto: Sequence[Ranked], top_k: int,
                     cap: int = MAX_FINALISTS, failures: Mapping[int, int] | None = None) -> list[Ranked]:
    """The chosen law first, then the top ``top_k`` and the Pareto front by rank, at most ``max(cap, top_k)``.

    ``ranked`` are all successful candidates; ``pareto`` the front of
    complexity against selection score; ``failures`` the sanity-check failures
    of the candidates in the parsimony band (see :func:`choose_best`).
    """
    if not ranked:
        return []
    limit = max(cap, top_k)
    chosen: dict[int, Ranked] = {}
    for r in sorted(ranked, key=rank_key)[:top_k]:
        chosen.setdefault(r.id, r)
    for r in sorted(pareto, key=rank_key):
        if len(chosen) >= limit:
            break
        chosen.setdefault(r.id, r)
    best = choose_best(ranked, failures=failures)
    ordered = sorted(chosen.values(), key=rank_key)
    return [best] + [r for r in ordered if r.id != best.id][: limit - 1]


@dataclass(frozen=True)
class RaceLimits:
    """What a candidate must show, stage by stage, to stay in the race (see :func:`race_limits`)."""

    top: float  # screen NMSE that could still place it among the RACE_TOP best
    complexity: tuple[int, ...] = ()  # ranked laws' complexities, ascending ...
    simpler_best: tuple[float, ...] = ()  # ... the slack times the best fold-1 NMSE at or below each ...
    simpler_score: tuple[float, ...] = ()  # ... and the best selection score at or below each
    top_score: float = -math.inf  # the RACE_TOP-th best selection score
    band: float = -math.inf  # the parsimony band's lower edge (it only rises as the run goes on)


def race_limits(ranked: Sequence[Any], top: int = RACE_TOP, slack: float = RACE_SLACK) -> RaceLimits:
    """Racing: the limits a candidate must meet to go on to the next, dearer stage.

    Stage 1, the screen (few starts, fold 1 only): a candidate could still win
    if it could reach the ``top`` best, or the Pareto front of complexity
    against error (the parsimony rule picks the simplest law near the best, so
    a simple law matters even when it is not among the best). A screen has
    fewer starts and iterations than the full fit, so it can underestimate a
    law, but rarely by a factor of ``slack``: both limits allow that factor.

    Stage 2, after the full fit of fold 1: the further folds and the probe can
    at best add a perfect R² and no penalty, which bounds the selection score
    from above (:func:`score_bound`). A law whose bound is below the ``top``-th
    best score, below the parsimony band and not above the best score of the
    laws at most as complex can never be a finalist: this stage is exact.

    Unlimited while fewer than ``top`` laws are ranked.
    """
    if len(ranked) < top:
        return RaceLimits(math.inf)
    ordered = sorted(ranked, key=rank_key)
    kth = ordered[top - 1]
    by_complexity = sorted(ranked, key=lambda r: r.complexity)
    best, best_score, simpler, scores = math.inf, -math.inf, [], []
    for r in by_complexity:
        best = min(best, max(1.0 - r.val_r2, 1e-12))
        best_score = max(best_score, r.score)
        simpler.append(slack * best)
        scores.append(best_score)
    return RaceLimits(slack * max(1.0 - kth.val_r2, 1e-12), tuple(r.complexity for r in by_complexity),
                      tuple(simpler), tuple(scores), kth.score, parsimony_limit(ordered[0].score))


def could_still_win(screen_r2: float, complexity: int, limits: RaceLimits) -> bool:
    """Stage 1: whether a screen at ``screen_r2`` for a law of ``complexity`` meets :func:`race_limits`.

    A screen that failed (no finite validation score: its few starts found no
    usable fit) says nothing about the law, so it earns the full evaluation too.
    """
    if not math.isfinite(screen_r2):
        return True
    nmse = 1.0 - screen_r2
    if nmse <= limits.top:
        return True
    i = bisect.bisect_right(limits.complexity, complexity)  # ranked laws at most this complex
    return i == 0 or nmse <= limits.simpler_best[i - 1]


def score_bound(val_r2: float, n_folds: int) -> float:
    """The highest selection score a law with fold-1 R² ``val_r2`` can reach over ``n_folds`` folds."""
    return (max(FOLD_FLOOR, val_r2) + (n_folds - 1) * 1.0) / n_folds if math.isfinite(val_r2) else -math.inf


def could_still_rank(val_r2: float, complexity: int, n_folds: int, limits: RaceLimits) -> bool:
    """Stage 2: whether a fully fitted fold 1 leaves the law any chance to be a finalist (exact, see race_limits)."""
    bound = score_bound(val_r2, n_folds)
    if bound >= limits.top_score or bound >= limits.band:
        return True
    i = bisect.bisect_right(limits.complexity, complexity)
    return i == 0 or bound > limits.simpler_score[i - 1]


@dataclass
class Selection:
    """Why a law stands where it does: the numbers selection read, and the rule that placed it."""

    score: float  # the selection score
    cv_r2: float  # validation R² averaged over the folds
    fold_r2: list[float] = field(default_factory=list)  # R² per fold, fold 1 first
    probe: float = 0.0  # share of implausible extrapolations, subtracted from cv_r2
    why: str = ""
    penalty: int = 0  # readability penalty charged as READABILITY_COST nodes each
    sanity_failures: int | None = None  # sanity checks failed (laws of the parsimony band only)

    def as_dict(self) -> dict[str, Any]:
        return {"score": self.score, "cv_r2": self.cv_r2, "fold_r2": list(self.fold_r2), "probe": self.probe,
                "why": self.why, "penalty": self.penalty, "sanity_failures": self.sanity_failures}


def explain(record: Any, best: Ranked, top_score: float, rank: int,
            failures: Mapping[int, int] | None = None) -> Selection:
    """The :class:`Selection` of a finalist ``record``; ``best`` is the chosen law, ``top_score`` the highest score."""
    failures = failures or {}
    if record.id == best.id:
        if record.score >= top_score:
            why = "chosen: the highest selection score"
        else:
            saner = (f" and failing {failures.get(record.id, 0)} sanity check(s), fewest in the band"
                     if failures and max(failures.values()) > failures.get(record.id, 0) else "")
            why = (f"chosen: the simplest law (complexity {record.complexity}, readability penalty "
                   f"{int(getattr(record, 'penalty', 0) or 0)}){saner} whose selection NMSE is within "
                   f"{PARSIMONY_TOLERANCE:.0%} of the best (score {top_score:.4f}; limit "
                   f"{parsimony_limit(top_score):.4f})")
    else:
        why = f"finalist {rank + 1}: by selection score"
    return Selection(record.score, record.cv_r2, [record.val_r2, *record.fold_r2], record.probe_violation, why,
                     int(getattr(record, "penalty", 0) or 0), failures.get(record.id))
