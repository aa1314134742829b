"""Score an SLDBench-format program on a task with lawagent's metric.

SLDBench, SLDAgent and OpenEvolve's example write a law as a Python file with
``fit_scaling_law(data_points, loss_values) -> params`` and
``scaling_law_func(data_points, params) -> predictions``; ``data_points`` is an
(N, F) array with the task's features in order, ``loss_values`` is (N,) for
one target or (N, T) for several. As SLDBench does, the program is fitted per
group on the training rows and predicts that group's held-out rows; the pooled
predictions are scored by :func:`lawagent.scoring.score`.

This executes someone else's code, so it runs in a supervised child process
(:mod:`lawagent.bench.sldbench_worker`, isolation primitives in
:mod:`lawagent.bench.sandbox`): a fresh temporary working folder, an
environment scrubbed of everything but a few locale and thread settings (no
API keys, HOME is the scratch folder), training data only as the arguments of
its functions, the test *targets* never in the child at all, Landlock keeping
it away from every file but Python's own (where the kernel supports it; the
result says plainly when it does not), a wall-time limit after which the
child and everything it started is killed (PID namespace or child subreaper),
an address-space limit and a CPU-time limit. Its output is read as plain
numbers (no pickle). The vector ``fit_scaling_law`` returns is counted against
the task's parameter budget. Any failure (exception, timeout, memory, NaN,
wrong shape, over budget) is a result: R² = −1 with the reason, never an
exception or a hang.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lawagent.errors import LawagentError
from lawagent.scoring import Scores, failure, score
from lawagent.task import Task, tasks_dir

DEFAULT_TIMEOUT = 120.0
DEFAULT_MEMORY_MB = 4096
_TAIL = 2000
_GRACE = 20.0  # seconds the supervisor gets beyond the program's timeout to start, kill and report
# the only variables the program's environment gets (one BLAS thread: no oversubscription,
# and thread stacks stay inside the memory limit)
_ENVIRONMENT = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "OMP_NUM_THREADS": "1",
                "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONDONTWRITEBYTECODE": "1",
                "PYTHONNOUSERSITE": "1"}
# numeric-library settings passed through (not secrets; OPENBLAS_CORETYPE, for one, changes the
# kernels and so the last digits of a fit, and containers often need it)
_PASSED_PREFIXES = ("OPENBLAS_", "GOTO_", "MKL_", "KMP_", "NPY_")
# system folders the program may read (and run programs from): shared libraries, locale, time zones
_SYSTEM_READ = ["/usr", "/lib", "/lib64", "/lib32", "/bin", "/etc/ld.so.cache", "/etc/localtime", "/dev/null",
                "/dev/urandom", "/proc/self", "/proc/cpuinfo", "/proc/meminfo", "/sys/devices/system/cpu"]


@dataclass
class ProgramScore:
    """The held-out scores of an SLDBench program, or why it failed."""

    task: str
    program: str
    test: Scores
    seconds: float
    params: dict[str, object] = field(default_factory=dict)  # group -> fitted params (as the program returned them)
    stage: str = ""  # where it failed: import, fit_scaling_law (group g), scaling_law_func, timeout, budget, ...
    stderr_tail: str = ""
    n_parameters: int | None = None  # numbers in the vector fit_scaling_law returned (largest over groups)
    budget: int | None = None  # the task's parameter budget
    over_budget_allowed: bool = False  # over the budget, and scored anyway (--allow-over-budget)
    isolation: dict = field(default_factory=dict)  # what the sandbox applied (see isolation_summary)

    @property
    def failed(self) -> bool:
        return self.test.failed

    def as_dict(self) -> dict:
        return {"task": self.task, "program": self.program, "test": self.test.as_dict(), "seconds": self.seconds,
                "stage": self.stage, "params": self.params, "n_parameters": self.n_parameters,
                "parameter_budget": self.budget, "over_budget_allowed": self.over_budget_allowed,
                "isolation": self.isolation, "isolation_summary": isolation_summary(self.isolation),
                "stderr_tail": self.stderr_tail}


def score_program(
    task: Task,
    program: str | Path,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    memory_mb: int = DEFAULT_MEMORY_MB,
    allow_over_budget: bool = False,
) -> ProgramScore:
    """Run ``program`` (executes it!) in a sandboxed child process and score it on ``task``'s test rows."""
    path = Path(program).expanduser().resolve()
    if not path.is_file():
        raise LawagentError(f"SLDBench program not found: {path}")
    check_limits(timeout, memory_mb)
    start = time.perf_counter()
    train, test = task.train(), task.test()
    names = test.group_names()
    with tempfile.TemporaryDirectory(prefix="lawagent-sldbench-") as workdir:
        arrays = {}
        for i, g in enumerate(names):
            tr = train.groups == g
            te = test.groups == g
            arrays[f"train_X_{i}"] = _matrix(train.X, task.features, tr)
            y = train.y[tr]
            arrays[f"train_y_{i}"] = y[:, 0] if y.shape[1] == 1 else y
            arrays[f"test_X_{i}"] = _matrix(test.X, task.features, te)
        np.savez(os.path.join(workdir, "input.npz"), **arrays)
        with open(os.path.join(workdir, "groups.json"), "w", encoding="utf-8") as fh:
            json.dump({"groups": names, "features": list(task.features), "targets": list(task.targets)}, fh)
        status, stderr, isolation = _run_child(path, workdir, _forbidden(task), timeout, memory_mb)
        out = os.path.join(workdir, "out")

        def fail(stage: str, message: str, params: dict | None = None, n_parameters: int | None = None) -> ProgramScore:
            return ProgramScore(task.name, str(path), failure(len(test), message), time.perf_counter() - start,
                                params or {}, stage, stderr[-_TAIL:], n_parameters, task.parameter_budget, False, isolation)

        if status == "timeout":
            return fail("timeout", f"the program did not finish within {timeout:g} s (killed, with every process it started)")
        result = _read_result(out)
        if result is None:
            return fail("crash", f"the program's process died without a result ({status}); "
                        f"it may have exceeded the {memory_mb} MiB memory limit")
        if not result.get("ok"):
            stage = str(result.get("stage", "?"))
            stderr += "\n" + str(result.get("traceback", ""))
            return fail(stage, f"{stage}: {result.get('error', 'unknown error')}")
        params = result.get("params") if isinstance(result.get("params"), dict) else {}
        counts = result.get("n_parameters") if isinstance(result.get("n_parameters"), dict) else {}
        n_parameters = _largest_count(counts, len(names))
        over = n_parameters is None or n_parameters > task.parameter_budget
        if over and not allow_over_budget:
            what = ("a parameter count could not be taken: fit_scaling_law must return a vector of numbers"
                    if n_parameters is None else f"the program fits {n_parameters} parameters per group; "
                    f"the budget of task {task.name!r} is {task.parameter_budget}")
            return fail("budget", f"{what} (--allow-over-budget scores it anyway, labelled)", params, n_parameters)
        try:
            with np.load(os.path.join(out, "output.npz"), allow_pickle=False) as saved:
                preds = {k: np.asarray(saved[k], dtype=float) for k in saved.files}
        except (OSError, ValueError, KeyError) as err:
            return fail("output", f"cannot read the program's predictions: {err}", params, n_parameters)
    n_targets = len(task.targets)
    pooled = np.full((len(test), n_targets), np.nan)
    done = dict(seconds=0.0, params=params, stderr_tail=stderr[-_TAIL:], n_parameters=n_parameters,
                budget=task.parameter_budget, over_budget_allowed=over, isolation=isolation)
    for i, g in enumerate(names):
        rows = test.groups == g
        n = int(rows.sum())
        pred = preds.get(f"pred_{i}")
        shaped = _shape(pred, n, n_targets)
        if shaped is None:
            got = None if pred is None else pred.shape
            want = f"({n},) or ({n}, 1)" if n_targets == 1 else f"({n}, {n_targets})"
            return ProgramScore(task.name, str(path), failure(len(test), f"group {g}: scaling_law_func returned shape "
                                f"{got}, expected {want}"), **{**done, "seconds": time.perf_counter() - start}, stage="shape")
        pooled[rows] = shaped
    scores = score(test.y, pooled, test.groups)
    return ProgramScore(task.name, str(path), scores, **{**done, "seconds": time.perf_counter() - start},
                        stage="score" if scores.failed else "")


def check_limits(timeout: float, memory_mb: int) -> None:
    """--timeout and --memory must be finite and positive (inf, 0 or -1 once removed the limit or crashed)."""
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not math.isfinite(timeout) or timeout <= 0:
        raise LawagentError(f"--timeout must be a finite positive number of seconds, got {timeout}")
    if isinstance(memory_mb, bool) or not isinstance(memory_mb, int) or memory_mb <= 0:
        raise LawagentError(f"--memory must be a positive number of MiB, got {memory_mb}")


def _largest_count(counts: dict, n_groups: int) -> int | None:
    values = list(counts.values())
    if len(values) < n_groups or any(not isinstance(v, int) for v in values):
        return None
    return max(values, default=None)


def isolation_summary(isolation: dict) -> str:
    """One line: what kept the program away from the answers, and what did not."""
    parts = []
    abi = isolation.get("landlock_abi")
    if abi:
        parts.append(f"Landlock ABI {abi}: only Python's and the system's files readable, the task files and the "
                     f"test rows out of reach; {isolation.get('network', '')}")
    else:
        why = isolation.get("landlock_error") or "not applied"
        parts.append(f"NO FILE ISOLATION (Landlock unavailable: {why}): the program can read any file your "
                     "account can, including the task's held-out rows")
    if isolation.get("pid_namespace"):
        parts.append("own PID namespace (all its processes killed at the end)")
    elif isolation.get("subreaper"):
        parts.append("child subreaper (orphaned processes killed at the end)")
    parts.append("scrubbed environment")
    return "; ".join(parts)


def _forbidden(task: Task) -> list[str]:
    """Paths the program must not reach: the task's folder and data, and the bundled task collection."""
    out = [str(Path(task.path).resolve())] if getattr(task, "path", None) else []
    try:
        out.append(str(tasks_dir().resolve()))
    except LawagentError:
        pass
    return out


def _matrix(X: dict[str, np.ndarray], features, rows: np.ndarray) -> np.ndarray:
    return np.column_stack([np.asarray(X[f], dtype=float)[rows] for f in features])


def _shape(pred: np.ndarray | None, n: int, n_targets: int) -> np.ndarray | None:
    if pred is None:
        return None
    if n_targets == 1 and pred.shape in {(n,), (n, 1)}:
        return pred.reshape(n, 1)
    if pred.shape == (n, n_targets):
        return pred
    if n == 1 and pred.shape == (n_targets,):
        return pred.reshape(1, n_targets)
    return None


def _run_child(program: Path, workdir: str, forbidden: list[str], timeout: float,
               memory_mb: int) -> tuple[str, str, dict]:
    """Run the supervisor; (status, stderr tail, isolation applied). Status: ok | exit N | signal S | timeout | crash."""
    scratch, out = os.path.join(workdir, "scratch"), os.path.join(workdir, "out")
    os.mkdir(scratch)
    os.mkdir(out)
    worker = Path(__file__).with_name("sldbench_worker.py")
    sys_path = [str(Path(p).resolve()) for p in sys.path if p and Path(p).exists() and Path(p).resolve() != Path.cwd().resolve()]
    home = os.path.realpath(os.environ.get("HOME") or os.path.expanduser("~"))
    sys_path = [p for p in sys_path if not (home == p or home.startswith(p + os.sep)) and p != "/"]  # never all of HOME
    read_only = sys_path + [sys.prefix, sys.base_prefix, sys.exec_prefix, str(Path(sys.executable).resolve().parent)]
    config = {"program": str(program), "workdir": workdir, "out": out, "scratch": scratch, "timeout": float(timeout),
              "memory_bytes": int(memory_mb) * 1024 * 1024, "cpu_seconds": int(timeout) + 2, "sys_path": sys_path,
              "read_only": read_only + [p for p in _SYSTEM_READ if os.path.exists(p)], "forbidden": forbidden}
    passed = {k: v for k, v in os.environ.items() if k.startswith(_PASSED_PREFIXES)}
    env = {**passed, **_ENVIRONMENT, "HOME": scratch, "TMPDIR": scratch}
    cmd = [sys.executable, "-I", str(worker), json.dumps(config)]
    log_path = os.path.join(workdir, "stderr.log")
    with open(log_path, "wb") as log, open(os.path.join(workdir, "stdout.log"), "wb") as stdout:
        proc = subprocess.Popen(cmd, cwd=scratch, env=env, stdin=subprocess.DEVNULL, stdout=stdout, stderr=log,
                                start_new_session=True)
        try:
            code = proc.wait(timeout=timeout + _GRACE)  # the supervisor enforces the timeout; this is its backstop
            crashed = "" if code == 0 else (f"signal {-code}" if code < 0 else f"exit {code}")
        except subprocess.TimeoutExpired:
            crashed = "timeout"
        finally:
            try:  # the supervisor's own group; the program's processes were killed by the supervisor
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            proc.wait()
    with open(log_path, "rb") as fh:
        fh.seek(0, os.SEEK_END)
        fh.seek(max(0, fh.tell() - 8 * _TAIL))
        stderr = fh.read().decode("utf-8", "replace")
    try:
        with open(os.path.join(workdir, "supervisor.json"), encoding="utf-8") as fh:
            report = json.load(fh)
        status, isolation = str(report["status"]), dict(report["isolation"])
    except (OSError, ValueError, KeyError, TypeError):
        status, isolation = crashed or "crash", {"landlock_error": "the supervisor did not report (it crashed)"}
    return status, stderr, isolation


def _read_result(out: str) -> dict | None:
    path = os.path.join(out, "result.json")
    try:
        if os.path.getsize(path) > 10_000_000:
            return {"ok": False, "stage": "output", "error": "result.json is implausibly large"}
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
        return data if isinstance(data, dict) else None
    except (OSError, ValueError):
        return None
