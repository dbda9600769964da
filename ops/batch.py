"""Run one job per item for the command line: show progress, keep going past failures,
stop cleanly on Ctrl-C, and end with a summary of what finished and what did not."""
from __future__ import annotations

import signal
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Sequence

from . import errors
from .errors import UserError  # noqa: F401  (the commands raise it from here)

INTERRUPTED = 130  # the shell's exit status for a command ended by Ctrl-C


def guarded(command: str, verbose: bool, run: Callable[[], int]):
    """run() ended the way every command ends: its own exit code, or for an error outside
    any item one line `FAILED <subject>: why` / `faceforge <command>: why` and 1 (a
    traceback too with -v), or INTERRUPTED after Ctrl-C."""
    try:
        return run()
    except UserError as exc:
        errors.report(exc, f"faceforge {command}")
        return 1
    except KeyboardInterrupt:
        print("interrupted (Ctrl-C); no half-written file is left", file=sys.stderr)
        return INTERRUPTED
    except Exception as exc:  # outside any item (a head, a plan): same style, -v for more
        if verbose:
            traceback.print_exc()
        print(f"faceforge {command}: {errors.message(exc)}", file=sys.stderr)
        return 1


def expand_inputs(paths: Iterable[str | Path], suffixes: Sequence[str]) -> list[Path]:
    """Files given directly, plus the files with a matching suffix inside given folders
    (sorted); a missing path or an empty folder is kept so its item fails clearly."""
    from .plan import find_sources
    return [s.path for s in find_sources(paths, suffixes)]


def check_input(path: Path, suffixes: Sequence[str]) -> None:
    """Raise UserError unless path is an existing file with one of the suffixes."""
    if not path.exists():
        raise UserError("no such file or folder")
    if path.is_dir():
        raise UserError(f"the folder holds no {'/'.join(suffixes)} files")
    if path.suffix.lower() not in tuple(s.lower() for s in suffixes):
        raise UserError(f"expected a {'/'.join(suffixes)} file")


def check_format(suffix: str | None, allowed: Sequence[str]) -> None:
    """Stop the command with a usage message unless suffix (an output --format) is allowed."""
    if suffix and suffix not in allowed:
        raise SystemExit(f"faceforge: --format must be one of {', '.join(allowed)}")


@dataclass
class BatchResult:
    """What happened to each item of one command (`skipped`: done by an earlier run of
    the same plan, see ops.scale)."""
    ok: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    not_run: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    interrupted: bool = False

    @property
    def exit_code(self) -> int:
        if self.interrupted:
            return INTERRUPTED
        return 1 if self.failed or self.not_run or not (self.ok or self.skipped) else 0

    def summary(self) -> str:
        head = f"{len(self.ok)} succeeded, {len(self.failed)} failed"
        if self.skipped:
            head += f", {len(self.skipped)} already done"
        if self.not_run:
            head += f", {len(self.not_run)} not run"
        if self.interrupted:
            head = "interrupted (Ctrl-C): " + head
        lines = [head]
        lines += [f"FAILED {name}: {why}" for name, why in self.failed]
        lines += [f"NOT RUN {name}" for name in self.not_run]
        return "\n".join(lines)


class Progress:
    """A one-line text progress bar on stderr (a line per step when not a terminal)."""

    def __init__(self, total: int, label: str, stream=None):
        self.total, self.label, self.stream = max(total, 1), label, stream or sys.stderr
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()

    def update(self, done: int, note: str = "") -> None:
        width = 24
        filled = int(width * done / self.total)
        bar = "#" * filled + "." * (width - filled)
        line = f"{self.label} [{bar}] {done}/{self.total} {note}"
        if self.tty:
            self.stream.write("\r" + line[:120].ljust(120))
            if done >= self.total:
                self.stream.write("\n")
        else:
            self.stream.write(line + "\n")
        self.stream.flush()


def share_printer(name: str, verb: str, steps: int = 10) -> Callable[[float], None]:
    """progress(share in 0..1) that prints `  name: verb 40%` at most `steps` times, so a
    long item shows life between the batch's own progress lines."""
    shown = [-1]

    def progress(share: float) -> None:
        step = int(min(max(share, 0.0), 1.0) * steps)
        if step > shown[0]:
            shown[0] = step
            print(f"  {name}: {verb} {step / steps:.0%}", file=sys.stderr, flush=True)
    return progress


class CtrlC:
    """Ctrl-C during a batch: raise KeyboardInterrupt as usual, and also remember it, since
    Blender swallows an exception raised inside its own handlers (a file load runs some),
    so the batch still stops after the current item."""

    def __init__(self):
        self.hit, self.armed, self._old = False, False, None

    def _handler(self, signum, frame):
        self.hit = True
        if self.armed:  # inside an item: stop it now; between items the loop stops
            raise KeyboardInterrupt

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self._old = signal.signal(signal.SIGINT, self._handler)
        return self

    def __exit__(self, *exc):
        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)


def item_name(item) -> str:
    return str(getattr(item, "label", item))


def run_batch(items: Sequence, job: Callable[[object], str], label: str,
              verbose: bool = False, blocked: dict[str, str] | None = None) -> BatchResult:
    """Call job(item) for each item; a failure is recorded and the batch goes on, Ctrl-C
    stops it (the summary lists what did not run; exit code 130).

    job returns a short note (e.g. the output path). Items named in `blocked` fail
    without running (their reason given). Messages never show exception class names;
    -v (verbose) adds the traceback."""
    result = BatchResult()
    blocked = blocked or {}
    progress = Progress(len(items), label)
    progress.update(0)
    with CtrlC() as ctrl_c:
        for n, item in enumerate(items, 1):
            name = item_name(item)
            if name in blocked:
                result.failed.append((name, blocked[name]))
                progress.update(n, f"FAILED {name}: {blocked[name]}")
            else:
                start = time.perf_counter()
                try:
                    ctrl_c.armed = True
                    try:
                        note = job(item)
                    finally:
                        ctrl_c.armed = False
                    seconds = time.perf_counter() - start
                    result.ok.append(name)
                    progress.update(n, f"{name} -> {note} ({seconds:.1f} s)")
                except KeyboardInterrupt:
                    ctrl_c.hit = True
                    n -= 1  # this item did not finish
                except Exception as exc:  # keep the batch going; the summary names it
                    if ctrl_c.hit:  # Ctrl-C broke it inside Blender: not run, not failed
                        n -= 1
                    else:
                        why = errors.item_message(exc, name)
                        result.failed.append((name, why))
                        progress.update(n, f"FAILED {name}: {why}")
                        if verbose:
                            traceback.print_exc()
            if ctrl_c.hit:
                result.interrupted = True
                result.not_run += [item_name(i) for i in items[n:]]
                print(file=sys.stderr)
                break
    print(result.summary(), file=sys.stderr)
    return result
