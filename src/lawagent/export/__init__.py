"""Export found laws in the formats the field uses, one module per format:
:mod:`.sympy`, :mod:`.latex`, :mod:`.python` (a numpy module), :mod:`.json`,
:mod:`.csv` (the equations table) and :mod:`.sldbench` (an SLDBench program).

Law level: ``to_sympy``, ``to_latex``, ``to_python``, ``to_json``, ``to_csv``,
``to_sldbench`` take a :class:`~lawagent.records.LawRecord` (PySR-style
``LawExport(record).latex()`` wraps them). Run level: :func:`load_run` reads a
discovery run folder (:mod:`lawagent.runfolder`) and :func:`export_run` renders
its laws. :func:`load_law_file` reads a JSON export, a run file or a plain
formula file back (``lawagent evaluate --law-file``).

Generated code is safe by construction (:mod:`.codegen`): every formula is
re-parsed with the whitelist parser and printed from its sympy expression.
"""

from lawagent.atomic import write_text
from lawagent.export.csv import to_csv
from lawagent.export.json import JSON_FORMAT, JSON_FORMAT_MANY, law_from_json, to_json, to_json_many
from lawagent.export.latex import latex_escape, latex_name, to_latex
from lawagent.export.law_file import load_law_file
from lawagent.export.python import to_python
from lawagent.export.run import FORMATS, LawExport, export_run
from lawagent.export.sldbench import to_sldbench
from lawagent.export.sympy import to_sympy, to_sympy_text
from lawagent.runfolder.run import Run, load_run

__all__ = [
    "FORMATS", "JSON_FORMAT", "JSON_FORMAT_MANY", "LawExport", "Run", "export_run", "latex_escape", "latex_name",
    "law_from_json", "load_law_file", "load_run", "to_csv", "to_json", "to_json_many", "to_latex", "to_python",
    "to_sldbench", "to_sympy", "to_sympy_text", "write_text",
]
