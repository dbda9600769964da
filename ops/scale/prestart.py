"""Start the worker processes of `--workers N` at the very start of the command, before
the driver imports Blender and FaceForge and plans, so their start-up (the same imports)
overlaps the driver's own instead of following it. Imports nothing heavy; the runner takes
the workers started here (`take_workers`) and `discard` ends those it did not take.

Ray (`--cluster`) is not started early: a thread that starts it while this process
imports bpy deadlocks on the import lock, and planning itself takes well under a second."""
from __future__ import annotations

from .plan import SCALABLE

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
    workers were started already); `workers.take_early` hands them to the runner."""
    n = requested(argv)
    if n >= 2:
        from .workers import start_early
        start_early(n)


def discard() -> None:
    """Kill the workers started early that no runner took (they hold no item)."""
    from .workers import discard_early
    discard_early()
