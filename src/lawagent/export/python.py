"""The python export: a standalone module (numpy only) with PARAMS per group and ``predict``."""

from __future__ import annotations

from typing import Any, Mapping

from lawagent.export.codegen import docline, header_lines, numpy_function, params_literal, py_literal
from lawagent.export.common import targets_of
from lawagent.records import LawRecord


def to_python(record: LawRecord, meta: Mapping[str, Any] | None = None) -> str:
    """A standalone module (numpy only): PARAMS per group and ``predict(features, group)``."""
    law = record.law()
    fargs, pargs, fn = numpy_function(law)
    header = header_lines(record, law, meta, "Scaling law exported as a numpy module")
    single = len(record.params) == 1
    example = f"    law.predict({{{', '.join(repr(f) + ': [...]' for f in law.used_features)}}}, group={next(iter(record.params), 'all')!r})"
    doc = '"""' + "\n".join(header + ["", "Usage:", "    import this_module as law", docline(example),
                                       "    law.predict(X, group)   # X: 2-D array, columns in FEATURES order"]) + '\n"""'
    targets = targets_of(record)
    src = f'''{doc}

import functools  # noqa: F401  (sympy prints min/max as functools.reduce)

import numpy

FEATURES = {py_literal(list(record.features))}
TARGETS = {py_literal(targets)}
PARAMETERS = {py_literal(list(law.parameters))}
FORMULAS = {py_literal(law.texts())}
USED_FEATURES = {py_literal(list(law.used_features))}

# fitted parameter values per group (on all training rows of the task)
PARAMS = {params_literal(record, law.parameters)}


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


def predict(features, group={py_literal(next(iter(record.params))) if single else 'None'}):
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
