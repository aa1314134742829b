"""The leaderboard of one benchmark run, and the side-by-side of two.

Per task: mean and spread (sample std over seeds) of held-out R², the R² of
the *selected* seed (the one whose law has the best selection score: picked
without the test rows, as a user would), mean NMSE and NMAE, wall time,
candidates evaluated, and for LLM runs tokens, cost and the share of the laws
in the LLM's answers that parsed; then the mean over tasks. Beside them: the task's reference law refit by our harness
(``evaluate(task, reference_law(task))``, cached in reference.json; marked
where the reference is lawagent's own baseline, not a published law) and,
for test-row benchmarks, SLDBench's published numbers
(:mod:`lawagent.bench.published`). The best seed by test R² is shown only in
its own section, labelled an oracle. A ``--dev`` benchmark says so in its
title and reads no test row: its R² is on the pseudo-test rows of the
development split.

Every cell's test R² is also recomputed here from its stored parameters
(``LawRecord.predict`` + ``score``) as a check that the saved number is what the
saved law gives; the largest difference is printed under the table.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lawagent.bench.published import CAVEATS, PUBLISHED_MEANS, SOURCES, published
from lawagent.atomic import write_text
from lawagent.bench.layout import CELL_FILE, FINAL, bench_task, budget_kind, load_manifest, task_label
from lawagent.jsonio import write_json
from lawagent.peers import operon
from lawagent.errors import LawagentError
from lawagent.selection.dev import FAR, dev_kind
from lawagent import machine

REFERENCE_FILE = "reference.json"


@dataclass
class TaskRow:
    task: str  # the benchmark's task spec: a bundled name or a task folder
    seeds: int
    failed: int
    r2: list[float]  # per finished seed
    nmse: list[float]
    nmae: list[float]
    seconds: list[float]
    evaluated: list[float]
    tokens: list[float]
    cost: list[float]
    group_r2: list[float] = field(default_factory=list)  # mean within-group R² per seed (NaN: one row per group)
    llm_parsed: list[int] = field(default_factory=list)  # per LLM cell: laws in the model's answers that parsed ...
    llm_laws: list[int] = field(default_factory=list)  # ... of the laws its answers held
    rel_nmse: list[float] = field(default_factory=list)  # NMSE over the reference law's, per seed
    label: str = ""  # the task's name
    collection: str = ""  # "sldbench", "more", or "" for a task folder of one's own
    best_formula: str = ""  # the selected seed's law
    r2_by_seed: dict[int, float] = field(default_factory=dict)
    selection_by_seed: dict[int, float] = field(default_factory=dict)  # the best law's selection score per seed
    formula_by_seed: dict[int, str] = field(default_factory=dict)
    reference_r2: float | None = None
    reference_is_baseline: bool = False  # the task's reference is lawagent's own baseline, not a published law
    published_reference_r2: float | None = None
    published_sldagent_r2: float | None = None
    published_sldagent_best_r2: float | None = None
    published_note: str = ""

    @property
    def r2_mean(self) -> float:
        return _mean(self.r2)

    @property
    def r2_std(self) -> float:
        return float(np.std(self.r2, ddof=1)) if len(self.r2) > 1 else math.nan

    @property
    def selected_seed(self) -> int | None:
        """The seed whose law has the best selection score (ties: lower seed): chosen without test rows."""
        scored = {s: v for s, v in self.selection_by_seed.items() if _finite(v)}
        if not scored:
            return None
        return min(scored, key=lambda s: (-scored[s], s))

    @property
    def r2_selected(self) -> float:
        seed = self.selected_seed
        return self.r2_by_seed.get(seed, math.nan) if seed is not None else math.nan

    @property
    def llm_parsed_fraction(self) -> float:
        """The share of the laws in the LLM's answers (all seeds) that parsed; NaN without LLM answers."""
        return sum(self.llm_parsed) / sum(self.llm_laws) if sum(self.llm_laws) else math.nan

    @property
    def r2_oracle(self) -> float:
        """The best seed *by test R²*: for diagnosis only, never a comparable number."""
        return max(self.r2) if self.r2 else math.nan

    def as_dict(self) -> dict[str, Any]:
        return {
            "task": self.label or self.task, "collection": self.collection, "seeds": self.seeds, "failed": self.failed,
            "r2_mean": self.r2_mean, "r2_std": self.r2_std, "r2_selected": self.r2_selected,
            "group_r2_mean": _mean(self.group_r2) if all(_finite(v) for v in self.group_r2) else math.nan,
            "nmse_vs_reference": _mean(self.rel_nmse) if all(_finite(v) for v in self.rel_nmse) else math.nan,
            "selected_seed": self.selected_seed, "r2_oracle_picked_on_test": self.r2_oracle,
            "r2_worst": min(self.r2) if self.r2 else math.nan,
            "nmse_mean": _mean(self.nmse), "nmae_mean": _mean(self.nmae),
            "seconds_mean": _mean(self.seconds), "evaluated_mean": _mean(self.evaluated),
            "tokens_mean": _mean(self.tokens), "cost_total": float(sum(self.cost)) if self.cost else math.nan,
            "llm_parsed_fraction": self.llm_parsed_fraction,
            "reference_r2_ours": _num(self.reference_r2),
            "published_reference_r2": _num(self.published_reference_r2),
            "published_sldagent_r2": _num(self.published_sldagent_r2),
            "published_sldagent_best_r2": _num(self.published_sldagent_best_r2),
            "best_formula": self.best_formula,
        }


@dataclass
class Leaderboard:
    bench_dir: Path
    manifest: dict[str, Any]
    rows: list[TaskRow]
    cells: list[dict[str, Any]]
    max_recompute_diff: float = 0.0
    missing: list[str] = field(default_factory=list)

    @property
    def llm(self) -> bool:
        return any(r.tokens for r in self.rows)

    @property
    def dev(self) -> bool:
        return bool(self.manifest.get("dev"))

    @property
    def machines(self) -> list[dict[str, Any]]:
        """The machines the cells ran on (each cell records its own; older cells did not)."""
        out: list[dict[str, Any]] = []
        for c in self.cells:
            m = c.get("machine")
            if m and m not in out:
                out.append(m)
        return out

    @property
    def far(self) -> bool:
        """The far development split (``bench --dev far``)."""
        return dev_kind(self.manifest.get("dev")) == FAR

    def summaries(self) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        """(mean row, clipped mean row) per collection when there are several, then over all tasks."""
        names = list(dict.fromkeys(r.collection for r in self.rows))
        out = []
        if len(names) > 1:
            for name in names:
                rows = [r for r in self.rows if r.collection == name]
                title = COLLECTIONS.get(name, name or "own tasks")
                out.append((mean_row(rows, f"mean over {title} ({len(rows)} task{'s' if len(rows) > 1 else ''})"),
                            clipped_mean_row(rows, f"{title}, R² clipped to [−1, 1]")))
        label = f"mean over all {len(self.rows)} tasks" if len(names) > 1 else "mean over tasks"
        out.append((mean_row(self.rows, label), clipped_mean_row(self.rows, "mean, R² clipped to [−1, 1]")))
        return out


COLLECTIONS = {"sldbench": "SLDBench", "more": "more datasets"}


def _clip(v: float) -> float:
    return min(1.0, max(-1.0, v))


def clipped_mean(row: TaskRow) -> float:
    """The task's mean R² with every seed's R² clipped to [−1, 1] first, as SLDBench's leaderboard does."""
    return float(np.mean([_clip(v) for v in row.r2])) if row.r2 else math.nan


def clipped_mean_row(rows: list[TaskRow], label: str) -> dict[str, Any]:
    """Mean over ``rows`` with every R² clipped to [−1, 1] first, as SLDBench's leaderboard does."""
    means = [clipped_mean(r) for r in rows if r.r2]
    chosen = [_clip(r.r2_selected) for r in rows if _finite(r.r2_selected)]
    refs = [r.reference_r2 for r in rows]
    return {"task": label, "r2_mean": _mean(means) if len(means) == len(rows) else math.nan,
            "r2_selected": _mean(chosen) if len(chosen) == len(rows) else math.nan,
            "reference_r2_ours": _mean([_clip(v) for v in refs]) if all(_finite(v) for v in refs) else math.nan,
            "published_reference_r2": _mean([r.published_reference_r2 for r in rows])
            if all(r.published_reference_r2 is not None for r in rows) else math.nan}


def mean_row(rows: list[TaskRow], label: str) -> dict[str, Any]:
    """Mean over ``rows`` of each per-task column (NaN when a task lacks the value)."""
    dicts = [r.as_dict() for r in rows]
    out: dict[str, Any] = {"task": label, "collection": "", "seeds": sum(r.seeds for r in rows),
                           "failed": sum(r.failed for r in rows), "best_formula": "", "selected_seed": None}
    for k in dicts[0] if dicts else []:
        if k in out:
            continue
        vals = [d[k] for d in dicts]
        out[k] = float(np.mean(vals)) if vals and all(_finite(v) for v in vals) else math.nan
    # spread of the overall score: std over seeds of (mean over tasks), seeds every task finished
    per_seed = [r.r2_by_seed for r in rows]
    common = set.intersection(*(set(p) for p in per_seed)) if per_seed else set()
    overall = [float(np.mean([p[s] for p in per_seed])) for s in sorted(common)]
    out["r2_std"] = float(np.std(overall, ddof=1)) if len(overall) > 1 else math.nan
    return out


def _mean(xs: list[float]) -> float:
    return float(np.mean(xs)) if xs else math.nan


def _num(x: float | None) -> float:
    return math.nan if x is None else float(x)


def _finite(x: Any) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x)


def load_cells(bench_dir: Path) -> list[dict[str, Any]]:
    cells = []
    for d in sorted((Path(bench_dir) / "cells").glob("*")):
        f = d / CELL_FILE
        if f.is_file() and (d / FINAL).is_file():
            cells.append(json.loads(f.read_text(encoding="utf-8")) | {"dir": str(d)})
    return cells


def shown_formula(cell: dict[str, Any]) -> str:
    """The cell's best law in readable form (stored in its final.json), else as the search wrote it."""
    try:
        folder = Path(cell.get("dir") or cell["run_dir"])  # "dir": where load_cells found it, from any cwd
        best = json.loads((folder / FINAL).read_text(encoding="utf-8")).get("best") or {}
        return "; ".join(best["readable"]["formulas"])
    except (KeyError, TypeError, OSError, ValueError):
        return cell.get("formula", "")


def _selection_score(cell: dict[str, Any]) -> float:
    """The cell's chosen law's selection score (from bench_cell.json, else final.json)."""
    v = cell.get("selection_score")
    if not _finite(v) and cell.get("dir"):
        try:
            best = json.loads((Path(cell["dir"]) / FINAL).read_text(encoding="utf-8")).get("best") or {}
        except (OSError, json.JSONDecodeError):
            best = {}
        v = (best.get("selection") or {}).get("score")
    return float(v) if _finite(v) else math.nan


def _stats(cell: dict[str, Any]) -> tuple[float | None, float | None]:
    """(tokens, cost) from a cell's proposer_stats, whatever the LLM proposer calls them."""
    stats = cell.get("proposer_stats") or {}
    flat = dict(stats)
    for v in stats.values():
        if isinstance(v, dict):
            flat = v | flat
    tokens = next((flat[k] for k in ("total_tokens", "tokens") if _finite(flat.get(k))), None)
    if tokens is None and _finite(flat.get("prompt_tokens")):
        tokens = flat["prompt_tokens"] + (flat.get("completion_tokens") or 0)
    cost = next((flat[k] for k in ("cost", "cost_usd", "total_cost") if _finite(flat.get(k))), None)
    if flat.get("cost_known") is False:
        cost = None  # the model's price is not in litellm's cost map: unknown, not free
    return tokens, cost


def _llm_laws(cell: dict[str, Any]) -> tuple[int, int] | None:
    """(laws that parsed, laws) in the answers of a cell's LLM, from its proposer_stats; None for no LLM."""
    stats = cell.get("proposer_stats") or {}
    parsed, rejected = stats.get("parsed"), stats.get("rejected")
    if not (_finite(parsed) and _finite(rejected)):
        return None
    return int(parsed), int(parsed) + int(rejected)


def reference_scores(bench_dir: Path, tasks: list[str], dev: bool | str = False) -> dict[str, dict[str, Any]]:
    """The reference law of each task refit by our harness (FINAL_FIT, seed 0), cached in reference.json.

    On a ``--dev`` benchmark the reference is fitted and scored on the development split too.
    """
    from lawagent.evaluate import FINAL_FIT, evaluate, reference_law

    path = Path(bench_dir) / REFERENCE_FILE
    cache: dict[str, dict[str, Any]] = {}
    if path.is_file():
        try:
            cache = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            cache = {}
    changed = False
    for name in tasks:
        if name in cache:
            continue
        try:
            task = bench_task(name, dev)
            law = reference_law(task)
            ev = evaluate(task, law, FINAL_FIT)
            cache[name] = {"formula": law.text(), "r2": ev.test.r2, "nmse": ev.test.nmse, "nmae": ev.test.nmae,
                           "group_r2": ev.test.group_r2, "failed": ev.test.failed, "message": ev.test.message,
                           "seconds": ev.seconds, "fit": "lawagent.evaluate.FINAL_FIT (seed 0)",
                           "baseline": "baseline chosen by lawagent" in (task.reference.notes or ""),
                           "name": task.name, "collection": task.collection}
        except LawagentError as err:
            task = _try_load(name, dev)
            cache[name] = {"formula": None, "r2": None, "message": str(err), "name": task.name if task else None,
                           "collection": task.collection if task else ""}
        changed = True
    if changed:
        write_json(path, cache)
    return cache


def _try_load(name: str, dev: bool | str):
    try:
        return bench_task(name, dev)
    except LawagentError:
        return None


def recompute_test_r2(cell: dict[str, Any], dev: bool | str = False) -> float | None:
    """The cell's test R² recomputed from its saved law and parameters (LawRecord.predict + score)."""
    from lawagent.records import LawRecord
    from lawagent.scoring import score

    final = json.loads((Path(cell["dir"]) / FINAL).read_text(encoding="utf-8"))
    best = final.get("best")
    if not isinstance(best, dict):  # a peer's cell keeps expressions, not a law: nothing to re-predict
        return None
    record = LawRecord.from_dict(best)
    test = bench_task(cell["task"], dev).test()
    with np.errstate(all="ignore"):
        return score(test.y, record.predict(test.X, test.groups), test.groups).r2


def build_leaderboard(bench_dir: Path, *, check: bool = True, reference: bool = True) -> Leaderboard:
    bench_dir = Path(bench_dir)
    manifest = load_manifest(bench_dir)
    tasks = list(manifest.get("tasks", []))
    seeds = list(manifest.get("seeds", []))
    cells = load_cells(bench_dir)
    by_task: dict[str, list[dict]] = {}
    for c in cells:
        by_task.setdefault(c["task"], []).append(c)
    for t in by_task:
        if t not in tasks:
            tasks.append(t)
    dev = manifest.get("dev") or False
    refs = reference_scores(bench_dir, tasks, dev) if reference else {}
    rows, missing, max_diff = [], [], 0.0
    for t in tasks:
        got = [c for c in by_task.get(t, []) if c.get("seed") in seeds or not seeds]
        have = {c["seed"] for c in got}
        missing += [f"{task_label(t)}-s{s}" for s in seeds if s not in have]
        row = TaskRow(t, len(got), 0, [], [], [], [], [], [], [])
        for c in sorted(got, key=lambda c: c["seed"]):
            test = c.get("test") or {}
            r2 = test.get("r2")
            if not _finite(r2):
                r2 = -1.0  # SLDBench's failure value
            if test.get("failed") or c.get("status", "done") != "done":  # scored −1 either way: say so
                row.failed += 1
            row.r2.append(float(r2))
            row.r2_by_seed[int(c["seed"])] = float(r2)
            row.selection_by_seed[int(c["seed"])] = _selection_score(c)
            row.formula_by_seed[int(c["seed"])] = shown_formula(c)
            row.nmse.append(float(test["nmse"]) if _finite(test.get("nmse")) else math.inf)
            row.nmae.append(float(test["nmae"]) if _finite(test.get("nmae")) else math.inf)
            row.group_r2.append(float(test["group_r2"]) if _finite(test.get("group_r2")) else math.nan)
            wall = c.get("wall_seconds", c.get("seconds"))
            if _finite(wall):
                row.seconds.append(float(wall))
            if _finite(c.get("n_evaluated")):
                row.evaluated.append(float(c["n_evaluated"]))
            tokens, cost = _stats(c)
            if tokens is not None:
                row.tokens.append(float(tokens))
            if cost is not None:
                row.cost.append(float(cost))
            laws = _llm_laws(c)
            if laws is not None:
                row.llm_parsed.append(laws[0])
                row.llm_laws.append(laws[1])
            if check:
                again = recompute_test_r2(c, dev)
                if again is not None and _finite(r2) and _finite(again):
                    max_diff = max(max_diff, abs(again - r2))
                    c["recomputed_r2"] = again
        row.best_formula = row.formula_by_seed.get(row.selected_seed, "") if row.selected_seed is not None else ""
        ref = refs.get(t) or {}
        row.reference_r2 = ref.get("r2")
        row.reference_is_baseline = bool(ref.get("baseline"))
        row.label, row.collection = ref.get("name") or task_label(t), ref.get("collection", "")
        row.rel_nmse = [v / ref["nmse"] if _finite(ref.get("nmse")) and ref["nmse"] > 0 else math.nan
                        for v in row.nmse]
        pub = None if dev or row.collection != "sldbench" else published(row.label)
        if pub is not None:
            row.published_reference_r2 = pub.reference_r2
            row.published_sldagent_r2 = pub.sldagent_r2
            row.published_sldagent_best_r2 = pub.sldagent_best_r2
            row.published_note = pub.note
        rows.append(row)
    order = list(COLLECTIONS) + [""]
    rows.sort(key=lambda r: order.index(r.collection) if r.collection in order else len(order))  # stable
    return Leaderboard(bench_dir, manifest, rows, cells, max_diff, missing)


# -- output -------------------------------------------------------------------


def _f(x: Any, digits: int = 4) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    if isinstance(x, float) and math.isinf(x):
        return "inf"
    if isinstance(x, float):
        return f"{x:.{digits}f}"
    return str(x)


BLOCKS_DISCLOSURE = (
    "The symbolic proposer's starting blocks include law families of the scaling-law literature (Chinchilla, "
    "Muennighoff, Clark, data mixing, broken power laws, learning-rate bowls), some of them the families of bundled "
    "tasks' reference laws; `--blocks generic` leaves only generic motifs (powers, logs, exponentials, saturation, "
    "products), so that recall can be told apart from discovery.")


def _budget_text(m: dict[str, Any]) -> str:
    kind = budget_kind(m)
    parts = []
    if m.get("proposer") == "operon":
        parts.append(f"{(m.get('proposer_options') or {}).get('evaluations', operon.DEFAULT_EVALUATIONS)} "
                     "evaluations per model")
    if m.get("max_candidates") is not None:
        parts.append(f"{m['max_candidates']} candidates")
    if m.get("iterations") is not None:
        parts.append(f"{m['iterations']} iterations")
    if m.get("time_per_cell") is not None:
        parts.append(f"{m['time_per_cell']:g} s")
    how = ("wall clock: cells depend on the machine and its load" if kind == "time"
           else "a rerun with the same seeds on the same kind of machine reproduces every cell")
    return f"{' / '.join(parts)} per cell ({kind} budget; {how})"


def agent_text(m: dict[str, Any]) -> str:
    opts = m.get("proposer_options") or {}
    agent = m.get("proposer", "?") + (f" ({opts['model']})" if opts.get("model") else "")
    if m.get("proposer") == "operon":
        agent = f"operon ({operon.DESCRIPTION})"
    if m.get("proposer") == "hybrid-sr":
        agent = (f"hybrid-sr (Operon's models of the fit rows, {opts.get('evaluations', operon.HYBRID_EVALUATIONS)} "
                 "evaluations per run, then symbolic evolution)")
    if opts.get("blocks") == "generic":
        agent += ", generic blocks only"
    if opts.get("log_y"):
        agent += ", laws fitted to log y too"
    return agent


def to_markdown(lb: Leaderboard) -> str:
    m = lb.manifest
    title = f"# Leaderboard ({'far ' if lb.far else ''}dev split: no test row was read): {lb.bench_dir.name}" if lb.dev else \
        f"# Leaderboard (test rows: a release measurement): {lb.bench_dir.name}"
    what = ("R² = pooled R² on the **pseudo-test rows of the development split** (each task's validation fold 1, "
            "carved from its training rows; discovery ran on the rest), SLDBench's metric; the real test rows were "
            "dropped at load. Judge method changes here." if lb.dev and not lb.far else
            "R² = pooled R² on the **pseudo-test rows of the far development split** (each task's validation fold 1, "
            "carved from its training rows; fold 2's validation rows were dropped too, so discovery ran on the rows "
            "two scale steps below the pseudo-test), SLDBench's metric; the real test rows were dropped at load. "
            "The same pseudo-test rows as `--dev`, a longer reach." if lb.dev else
            "Test R² = pooled held-out R² (1 − NMSE), SLDBench's metric. A release measurement: methods are not "
            "changed in response to it (they are judged with `lawagent bench --dev`).")
    lines = [title, "",
             f"agent: **{agent_text(m)}**; budget: {_budget_text(m)}; seeds: "
             f"{', '.join(map(str, m.get('seeds', [])))}; lawagent {m.get('lawagent_version', '?')}; "
             f"created {m.get('created', '?')}; {_machines_text(lb)}", "",
             what + " Failures count as −1; values below −1 are kept (SLDBench's leaderboard clips to [−1, 1]). "
             "± is the sample standard deviation over seeds. *selected* = the seed whose law has the best "
             "selection score (validation only), as a user with one run would pick it.", ""]
    head = ["task", "seeds", "R² mean ± std", "selected seed", "group R²", "NMSE", "NMSE/ref", "NMAE", "wall s",
            "candidates"]
    if lb.llm:
        head += ["tokens", "cost $", "LLM laws parsed"]
    head += ["reference law (ours)"]
    if not lb.dev:
        head += ["SLDBench ref. (pub.)", "SLDAgent mean (pub.)"]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]

    def row_cells(d: dict[str, Any], ref_mark: str, pub_agent: str) -> list[str]:
        seed = d.get("selected_seed")
        cells = [d["task"], str(d["seeds"]) + (f" ({d['failed']} failed)" if d["failed"] else ""),
                 f"{_f(d['r2_mean'])} ± {_f(d['r2_std'])}",
                 _f(d["r2_selected"]) + (f" (s{seed})" if seed is not None else ""), _f(d["group_r2_mean"]),
                 _f(d["nmse_mean"]), _f(d["nmse_vs_reference"], 3), _f(d["nmae_mean"]), _f(d["seconds_mean"], 0),
                 _f(d["evaluated_mean"], 0)]
        if lb.llm:
            cells += [_f(d["tokens_mean"], 0), _f(d["cost_total"], 4), _f(d["llm_parsed_fraction"], 2)]
        cells += [_f(d["reference_r2_ours"]) + ref_mark]
        if not lb.dev:
            cells += [_f(d["published_reference_r2"], 3), pub_agent]
        return cells

    for r in lb.rows:
        d = r.as_dict()
        pub = "–" if r.published_sldagent_r2 is None else f"{r.published_sldagent_r2:g}"
        if r.published_note and "Claude" in r.published_note:
            pub += " †"
        lines.append("| " + " | ".join(row_cells(d, " ‡" if r.reference_is_baseline else "", pub)) + " |")
    for mean, clipped in lb.summaries() if lb.rows else []:
        lines.append("| " + " | ".join(f"**{c}**" if i == 0 else c for i, c in enumerate(row_cells(mean, "", "–")))
                     + " |")
        cells = ["*" + clipped["task"] + "*", "", _f(clipped["r2_mean"]), _f(clipped["r2_selected"]), "", "", "", "",
                 "", ""]
        if lb.llm:
            cells += ["", "", ""]
        cells += [_f(clipped["reference_r2_ours"])]
        if not lb.dev:
            cells += [_f(clipped["published_reference_r2"], 3), "–"]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "## The selected seed's law per task", ""]
    for r in lb.rows:
        if r.selected_seed is None and r.formula_by_seed:  # a peer: no selection score to pick a seed by
            seed = min(r.formula_by_seed)
            lines.append(f"- **{r.label or r.task}** (seed {seed}: the peer has no selection score; R² "
                         f"{_f(r.r2_by_seed.get(seed))}): `{r.formula_by_seed[seed]}`")
            continue
        lines.append(f"- **{r.label or r.task}** (seed {r.selected_seed}, R² {_f(r.r2_selected)}): `{r.best_formula}`")
    lines += ["", "## Notes", "",
              "- *reference law (ours)*: the task's reference law (`lawagent evaluate TASK --reference`) refit by "
              "lawagent's harness on the same rows" + (" (on the development split)" if lb.dev else "") +
              "; ‡ = lawagent's own baseline (no published law for this task), not a law from the literature.",
              f"- Blocks: {BLOCKS_DISCLOSURE}"]
    if lb.llm:
        lines += ["- *LLM laws parsed*: of the laws the LLM wrote in its answers (all seeds of the task), the share "
                  "the whitelist parser accepted; per cell in cells.csv. Calls that failed wrote none."]
    if not lb.dev:
        lines += [f"- *published*: SLDBench's numbers, not recomputed: the reference law as scored by SLDBench, and "
                  f"SLDAgent (GPT-5) mean of 5 runs; † = Claude Sonnet 4.5 (no GPT-5 figure). Stated means over "
                  f"tasks: reference {PUBLISHED_MEANS['reference_r2']}, SLDAgent {PUBLISHED_MEANS['sldagent_r2']} "
                  f"(the paper's own aggregate).",
                  f"- Sources: {SOURCES['paper']}; {SOURCES['leaderboard']}.",
                  f"- Caveats: {CAVEATS}"]
        notes = [f"{r.task}: {r.published_note}" for r in lb.rows if r.published_note]
        if notes:
            lines.append("- " + "; ".join(notes) + ".")
    lines.append(f"- Check: every cell's R² recomputed from its saved law and parameters; largest "
                 f"difference {lb.max_recompute_diff:.2e}.")
    if lb.missing:
        lines.append(f"- Not finished (rerun the same command to resume): {', '.join(lb.missing)}.")
    scored = "the pseudo-test rows" if lb.dev else "test"
    lines += ["", f"## Oracle (picked on {scored}: for diagnosis only)", "",
              "The best seed *by the R² above*: what no user could pick without the held-out rows. Never compare it "
              "with another system's mean.", ""]
    oracle = [f"{r.label or r.task} {_f(r.r2_oracle)}" for r in lb.rows]
    if not lb.dev:
        oracle += [f"SLDAgent best of 5 (pub.) on {r.label} {r.published_sldagent_best_r2:g}" for r in lb.rows
                   if r.published_sldagent_best_r2 is not None]
    lines.append("; ".join(oracle) + ".")
    return "\n".join(lines) + "\n"


CSV_COLUMNS = ["task", "collection", "seeds", "failed", "r2_mean", "r2_std", "r2_selected", "selected_seed",
               "r2_worst", "group_r2_mean", "nmse_mean", "nmse_vs_reference", "nmae_mean", "seconds_mean", "evaluated_mean", "tokens_mean", "cost_total", "llm_parsed_fraction",
               "reference_r2_ours", "published_reference_r2", "published_sldagent_r2", "best_formula",
               "r2_oracle_picked_on_test", "published_sldagent_best_r2"]


def to_csv(lb: Leaderboard) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    summaries = [d for pair in lb.summaries() for d in pair] if lb.rows else []
    for d in [r.as_dict() for r in lb.rows] + summaries:
        w.writerow({k: ("" if isinstance(v, float) and math.isnan(v) else v) for k, v in d.items()})
    return buf.getvalue()


def write_leaderboard(bench_dir: Path) -> dict[str, Path]:
    """Write leaderboard.md, leaderboard.csv, leaderboard.png and cells.csv into the benchmark folder."""
    from lawagent.bench.figures import leaderboard_figure

    lb = build_leaderboard(bench_dir)
    out = {"md": lb.bench_dir / "leaderboard.md", "csv": lb.bench_dir / "leaderboard.csv",
           "png": lb.bench_dir / "leaderboard.png", "cells": lb.bench_dir / "cells.csv"}
    write_text(out["md"], to_markdown(lb))
    write_text(out["csv"], to_csv(lb))
    write_text(out["cells"], cells_csv(lb))
    leaderboard_figure([(label(lb), lb)], out["png"])
    return out


def cells_csv(lb: Leaderboard) -> str:
    buf = io.StringIO()
    cols = ["task", "seed", "test_r2", "recomputed_r2", "nmse", "nmae", "val_r2", "selection_score", "seconds",
            "n_evaluated", "tokens", "cost", "llm_laws_parsed", "llm_laws", "n_parameters", "formula"]
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(cols)
    for c in sorted(lb.cells, key=lambda c: (c["task"], c["seed"])):
        t = c.get("test") or {}
        tokens, cost = _stats(c)
        parsed, laws = _llm_laws(c) or (None, None)
        w.writerow([c["task"], c["seed"], t.get("r2"), c.get("recomputed_r2"), t.get("nmse"), t.get("nmae"),
                    c.get("val_r2"), _selection_score(c), c.get("seconds"), c.get("n_evaluated"), tokens, cost,
                    parsed, laws, c.get("n_parameters"), c.get("formula")])
    return buf.getvalue()


def _machines_text(lb: Leaderboard) -> str:
    machines = lb.machines
    if not machines:
        return "machine not recorded"
    if len(machines) == 1:
        return f"ran on {machine.describe(machines[0])}"
    return (f"cells ran on {len(machines)} kinds of machine ({'; '.join(machine.describe(x) for x in machines)}): "
            "their numbers can differ by floating-point paths alone (lawagent.machine)")


def _machine_note(la: Leaderboard, lb_: Leaderboard) -> str | None:
    """A warning when the two runs' cells come from machines that compute differently."""
    a, b = la.machines, lb_.machines
    if not a or not b or (len(a) == len(b) == 1 and machine.same_machine(a[0], b[0])):
        return None
    return (f"Note: A ran on {'; '.join(machine.describe(x) for x in a)}, B on "
            f"{'; '.join(machine.describe(x) for x in b)}. On another CPU the same seed can give another cell "
            "(numpy's exp, log and power differ in the last bit, and the search amplifies it): differences "
            "within the seed spread say nothing about the method.")


def label(lb: Leaderboard) -> str:
    m = lb.manifest
    budget = [f"{m['max_candidates']}c" if m.get("max_candidates") is not None else "",
              f"{m['iterations']}it" if m.get("iterations") is not None else "",
              f"{m['time_per_cell']:g}s" if m.get("time_per_cell") is not None else ""]
    return ("dev far: " if lb.far else "dev: " if lb.dev else "") + agent_text(m) + ", " + " ".join(b for b in budget if b)


# -- compare ------------------------------------------------------------------


def compare(a: Path, b: Path) -> tuple[list[dict[str, Any]], Leaderboard, Leaderboard]:
    """Per task: A and B mean and selected-seed R² and B − A, over the tasks either has; then the mean over common tasks.

    ``delta_se`` is the standard error of B − A from the seeds' spread (Welch: the two runs' seeds are
    independent searches), so ``delta_mean / delta_se`` says how far a difference is beyond what reseeding alone
    moves; ``*_clipped`` are the means with every R² clipped to [−1, 1] (what the leaderboards average)."""
    la, lb_ = build_leaderboard(a, check=False), build_leaderboard(b, check=False)
    if la.dev != lb_.dev:  # the near and far dev splits share their pseudo-test rows: those compare
        raise LawagentError(f"cannot compare {la.bench_dir.name} with {lb_.bench_dir.name}: one scores the development "
                            "split, the other the test rows")
    ra = {r.task: r for r in la.rows if r.r2}
    rb = {r.task: r for r in lb_.rows if r.r2}
    rows = []
    for t in list(dict.fromkeys([*ra, *rb])):
        x, y = ra.get(t), rb.get(t)
        rows.append({"task": t, "a_mean": x.r2_mean if x else math.nan, "a_std": x.r2_std if x else math.nan,
                     "a_selected": x.r2_selected if x else math.nan, "a_seeds": x.seeds if x else 0,
                     "b_mean": y.r2_mean if y else math.nan, "b_std": y.r2_std if y else math.nan,
                     "b_selected": y.r2_selected if y else math.nan, "b_seeds": y.seeds if y else 0,
                     "delta_mean": (y.r2_mean - x.r2_mean) if x and y else math.nan,
                     "delta_selected": (y.r2_selected - x.r2_selected) if x and y else math.nan,
                     "delta_se": _delta_se(x, y) if x and y else math.nan,
                     "a_clipped": clipped_mean(x) if x else math.nan, "b_clipped": clipped_mean(y) if y else math.nan,
                     "reference_r2_ours": _num((x or y).reference_r2)})
    common = [r for r in rows if _finite(r["delta_mean"])]
    if common:
        mean = {"task": f"mean over {len(common)} common tasks"}
        for k in ("a_mean", "a_selected", "b_mean", "b_selected", "delta_mean", "delta_selected", "reference_r2_ours",
                  "a_clipped", "b_clipped"):
            vals = [r[k] for r in common]
            mean[k] = float(np.mean(vals)) if all(_finite(v) for v in vals) else math.nan
        rows.append(mean)
    return rows, la, lb_


def _delta_se(x: TaskRow, y: TaskRow) -> float:
    """Standard error of y's mean R² minus x's, from each run's spread over its seeds."""
    if len(x.r2) < 2 or len(y.r2) < 2:
        return math.nan
    return math.sqrt(x.r2_std**2 / len(x.r2) + y.r2_std**2 / len(y.r2))


def compare_markdown(rows: list[dict[str, Any]], la: Leaderboard, lb_: Leaderboard) -> str:
    note = _machine_note(la, lb_)
    lines = [f"A = {la.bench_dir.name}: {label(la)}", f"B = {lb_.bench_dir.name}: {label(lb_)}", "",
             *([note, ""] if note else []),
             "| task | A R² mean ± std | A selected | B R² mean ± std | B selected | Δ mean (B − A) | Δ / s.e. | "
             "Δ selected | reference (ours) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        sa = f"{_f(r.get('a_mean'))} ± {_f(r.get('a_std'))}" if "a_std" in r else _f(r.get("a_mean"))
        sb = f"{_f(r.get('b_mean'))} ± {_f(r.get('b_std'))}" if "b_std" in r else _f(r.get("b_mean"))
        d, se = r.get("delta_mean"), r.get("delta_se")
        ds = "–" if not _finite(d) else f"{d:+.4f}"
        z = "–" if not (_finite(d) and _finite(se) and se > 0) else f"{d / se:+.1f}"
        db = r.get("delta_selected")
        dbs = "–" if not _finite(db) else f"{db:+.4f}"
        lines.append(f"| {r['task']} | {sa} | {_f(r.get('a_selected'))} | {sb} | {_f(r.get('b_selected'))} | {ds} | {z} | "
                     f"{dbs} | {_f(r.get('reference_r2_ours'))} |")
    mean = rows[-1] if rows and "a_clipped" in rows[-1] and "a_std" not in rows[-1] else None
    if mean is not None and _finite(mean["a_clipped"]) and _finite(mean["b_clipped"]):
        lines.append(f"| *{mean['task']}, R² clipped to [−1, 1]* | {_f(mean['a_clipped'])} | | {_f(mean['b_clipped'])} | | "
                     f"{mean['b_clipped'] - mean['a_clipped']:+.4f} | | | |")
    lines += ["", "Δ / s.e.: the difference of the means over its standard error from the seeds' spread (Welch); "
              "reseeding alone moves it beyond ±2 about one time in twenty per task (more often with few seeds)."]
    return "\n".join(lines) + "\n"


def compare_csv(rows: list[dict[str, Any]]) -> str:
    cols = ["task", "a_mean", "a_std", "a_selected", "a_seeds", "b_mean", "b_std", "b_selected", "b_seeds",
            "delta_mean", "delta_se", "delta_selected", "a_clipped", "b_clipped", "reference_r2_ours"]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: ("" if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()})
    return buf.getvalue()
