"""An SLDBench-format program that reports what its process can find besides its arguments
(tests that the inputs, and so the test rows' features and any targets, are not lying around)."""
import os

import numpy as np


def scaling_law_func(data_points, params):
    return np.zeros(len(data_points))


def fit_scaling_law(data_points, loss_values):
    found = sorted(os.listdir("."))
    parent = os.path.dirname(os.getcwd())
    try:
        found += [f"../{name}" for name in sorted(os.listdir(parent))]
    except OSError as err:
        found.append(f"../ unreadable ({type(err).__name__})")
    raise RuntimeError("files found: " + " ".join(found) + " |")
