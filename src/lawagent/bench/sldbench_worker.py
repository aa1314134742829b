"""Supervisor and sandboxed child that run an SLDBench-format program (someone else's code).

Run only by :mod:`lawagent.bench.sldbench_program`, never imported by lawagent:
``python -I sldbench_worker.py CONFIG_JSON``, in a scrubbed environment. Two processes:

* the supervisor (this process) becomes a child subreaper, opens a PID
  namespace where the kernel allows it, forks the child, waits at most
  ``timeout`` seconds, then kills the child and every process it left behind
  (``setsid`` or double-forked ones included) and writes ``supervisor.json``;
* the child loads the inputs (train rows and test *features* only: the program
  never sees test targets), caps its memory and CPU time, locks itself in with
  Landlock (only Python's own files read-only, a scratch folder and the output
  folder read-write; the inputs and the task files are out of reach; no TCP),
  reports what was applied through a pipe, and only then imports PROGRAM and
  calls ``fit_scaling_law(X_train, y_train)`` and
  ``scaling_law_func(X_test, params)`` per group. Data reaches the program
  only as those arguments. Outputs are plain float arrays (``output.npz``,
  loaded without pickle) and ``result.json``.

Only the standard library is imported before the sandbox is in place (numpy
follows, before Landlock, so that its files need no special rule).
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import time
import traceback


def _load_sandbox():
    here = os.path.dirname(os.path.abspath(__file__))
    spec = importlib.util.spec_from_file_location("lawagent_sandbox", os.path.join(here, "sandbox.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _limit(memory_bytes: int, cpu_seconds: int) -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 5))


def _write_json(path: str, data: dict) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(data, fh)
    os.replace(tmp, path)


def _params_summary(params) -> tuple[object, int | None]:
    """JSON-safe params as the program returned them, and how many numbers they hold (None if not numbers)."""
    import numpy as np

    try:
        arr = np.asarray(params, dtype=float)
    except (TypeError, ValueError):
        return repr(params)[:500], None
    shown = [v if np.isfinite(v) else None for v in arr.ravel().tolist()] if arr.size <= 200 else repr(params)[:500]
    return shown, int(arr.size)


def _run_program(config: dict, sandbox, report_fd: int) -> int:
    """In the child: load inputs, lock the process in, run the program. Returns the exit code."""
    out = config["out"]
    stage, group = "import", None
    try:
        _limit(config["memory_bytes"], config["cpu_seconds"])
        import numpy as np

        with open(os.path.join(config["workdir"], "groups.json"), encoding="utf-8") as fh:
            groups = json.load(fh)["groups"]
        with np.load(os.path.join(config["workdir"], "input.npz"), allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
        isolation = sandbox.restrict_filesystem(config["read_only"] + [config["program"]],
                                                [out, config["scratch"]], config["forbidden"])
        os.chdir(config["scratch"])
        os.write(report_fd, json.dumps(isolation).encode())
        os.close(report_fd)

        spec = importlib.util.spec_from_file_location("sldbench_program", config["program"])
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot load {config['program']} as a Python module")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        for name in ("fit_scaling_law", "scaling_law_func"):
            if not callable(getattr(module, name, None)):
                raise AttributeError(f"the program defines no function {name}()")
        preds, fitted, counts = {}, {}, {}
        for i, group in enumerate(groups):
            stage = "fit_scaling_law"
            params = module.fit_scaling_law(arrays[f"train_X_{i}"].copy(), arrays[f"train_y_{i}"].copy())
            fitted[group], counts[group] = _params_summary(params)
            stage = "scaling_law_func"
            pred = module.scaling_law_func(arrays[f"test_X_{i}"].copy(), params)
            preds[f"pred_{i}"] = np.asarray(pred, dtype=float)
        stage, group = "save", None
        tmp = os.path.join(out, "output.tmp.npz")
        np.savez(tmp, **preds)
        os.replace(tmp, os.path.join(out, "output.npz"))
        _write_json(os.path.join(out, "result.json"), {"ok": True, "params": fitted, "n_parameters": counts})
        return 0
    except BaseException as err:  # the program's failure is the result, whatever it is
        where = stage + (f" (group {group})" if group is not None else "")
        tb = traceback.format_exc(limit=-3)
        try:
            _write_json(os.path.join(out, "result.json"), {"ok": False, "stage": where, "traceback": tb[-3000:],
                                                            "error": f"{type(err).__name__}: {err}"[:1000]})
        except BaseException:
            pass
        return 3


def _wait(pid: int, timeout: float) -> str:
    """The child's fate: 'ok', 'exit N', 'signal S' or 'timeout' (then it is killed)."""
    import signal

    end = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() >= end:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return "timeout"
        time.sleep(0.01)
    if os.WIFSIGNALED(status):
        return f"signal {os.WTERMSIG(status)}"
    code = os.WEXITSTATUS(status)
    return "ok" if code == 0 else f"exit {code}"


def main(argv: list[str]) -> int:
    config = json.loads(argv[0])
    sys.path[:0] = config["sys_path"]  # where numpy and the program's own imports live
    sandbox = _load_sandbox()
    sandbox.die_with_parent()
    isolation: dict = {"subreaper": sandbox.set_child_subreaper()}
    isolation["pid_namespace"], isolation["pid_namespace_note"] = sandbox.new_pid_namespace()
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: PID 1 of the new namespace, when there is one
        os.close(read_end)
        sandbox.die_with_parent()
        code = 3
        try:
            code = _run_program(config, sandbox, write_end)
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    os.close(write_end)
    status = _wait(pid, config["timeout"])
    isolation["killed_after"] = sandbox.kill_descendants()  # all that is left, wherever it went (setsid included)
    chunks = []
    while chunk := os.read(read_end, 65536):
        chunks.append(chunk)
    try:
        isolation.update(json.loads(b"".join(chunks) or b"{}"))
    except ValueError:
        isolation["landlock_error"] = "the child did not report its sandbox"
    _write_json(os.path.join(config["workdir"], "supervisor.json"), {"status": status, "isolation": isolation})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
