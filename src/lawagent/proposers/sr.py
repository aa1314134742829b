"""``--proposer hybrid-sr``: a symbolic-regression engine's models as the first candidates, then evolution.

Where the literature's blocks do not fit, a generic SR engine finds shapes our
building blocks cannot reach (issue 12: Operon beat lawagent on some tasks).
This proposer runs Operon (``lawagent[sr]``) on the *fit* rows of a few groups
(never the validation rows: those judge the candidates), takes the models of
runs allowed short, middling and long expressions, and turns each into a law-language
candidate: positive features enter as log10, as Operon saw them; the numeric
constants nearest the root (an intercept, an overall scale, an exponent) become
parameters up to the task's budget, started at Operon's values; the others stay
numbers. Every candidate goes through the whitelist parser like any other
proposal. From then on the symbolic proposer evolves the population, Operon's
laws included.
"""

from __future__ import annotations

import math
import re
from dataclasses import replace
from typing import Iterator, Sequence

import numpy as np
import sympy

from lawagent.errors import FormulaError
from lawagent.law.law import Law, to_text
from lawagent.peers.operon import (HYBRID_EVALUATIONS, feature_transforms, import_operon, operon_inputs,
                                   regressor_for)
from lawagent.proposers.base import Proposal, ProposalContext, TaskInfo
from lawagent.proposers.blocks import Names
from lawagent.proposers.symbolic import SymbolicProposer
from lawagent.task import DataSplit

SR_GROUPS = 4  # the groups with the most fit rows get an Operon run each
SR_LENGTHS = (10, 20, 40)  # one run per longest expression allowed (nodes): short readable models first
MAX_PARAMETERS = 8  # without a task budget
LOG10E = math.log10(math.e)  # log10(x) = log(x) * LOG10E, the factor written into the law
DIGITS = 6  # significant digits of the constants that stay numbers


class SRSeededProposer:
    """Operon's models of the fit rows first (iteration 0 onwards, a batch at a time), then symbolic evolution."""

    name = "hybrid-sr"
    replay_on_resume = True  # deterministic for a seed: Operon runs on an evaluation budget, one thread

    def __init__(self, info: TaskInfo, rows: DataSplit, seed: int = 0, blocks: str = "all", log_y: bool = False,
                 evaluations: int = HYBRID_EVALUATIONS):
        self.info, self.rows, self.seed, self.evaluations = info, rows, seed, evaluations
        self.symbolic = SymbolicProposer(info, seed=seed, blocks=blocks, log_y=log_y)
        self._queue: list[Proposal] | None = None

    def propose(self, context: ProposalContext) -> list[Proposal]:
        return [p for p in self.attempts(context) if p is not None]

    def attempts(self, context: ProposalContext) -> Iterator[Proposal | None]:
        """Operon's laws first, then the symbolic proposer's attempts (see SymbolicProposer.attempts)."""
        if self._queue is None:
            self._queue = sr_proposals(self.info, self.rows, self.seed, self.evaluations)
        out, self._queue = self._queue[: context.n], self._queue[context.n:]
        yield from out
        if len(out) < context.n:
            yield from self.symbolic.attempts(replace(context, n=context.n - len(out)))


def sr_proposals(info: TaskInfo, rows: DataSplit, seed: int = 0, evaluations: int = HYBRID_EVALUATIONS,
                 groups: int = SR_GROUPS, lengths: Sequence[int] = SR_LENGTHS) -> list[Proposal]:
    """Law-language proposals from Operon's models of the ``groups`` largest groups of ``rows``, one run per
    target and maximum length."""
    regressor = import_operon()
    features, targets = list(info.varying_features), list(info.targets)  # as the symbolic proposer builds laws
    transforms = feature_transforms(features, rows.X)  # as the Operon peer sees the data
    log10 = {f: t == "log10" for f, t in transforms.items()}
    X = operon_inputs(features, rows.X, transforms)
    names, counts = np.unique(rows.groups.astype(str), return_counts=True)
    largest = [str(n) for n, _ in sorted(zip(names, counts), key=lambda nc: (-nc[1], nc[0]))[:groups]]
    out: list[Proposal] = []
    seen: set[str] = set()
    for gi, g in enumerate(largest):
        mask = rows.groups.astype(str) == g
        for length in lengths:
            try:
                models = [_operon_model(regressor_for(regressor, seed, gi, t, evaluations, max_length=length),
                                        X[mask], rows.y[mask, t]) for t in range(len(targets))]
                proposal = law_from_models(models, features, log10, targets, info.parameter_budget)
            except (FormulaError, ValueError, TypeError, RecursionError, RuntimeError):
                continue  # a group Operon cannot model (too few rows, ...) or a model that is no law
            if proposal.text not in seen:
                seen.add(proposal.text)
                out.append(proposal)
    return out


def _operon_model(model, X: np.ndarray, y: np.ndarray) -> str:
    """The expression ``model`` (an Operon estimator) fits to (X, y), constants to full precision."""
    with np.errstate(all="ignore"):
        model.fit(X, y)
    return model.get_model_string(model.model_, 17)


def law_from_models(models: Sequence[str], features: Sequence[str], log10: dict[str, bool],
                    targets: Sequence[str], budget: int | None) -> Proposal:
    """One Operon model per target (variables X1.. in ``features`` order) as a law proposal.

    Raises FormulaError when the result is not a law (no feature left, unparseable, over budget).
    """
    def feature(m: re.Match) -> str:
        f = features[int(m.group(1)) - 1]
        return f"(log({f})*{LOG10E!r})" if log10[f] else f"({f})"

    texts = [re.sub(r"\bX(\d+)\b", feature, m) for m in models]
    # constants are numbers to the parser; which become parameters is decided on the tree
    exprs = list(Law.parse(texts, features, targets=list(targets)).expressions)
    constants = _constants_by_depth(exprs)
    limit = MAX_PARAMETERS if budget is None else budget
    names = Names(taken=features)  # parameter names never shadow a feature
    chosen = {c: names.new("coef") for c in constants[:limit]}
    rest = {c: sympy.Float(f"{float(c):.{DIGITS}g}") for c in constants[limit:]}
    exprs = [e.xreplace({**chosen, **rest}) for e in exprs]
    texts = [to_text(e) for e in exprs]
    law = Law.parse(texts, features, targets=list(targets), budget=budget)
    initial = {s.name: float(c) for c, s in chosen.items() if s.name in law.parameters}
    return Proposal(tuple(texts), origin="sr:operon", initial=initial,
                    rationale="a model of Operon's Pareto front, its leading constants as parameters")


def _constants_by_depth(exprs: Sequence[sympy.Expr]) -> list[sympy.Float]:
    """The distinct non-integer constants, shallowest first (then in reading order); not the log10 factor."""
    found: dict[sympy.Float, tuple[int, int]] = {}

    def walk(node: sympy.Expr, depth: int) -> None:
        if isinstance(node, sympy.Float):
            if abs(float(node) - LOG10E) > 1e-15 and node not in found:
                found[node] = (depth, len(found))
            return
        for arg in node.args:
            walk(arg, depth + 1)

    for e in exprs:
        walk(e, 0)
    return sorted(found, key=lambda c: found[c])

