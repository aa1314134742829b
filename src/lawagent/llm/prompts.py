"""Prompts for LLM proposers: the task, its training data, the population, and the rules.

The texts are data, not code: ``templates/*.txt`` (``string.Template``, ``$name``
placeholders) and ``templates/few_shot.toml``. Two sizes: ``full.txt`` for capable
hosted models, ``compact.txt`` for small local models (a 2k-token context, and
they copy the shape of the example answers more than they follow instructions).
Both follow the system text and the few-shot example turns.

Everything a prompt says comes from the proposal context, i.e. from the
train-only :class:`~lawagent.selection.view.TaskInfo` and the population's
validation numbers: where the law must extrapolate is said as the person who
made the split could say it, never with a value read off the test rows.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources
from string import Template
from typing import Sequence

from lawagent.law.parse import FUNCTIONS
from lawagent.proposers.base import CandidateRecord, ProposalContext, TaskInfo


@dataclass(frozen=True)
class Rejection:
    """A reply line that was rejected, shown to the model in the next round."""

    formula: str
    error: str


@cache
def template(name: str) -> Template:
    """``templates/<name>.txt`` (trailing newline dropped)."""
    return Template(resources.files("lawagent.llm").joinpath("templates", f"{name}.txt").read_text("utf-8").rstrip("\n"))


@cache
def few_shot() -> tuple[tuple[str, str], ...]:
    """The example (question, answer) turns."""
    text = resources.files("lawagent.llm").joinpath("templates", "few_shot.toml").read_text("utf-8")
    return tuple((e["question"], e["answer"]) for e in tomllib.loads(text)["example"])


def rules(info: TaskInfo) -> str:
    multi = ""
    if len(info.targets) > 1:
        multi = template("multi_target").substitute(n_targets=len(info.targets), targets=", ".join(info.targets))
    return template("system").substitute(functions=", ".join(FUNCTIONS), budget=info.parameter_budget,
                                         multi_target=multi)


def _clip(text: str, limit: int) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 4].rstrip() + " ..."


def _r2(value: float) -> str:
    return f"{value:.4f}" if math.isfinite(value) else "failed"


def _params(record: CandidateRecord, limit: int = 6) -> str:
    if not record.params:
        return ""
    group, values = next(iter(record.params.items()))
    shown = ", ".join(f"{k}={v:.3g}" for k, v in list(values.items())[:limit])
    return f"  [fitted for {group}: {shown}]" if shown else ""


def _features(info: TaskInfo) -> str:
    lines = []
    for name in info.features:
        col = info.columns.get(name)
        desc = f" ({_clip(col.description, 90)})" if col and col.description else ""
        lo_hi = info.feature_ranges.get(name)
        rng = f", train range {lo_hi[0]:.4g} .. {lo_hi[1]:.4g}" if lo_hi else ""
        lines.append(f"- {name}{desc}{rng}")
    return "\n".join(lines)


def _targets(info: TaskInfo) -> str:
    parts = []
    for name in info.targets:
        col = info.columns.get(name)
        parts.append(f"{name}" + (f" ({_clip(col.description, 90)})" if col and col.description else ""))
    return ", ".join(parts)


def population(context: ProposalContext, n_best: int, n_diverse: int, with_params: bool) -> str:
    lines = []
    if context.best:
        lines.append("Best laws so far (validation R2, higher is better, 1 is perfect):")
        lines += [f"  R2={_r2(r.val_r2)}  {r.formula}" + (_params(r) if with_params else "") for r in context.best[:n_best]]
    if context.diverse and n_diverse:
        lines.append("Other laws tried:")
        lines += [f"  R2={_r2(r.val_r2)}  {r.formula}" for r in context.diverse[:n_diverse]]
    return "\n".join(lines)


def failures(context: ProposalContext, rejected: Sequence[Rejection], limit: int) -> str:
    items = [(r.formula, r.error) for r in rejected] + [(r.formula, r.error) for r in context.failures if r.error]
    if not items:
        return ""
    lines = ["These answers failed; do not repeat them:"]
    lines += [f"  {_clip(f, 120)}  -> {_clip(e, 140)}" for f, e in items[:limit]]
    return "\n".join(lines)


def _collapse(text: str) -> str:
    """Drop the blank paragraphs an empty placeholder leaves behind."""
    return "\n\n".join(p.strip("\n") for p in text.split("\n\n") if p.strip())


def build_messages(context: ProposalContext, k: int, rejected: Sequence[Rejection] = (), compact: bool = False) -> list[dict]:
    """Chat messages asking for ``k`` new laws for the context's task."""
    info = context.info
    if compact:
        body = template("compact").substitute(
            features=_features(info), targets=_targets(info), budget=info.parameter_budget,
            population=population(context, 3, 0, False), failures=failures(context, rejected, 2),
            k=k, laws="laws" if k > 1 else "law", feature_names=", ".join(info.features))
    else:
        body = template("full").substitute(
            title=info.title or info.name, description=_clip(info.description, 1200), features=_features(info),
            targets=_targets(info), extrapolation=info.extrapolation or "larger scale than the training rows",
            data_summary=_clip(info.data_summary, 1500), sample_rows=_clip(info.sample_rows, 1200),
            budget=info.parameter_budget, population=population(context, 6, 4, True),
            failures=failures(context, rejected, 6), k=k)
    messages = [{"role": "system", "content": rules(info)}]
    for question, answer in few_shot():
        messages.append({"role": "user", "content": question})
        messages.append({"role": "assistant", "content": answer})
    messages.append({"role": "user", "content": _collapse(body)})
    return messages


def render(messages: list[dict]) -> str:
    """Messages as readable text (for --show-prompts)."""
    return "\n".join(f"--- {m['role']} ---\n{m['content']}" for m in messages)
