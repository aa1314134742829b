"""Errors a user can cause, each carrying one clear message.

The CLI prints ``str(err)`` of any :class:`LawagentError` on one line and exits
non-zero; everything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class LawagentError(Exception):
    """Base class for mistakes in input the user (or an LLM) supplied."""


class TaskError(LawagentError):
    """A task, its data file or its metadata is unusable."""


class FormulaError(LawagentError):
    """A formula text could not be parsed or violates the law language."""


class FitError(LawagentError):
    """A law could not be fitted at all (no finite prediction anywhere)."""


class Interrupted(KeyboardInterrupt):
    """Ctrl-C, with what the user needs to know next (is the run resumable, and how).

    A KeyboardInterrupt, so that code catching Ctrl-C still does; the CLI prints
    the message and exits 130.
    """
