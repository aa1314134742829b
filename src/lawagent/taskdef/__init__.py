"""Task folders made and checked by users: `lawagent tasks new` and `lawagent tasks check`.

:mod:`lawagent.task` loads a task; this package writes one from a CSV
(:mod:`.scaffold`) and reports every problem of a folder with file and line
(:mod:`.check`, with :mod:`.toml_lines` for the lines and :mod:`.schema` for
the keys).
"""

from lawagent.taskdef.check import Problem, check_task_folder
from lawagent.taskdef.scaffold import DEFAULT_PARENT, NewTask, create_task

__all__ = ["DEFAULT_PARENT", "NewTask", "Problem", "check_task_folder", "create_task"]
