"""Which engine runs the work: this machine's processes, or a Ray cluster.

The choice is made here once and used by two layers: the benchmark's cells
(:mod:`lawagent.bench.executors`) and discovery's candidate evaluation
(:mod:`lawagent.discovery.pools`). Ray is an optional extra: it is imported
only by :mod:`lawagent.raycluster` and the two Ray engines, and only when
``--executor ray`` asks for it.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass

from lawagent.errors import LawagentError

EXECUTORS = ("local", "ray")
INSTALL_HINT = "pip install 'lawagent[ray]'"


@dataclass(frozen=True)
class Where:
    """Where the work ran, for progress lines, summaries and bench.json."""

    executor: str  # "local" or "ray"
    nodes: int
    cpus: int
    address: str = ""  # the Ray cluster joined; "" for this machine or a Ray instance started here

    def describe(self) -> str:
        nodes = f"{self.nodes} node{'s' if self.nodes != 1 else ''}"
        cpus = f"{self.cpus} CPU{'s' if self.cpus != 1 else ''}"
        if self.executor == "local":
            return f"local: 1 node (this machine), {cpus}"
        place = f"cluster at {self.address}" if self.address else "a Ray instance started here"
        return f"Ray: {nodes}, {cpus} ({place})"

    def to_dict(self) -> dict[str, object]:
        return {"executor": self.executor, "nodes": self.nodes, "cpus": self.cpus, "address": self.address}


def this_machine(processes: int = 0) -> Where:
    """This machine, using ``processes`` CPUs (0: all of them)."""
    return Where("local", 1, processes or os.cpu_count() or 1)


def check_executor(executor: str, address: str | None) -> None:
    """A clear error for an unknown executor or an --address without Ray."""
    if executor not in EXECUTORS:
        raise LawagentError(f"unknown executor {executor!r}: choose one of {', '.join(EXECUTORS)}")
    if address is not None and executor != "ray":
        raise LawagentError("--address names a Ray cluster: use it with --executor ray")


def require(executor: str, address: str | None) -> None:
    """Check the choice before anything is written: an unknown name, a stray --address, a missing extra."""
    check_executor(executor, address)
    if executor == "ray" and importlib.util.find_spec("ray") is None:
        raise LawagentError(f"--executor ray needs Ray, which is not installed: {INSTALL_HINT}")
