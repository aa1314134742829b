"""A hostile SLDBench-format program: it leaves a process in a new session (escaping a process-group
kill), then never returns. The test looks for the marker in every process's command line afterwards."""
import os
import sys
import time

import numpy as np

MARKER = "__MARKER__"


def scaling_law_func(data_points, params):
    return np.zeros(len(data_points))


def fit_scaling_law(data_points, loss_values):
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:  # and a double fork: its parent exits, so it is orphaned
            os.execv(sys.executable, [sys.executable, "-c", "import time; time.sleep(600)", MARKER])
        os._exit(0)
    print("started a child in its own session", file=sys.stderr, flush=True)
    while True:
        time.sleep(0.1)
