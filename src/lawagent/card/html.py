"""The law card as a section of the HTML report (``lawagent report``)."""

from __future__ import annotations

import html

from lawagent.card.card import LawCard
from lawagent.card.text import interval_text, number_text, roles_text
from lawagent.law.law import equation

MAX_GROUPS = 6


def card_html(card: LawCard, max_groups: int = MAX_GROUPS) -> str:
    e = html.escape
    out = ["<h2>Law card</h2>", "<pre>"]
    for target, formula in zip(card.targets or ["y"], card.formula.split("; ")):
        out.append(e(equation(target, formula)) + "\n")
    out.append("</pre>")
    if card.raw_formula != card.formula:
        out.append(f"<p class='note'>as found by the search: <code>{e(card.raw_formula)}</code> (the readable form "
                   "predicts every training row as it does)</p>")
    out.append(f"<details><summary>LaTeX</summary><pre>{e(card.latex)}</pre></details>")
    out.append("<p>" + "<br>".join(e(line) for line in roles_text(card).splitlines()) + "</p>")
    groups = list(next(iter(card.parameters)).values)[:max_groups] if card.parameters else []
    head = "".join(f"<th>{e(p.name)}</th>" for p in card.parameters)
    out.append(f"<table><tr><th class='l'>{e(card.group_column or 'group')}</th>{head}</tr>")
    for g in groups:
        cells = []
        for p in card.parameters:
            iv = p.interval.get(g)
            cells.append(f"<td>{number_text(p.values.get(g))} ± {number_text(p.stderr.get(g))}"
                         + (f"<br><span class='note'>[{interval_text(iv)}]</span>" if iv else "") + "</td>")
        out.append(f"<tr><td class='l'>{e(str(g))}</td>{''.join(cells)}</tr>")
    out.append("</table>")
    out.append(f"<p class='note'>value ± standard error; [bootstrap 5–95% of {card.bootstrap} refits on resampled "
               "training rows]; first groups only (the fitted-parameter table below lists all).</p>")
    out.append("<h3>Sanity checks</h3><table><tr><th class='l'>check</th><th>verdict</th><th>groups failing</th></tr>")
    for c in card.sanity.checks:
        verdict = {True: "pass", False: "FAIL", None: "n/a"}[c.passed]
        name = f"{c.name} ({c.feature})" if c.feature else c.name
        out.append(f"<tr><td class='l'>{e(name)}</td><td>{verdict}</td><td>{c.failed} of {c.applies}</td></tr>")
    out.append("</table>")
    if card.sanity.limits:
        out.append("<p class='note'>fitted irreducible loss: " + "; ".join(
            e(f"{g}: {number_text(card.sanity.limits.get(g))}") + (f" [{interval_text(card.limit_intervals[g])}]"
                                                            if g in card.limit_intervals else "")
            for g in groups) + "</p>")
    if card.optimal is not None:
        opt = card.optimal
        out.append(f"<h3>Compute-optimal allocation</h3><p class='note'>C = 6·N·D with N = "
                   f"{e(opt.axes.size or 'C/(6D)')}, D = {e(opt.axes.data or 'C/(6N)')}; N* ∝ C<sup>a</sup>, "
                   "D* ∝ C<sup>b</sup>; bootstrap 5–95% in brackets.</p>")
        out.append("<table><tr><th class='l'>group</th><th>a</th><th>b</th><th>tokens per parameter</th></tr>")
        for g in groups:
            iv = opt.intervals.get(g, {})
            out.append(f"<tr><td class='l'>{e(str(g))}</td>" + "".join(
                f"<td>{number_text(getattr(opt, k).get(g))}" + (f" [{interval_text(iv[k])}]" if k in iv else "") + "</td>"
                for k in ("a", "b", "tokens_per_parameter")) + "</tr>")
        out.append("</table>")
    return "".join(out)
