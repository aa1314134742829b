"""A small pool of daemon threads for LLM calls.

``concurrent.futures.ThreadPoolExecutor`` joins its (non-daemon) workers when
the interpreter exits, so one request stuck on a slow server kept a finished
run alive. These workers are daemons: the process exits when the run is done,
whatever the network is doing. Calls still end by themselves (every request
has a total deadline), so nothing is cut off in normal operation.
"""

from __future__ import annotations

import queue
import threading
from concurrent.futures import Future
from typing import Any, Callable


class DaemonPool:
    """``submit(fn, *args) -> Future`` on at most ``workers`` daemon threads."""

    def __init__(self, workers: int, name: str = "lawagent-llm"):
        self.jobs: queue.SimpleQueue[tuple[Future, Callable[..., Any], tuple] | None] = queue.SimpleQueue()
        self.threads = [threading.Thread(target=self._work, name=f"{name}-{i}", daemon=True) for i in range(max(1, workers))]
        self.closed = False
        for thread in self.threads:
            thread.start()

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future:
        future: Future = Future()
        if self.closed:
            future.cancel()
            return future
        self.jobs.put((future, fn, args))
        return future

    def shutdown(self, timeout: float = 2.0) -> None:
        """Cancel queued jobs; wait at most ``timeout`` seconds in total for running ones."""
        self.closed = True
        while True:
            try:
                job = self.jobs.get_nowait()
            except queue.Empty:
                break
            if job is not None:
                job[0].cancel()
        for _ in self.threads:
            self.jobs.put(None)
        for thread in self.threads:
            thread.join(timeout=timeout / len(self.threads))

    def _work(self) -> None:
        while True:
            job = self.jobs.get()
            if job is None:
                return
            future, fn, args = job
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn(*args))
            except BaseException as err:  # the caller sees it through the future
                future.set_exception(err)
