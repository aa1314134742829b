"""The isolation primitives behind SLDBench programs, each on its own (the whole is in test_sldbench_program.py)."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

from lawagent.bench.sandbox import allowed_paths

SRC = Path(__file__).parents[1] / "src"


def test_allowed_paths_leave_out_what_is_forbidden(tmp_path):
    for name in ("lib/site/numpy", "lib/site/lawagent/_tasks/t1", "lib/site/other", "etc"):
        (tmp_path / name).mkdir(parents=True)
    (tmp_path / "lib/site/lawagent/code.py").write_text("")
    allowed = allowed_paths([str(tmp_path / "lib"), str(tmp_path / "etc")], [str(tmp_path / "lib/site/lawagent/_tasks")])
    rel = sorted(os.path.relpath(p, tmp_path) for p in allowed)
    assert rel == ["etc", "lib/site/lawagent/code.py", "lib/site/numpy", "lib/site/other"]
    assert allowed_paths([str(tmp_path / "lib/site/lawagent/_tasks/t1")], [str(tmp_path / "lib/site/lawagent")]) == []


SWEEP = """
import os, sys, time
sys.path.insert(0, sys.argv[2])
from lawagent.bench import sandbox
assert sandbox.set_child_subreaper()
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.execv(sys.executable, [sys.executable, "-c", "import time; time.sleep(600)", sys.argv[1]])
    os._exit(0)  # the grandchild is orphaned: re-parented to us, the subreaper
time.sleep(0.5)
print(sandbox.kill_descendants(), flush=True)
"""


def test_subreaper_sweep_kills_an_orphan_in_its_own_session():
    """The fallback where no PID namespace can be made: orphans come back to us and are killed."""
    marker = f"lawagent-sweep-{uuid.uuid4().hex}"
    done = subprocess.run([sys.executable, "-c", SWEEP, marker, str(SRC)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert int(done.stdout.strip()) >= 1
    alive = [p for p in os.listdir("/proc") if p.isdigit() and _has(p, marker)]
    assert alive == []


def _has(pid: str, marker: str) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        return marker.encode() in Path(f"/proc/{pid}/cmdline").read_bytes() and state != "Z"
    except OSError:
        return False
