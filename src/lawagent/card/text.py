"""The law card as terminal text (``lawagent show``)."""

from __future__ import annotations

import math
from typing import Any

from lawagent.card.card import LawCard
from lawagent.cli.format import table
from lawagent.law.law import equation

MAX_GROUPS = 8


def card_text(card: LawCard, max_groups: int = MAX_GROUPS) -> str:
    lines = [f"law {card.rank} of {card.n_laws} — run {card.run_id}, task {card.task}", ""]
    for target, formula in zip(card.targets or ["y"], card.formula.split("; ")):
        lines.append(f"  {equation(target, formula)}")
    if card.raw_formula != card.formula:
        lines.append(f"  (as found: {card.raw_formula})")
    lines += ["", "LaTeX:", *("  " + ln for ln in card.latex.strip().splitlines()), ""]
    lines.append(roles_text(card))
    groups = list(next(iter(card.parameters)).values) if card.parameters else []
    shown = groups[:max_groups]
    lines.append(f"\nparameters per {card.group_column or 'group'} (value ± standard error"
                 + (f", bootstrap 5–95% of {card.bootstrap} refits" if card.bootstrap else "")
                 + "; fitted on all training rows)")
    for g in shown:
        rows = [[p.name, p.role, number_text(p.values.get(g)), number_text(p.stderr.get(g)), interval_text(p.interval.get(g))]
                for p in card.parameters]
        lines.append(f"{g}:" if len(groups) > 1 else "")
        lines.append(table(["parameter", "role", "value", "std err", "bootstrap 5–95%"], rows))
    if len(groups) > len(shown):
        lines.append(f"... and {len(groups) - len(shown)} more groups (lawagent export RUN --format json)")
    lines += ["", _sanity_text(card, shown), "", _scores_text(card)]
    if card.optimal is not None:
        lines += ["", _optimal_text(card, shown)]
    lines += ["", "Pareto front (complexity vs selection score; * = a finalist, in readable form):"]
    lines.append(table(["complexity", "cv R2", "formula"],
                       [[r["complexity"], number_text(r["cv_r2"]), ("* " if r["finalist"] else "  ") + r["formula"]]
                        for r in card.pareto], max_width=100))
    return "\n".join(line for line in lines if line is not None).rstrip() + "\n"


def roles_text(card: LawCard) -> str:
    parts = []
    for p in card.parameters:
        where = f" of {', '.join(p.features)}" if p.features and p.role != "offset" else ""
        roles = " and ".join(p.roles) if len(p.roles) > 1 else p.role
        parts.append(f"{p.name}: {roles}{where}" + (f" (= {p.source})" if p.source != p.name else ""))
    text = "roles: " + "; ".join(parts)
    if card.reused:
        text += (f"\nnote: {', '.join(card.reused)} play(s) two roles in this law; it is shown as found, "
                 "because separating them is a different law (the search tries it, see docs/discover.md)")
    for note in card.notes:
        text += f"\nnote: {note}"
    return text


def _sanity_text(card: LawCard, groups: list[str]) -> str:
    lines = ["sanity checks (training rows and one decade past them; pass = in at least half the groups):"]
    if not card.sanity.checks:
        lines.append("  none applies (no scale feature the law uses, or no monotone trend in the data)")
    for c in card.sanity.checks:
        verdict = {True: "pass", False: "FAIL", None: "n/a"}[c.passed]
        what = {"monotone": f"monotone in {c.feature} where the data are",
                "limit": "finite limit as scale grows (irreducible loss)",
                "sign": "no change of sign past the data"}.get(c.name, c.name)
        lines.append(f"  {verdict:4}  {what}: fails in {c.failed} of {c.applies} groups")
    if card.sanity.limits:
        cells = []
        for g in groups:
            v = card.sanity.limits.get(g, math.nan)
            cells.append(f"{g}: {number_text(v)}" + (f" [{interval_text(card.limit_intervals.get(g))}]"
                                              if g in card.limit_intervals else ""))
        lines.append("  fitted irreducible loss (limit at infinite scale): " + "; ".join(cells))
    return "\n".join(lines)


def _scores_text(card: LawCard) -> str:
    sel = card.selection or {}
    lines = ["scores:"]
    if sel:
        folds = ", ".join(number_text(v) for v in sel.get("fold_r2") or [])
        lines.append(f"  selection score {number_text(sel.get('score'))} = mean validation R2 over the folds "
                     f"{number_text(sel.get('cv_r2'))} (folds {folds}) - probe {number_text(sel.get('probe'))}")
        if sel.get("why"):
            lines.append(f"  {sel['why']}")
    lines.append(f"  validation R2 (fold 1) {number_text(card.scores.get('validation R2 (fold 1)'))}; "
                 f"train R2 {number_text(card.scores.get('train R2'))}")
    test = card.scores.get("test") or {}
    if test:
        lines.append(f"  held-out test R2 {number_text(test.get('r2'))} (stored by the run; the test rows are for reporting "
                     "only, never for choosing)")
    return "\n".join(lines)


def _optimal_text(card: LawCard, groups: list[str]) -> str:
    opt = card.optimal
    axes = opt.axes
    lines = [f"compute-optimal allocation (C = 6·N·D, N = {axes.size or 'C/(6D)'}, D = {axes.data or 'C/(6N)'}; "
             "other features held at the largest training run):"]
    rows = []
    for g in groups:
        iv = opt.intervals.get(g, {})
        rows.append([g, number_text(opt.a.get(g)), interval_text(iv.get("a")), number_text(opt.b.get(g)), interval_text(iv.get("b")),
                     number_text(opt.tokens_per_parameter.get(g)), interval_text(iv.get("tokens_per_parameter")),
                     opt.notes.get(g, "")])
    lines.append(table(["group", "a (N*∝C^a)", "5–95%", "b (D*∝C^b)", "5–95%", "tokens/param", "5–95%", "note"], rows))
    return "\n".join(lines)


def number_text(v: Any) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "–"
    if isinstance(v, (int, float)):
        return f"{v:.4g}"
    return str(v)


def interval_text(iv) -> str:
    return "" if not iv else f"{number_text(iv[0])} .. {number_text(iv[1])}"
