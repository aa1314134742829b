"""`lawagent report`: one self-contained HTML page (PNG figures embedded as base64,
and written beside it) that shows at a glance whether a run's law extrapolates.

The page opens with the law card (:mod:`lawagent.card`: readable form, roles,
uncertainty, sanity, compute-optimal exponents). Figures: observed vs predicted per group (train fit / validation / test rows
marked); the law along the scale variable, extended into the held-out region,
with an optional bootstrap band (refits on resampled training rows: parameter
uncertainty only, not model-form error); the Pareto front of complexity vs
validation error from candidates.jsonl; the best validation score per iteration.
Test rows are only plotted and scored here, after the run has chosen its law.
"""

from __future__ import annotations

import base64
import html
import io
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from lawagent.errors import TaskError
from lawagent.atomic import write_bytes, write_text
from lawagent.card import law_card
from lawagent.card.html import card_html
from lawagent.export.run import shown_laws
from lawagent.fit.fitter import predict
from lawagent.plots import (Curve, Panel, curve_figure, history_figure, parity_figure, pareto_figure, short,
                            wants_log)
from lawagent.records import LawRecord
from lawagent.runfolder.run import Run, load_run
from lawagent.scoring import score
from lawagent.selection.protocol import Protocol, protocol_for

__all__ = ["ReportOptions", "ReportResult", "make_report"]



@dataclass(frozen=True)
class ReportOptions:
    which: str = "best"  # which law of the run: 'best' or a rank N
    max_groups: int = 12  # panels per figure
    max_settings: int = 6  # curves per panel for multi-feature laws
    bootstrap: int = 20  # resamples for the uncertainty band (0 = none)
    bootstrap_seconds: float = 30.0  # time budget for all bootstrap refits
    validation_fraction: float | None = None  # default: the run's
    seed: int = 0
    dpi: int = 110


@dataclass
class ReportResult:
    html: Path
    figures: dict[str, Path] = field(default_factory=dict)
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)


def make_report(run: Run | str | Path, out_dir: str | Path | None = None,
                options: ReportOptions | None = None) -> ReportResult:
    """Write ``report.html`` and the PNGs into ``out_dir`` (default: ``<run>/report``)."""
    start = time.perf_counter()
    options = options or ReportOptions()
    run = run if isinstance(run, Run) else load_run(run)
    rank, record = run.one(options.which)
    task = run.task()
    out = Path(out_dir).expanduser() if out_dir else run.path / "report"
    protocol = _run_protocol(run, task, options.validation_fraction)
    data = _rows(task, record, protocol)
    notes: list[str] = []

    panels, shown_groups = _panels(data, record, options.max_groups)
    n_groups = len(data["group_names"])
    group_note = (f"showing {len(shown_groups)} of {n_groups} groups (groups with held-out rows first)"
                  if len(shown_groups) < n_groups else "")
    shown = shown_laws(run, [record])[0]  # the readable form, for every formula and value the page prints
    title = f"{task.name}: {short(shown.formula, 90)}"
    figures: dict[str, Any] = {}
    figures["parity"] = parity_figure(panels, f"Observed vs predicted — {task.name}", group_note)

    for p in panels:
        p.scale = _scale_variable(task, record, p.target)
    scales = list(dict.fromkeys(p.scale for p in panels))
    curves = [_curves(p, record, options.max_settings) for p in panels]
    train_max = [_train_max(p) for p in panels]
    band_note = ""
    # the card's bootstrap refits give the bands too: one set of refits per report
    card = law_card(run, rank, bootstrap=options.bootstrap, seconds=options.bootstrap_seconds, seed=options.seed)
    if options.bootstrap > 0 and any(curves):
        done = _bands(shown, card.draws, panels, curves)
        band_note = (f"bands: 5–95% of {done} bootstrap refits on resampled training rows "
                     "(parameter uncertainty only)") if done else ""
        if done < options.bootstrap:
            notes.append(f"bootstrap: {done} of {options.bootstrap} resamples within the "
                         f"{options.bootstrap_seconds:g}s budget")
    curve_note = "; ".join(n for n in (group_note, band_note) if n)
    along = scales[0] if len(scales) == 1 else "each target's scale variable"
    figures["curves"] = curve_figure(panels, curves, f"The law along {along} — held-out rows are the stars",
                                     curve_note, train_max)
    if run.candidates:
        chosen = (record.complexity, 1.0 - record.val_r2) if isinstance(record.val_r2, (int, float)) else None
        others = [(r.complexity, 1.0 - r.val_r2) for i, r in enumerate(run.laws, 1)
                  if i != rank and isinstance(r.val_r2, (int, float))]
        figures["pareto"] = pareto_figure(run.candidates, chosen, f"Complexity vs validation error — run {run.run_id}",
                                          others)
    else:
        notes.append("no candidates.jsonl in the run folder: Pareto figure skipped")
    history = run.history or _history_from_candidates(run.candidates)
    if history:
        figures["history"] = history_figure(history, f"Best validation score per iteration — run {run.run_id}")
    else:
        notes.append("the run recorded no history: progress figure skipped")

    pngs: dict[str, bytes] = {}
    for name, fig in figures.items():
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=options.dpi)
        pngs[name] = buf.getvalue()
    paths = {name: write_bytes(out / f"{name}.png", png) for name, png in pngs.items()}
    scores = _scores(data, record)
    if record.test_r2 is not None and scores.get("test") is not None and abs(scores["test"].r2 - record.test_r2) > 1e-6:
        notes.append(f"test R² recomputed from the stored parameters ({scores['test'].r2:.6g}) differs from the run's "
                     f"({record.test_r2:.6g}): has the task's data changed since the run?")
    page = _html(run, rank, record, task, title, pngs, scores, notes, protocol, card_html(card, options.max_groups),
                 shown)
    html_path = write_text(out / "report.html", page)
    return ReportResult(html_path, paths, time.perf_counter() - start, notes)


# ---------------------------------------------------------------------------
# data


def _run_protocol(run: Run, task, fraction: float | None) -> Protocol:
    """The validation protocol the run used (its config), so the report marks the same rows."""
    config = run.config if isinstance(run.config, dict) else {}
    fraction = fraction if fraction is not None else config.get("validation_fraction")
    folds, rule = int(config.get("validation_folds") or 1), config.get("validation")
    try:
        return protocol_for(task, fraction=fraction, n_folds=folds, validation=rule)
    except TaskError:  # a run from before the protocol stored 0.2 even where the rule fixes its own shares
        return protocol_for(task, n_folds=folds, validation=rule)


def _rows(task, record: LawRecord, protocol: Protocol) -> dict[str, Any]:
    """All rows (train then test) with split labels and the law's predictions."""
    train, test = task.train(), task.test()
    val_mask, _ = protocol.validation_mask(train)
    split = np.array(["fit"] * len(train) + ["test"] * len(test), dtype=object)
    split[: len(train)][val_mask] = "validation"
    X = {f: np.concatenate([train.X[f], test.X[f]]) for f in task.features}
    groups = np.concatenate([train.groups, test.groups]).astype(object)
    y = np.concatenate([train.y, test.y])
    pred = record.predict(X, groups)
    names = list(dict.fromkeys(groups.tolist()))
    return {"X": X, "y": y, "groups": groups, "pred": pred, "split": split, "group_names": names,
            "targets": list(task.targets), "n_train": len(train)}


def _panels(data: dict[str, Any], record: LawRecord, max_panels: int) -> tuple[list[Panel], list[str]]:
    groups = data["group_names"]
    with_test = [g for g in groups if ((data["groups"] == g) & (data["split"] == "test")).any()]
    ordered = with_test + [g for g in groups if g not in with_test]
    targets = data["targets"]
    n_groups = max(1, max_panels // len(targets))
    shown = ordered[:n_groups]
    panels = []
    for g in shown:
        rows = data["groups"] == g
        for t, name in enumerate(targets):
            if len(panels) >= max(max_panels, len(targets)):
                break
            panels.append(Panel(str(g), name, data["y"][rows, t], data["pred"][rows, t], data["split"][rows],
                                {f: v[rows] for f, v in data["X"].items()}))
    return panels, shown


def _scale_variable(task, record: LawRecord, target: str) -> str:
    """The task's scale feature if the target's formula uses it, else the first feature it uses."""
    law = record.law()
    t = record.targets.index(target) if target in record.targets else 0
    names = {s.name for s in law.expressions[t].free_symbols}
    used = [f for f in law.used_features if f in names] or list(law.used_features)
    for s in task.scale:
        if s in used:
            return s
    return used[0]


def _train_max(p: Panel) -> float | None:
    m = p.split != "test"
    return float(p.X[p.scale][m].max()) if m.any() else None


def _grid(x: np.ndarray, n: int = 200) -> np.ndarray:
    x = x[np.isfinite(x)]
    lo, hi = float(x.min()), float(x.max())
    if wants_log(x):
        return np.geomspace(lo, hi * (hi / lo) ** 0.08, n)
    span = hi - lo or abs(hi) or 1.0
    return np.linspace(lo, hi + 0.08 * span, n)


def _curves(p: Panel, record: LawRecord, max_settings: int) -> list[Curve]:
    """One curve per setting of the other used features: the held-out rows' settings first,
    then the most common ones. Rows within ~5% of a setting (in every other feature) are
    drawn in its colour; the rest in grey."""
    law = record.law()
    scale = p.scale
    t = record.targets.index(p.target) if p.target in record.targets else 0
    names = {s.name for s in law.expressions[t].free_symbols}
    others = [f for f in law.used_features if f != scale and f in names]
    grid = _grid(p.X[scale])

    def model(setting: dict[str, float]) -> np.ndarray:
        X = {f: np.full(len(grid), setting.get(f, 0.0)) for f in record.features}
        X[scale] = grid
        return record.predict(X, np.full(len(grid), p.group, dtype=object))[:, t]

    n = len(p.y)
    if not others:
        return [Curve("", grid, model({}), np.ones(n, dtype=bool))]
    keys = list(zip(*[p.X[f].tolist() for f in others]))

    def near(k: tuple) -> np.ndarray:
        m = np.ones(n, dtype=bool)
        for f, v in zip(others, k):
            col = p.X[f]
            if v > 0 and (col > 0).all():
                m &= np.abs(np.log(col / v)) <= 0.05
            else:
                m &= np.abs(col - v) <= 0.05 * (np.ptp(col) or abs(v) or 1.0)
        return m

    test_keys = list(dict.fromkeys(k for k, s in zip(keys, p.split) if s == "test"))
    chosen: list[tuple] = []
    for k in _spread(sorted(test_keys), max_settings * 3):
        if len(chosen) >= max_settings:
            break
        if not any(near(c)[keys.index(k)] for c in chosen):
            chosen.append(k)
    if len(chosen) < max_settings:
        distinct = list(dict.fromkeys(keys))
        counts = {k: int(near(k).sum()) for k in distinct[:400]}
        for k in sorted(counts, key=lambda k: -counts[k]):
            if len(chosen) >= max_settings or counts[k] < 2:
                break
            if not any(near(c)[keys.index(k)] for c in chosen):
                chosen.append(k)
    curves = []
    for k in chosen:
        label = ", ".join(f"{short(f, 12 if len(others) < 3 else 8)}={v:.3g}" for f, v in zip(others, k))
        curves.append(Curve(label, grid, model(dict(zip(others, k))), near(k)))
    return curves


def _spread(items: list, k: int) -> list:
    if len(items) <= k:
        return list(items)
    idx = np.unique(np.round(np.linspace(0, len(items) - 1, k)).astype(int))
    return [items[i] for i in idx]


def _bands(record: LawRecord, samples: dict[str, list[dict[str, float]]], panels: list[Panel],
           curves: list[list[Curve]]) -> int:
    """Attach 5–95% bands to the curves from bootstrap refits of ``record``'s law (the law card's)."""
    law = record.law()
    groups = {p.group for p, cs in zip(panels, curves) if cs}
    done = max((len(v) for g, v in samples.items() if g in groups), default=0)
    if done < 2:
        return 0
    for p, cs in zip(panels, curves):
        draws = samples.get(p.group) or []
        if len(draws) < 2:
            continue
        t = record.targets.index(p.target) if p.target in record.targets else 0
        for c in cs:
            setting = {f: float(np.asarray(p.X[f])[c.rows][0]) for f in record.features if c.rows.any()}
            X = {f: np.full(len(c.x), setting.get(f, 0.0)) for f in record.features}
            X[p.scale] = c.x
            labels = np.full(len(c.x), p.group, dtype=object)
            ys = [y for y in (predict(law, {p.group: params}, X, labels)[:, t] for params in draws) if np.isfinite(y).all()]
            if len(ys) >= 2:
                arr = np.array(ys)
                c.lo, c.hi = np.percentile(arr, 5, axis=0), np.percentile(arr, 95, axis=0)
    return done


def _history_from_candidates(candidates: Sequence[dict[str, Any]]) -> list[list[float]]:
    best, out = -math.inf, {}
    for i, c in enumerate(candidates):
        r2 = c.get("val_r2")
        if isinstance(r2, (int, float)) and math.isfinite(r2) and not c.get("error"):
            best = max(best, r2)
        it = c.get("iteration", 0)
        if math.isfinite(best):
            out[it] = [it, i + 1, best, 0.0]
    return list(out.values())


def _scores(data: dict[str, Any], record: LawRecord) -> dict[str, Any]:
    out = {}
    for name, labels in (("fit", ("fit",)), ("validation", ("validation",)), ("train", ("fit", "validation")),
                         ("test", ("test",))):
        m = np.isin(data["split"], labels)
        if m.any():
            out[name] = score(data["y"][m], data["pred"][m], data["groups"][m])
    return out


# ---------------------------------------------------------------------------
# HTML

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}
h1{font-size:1.5em;margin-bottom:.2em} h2{font-size:1.15em;margin-top:1.8em;border-bottom:1px solid #ddd}
code,pre{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.9em}
pre{background:#f6f8fa;padding:.8em;overflow-x:auto;white-space:pre-wrap}
table{border-collapse:collapse;font-size:.88em;margin:.5em 0} td,th{border:1px solid #ddd;padding:.25em .6em;text-align:right}
td.l,th.l{text-align:left} img{max-width:100%;border:1px solid #eee} .note{color:#666;font-size:.9em}
.warn{color:#a33} figure{margin:1em 0} figcaption{color:#555;font-size:.9em}
"""

_HEADINGS = {"curves": "Extrapolation", "parity": "Observed vs predicted", "pareto": "Pareto front",
             "history": "Search progress"}

_CAPTIONS = {
    "parity": "Observed vs predicted for each group. Points on the dashed diagonal are predicted exactly; "
              "stars are the held-out test rows the run never saw.",
    "curves": "The fitted law along the scale variable, extended past the training range (shaded) into the "
              "held-out region. For laws of several features, each colour is one setting of the other features "
              "(held-out settings first).",
    "pareto": "Every scored candidate of the run: complexity against validation error (validation rows are the "
              "largest-scale training rows). The step line is the Pareto front; the star is the chosen law.",
    "history": "Best validation error after each iteration of the search.",
}


def _fmt(v: Any, digits: int = 6) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        if not math.isfinite(v):
            return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf")
        return f"{v:.{digits}g}"
    return html.escape(str(v))


def _html(run: Run, rank: int, record: LawRecord, task, title: str, pngs: dict[str, bytes], scores: dict[str, Any],
          notes: list[str], protocol: Protocol, card: str = "", shown: LawRecord | None = None) -> str:
    e = html.escape
    law = record.law()
    final = run.final
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{e(title)}</title><style>{_CSS}</style></head><body>"]
    parts.append(f"<h1>lawagent report — {e(task.name)}</h1>")
    parts.append(f"<p class='note'>run <code>{e(run.run_id)}</code> · law {rank} of {len(run.laws)}"
                 f" · {e(str(final.get('n_evaluated', '?')))} candidates evaluated"
                 f" · {_fmt(final.get('seconds'), 4)} s · proposer {e(str(final.get('proposer', '?')))}"
                 f" · seed {e(str(final.get('seed', '?')))}</p>")
    if task.title and task.title != task.name:
        parts.append(f"<p>{e(task.title)}</p>")
    parts.append(card)
    parts.append(f"<p class='note'>{len(law.parameters)} parameters fitted per {e(task.group_column or 'group')}; "
                 f"complexity {record.complexity}; origin {e(record.origin or '?')}. "
                 f"<code>lawagent show {e(str(run.path))}</code> prints this card; "
                 f"<code>lawagent export {e(str(run.path))} --format latex</code> writes the LaTeX.</p>")
    if record.test_r2 is not None and (record.val_r2 or 0) - record.test_r2 > 0.1:
        parts.append("<p class='warn'>The held-out R² is well below the validation R²: the law extrapolates worse than "
                     "the search expected.</p>")
    # scores
    rows = [("validation (chosen on)", scores.get("validation"), record.val_r2),
            ("train (all training rows)", scores.get("train"), record.train_r2),
            ("held-out test", scores.get("test"), record.test_r2)]
    reference = (final.get("reference") or {}).get("test") or {}
    ref_nmse = reference.get("nmse") if isinstance(reference, dict) else None
    parts.append("<h2>Scores</h2><table><tr><th class='l'>rows</th><th>n</th><th>R²</th><th>group R²</th><th>NMSE</th>"
                 "<th>NMSE / reference</th><th>NMAE</th><th>R² stored by the run</th></tr>")
    for label, sc, stored in rows:
        if sc is None:
            continue
        ratio = sc.nmse / ref_nmse if label == "held-out test" and ref_nmse else math.nan
        parts.append(f"<tr><td class='l'>{e(label)}</td><td>{sc.n_rows}</td><td>{_fmt(sc.r2)}</td>"
                     f"<td>{_fmt(sc.group_r2)}</td><td>{_fmt(sc.nmse)}</td><td>{_fmt(ratio)}</td>"
                     f"<td>{_fmt(sc.nmae)}</td><td>{_fmt(stored)}</td></tr>")
    parts.append("</table>")
    parts.append("<p class='note'>group R² = the mean R² within each group with 2 or more rows (pooled R² saturates "
                 "where groups differ in level); NMSE / reference = over the task's reference law refit the same "
                 "way, on the same rows.</p>")
    parts.append(f"<p class='note'>R² = 1 − NMSE on pooled predictions (SLDBench's metric). Validation rows (fold 1): "
                 f"{e(protocol.describe())}, re-derived here (the validation R² above is from the full-train fit; the "
                 "run's stored one is from the fit-rows-only fit it selected on).</p>")
    for n in notes:
        parts.append(f"<p class='warn'>{e(n)}</p>")
    # figures
    for name in ("curves", "parity", "pareto", "history"):
        if name in pngs:
            b64 = base64.b64encode(pngs[name]).decode("ascii")
            parts.append(f"<h2>{e(_HEADINGS[name])}</h2><figure>"
                         f"<img alt='{e(name)}' src='data:image/png;base64,{b64}'>"
                         f"<figcaption>{e(_CAPTIONS[name])}</figcaption></figure>")
    # parameters
    shown = shown or record
    parts.append(_params_table(shown, shown.law()))
    # laws of the run
    parts.append("<h2>Laws of the run</h2><table><tr><th>#</th><th>complexity</th><th>params</th><th>validation R²</th>"
                 "<th>test R²</th><th class='l'>formula</th></tr>")
    for i, (r, shown) in enumerate(zip(run.laws, shown_laws(run, run.laws)), 1):
        mark = " style='font-weight:bold'" if i == rank else ""
        parts.append(f"<tr{mark}><td>{i}</td><td>{r.complexity}</td><td>{len(r.parameters)}</td><td>{_fmt(r.val_r2)}</td>"
                     f"<td>{_fmt(r.test_r2)}</td><td class='l'><code>{e(shown.formula)}</code></td></tr>")
    parts.append("</table>")
    from lawagent import __version__
    parts.append(f"<p class='note'>generated by lawagent {e(__version__)}</p></body></html>")
    return "".join(parts)


def _params_table(record: LawRecord, law, max_rows: int = 60) -> str:
    e = html.escape
    params = list(law.parameters)
    head = "".join(f"<th>{e(p)}</th>" for p in params)
    out = [f"<h2>Fitted parameters</h2><table><tr><th class='l'>{e(record.group_column or 'group')}</th>{head}</tr>"]
    items = list(record.params.items())
    for g, values in items[:max_rows]:
        cells = []
        for p in params:
            v = values.get(p)
            err = (record.stderr.get(g) or {}).get(p)
            txt = _fmt(v, 5)
            if isinstance(err, (int, float)) and math.isfinite(err):
                txt += f" ± {_fmt(err, 2)}"
            cells.append(f"<td>{txt}</td>")
        out.append(f"<tr><td class='l'>{e(str(g))}</td>{''.join(cells)}</tr>")
    out.append("</table>")
    if len(items) > max_rows:
        out.append(f"<p class='note'>… and {len(items) - max_rows} more groups (lawagent export --format json has all).</p>")
    return "".join(out)
