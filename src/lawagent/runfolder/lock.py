"""One writer per run folder: an exclusive ``fcntl`` lock, held from the start of a run to its end.

Two ``discover`` commands with the same ``--out``/``--run-id``, or a ``--resume``
of a run that is still going, used to both write ``candidates.jsonl``. Now the
second one stops at once with the first one's PID. The lock is the kernel's
(``flock`` on the file ``lock`` in the folder): it goes away with the process
that held it, however that process ends (kill -9 included), so a crashed run
never leaves a stale lock behind. The file stays; only the lock on it matters.

:class:`RunLock` also remembers what the folder held when it was taken, so that a
run that fails before it has done any work can remove exactly what it created
(:meth:`RunLock.remove_created`), and nothing that was there before.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from lawagent.errors import LawagentError

LOCK = "lock"

try:
    import fcntl
except ImportError:  # not a POSIX system: runs are not locked there
    fcntl = None  # type: ignore[assignment]


class RunLock:
    """The exclusive lock on one run folder (release it, or let the process end)."""

    def __init__(self, folder: Path, fd: int | None, before: set[str]):
        self.folder = folder
        self._fd = fd
        self._before = before  # the folder's entries when the lock was taken

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the file releases the lock
            self._fd = None

    def remove_created(self) -> None:
        """Remove what appeared in the folder since the lock was taken (and the folder, if it is then empty)."""
        try:
            entries = set(os.listdir(self.folder))
        except OSError:
            return
        for name in entries - self._before - {LOCK}:
            path = self.folder / name
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
        if LOCK not in self._before:
            (self.folder / LOCK).unlink(missing_ok=True)
        try:
            self.folder.rmdir()  # only if nothing else is in it
        except OSError:
            pass

    def __enter__(self) -> "RunLock":
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def lock_folder(folder: Path) -> RunLock:
    """Create ``folder`` if needed and take its lock; LawagentError naming the holder's PID if it is taken."""
    for _ in range(20):
        try:
            before = set(os.listdir(folder)) if folder.is_dir() else set()
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise LawagentError(f"cannot create run folder {folder}: {err.strerror}") from None
        if fcntl is None:
            return RunLock(folder, None, before)
        path = folder / LOCK
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except FileNotFoundError:
            continue  # the folder was removed under us (a failed start cleaning up): make it again
        except OSError as err:
            raise LawagentError(f"cannot lock run folder {folder}: {err.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            os.close(fd)
            raise LawagentError(f"run folder {folder} is in use by another lawagent process ({holder}); "
                                "wait for it to end, or choose another --run-id") from None
        if _same_file(path, fd):
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
            return RunLock(folder, fd, before)
        os.close(fd)  # we locked a lock file that its folder's cleanup had just removed: again
    raise LawagentError(f"cannot lock run folder {folder}: it keeps disappearing")


def _holder(fd: int) -> str:
    """'PID 1234' from the lock file (the holder writes it just after locking: wait a moment for it)."""
    for _ in range(50):
        text = os.pread(fd, 32, 0).decode(errors="replace").strip()
        if text.isdigit():
            return f"PID {text}"
        time.sleep(0.01)
    return "PID unknown"


def _same_file(path: Path, fd: int) -> bool:
    try:
        return os.stat(path).st_ino == os.fstat(fd).st_ino
    except FileNotFoundError:
        return False
