"""One status line on stderr: a single updating line on a terminal, a line every few seconds otherwise."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    def __init__(self, enabled: bool = True, stream: TextIO | None = None, interval: float = 5.0):
        self.enabled = enabled
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.interval = interval
        self._last = 0.0
        self._open = False

    def update(self, text: str, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if self.tty:
            self.stream.write("\r\x1b[K" + text[:200])
            self._open = True
        elif (force and now - self._last >= 1.0) or now - self._last >= self.interval:
            self.stream.write(text + "\n")
        else:
            return
        self._last = now
        self.stream.flush()

    def message(self, text: str) -> None:
        """A line that stays (warnings, the resume hint)."""
        if not self.enabled:
            return
        self.end()
        self.stream.write(text + "\n")
        self.stream.flush()

    def end(self) -> None:
        if self._open:
            self.stream.write("\n")
            self.stream.flush()
            self._open = False


def status_line(iteration: int, n: int, rate: float, best_r2: float | None, formula: str, left: float | None) -> str:
    best = "-" if best_r2 is None else f"{best_r2:.4f}"
    if len(formula) > 60:
        formula = formula[:57] + "..."
    left_s = "" if left is None else f" | {max(left, 0):.0f}s left"
    return f"iter {iteration} | {n} candidates | {rate:.1f}/s | best cv R2 {best} | {formula or '-'}{left_s}"
