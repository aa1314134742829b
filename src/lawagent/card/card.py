"""The law card: everything a reader needs to judge one found law, gathered from a run folder.

Readable form and LaTeX; each parameter's role, fitted value, standard error
and bootstrap interval per group; the physical sanity checks with the fitted
irreducible loss and its interval; the validation numbers that chose the law
(and the stored held-out test scores, labelled as such); the Pareto front of
complexity against selection score; and, when the features include model size
and data (or compute), the compute-optimal exponents with intervals.

Everything computed here uses the training rows only (bootstrap refits,
sanity, compute-optimal allocation); test scores are read from the run as
stored, never recomputed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from lawagent.card.compute_optimal import Axes, allocation, find_axes
from lawagent.export.latex import to_latex
from lawagent.export.run import shown_laws
from lawagent.readable.form import Readable
from lawagent.readable.record import readable_of
from lawagent.records import LawRecord
from lawagent.runfolder.run import Run
from lawagent.sanity import Sanity, loss_limit, sanity_checks, target_is_loss
from lawagent.uncertainty import bootstrap_draws, intervals


@dataclass
class Parameter:
    """One parameter of the readable law, in every group."""

    name: str
    role: str
    roles: list[str]
    features: list[str]
    source: str  # its value as a formula of the raw law's parameters
    values: dict[str, float]  # group -> value
    stderr: dict[str, float]  # group -> standard error
    interval: dict[str, tuple[float, float]] = field(default_factory=dict)  # group -> bootstrap 5-95%


@dataclass
class Optimal:
    """Compute-optimal exponents per group, with bootstrap intervals."""

    axes: Axes
    a: dict[str, float]
    b: dict[str, float]
    tokens_per_parameter: dict[str, float]
    intervals: dict[str, dict[str, tuple[float, float]]] = field(default_factory=dict)  # group -> a|b|ratio -> (lo, hi)
    notes: dict[str, str] = field(default_factory=dict)


@dataclass
class LawCard:
    task: str
    run_id: str
    rank: int
    n_laws: int
    formula: str  # readable form
    raw_formula: str
    latex: str
    targets: list[str]
    group_column: str | None
    parameters: list[Parameter]
    reused: list[str]  # parameters that still play two roles
    notes: list[str]  # odd constructs left
    sanity: Sanity
    limit_intervals: dict[str, tuple[float, float]]  # group -> bootstrap interval of the irreducible loss
    selection: dict[str, Any]
    scores: dict[str, Any]  # validation / train / held-out test, as stored
    pareto: list[dict[str, Any]]  # complexity, score, formula (readable where it is a finalist)
    optimal: Optimal | None
    bootstrap: int  # resamples done
    # group -> the bootstrap refits (the readable form's parameters), for anyone drawing bands from them
    draws: dict[str, list[dict[str, float]]] = field(default_factory=dict, repr=False)


def law_card(run: Run, which: str | int = "best", *, bootstrap: int = 20, seconds: float = 20.0,
             seed: int = 0) -> LawCard:
    """The card of one law of ``run`` (``which``: 'best' or a rank N)."""
    rank, raw = run.one(which)
    task = run.task()
    train = task.train()
    shown = shown_laws(run, [raw])[0]
    readable = readable_of(raw, train) or _plain(raw)
    law = shown.law()
    draws_per_group = (bootstrap_draws(law, shown.params, train, resamples=bootstrap, seconds=seconds, seed=seed)
                       if bootstrap > 0 else {})
    ranges = intervals(draws_per_group)
    parameters = [
        Parameter(name, info.get("role", "other"), list(info.get("roles") or []), list(info.get("features") or []),
                  str(info.get("from", name)), {g: v.get(name, math.nan) for g, v in shown.params.items()},
                  {g: (shown.stderr.get(g) or {}).get(name, math.nan) for g in shown.params},
                  {g: iv[name] for g, iv in ranges.items() if name in iv})
        for name, info in readable.roles.items()]
    loss = target_is_loss(task)
    sanity = Sanity.from_dict(raw.sanity) if raw.sanity else sanity_checks(law, shown.params, train, task.scale, loss)
    limit_intervals = {}
    if loss and sanity.limits:
        for g, ds in draws_per_group.items():
            limits = [{"E": loss_limit(law, {g: d}, train, task.scale, g)} for d in ds]
            interval = intervals({g: limits}).get(g, {}).get("E")
            if interval is not None:
                limit_intervals[g] = interval
    return LawCard(
        task=task.name, run_id=run.run_id, rank=rank, n_laws=len(run.laws), formula=shown.formula,
        raw_formula=raw.formula, latex=to_latex(shown, table=False), targets=list(raw.targets),
        group_column=raw.group_column, parameters=parameters, reused=readable.reused, notes=list(readable.notes),
        sanity=sanity, limit_intervals=limit_intervals, selection=dict(raw.selection or {}),
        scores={"validation R2 (fold 1)": raw.val_r2, "train R2": raw.train_r2, "test": raw.test},
        pareto=_pareto(run), optimal=_optimal(law, shown, train, draws_per_group, task.features),
        bootstrap=min((len(d) for d in draws_per_group.values()), default=0), draws=draws_per_group,
    )


def _optimal(law, shown: LawRecord, train, draws_per_group, features) -> Optimal | None:
    axes = find_axes(features, law.used_features)
    if not axes.usable:
        return None
    out = Optimal(axes, {}, {}, {})
    for g, values in shown.params.items():
        best = allocation(law, values, train, g, axes)
        out.a[g], out.b[g], out.tokens_per_parameter[g] = best.a, best.b, best.tokens_per_parameter
        if best.note:
            out.notes[g] = best.note
        samples = [allocation(law, d, train, g, axes) for d in draws_per_group.get(g, [])]
        keys = ("a", "b", "tokens_per_parameter")
        iv = intervals({g: [{k: getattr(s, k) for k in keys} for s in samples]}).get(g)
        if iv:
            out.intervals[g] = iv
    return out


def _pareto(run: Run) -> list[dict[str, Any]]:
    """The run's Pareto front (complexity vs selection score), finalists in readable form."""
    readable = {law.formula: (law.readable or {}).get("formulas") for law in run.laws}
    rows = []
    for eq in run.final.get("equations") or []:
        formula = str(eq.get("formula", ""))
        shown = readable.get(formula)
        rows.append({"complexity": eq.get("complexity"), "cv_r2": eq.get("cv_r2", eq.get("val_r2")),
                     "val_r2": eq.get("val_r2"), "formula": "; ".join(shown) if shown else formula,
                     "finalist": shown is not None})
    return rows


def _plain(record: LawRecord) -> Readable:
    """A record without a readable form, described as it is."""
    return Readable(list(record.formulas), dict(record.params),
                    {p: {"role": "other", "roles": [], "features": [], "from": p} for p in record.parameters})
