"""Start the worker processes of `--workers N` at the very start of the command, before
the driver imports Blender and FaceForge and plans, so their start-up (the same imports)
overlaps the driver's own instead of following it. Imports nothing heavy; the runner takes
the workers started here (`take_workers`) and `discard` ends those it did not take.

Ray (`--cluster`) is not started early: a thread that starts it while this process
imports bpy deadlocks on the import lock, and planning itself takes well under a second."""
from __future__ import annotations

import atexit

from .plan import SCALABLE

_workers: list = []  # workers.Worker processes started before planning


def requested(argv: list[str]) -> int:
    """How many local workers a command line will run its items on, as far as a plain look
    at argv tells (--workers N without --cluster); 0 for anything else (help, --dry-run,
    a command that is not planned, a value that is not a number)."""
    argv = list(argv)
    if not argv or argv[0] not in SCALABLE or {"-h", "--help", "--dry-run"} & set(argv):
        return 0
    found: dict[str, str] = {}
    for k, a in enumerate(argv):
        flag, eq, value = a.partition("=")
        if flag in ("--workers", "--cluster"):
            if not eq:
                value = argv[k + 1] if k + 1 < len(argv) else ""
            found[flag] = value
    if found.get("--cluster"):
        return 0
    try:
        return int(found.get("--workers", "1"))
    except ValueError:
        return 0


def begin(argv: list[str]) -> None:
    """Start the N local workers argv's run will use (nothing if it uses none, or if
    workers were started already)."""
    n = requested(argv)
    if _workers or n < 2:
        return
    from .workers import Worker, blas_threads
    for _ in range(n):
        _workers.append(Worker(threads=blas_threads(n)))
    atexit.unregister(discard)
    atexit.register(discard)


def take_workers(n: int) -> list:
    """Up to n workers started early (still running), for the runner to keep."""
    taken = []
    while _workers and len(taken) < n:
        w = _workers.pop(0)
        if w.proc.poll() is None:
            taken.append(w)
        else:
            w.close()
    return taken


def discard() -> None:
    """Kill the workers started early that no runner took (they hold no item)."""
    while _workers:
        _workers.pop().kill()
