"""Joining a Ray cluster: the only place lawagent imports Ray at module level.

Ray is the optional extra ``lawagent[ray]``; this module is imported only by
the Ray engines (:mod:`lawagent.bench.ray_cells` for benchmark cells,
:mod:`lawagent.discovery.ray_pool` for candidate evaluation), and those only
when ``--executor ray`` asks for them. Lawagent must be installed on every
node; task folders and the benchmark folder are best on a filesystem every
node mounts.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import ray

from lawagent.errors import LawagentError
from lawagent.executor import Where

__all__ = ["connect", "first_line"]


def connect(address: str | None = None, num_cpus: int | None = None) -> Where:
    """Join the Ray cluster at ``address`` ("auto": the one ``ray start`` made on this machine;
    None: $RAY_ADDRESS when set, as inside a Ray job), or else start a Ray instance on this machine
    with ``num_cpus`` CPUs (not Ray's default of joining whatever cluster runs here). A connection
    this process already has is used as it is."""
    address = address or os.environ.get("RAY_ADDRESS") or None
    if not ray.is_initialized():
        options: dict[str, Any] = {"include_dashboard": False, "logging_level": logging.WARNING}
        try:
            if address:
                ray.init(address=address, **options)
            else:
                ray.init(address="local", num_cpus=num_cpus or None, **options)
        except (ConnectionError, RuntimeError, ValueError) as err:
            where = f"the Ray cluster at {address}" if address else "a local Ray instance"
            hint = " (start one with `ray start --head`)" if address else ""
            raise LawagentError(f"cannot connect to {where}{hint}: {str(err).splitlines()[0] if str(err) else err}") from None
    nodes = [n for n in ray.nodes() if n.get("Alive")]
    cpus = int(ray.cluster_resources().get("CPU", 0))
    return Where("ray", len(nodes), cpus, address or "")


def first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else ""
