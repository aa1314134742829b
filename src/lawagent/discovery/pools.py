"""The one place that picks discovery's evaluation engine.

Local worker processes (:class:`lawagent.discovery.workers.WorkerPool`, or this
process for ``workers=0``) or Ray actors (:class:`lawagent.discovery.ray_pool.RayPool`),
with one contract: ``map`` in submission order, the same hard per-candidate
timeout, :class:`~lawagent.discovery.workers.JobFailure` for a timeout or a
crash, and ``cancel`` to stop at the search's deadline.
"""

from __future__ import annotations

from typing import Any, Callable, Protocol, Sequence

from lawagent.discovery.workers import WorkerPool, default_workers
from lawagent.errors import LawagentError
from lawagent.executor import Where, check_executor

__all__ = ["Pool", "make_pool"]


class Pool(Protocol):
    """What discovery needs from an evaluation engine."""

    timeout: float
    where: Where

    def map(self, jobs: Sequence[Any], cancel: Callable[[], bool] | None = None) -> list[Any]: ...

    def close(self) -> None: ...


def make_pool(fn: Callable[[Any, Any], Any], shared: Any, *, workers: int | None, timeout: float,
              executor: str = "local", address: str | None = None) -> Pool:
    """``fn(shared, job)`` over jobs: ``workers`` local processes (None: one per core, 0: in-process),
    or Ray actors (None: one per CPU of the cluster) that each hold ``shared`` once."""
    check_executor(executor, address)
    if workers is not None and workers < 0:
        raise LawagentError(f"workers must be >= 0 (0 = evaluate in this process), got {workers}")
    if executor == "ray":
        if workers == 0:
            raise LawagentError("--workers 0 evaluates in this process: give --workers N (or none) with --executor ray")
        from lawagent.discovery.ray_pool import RayPool  # imports Ray: only when asked

        return RayPool(fn, shared, workers=workers, timeout=timeout, address=address)
    return WorkerPool(fn, shared, default_workers() if workers is None else workers, timeout)
