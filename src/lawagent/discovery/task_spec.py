"""How config.json says which task a run used, and how to load it back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lawagent.errors import LawagentError
from lawagent.task import Task, load_task, task_from_csv, tasks_dir


def task_spec(task: Task, csv_spec: dict[str, Any] | None = None) -> dict[str, Any]:
    """``{"name","features","targets","group_column","source","path","csv_spec","dev"}`` for config/final.json."""
    spec: dict[str, Any] = {
        "name": task.name, "features": list(task.features), "targets": list(task.targets),
        "group_column": task.group_column, "path": None, "csv_spec": None, "dev": task.dev,
    }
    path = Path(task.path) if task.path is not None else None
    if csv_spec is not None or (path is not None and path.is_file() and path.suffix.lower() != ".toml"):
        spec["source"] = "csv"
        spec["path"] = str(path.resolve()) if path else None
        if csv_spec is None:
            csv_spec = {
                "path": spec["path"], "features": list(task.features), "targets": list(task.targets),
                "group": task.group_column, "parameter_budget": task.parameter_budget, "name": task.name,
                "holdout": task.holdout, "description": task.description, "scale": list(task.scale),
                "validation": task.validation_rule,
            }
        spec["csv_spec"] = csv_spec
        return spec
    try:
        bundled = path is not None and path.resolve().parent == tasks_dir().resolve()
    except LawagentError:
        bundled = False
    spec["source"] = "bundled" if bundled else "path"
    spec["path"] = None if bundled or path is None else str(path.resolve())
    return spec


def task_from_spec(spec: dict[str, Any]) -> Task:
    """The task a run used (its development split, for a run of ``bench --dev``)."""
    source = spec.get("source")
    if source == "bundled":
        task = load_task(spec["name"])
    elif source == "path":
        task = load_task(spec["path"])
    elif source == "csv":
        c = dict(spec["csv_spec"])
        task = task_from_csv(c.pop("path"), c.pop("features"), c.pop("targets"), **c)
    else:
        raise LawagentError(f"run config names an unknown task source {source!r}")
    if spec.get("dev"):
        from lawagent.selection.dev import dev_task
        from lawagent.selection.protocol import protocol_for

        task = dev_task(task, protocol_for(task))
    return task
