"""Run folders (``results/<run-id>/``): one writer and one reader, shared by discovery, export and report.

- :mod:`~lawagent.runfolder.files`: the folder's files, written atomically, read with one damage policy;
- :mod:`~lawagent.runfolder.lock`: one writer at a time (an fcntl lock naming its holder's PID);
- :mod:`~lawagent.runfolder.run`: a finished run read back (:func:`load_run`), laws re-parsed;
- :mod:`~lawagent.runfolder.task_spec`: how a run records its task, and how to load it back.
"""

from lawagent.runfolder.files import BEST, CANDIDATES, CONFIG, EQUATIONS, FINAL, STATE, RunDir
from lawagent.runfolder.lock import RunLock
from lawagent.runfolder.run import Run, law_record, load_run
from lawagent.runfolder.task_spec import task_from_spec, task_spec

__all__ = ["BEST", "CANDIDATES", "CONFIG", "EQUATIONS", "FINAL", "STATE", "Run", "RunDir", "RunLock", "law_record", "load_run",
           "task_from_spec", "task_spec"]
