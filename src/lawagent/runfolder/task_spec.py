"""How a run folder records which task it used (config.json, final.json), and how to load it back."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Mapping

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


def task_from_spec(spec: Any, where: str = "config.json", log: Callable[[str], None] | None = None) -> Task:
    """The task a run used, from its ``task`` entry: bundled, a task folder, or a CSV with its spec
    (its development split, for a run of ``bench --dev``). ``where`` names the file in errors;
    ``log`` hears the progress of loading a large CSV."""
    if not isinstance(spec, Mapping) or not spec.get("name"):
        raise LawagentError(f"{where}: 'task' must name the task the run used")
    source = spec.get("source") or "bundled"
    if source == "bundled":
        task = load_task(spec["name"])
    elif source == "path":
        if not spec.get("path"):
            raise LawagentError(f"{where}: task {spec['name']!r} came from a task folder but its path is not recorded")
        task = load_task(spec["path"])
    elif source == "csv":
        task = task_from_csv(**_csv_arguments(spec, where), log=log)
    else:
        raise LawagentError(f"{where}: the run names an unknown task source {source!r}")
    if spec.get("dev"):
        from lawagent.selection.dev import as_recorded

        task = as_recorded(task, spec["dev"])
    return task


_CSV_ARGUMENTS = ("path", "features", "targets", "group", "holdout", "name", "description", "parameter_budget",
                  "scale", "validation")


def _csv_arguments(spec: Mapping[str, Any], where: str) -> dict[str, Any]:
    """task_from_csv's arguments from a spec; older runs recorded some of them beside csv_spec only."""
    c = dict(spec.get("csv_spec") or {})
    c.setdefault("path", spec.get("path"))
    c.setdefault("features", spec.get("features"))
    c.setdefault("targets", spec.get("targets"))
    c.setdefault("group", spec.get("group_column"))
    c.setdefault("name", spec.get("name"))
    if not c.get("path"):
        raise LawagentError(f"{where}: task {spec['name']!r} came from a CSV but its path is not recorded")
    return {k: v for k, v in c.items() if k in _CSV_ARGUMENTS}
