"""The leaderboard figure: held-out test R² per task for one or more agents.

Top panel: R² (bars = mean over seeds, error bars = sample std, dots = seeds;
below −1 drawn at −1, where SLDBench clips). Bottom panel: the same as 1 − R²
(= NMSE) on a log scale, where differences between good laws (R² ≈ 0.99…) are
visible. A dashed black line marks the task's reference law refit by lawagent,
a red cross SLDBench's published SLDAgent mean.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Sequence

import numpy as np

_FLOOR = 1e-6  # 1 − R² below this is drawn at it


def leaderboard_figure(runs: Sequence[tuple[str, Any]], path: str | Path) -> Path:
    """``runs``: (label, Leaderboard) pairs; writes a PNG to ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks: list[str] = []
    for _, lb in runs:
        tasks += [r.task for r in lb.rows if r.task not in tasks]
    n, k = len(tasks), max(1, len(runs))
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(max(6.5, 1.2 * n + 2.5), 7.5), sharex=True)
    width = 0.8 / k
    x = np.arange(n)
    lowest = 0.0
    for j, (label, lb) in enumerate(runs):
        rows = {r.task: r for r in lb.rows}
        xs, means, errs, loss_means = [], [], [], []
        for i, t in enumerate(tasks):
            r = rows.get(t)
            if r is None or not r.r2:
                continue
            pos = x[i] - 0.4 + width * (j + 0.5)
            vals = np.clip(np.asarray(r.r2, dtype=float), -1.0, 1.0)
            xs.append(pos)
            means.append(float(vals.mean()))
            errs.append(float(vals.std(ddof=1)) if len(vals) > 1 else 0.0)
            loss = np.maximum(1.0 - vals, _FLOOR)
            loss_means.append(float(np.exp(np.log(loss).mean())))
            top.scatter(np.full(len(vals), pos), vals, s=12, color="k", alpha=0.6, zorder=3)
            bottom.scatter(np.full(len(vals), pos), loss, s=12, color="k", alpha=0.6, zorder=3)
            lowest = min(lowest, float(vals.min()))
        color = f"C{j}"
        top.bar(xs, means, width * 0.9, yerr=errs, capsize=3, label=label, alpha=0.8, color=color, zorder=2)
        bottom.bar(xs, loss_means, width * 0.9, alpha=0.8, color=color, zorder=2)
    ref_drawn = pub_drawn = False
    for i, t in enumerate(tasks):
        r = next((row for _, lb in runs for row in lb.rows if row.task == t), None)
        if r is None:
            continue
        if r.reference_r2 is not None and math.isfinite(r.reference_r2):
            v = max(-1.0, r.reference_r2)
            top.hlines(v, x[i] - 0.45, x[i] + 0.45, colors="k", linestyles="--", linewidth=1.2, zorder=4,
                       label=None if ref_drawn else "reference law (refit by lawagent)")
            bottom.hlines(max(1.0 - v, _FLOOR), x[i] - 0.45, x[i] + 0.45, colors="k", linestyles="--", linewidth=1.2,
                          zorder=4)
            ref_drawn = True
            lowest = min(lowest, v)
        if r.published_sldagent_r2 is not None:
            top.scatter([x[i]], [r.published_sldagent_r2], marker="x", color="tab:red", s=50, zorder=5,
                        label=None if pub_drawn else "SLDAgent (published mean)")
            bottom.scatter([x[i]], [max(1.0 - r.published_sldagent_r2, _FLOOR)], marker="x", color="tab:red", s=50,
                           zorder=5)
            pub_drawn = True
    dev = any(getattr(lb, "dev", False) for _, lb in runs)
    top.set_ylabel("dev pseudo-test R²" if dev else "held-out test R²")
    top.set_ylim(max(-1.05, lowest - 0.05), 1.02)
    top.axhline(0, color="grey", linewidth=0.5)
    top.grid(axis="y", alpha=0.3)
    top.legend(fontsize=8, loc="lower left")
    top.set_title(("Dev-split R² (no test row read)" if dev else "Test R²")
                  + " per task (bars: mean over seeds ± std; dots: seeds)", fontsize=10)
    bottom.set_yscale("log")
    bottom.set_ylabel("1 − R² = NMSE (log; lower is better)")
    bottom.grid(axis="y", alpha=0.3, which="both")
    bottom.set_title("The same as 1 − R² (bars: geometric mean over seeds)", fontsize=10)
    bottom.set_xticks(x)
    bottom.set_xticklabels([t.replace("_scaling_law", "") for t in tasks], rotation=30, ha="right")
    fig.tight_layout()
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    tmp.replace(path)
    return path
