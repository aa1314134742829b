"""Export found laws in the formats the field uses: sympy, LaTeX, a numpy module,
JSON, a CSV equations table and an SLDBench program.

Law level: ``to_sympy``, ``to_latex``, ``to_python``, ``to_json``, ``to_csv``,
``to_sldbench`` take a :class:`~lawagent.records.LawRecord` (PySR-style
``LawExport(record).latex()`` wraps them). Run level: :func:`load_run` reads a
discovery run folder (``final.json``, ``candidates.jsonl``) and :func:`export_run`
renders its laws. :func:`load_law_file` reads a JSON export or a plain formula file
back (``lawagent evaluate --law-file``).

Generated code is safe by construction: every formula is re-parsed with the
whitelist parser and printed from its sympy expression by sympy's NumPyPrinter;
every name, group label or other text from a run file enters the code only as a
``repr()`` string literal or after renaming to a plain identifier.
"""

from __future__ import annotations

import builtins
import csv
import io
import json
import keyword
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import sympy
from sympy.printing.numpy import NumPyPrinter

from lawagent.atomic import write_text
from lawagent.errors import LawagentError
from lawagent.law.law import Law
from lawagent.law.parse import split_formulas
from lawagent.records import LawRecord

__all__ = [
    "FORMATS", "JSON_FORMAT", "LawExport", "Run", "export_run", "law_from_json", "load_law_file", "load_run",
    "to_csv", "to_json", "to_latex", "to_python", "to_sldbench", "to_sympy", "to_sympy_text", "write_text",
]

FORMATS = ("sympy", "latex", "python", "json", "csv", "sldbench")
JSON_FORMAT = "lawagent.law"  # the "format" tag of a one-law JSON export
JSON_FORMAT_MANY = "lawagent.laws"
_CSV_COLUMNS = ["rank", "complexity", "n_params", "val_r2", "train_r2", "test_r2", "test_nmse", "test_nmae",
                "origin", "formula"]


# ---------------------------------------------------------------------------
# runs


@dataclass
class Run:
    """A discovery run folder read back: its final.json, laws and candidates."""

    path: Path
    final: dict[str, Any]
    laws: list[LawRecord]  # best first
    candidates: list[dict[str, Any]] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)  # config.json, if the run wrote one

    @property
    def run_id(self) -> str:
        return str(self.final.get("run_id") or self.path.name)

    @property
    def best(self) -> LawRecord:
        return self.laws[0]

    @property
    def history(self) -> list[list[float]]:
        return list(self.final.get("history") or [])

    def select(self, which: str | int | None = "best") -> list[tuple[int, LawRecord]]:
        """(rank, law) pairs for ``which``: 'best', 'all' or a 1-based rank N."""
        if which is None or which == "best":
            return [(1, self.laws[0])]
        if which == "all":
            return list(enumerate(self.laws, start=1))
        try:
            n = int(which)
        except (TypeError, ValueError):
            raise LawagentError(f"--which {which!r}: give 'best', 'all' or a rank N (1 = best)") from None
        if not 1 <= n <= len(self.laws):
            raise LawagentError(f"--which {n}: run {self.run_id} has {len(self.laws)} law(s); give 1..{len(self.laws)}")
        return [(n, self.laws[n - 1])]

    def meta(self, rank: int = 1) -> dict[str, Any]:
        """Task and run metadata for exports (no data rows)."""
        keys = ("run_id", "lawagent_version", "seed", "proposer", "n_evaluated", "seconds")
        run = {k: self.final.get(k) for k in keys if k in self.final}
        run.setdefault("run_id", self.run_id)
        run["rank"] = rank
        return {"task": dict(self.final.get("task") or {}), "run": run}

    def task(self):
        """Rebuild the run's task (bundled name, task folder, or CSV + spec)."""
        spec = self.final.get("task") or self.config.get("task") or {}
        try:
            from lawagent.discovery.task_spec import task_from_spec as discovery_task_from_spec
        except ImportError:
            return task_from_spec(spec, where=str(self.path / "final.json"))
        if not isinstance(spec, Mapping) or not spec.get("name"):
            raise LawagentError(f"{self.path / 'final.json'}: 'task' must name the task the run used")
        return discovery_task_from_spec(dict(spec))


def task_from_spec(spec: Mapping[str, Any], where: str = "final.json"):
    """The Task a run's ``task`` entry names: bundled, a task folder, or a CSV with its spec."""
    from lawagent.task import load_task, task_from_csv

    if not isinstance(spec, Mapping) or not spec.get("name"):
        raise LawagentError(f"{where}: 'task' must name the task the run used")
    source = spec.get("source") or "bundled"
    if source == "csv":
        path = spec.get("path")
        csv_spec = dict(spec.get("csv_spec") or {})
        if not path:
            raise LawagentError(f"{where}: task {spec['name']!r} came from a CSV but its path is not recorded")
        csv_spec.setdefault("features", spec.get("features"))
        csv_spec.setdefault("targets", spec.get("targets"))
        csv_spec.setdefault("group", spec.get("group_column"))
        csv_spec.setdefault("name", spec.get("name"))
        allowed = ("features", "targets", "group", "holdout", "name", "description", "parameter_budget", "scale")
        return task_from_csv(path, **{k: v for k, v in csv_spec.items() if k in allowed})
    if source == "path" and spec.get("path"):
        return load_task(spec["path"])
    return load_task(spec["name"])


def load_run(path: str | os.PathLike) -> Run:
    """Read a run folder (or its final.json): laws best first, candidates if present."""
    p = Path(path).expanduser()
    final_path = p if p.is_file() else p / "final.json"
    folder = final_path.parent
    if not final_path.is_file():
        hint = " (the run may still be going: final.json is written when it ends)" if p.is_dir() else ""
        raise LawagentError(f"no run found at {p}: {final_path} does not exist{hint}")
    try:
        final = json.loads(final_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as err:
        raise LawagentError(f"{final_path}: cannot read: {err}") from None
    except json.JSONDecodeError as err:
        raise LawagentError(f"{final_path}: not valid JSON: {err}") from None
    if not isinstance(final, dict):
        raise LawagentError(f"{final_path}: expected a JSON object")
    raw = final.get("laws") or ([final["best"]] if final.get("best") else [])
    if not raw:
        raise LawagentError(f"{final_path}: the run recorded no law ('best' and 'laws' are empty)")
    laws = []
    for i, item in enumerate(raw):
        laws.append(_record(item, f"{final_path}: law {i + 1}"))
    candidates = _read_candidates(folder / "candidates.jsonl")
    config = {}
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        pass
    return Run(folder, final, laws, candidates, config if isinstance(config, dict) else {})


def _record(data: Any, where: str) -> LawRecord:
    if not isinstance(data, Mapping):
        raise LawagentError(f"{where}: expected an object, got {type(data).__name__}")
    missing = [k for k in ("formulas", "features", "targets", "params") if k not in data]
    if missing and not ("formula" in data and "features" in data):
        raise LawagentError(f"{where}: missing key(s) {', '.join(missing)}")
    data = dict(data)
    if "formulas" not in data:
        data["formulas"] = split_formulas(str(data["formula"]))
    data.setdefault("targets", [])
    data.setdefault("params", {})
    data.setdefault("parameters", [])
    try:
        record = LawRecord.from_dict(data)
        law = record.law()  # re-parse with the whitelist parser: fails loudly on bad text
    except LawagentError as err:
        raise LawagentError(f"{where}: {err}") from None
    except (TypeError, ValueError) as err:
        raise LawagentError(f"{where}: malformed law record: {err}") from None
    if not record.parameters:
        record.parameters = list(law.parameters)
    return record


def _read_candidates(path: Path) -> list[dict[str, Any]]:
    """candidates.jsonl rows; a torn last line (run killed mid-write) is skipped."""
    if not path.is_file():
        return []
    rows = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            line = line.strip()
            if not line:
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(row, dict):
                rows.append(row)
    return rows


# ---------------------------------------------------------------------------
# sympy


def to_sympy(record: LawRecord, group: str | None = None) -> sympy.Expr | list[sympy.Expr]:
    """The law as sympy (one expression, or a list for multi-target laws); ``group`` substitutes its values."""
    law = record.law()
    exprs = law.with_values(_group_values(record, group)) if group is not None else law.expressions
    return exprs[0] if len(exprs) == 1 else list(exprs)


def to_sympy_text(record: LawRecord, group: str | None = None) -> str:
    """Readable string and srepr of each target's expression."""
    exprs = to_sympy(record, group)
    exprs = exprs if isinstance(exprs, list) else [exprs]
    lines = []
    for target, expr in zip(_targets(record), exprs):
        lines += [f"{target} = {sympy.sstr(expr)}", f"srepr: {sympy.srepr(expr)}"]
    return "\n".join(lines)


# ---------------------------------------------------------------------------
# LaTeX

_GREEK = {
    "alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa", "lambda", "mu", "nu",
    "xi", "pi", "rho", "sigma", "tau", "upsilon", "phi", "chi", "psi", "omega",
    "Gamma", "Delta", "Theta", "Lambda", "Xi", "Pi", "Sigma", "Upsilon", "Phi", "Psi", "Omega",
}
_LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                  "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}


def latex_escape(text: str) -> str:
    return "".join(_LATEX_SPECIAL.get(c, c) for c in str(text))


def latex_name(name: str) -> str:
    """x, E_max, alpha, beta_2 the way sympy sets them; longer names upright (\\mathrm{sft\\_loss})."""
    m = re.fullmatch(r"([A-Za-z]+)_?([A-Za-z0-9]*)", name)
    if m and (len(m.group(1)) == 1 or m.group(1) in _GREEK) and ("_" in name or m.group(2).isdigit() or not m.group(2)):
        return sympy.latex(sympy.Symbol(name))
    return r"\mathrm{" + latex_escape(name) + "}"


def to_latex(record: LawRecord, group: str | None = None, *, digits: int = 4, table: bool = True,
             equation_env: bool = True) -> str:
    """LaTeX of the law: symbolic, or with ``group``'s fitted values ('all' = one equation per group);
    ``table`` appends a tabular of fitted values per group."""
    law = record.law()
    names = {sympy.Symbol(n): latex_name(n) for n in (*record.features, *law.parameters)}
    groups = list(record.params) if group == "all" else ([] if group is None else [group])
    blocks = []
    blocks.append(_latex_equations(record, law.expressions, names, None, equation_env))
    for g in groups:
        values = {k: _round(v, digits) for k, v in _group_values(record, g).items()}
        blocks.append(_latex_equations(record, law.with_values(values), names, g, equation_env))
    if table and record.params:
        blocks.append(_latex_table(record, law, names, digits))
    return "\n\n".join(blocks) + "\n"


def _latex_equations(record, exprs, names, group, env) -> str:
    lines = []
    if group is not None:
        lines.append(f"% group {latex_escape(group)}")
    for target, expr in zip(_targets(record), exprs):
        body = f"{latex_name(target)} = {sympy.latex(expr, symbol_names=names)}"
        lines.append("\\begin{equation}\n" + body + "\n\\end{equation}" if env else body)
    return "\n".join(lines)


def _latex_table(record: LawRecord, law: Law, names, digits: int) -> str:
    params = list(law.parameters)
    head = " & ".join([latex_escape(record.group_column or "group")] + [f"${names[sympy.Symbol(p)]}$" for p in params])
    rows = []
    for g, values in record.params.items():
        cells = [latex_escape(g)]
        for p in params:
            v = values.get(p)
            err = (record.stderr.get(g) or {}).get(p)
            cell = f"${_latex_number(v, digits)}$"
            if err is not None and isinstance(err, (int, float)) and math.isfinite(err) and err > 0:
                cell = f"${_latex_number(v, digits)} \\pm {_latex_number(err, 2)}$"
            cells.append(cell)
        rows.append(" & ".join(cells) + r" \\")
    return "\n".join([
        "% fitted parameters per group (on all training rows; \\pm = standard error)",
        "\\begin{tabular}{l" + "r" * len(params) + "}", "\\hline", head + r" \\", "\\hline", *rows, "\\hline",
        "\\end{tabular}",
    ])


def _latex_number(v: Any, digits: int) -> str:
    if v is None or not isinstance(v, (int, float)) or not math.isfinite(v):
        return r"\mathrm{nan}"
    return sympy.latex(sympy.Float(v, digits))


def _round(v: float, digits: int) -> sympy.Float:
    return sympy.Float(v if v is not None else math.nan, digits)


# ---------------------------------------------------------------------------
# code generation (shared by the python and sldbench exports)

_RESERVED = set(dir(builtins)) | {"numpy", "functools", "math", "scipy", "least_squares", "PARAMS", "FEATURES",
                                  "TARGETS", "PARAMETERS", "FORMULAS", "predict", "self"}


def _safe(name: str) -> bool:
    return (name.isidentifier() and name.isascii() and not keyword.iskeyword(name)
            and not name.startswith("_") and name not in _RESERVED)


def _numpy_function(law: Law, fname: str = "_law") -> tuple[list[str], list[str], str]:
    """Source of ``def fname(<used features>, <parameters>)`` returning a tuple of per-target values.

    Names that are not plain identifiers are renamed (_x0, _p0); the body is sympy's
    NumPyPrinter output after common-subexpression elimination, like lawagent's own lambdify.
    """
    feature_args = [f if _safe(f) else f"_x{i}" for i, f in enumerate(law.used_features)]
    param_args = [p if _safe(p) else f"_p{j}" for j, p in enumerate(law.parameters)]
    rename = {sympy.Symbol(old): sympy.Symbol(new)
              for old, new in [*zip(law.used_features, feature_args), *zip(law.parameters, param_args)]}
    exprs = [e.xreplace(rename) for e in law.expressions]
    subexprs, reduced = sympy.cse(exprs, symbols=sympy.numbered_symbols("_t"))
    printer = NumPyPrinter({"fully_qualified_modules": True, "inline": True, "allow_unknown_functions": False})
    body = [f"{sym} = {printer.doprint(e)}" for sym, e in subexprs]
    body.append("return (" + "".join(printer.doprint(e) + ", " for e in reduced) + ")")
    src = [f"def {fname}({', '.join(feature_args + param_args)}):"]
    src += ["    " + line for line in body]
    return feature_args, param_args, "\n".join(src)


def _py(value: Any) -> str:
    """A Python literal for a JSON-ish value (floats exact, non-finite spelled out)."""
    if isinstance(value, bool) or value is None:
        return repr(value)
    if isinstance(value, (int, np.integer)):
        return repr(int(value))
    if isinstance(value, (float, np.floating)):
        v = float(value)
        if math.isnan(v):
            return "float('nan')"
        if math.isinf(v):
            return "float('inf')" if v > 0 else "-float('inf')"
        return repr(v)
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{_py(str(k))}: {_py(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_py(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} as a literal")


def _params_literal(record: LawRecord, parameters: Sequence[str]) -> str:
    lines = ["{"]
    for g, values in record.params.items():
        vals = {p: (math.nan if values.get(p) is None else float(values[p])) for p in parameters}
        lines.append(f"    {_py(str(g))}: {_py(vals)},")
    lines.append("}")
    return "\n".join(lines)


def _header(record: LawRecord, law: Law, meta: Mapping[str, Any] | None, what: str) -> list[str]:
    run = (meta or {}).get("run") or {}
    lines = [f"{what}, generated by lawagent{' ' + str(run['lawagent_version']) if run.get('lawagent_version') else ''}.", ""]
    lines.append("Law (lawagent law language; every name that is not a feature is a fitted parameter):")
    for t, text in zip(_targets(record), law.text().split("; ")):
        lines.append(f"    {t} = {text}")
    lines.append("")
    lines.append(f"task: {record.task or '?'}; features (column order): {', '.join(record.features)}")
    scores = []
    for label, v in (("validation R2", record.val_r2), ("train R2", record.train_r2), ("test R2", record.test_r2)):
        if isinstance(v, (int, float)) and math.isfinite(v):
            scores.append(f"{label} {v:.6g}")
    if scores:
        lines.append("; ".join(scores))
    if run.get("run_id"):
        lines.append(f"run: {run['run_id']}, rank {run.get('rank', 1)}")
    # repr() of every line keeps arbitrary names from breaking out of the docstring
    return [_docline(s) for s in lines]


def _docline(text: str) -> str:
    return repr(text)[1:-1].replace('"""', '\\"\\"\\"')


# ---------------------------------------------------------------------------
# python (numpy-only module)


def to_python(record: LawRecord, meta: Mapping[str, Any] | None = None) -> str:
    """A standalone module (numpy only): PARAMS per group and ``predict(features, group)``."""
    law = record.law()
    fargs, pargs, fn = _numpy_function(law)
    header = _header(record, law, meta, "Scaling law exported as a numpy module")
    single = len(record.params) == 1
    example = f"    law.predict({{{', '.join(repr(f) + ': [...]' for f in law.used_features)}}}, group={next(iter(record.params), 'all')!r})"
    doc = '"""' + "\n".join(header + ["", "Usage:", "    import this_module as law", _docline(example),
                                       "    law.predict(X, group)   # X: 2-D array, columns in FEATURES order"]) + '\n"""'
    targets = _targets(record)
    src = f'''{doc}

import functools  # noqa: F401  (sympy prints min/max as functools.reduce)

import numpy

FEATURES = {_py(list(record.features))}
TARGETS = {_py(targets)}
PARAMETERS = {_py(list(law.parameters))}
FORMULAS = {_py(law.text().split("; "))}
USED_FEATURES = {_py(list(law.used_features))}

# fitted parameter values per group (on all training rows of the task)
PARAMS = {_params_literal(record, law.parameters)}


{fn}


def _columns(features):
    """The used feature columns as float arrays, from a dict or a 2-D array in FEATURES order."""
    if hasattr(features, "keys"):
        missing = [f for f in USED_FEATURES if f not in features]
        if missing:
            raise KeyError("missing feature(s) " + ", ".join(map(repr, missing)) + "; the law uses " + ", ".join(USED_FEATURES))
        cols = [numpy.atleast_1d(numpy.asarray(features[f], dtype=float)) for f in USED_FEATURES]
        n = max(len(c) for c in cols)
        return [numpy.broadcast_to(c, (n,)) for c in cols], n
    X = numpy.asarray(features, dtype=float)
    if X.ndim == 1:
        X = X.reshape(-1, 1) if len(FEATURES) == 1 else X.reshape(1, -1)
    if X.ndim != 2 or X.shape[1] != len(FEATURES):
        raise ValueError("expected a 2-D array with %d columns (%s), got shape %s" % (len(FEATURES), ", ".join(FEATURES), X.shape))
    return [X[:, FEATURES.index(f)] for f in USED_FEATURES], X.shape[0]


def predict(features, group={_py(next(iter(record.params))) if single else 'None'}):
    """Predictions: shape (n,) for one target, (n, len(TARGETS)) for several.

    features: dict feature name -> array, or a 2-D array with columns in FEATURES order.
    group: a group label (a key of PARAMS) for all rows, or one label per row.
    """
    cols, n = _columns(features)
    if group is None:
        raise ValueError("give group=: one of " + ", ".join(map(repr, PARAMS)))
    labels = numpy.asarray(group, dtype=object)
    labels = numpy.full(n, labels.item(), dtype=object) if labels.ndim == 0 else labels.astype(object)
    if labels.shape != (n,):
        raise ValueError("group must be one label or one label per row (%d rows), got shape %s" % (n, labels.shape))
    out = numpy.full((n, len(TARGETS)), numpy.nan)
    for g in dict.fromkeys(labels.tolist()):
        if g not in PARAMS:
            raise KeyError("unknown group %r; known groups: %s" % (g, ", ".join(map(repr, PARAMS))))
        rows = labels == g
        values = PARAMS[g]
        with numpy.errstate(all="ignore"):
            res = _law(*[c[rows] for c in cols], *[values[p] for p in PARAMETERS])
        for t, v in enumerate(res):
            out[rows, t] = numpy.broadcast_to(numpy.asarray(v, dtype=float), (int(rows.sum()),))
    return out[:, 0] if len(TARGETS) == 1 else out
'''
    return src


# ---------------------------------------------------------------------------
# SLDBench program


def to_sldbench(record: LawRecord, meta: Mapping[str, Any] | None = None, n_starts: int = 6) -> str:
    """An SLDBench program: ``scaling_law_func(data_points, params)`` and ``fit_scaling_law(data_points, loss_values)``.

    data_points is (N, F) in the task's feature order; params is a 1-D array in
    PARAMETERS order (shared across targets; the prediction is (N,) for one
    target, (N, T) for several). The fit is scipy least_squares from several
    starts; the first starts are this law's fitted values (one vector per group
    of the run, the one closest to the data first), so the program reproduces
    lawagent's fit on the same rows.
    """
    law = record.law()
    fargs, pargs, fn = _numpy_function(law)
    header = _header(record, law, meta, "SLDBench program (scaling_law_func / fit_scaling_law)")
    params = list(law.parameters)
    found = []
    for values in record.params.values():
        vec = [values.get(p) for p in params]
        if all(isinstance(v, (int, float)) and math.isfinite(v) for v in vec):
            found.append([float(v) for v in vec])
    bounds = {k: _bound_pair(v) for k, v in record.bounds.items()}
    lower = [bounds.get(p, (-math.inf, math.inf))[0] for p in params]
    upper = [bounds.get(p, (-math.inf, math.inf))[1] for p in params]
    used_idx = [list(record.features).index(f) for f in law.used_features]
    found_lines = "\n".join(f"    {_py(v)}," for v in found)
    doc = '"""' + "\n".join(header) + "\n\n" + \
        "params: 1-D array in PARAMETERS order. Only numpy and scipy are imported.\n" + '"""'
    return f'''{doc}

import functools  # noqa: F401  (sympy prints min/max as functools.reduce)

import numpy
from scipy.optimize import least_squares

FEATURES = {_py(list(record.features))}
TARGETS = {_py(_targets(record))}
PARAMETERS = {_py(params)}
USED_COLUMNS = {_py(used_idx)}  # columns of data_points the law uses
LOWER = {_py(lower)}
UPPER = {_py(upper)}
N_STARTS = {int(n_starts)}
MAX_NFEV = 2000

# lawagent's fitted values on the task's training rows, one vector per group: the first starts
FOUND = [
{found_lines}
]


{fn}


def _matrix(data_points):
    X = numpy.asarray(data_points, dtype=float)
    if X.ndim == 1:
        X = X.reshape(-1, 1) if len(FEATURES) == 1 else X.reshape(1, -1)
    if X.ndim != 2 or X.shape[1] != len(FEATURES):
        raise ValueError("data_points must be (N, %d) with columns %s, got shape %s" % (len(FEATURES), FEATURES, X.shape))
    return X


def scaling_law_func(data_points, params):
    """Predictions for data_points (N, F): shape (N,) for one target, (N, T) for several."""
    X = _matrix(data_points)
    p = numpy.asarray(params, dtype=float).ravel()
    if p.size != len(PARAMETERS):
        raise ValueError("expected %d parameters (%s), got %d" % (len(PARAMETERS), ", ".join(PARAMETERS), p.size))
    with numpy.errstate(all="ignore"):
        res = _law(*[X[:, i] for i in USED_COLUMNS], *p)
    cols = [numpy.broadcast_to(numpy.asarray(v, dtype=float), (X.shape[0],)) for v in res]
    return cols[0].copy() if len(cols) == 1 else numpy.column_stack(cols)


def fit_scaling_law(data_points, loss_values):
    """Least-squares fit of PARAMETERS to the rows; returns a 1-D array."""
    X = _matrix(data_points)
    y = numpy.asarray(loss_values, dtype=float).reshape(X.shape[0], -1)
    lo, hi = numpy.array(LOWER), numpy.array(UPPER)
    big = 1e6 * (1.0 + numpy.abs(y).max())

    def residuals(p):
        r = (scaling_law_func(X, p).reshape(y.shape) - y).ravel()
        return numpy.where(numpy.isfinite(r), r, big)

    def cost(p):
        r = (scaling_law_func(X, p).reshape(y.shape) - y).ravel()
        return float(r @ r) if numpy.isfinite(r).all() else numpy.inf

    rng = numpy.random.default_rng(0)
    starts = sorted((numpy.array(v) for v in FOUND), key=cost)
    if not starts:
        starts = [numpy.clip(numpy.ones(len(PARAMETERS)), lo, hi)]
    best = numpy.clip(starts[0], lo, hi)
    best_cost = cost(best)
    jitter = [starts[0] * numpy.exp(rng.normal(0.0, 0.3, starts[0].shape)) for _ in range(N_STARTS)]
    for i, x0 in enumerate((starts[:2] + jitter)[:N_STARTS]):
        x0 = numpy.clip(x0, lo, hi)
        try:  # the closest found vector gets a long, tight refinement; the other starts a short one
            res = least_squares(residuals, x0, bounds=(lo, hi), x_scale="jac", method="trf",
                                ftol=1e-12, xtol=1e-12, gtol=1e-12, max_nfev=MAX_NFEV if i == 0 else MAX_NFEV // 10)
        except (ValueError, numpy.linalg.LinAlgError, FloatingPointError):
            continue
        c = cost(res.x)
        if c < best_cost:
            best, best_cost = res.x, c
    return numpy.asarray(best, dtype=float)
'''


def _bound_pair(pair: Any) -> tuple[float, float]:
    lo, hi = pair
    return (-math.inf if lo is None else float(lo), math.inf if hi is None else float(hi))


# ---------------------------------------------------------------------------
# JSON


def to_json(record: LawRecord, meta: Mapping[str, Any] | None = None, *, indent: int | None = 2) -> str:
    """Machine-readable, round-trippable law: read back by :func:`law_from_json` / :func:`load_law_file`."""
    return json.dumps(_json_dict(record, meta), indent=indent, allow_nan=False) + "\n"


def _json_dict(record: LawRecord, meta: Mapping[str, Any] | None) -> dict[str, Any]:
    from lawagent import __version__
    from lawagent.records import json_safe

    data = {"format": JSON_FORMAT, "format_version": 1, "lawagent_version": __version__}
    data.update(record.to_dict())
    data["targets"] = _targets(record)
    if meta:
        data.update(json_safe({k: v for k, v in meta.items() if k in ("task", "run")}))
    return data


def law_from_json(data: str | Mapping[str, Any]) -> LawRecord:
    """A LawRecord from a JSON export (text or parsed); a many-law export gives its first (best) law."""
    if isinstance(data, str):
        try:
            data = json.loads(data)
        except json.JSONDecodeError as err:
            raise LawagentError(f"not valid JSON: {err}") from None
    if isinstance(data, Mapping) and data.get("format") == JSON_FORMAT_MANY:
        data = (data.get("laws") or [None])[0]
    return _record(data, "law JSON")


def to_json_many(items: Sequence[tuple[LawRecord, Mapping[str, Any] | None]]) -> str:
    from lawagent import __version__

    laws = [_json_dict(r, m) for r, m in items]
    return json.dumps({"format": JSON_FORMAT_MANY, "format_version": 1, "lawagent_version": __version__,
                       "laws": laws}, indent=2, allow_nan=False) + "\n"


def load_law_file(path: str | os.PathLike) -> tuple[list[str], dict[str, tuple[float, float]]]:
    """Formulas and bounds from a law file: a lawagent JSON export, or plain text.

    Plain text holds one formula, or one per target on separate lines or separated
    by ';'; blank lines and lines starting with '#' are ignored. Formulas are
    returned as text: parse them against a task with ``lawagent.evaluate.parse_law``.
    """
    p = Path(path).expanduser()
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise LawagentError(f"law file not found: {p}") from None
    except (OSError, UnicodeDecodeError) as err:
        raise LawagentError(f"law file {p}: cannot read: {err}") from None
    stripped = text.strip()
    if stripped.startswith("{"):
        try:
            data = json.loads(stripped)
        except json.JSONDecodeError as err:
            raise LawagentError(f"law file {p}: looks like JSON but is not valid: {err}") from None
        if data.get("format") == JSON_FORMAT_MANY:
            laws = data.get("laws") or []
            if not laws:
                raise LawagentError(f"law file {p}: holds no laws")
            data = laws[0]
        formulas = data.get("formulas")
        if formulas is None and isinstance(data.get("formula"), str):
            formulas = split_formulas(data["formula"])
        if not (isinstance(formulas, list) and formulas and all(isinstance(f, str) and f.strip() for f in formulas)):
            raise LawagentError(f"law file {p}: JSON needs 'formulas' (a list of formula strings) or 'formula'")
        bounds_raw = data.get("bounds") or {}
        if not isinstance(bounds_raw, Mapping):
            raise LawagentError(f"law file {p}: 'bounds' must map parameter names to [low, high]")
        bounds = {}
        for name, pair in bounds_raw.items():
            try:
                lo, hi = pair
                bounds[str(name)] = (-math.inf if lo is None else float(lo), math.inf if hi is None else float(hi))
            except (TypeError, ValueError):
                raise LawagentError(f"law file {p}: bounds of {name!r} must be [low, high], got {pair!r}") from None
        return [f.strip() for f in formulas], bounds
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.strip().startswith("#")]
    formulas = split_formulas(";".join(lines))
    if not formulas:
        raise LawagentError(f"law file {p}: no formula in it (blank lines and '#' comments are ignored)")
    return formulas, {}


# ---------------------------------------------------------------------------
# CSV


def to_csv(records: Iterable[tuple[int, LawRecord]]) -> str:
    """The equations table: rank, complexity, scores and formula, one law per row."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(_CSV_COLUMNS)
    for rank, r in records:
        test = r.test or {}
        w.writerow([rank, r.complexity, len(r.parameters), _cell(r.val_r2), _cell(r.train_r2), _cell(test.get("r2")),
                    _cell(test.get("nmse")), _cell(test.get("nmae")), r.origin, r.formula])
    return buf.getvalue()


def _cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return repr(v) if math.isfinite(v) else ""
    return str(v)


# ---------------------------------------------------------------------------
# wrapper and run-level export


class LawExport:
    """PySR-style access to one law's exports: ``LawExport(run.best).latex()``."""

    def __init__(self, record: LawRecord, meta: Mapping[str, Any] | None = None):
        self.record = record
        self.meta = dict(meta or {})

    def sympy(self, group: str | None = None):
        return to_sympy(self.record, group)

    def latex(self, group: str | None = None, **kwargs) -> str:
        return to_latex(self.record, group, **kwargs)

    def to_python(self) -> str:
        return to_python(self.record, self.meta)

    def to_json(self) -> str:
        return to_json(self.record, self.meta)

    def to_sldbench(self) -> str:
        return to_sldbench(self.record, self.meta)

    def predict(self, X: Mapping[str, np.ndarray], groups) -> np.ndarray:
        return self.record.predict(X, groups)


def export_run(run: Run, fmt: str, which: str | int | None = None, *, group: str | None = None) -> str:
    """Render the selected laws of a run in one format (see :data:`FORMATS`)."""
    if fmt not in FORMATS:
        raise LawagentError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if which is None:
        which = "all" if fmt == "csv" else "best"
    chosen = run.select(which)
    if fmt == "csv":
        return to_csv(chosen)
    if fmt == "json":
        if len(chosen) == 1:
            rank, rec = chosen[0]
            return to_json(rec, run.meta(rank))
        return to_json_many([(rec, run.meta(rank)) for rank, rec in chosen])
    if fmt in ("python", "sldbench"):
        if len(chosen) != 1:
            raise LawagentError(f"--format {fmt} writes one law: use --which best or --which N")
        rank, rec = chosen[0]
        if group is not None:
            raise LawagentError(f"--group does not apply to --format {fmt} (it holds every group's values)")
        return to_python(rec, run.meta(rank)) if fmt == "python" else to_sldbench(rec, run.meta(rank))
    parts = []
    for rank, rec in chosen:
        if group not in (None, "all") and group not in rec.params:
            known = ", ".join(list(rec.params)[:8])
            raise LawagentError(f"--group {group!r} is not a group of this law; groups: {known}")
        title = _title(run, rank, rec)
        if fmt == "sympy":
            parts.append(f"# {title}\n{to_sympy_text(rec, group if group != 'all' else None)}")
        else:
            parts.append(f"% {latex_escape(title)}\n{to_latex(rec, group)}")
    return "\n\n".join(p.rstrip("\n") for p in parts) + "\n"


def _title(run: Run, rank: int, rec: LawRecord) -> str:
    bits = [f"law {rank} of run {run.run_id}", f"task {rec.task or '?'}"]
    if isinstance(rec.val_r2, (int, float)):
        bits.append(f"validation R2 {rec.val_r2:.6g}")
    if isinstance(rec.test_r2, (int, float)):
        bits.append(f"test R2 {rec.test_r2:.6g}")
    return ", ".join(bits)


# ---------------------------------------------------------------------------
# helpers


def _targets(record: LawRecord) -> list[str]:
    return list(record.targets) if record.targets else [f"y{i}" for i in range(len(record.formulas))] or ["y"]


def _group_values(record: LawRecord, group: str) -> dict[str, float]:
    if group not in record.params:
        known = ", ".join(list(record.params)[:8]) + (", ..." if len(record.params) > 8 else "")
        raise LawagentError(f"unknown group {group!r}; groups of this law: {known}")
    return {k: (math.nan if v is None else float(v)) for k, v in record.params[group].items()}
