"""Linux isolation for code we did not write: Landlock, a PID namespace, a child subreaper.

Used by :mod:`lawagent.bench.sldbench_worker`, which loads this file by its
path, before anything else is imported: so it imports only the standard
library. Every function degrades to "not available" (and says why) instead of
failing, and callers report what was actually applied.

* :func:`restrict_filesystem`: Landlock (Linux >= 5.13, if enabled) through
  raw syscalls with ctypes. Only the listed paths stay reachable (read-only or
  read-write); with ABI >= 4 TCP bind/connect are refused; with ABI >= 6
  signals and abstract unix sockets cannot reach processes outside the sandbox.
  Landlock also stops ptrace, so /proc/PID/mem and environ of other processes.
* :func:`new_pid_namespace`: the next fork becomes PID 1 of a new namespace;
  when it dies the kernel kills every process in the namespace (setsid or not).
* :func:`set_child_subreaper` and :func:`kill_descendants`: without a PID
  namespace, orphaned descendants are re-parented to us and killed by a sweep.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import struct
import sys
import time

# syscall numbers: identical on every architecture (allocated after the unified table, Linux 5.13)
_SYS_LANDLOCK_CREATE_RULESET = 444
_SYS_LANDLOCK_ADD_RULE = 445
_SYS_LANDLOCK_RESTRICT_SELF = 446
_LANDLOCK_CREATE_RULESET_VERSION = 1
_LANDLOCK_RULE_PATH_BENEATH = 1

# filesystem rights, by the ABI that introduced them
_FS_RIGHTS = {1: (1 << 13) - 1, 2: 1 << 13, 3: 1 << 14, 5: 1 << 15}  # v1: EXECUTE..MAKE_SYM; v2 REFER; v3 TRUNCATE; v5 IOCTL_DEV
_EXECUTE, _WRITE_FILE, _READ_FILE, _READ_DIR = 1, 2, 4, 8
_TRUNCATE, _IOCTL_DEV = 1 << 14, 1 << 15
_NET_BIND_TCP, _NET_CONNECT_TCP = 1, 2  # ABI 4
_SCOPE_ABSTRACT_UNIX_SOCKET, _SCOPE_SIGNAL = 1, 2  # ABI 6

_PR_SET_PDEATHSIG = 1
_PR_SET_CHILD_SUBREAPER = 36
_PR_SET_NO_NEW_PRIVS = 38
_CLONE_NEWUSER = 0x10000000
_CLONE_NEWPID = 0x20000000


def _libc() -> ctypes.CDLL:
    if not sys.platform.startswith("linux"):  # syscall numbers and prctl are Linux's
        raise OSError(f"not Linux ({sys.platform})")
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    libc.syscall.restype = ctypes.c_long
    return libc


def _error() -> str:
    errno = ctypes.get_errno()
    return f"{os.strerror(errno)} (errno {errno})"


def landlock_abi() -> tuple[int, str]:
    """(ABI version, '') if Landlock can be used here, else (0, why not)."""
    try:
        abi = _libc().syscall(_SYS_LANDLOCK_CREATE_RULESET, None, ctypes.c_size_t(0),
                              ctypes.c_uint32(_LANDLOCK_CREATE_RULESET_VERSION))
    except (OSError, AttributeError) as err:
        return 0, f"no Landlock here ({err})"
    if abi < 0:
        return 0, f"the kernel refuses Landlock: {_error()} (Linux >= 5.13 with Landlock enabled is needed)"
    return int(abi), ""


def _fs_rights(abi: int) -> int:
    return sum(bits for version, bits in _FS_RIGHTS.items() if abi >= version)


def allowed_paths(roots: list[str], forbidden: list[str]) -> list[str]:
    """``roots``, with any root that contains a forbidden path replaced by the parts of it that do not."""
    forbidden_real = [os.path.realpath(f) for f in forbidden if os.path.exists(f)]
    out: list[str] = []
    for root in dict.fromkeys(os.path.realpath(r) for r in roots if os.path.exists(r)):
        if any(f == root or root.startswith(f + os.sep) for f in forbidden_real):
            continue  # the root is itself forbidden (or inside a forbidden folder)
        inside = [f for f in forbidden_real if f.startswith(root + os.sep)]
        if not inside:
            out.append(root)
            continue
        try:
            children = [os.path.join(root, name) for name in os.listdir(root)]
        except OSError:
            continue
        out += allowed_paths(children, inside)
    return out


def restrict_filesystem(read_only: list[str], read_write: list[str], forbidden: list[str]) -> dict:
    """Restrict this process (and its future children) with Landlock; irreversible.

    Returns what was applied: ``{"landlock_abi": N, "network": ..., "scoped": ...}``, or
    ``{"landlock_abi": 0, "landlock_error": why}`` when the kernel offers no Landlock.
    """
    abi, why = landlock_abi()
    if not abi:
        return {"landlock_abi": 0, "landlock_error": why}
    libc = _libc()
    handled_fs = _fs_rights(abi)
    attr = struct.pack("=Q", handled_fs)
    if abi >= 4:
        attr += struct.pack("=Q", _NET_BIND_TCP | _NET_CONNECT_TCP)
    if abi >= 6:
        attr += struct.pack("=Q", _SCOPE_ABSTRACT_UNIX_SOCKET | _SCOPE_SIGNAL)
    buf = ctypes.create_string_buffer(attr, len(attr))
    ruleset = libc.syscall(_SYS_LANDLOCK_CREATE_RULESET, buf, ctypes.c_size_t(len(attr)), ctypes.c_uint32(0))
    if ruleset < 0:
        return {"landlock_abi": 0, "landlock_error": f"landlock_create_ruleset failed: {_error()}"}
    file_rights = _EXECUTE | _WRITE_FILE | _READ_FILE | (_TRUNCATE if abi >= 3 else 0) | (_IOCTL_DEV if abi >= 5 else 0)
    read = _EXECUTE | _READ_FILE | _READ_DIR
    try:
        rules = [(p, read) for p in allowed_paths(read_only, forbidden)]
        rules += [(p, handled_fs) for p in allowed_paths(read_write, forbidden)]
        for path, rights in rules:
            try:
                fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            except OSError:
                continue
            try:
                if not os.path.isdir(path):  # a file takes file rights only
                    rights = _EXECUTE | _READ_FILE if rights == read else file_rights
                rule = ctypes.create_string_buffer(struct.pack("=Qi", rights, fd), 12)
                if libc.syscall(_SYS_LANDLOCK_ADD_RULE, ctypes.c_int(ruleset), ctypes.c_int(_LANDLOCK_RULE_PATH_BENEATH),
                                rule, ctypes.c_uint32(0)) < 0:
                    return {"landlock_abi": 0, "landlock_error": f"landlock_add_rule({path}) failed: {_error()}"}
            finally:
                os.close(fd)
        if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            return {"landlock_abi": 0, "landlock_error": f"prctl(NO_NEW_PRIVS) failed: {_error()}"}
        if libc.syscall(_SYS_LANDLOCK_RESTRICT_SELF, ctypes.c_int(ruleset), ctypes.c_uint32(0)) < 0:
            return {"landlock_abi": 0, "landlock_error": f"landlock_restrict_self failed: {_error()}"}
    finally:
        os.close(ruleset)
    return {"landlock_abi": abi, "network": "TCP bind/connect refused" if abi >= 4 else "not restricted (Landlock ABI < 4)",
            "scoped": "signals and abstract unix sockets stay inside" if abi >= 6 else "not scoped (Landlock ABI < 6)"}


def die_with_parent(sig: int = signal.SIGKILL) -> bool:
    """Get ``sig`` when the parent exits (so nothing outlives its supervisor)."""
    try:
        return _libc().prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def set_child_subreaper() -> bool:
    """Orphaned descendants (double forks, setsid daemons) are re-parented to this process."""
    try:
        return _libc().prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def new_pid_namespace() -> tuple[bool, str]:
    """Make the next fork PID 1 of a new PID namespace (directly as root, else inside a user namespace)."""
    try:
        libc = _libc()
    except OSError as err:
        return False, str(err)
    if libc.unshare(_CLONE_NEWPID) == 0:
        return True, ""
    direct = _error()
    uid, gid = os.geteuid(), os.getegid()
    if libc.unshare(_CLONE_NEWUSER | _CLONE_NEWPID) != 0:
        return False, f"unshare(CLONE_NEWPID): {direct}; with a user namespace: {_error()}"
    try:  # map our own ids, so that files keep their owner
        with open("/proc/self/setgroups", "w") as fh:
            fh.write("deny")
        with open("/proc/self/uid_map", "w") as fh:
            fh.write(f"{uid} {uid} 1")
        with open("/proc/self/gid_map", "w") as fh:
            fh.write(f"{gid} {gid} 1")
    except OSError as err:
        return True, f"PID namespace inside a user namespace; id maps not written ({err})"
    return True, ""


def _children(pid: int) -> list[int]:
    out = []
    if not os.path.isdir("/proc"):
        return out
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat", "rb") as fh:
                    stat = fh.read()
            except OSError:
                continue
            fields = stat[stat.rfind(b")") + 2:].split()
            if len(fields) > 1 and int(fields[1]) == pid:
                out.append(int(name))
    return out


def kill_descendants(rounds: int = 200) -> int:
    """SIGKILL and reap every child (as subreaper: every orphaned descendant too) until none is left."""
    me, killed = os.getpid(), 0
    for _ in range(rounds):
        children = _children(me)
        if not children:
            break
        for pid in children:
            try:
                os.kill(pid, signal.SIGKILL)
                killed += 1
            except ProcessLookupError:
                pass
        for pid in children:
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass
        time.sleep(0.005)  # grandchildren are re-parented to us as their parents die
    return killed
