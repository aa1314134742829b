"""Entry point of an evaluation worker: ``python -m lawagent.discovery._worker FD``.

A fresh interpreter (not a fork, and not multiprocessing's spawn, which would
re-run the user's ``__main__`` script): it holds only what the parent sends
over the socket ``FD``: ``sys.path``, then the job function and its shared data.
"""

from __future__ import annotations

import signal
import sys
from multiprocessing.connection import Connection


def main(argv: list[str]) -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
    conn = Connection(int(argv[0]))
    try:
        paths = conn.recv()
        for p in reversed(paths):
            if p not in sys.path:
                sys.path.insert(0, p)
        fn, shared = conn.recv()
    except (EOFError, OSError):
        return 0
    from lawagent.discovery.workers import serve
    from lawagent.fit import native

    native.warm()  # before the first job: loading the compiled fitter takes a few seconds

    serve(conn, fn, shared)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
