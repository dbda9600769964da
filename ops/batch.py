"""Run one job per input for the command line: expand folders, show progress, keep
going past failures, print a summary, and write every output atomically."""
from __future__ import annotations

import os
import sys
import time
import traceback
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence


class UserError(Exception):
    """A problem with the user's input, reported as one clear line (no traceback)."""


def expand_inputs(paths: Iterable[str | Path], suffixes: Sequence[str]) -> list[Path]:
    """Files given directly, plus the files with a matching suffix inside given folders (sorted).

    A missing path or a folder with no matching files is kept as-is so the job for it
    fails with a clear message instead of silently vanishing.
    """
    out: list[Path] = []
    wanted = tuple(s.lower() for s in suffixes)
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in wanted)
            out.extend(found if found else [p])
        else:
            out.append(p)
    return out


def check_input(path: Path, suffixes: Sequence[str]) -> None:
    """Raise UserError unless path is an existing file with one of the suffixes."""
    if not path.exists():
        raise UserError(f"{path}: no such file or folder")
    if path.is_dir():
        raise UserError(f"{path}: folder holds no {'/'.join(suffixes)} files")
    if path.suffix.lower() not in tuple(s.lower() for s in suffixes):
        raise UserError(f"{path}: expected a {'/'.join(suffixes)} file")


def check_format(suffix: str | None, allowed: Sequence[str]) -> None:
    """Stop the command with a usage message unless suffix (an output --format) is allowed."""
    if suffix and suffix not in allowed:
        raise SystemExit(f"faceforge: --format must be one of {', '.join(allowed)}")


@contextmanager
def atomic_output(target: Path, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside target; rename it onto target only if the block succeeds.

    The temporary file keeps target's suffix, since exporters pick formats by it.
    """
    target = Path(target)
    if target.exists() and not overwrite:
        raise UserError(f"{target}: already exists (pass --overwrite to replace it)")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.stem}.faceforge-tmp-{os.getpid()}{target.suffix}")
    try:
        yield tmp
        if not tmp.exists():
            raise RuntimeError(f"{target}: nothing was written")
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


@dataclass
class BatchResult:
    """What happened to each input of one command."""
    ok: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return 1 if self.failed or not self.ok else 0

    def summary(self) -> str:
        lines = [f"{len(self.ok)} succeeded, {len(self.failed)} failed"]
        lines += [f"  FAILED {name}: {why}" for name, why in self.failed]
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


def run_batch(items: Sequence, job: Callable[[object], str], label: str,
              verbose: bool = False) -> BatchResult:
    """Call job(item) for each item; a failure is recorded and the batch goes on.

    job returns a short note (e.g. the output path). UserError shows its message;
    any other exception shows its type and message, plus a traceback when verbose.
    """
    result = BatchResult()
    progress = Progress(len(items), label)
    progress.update(0)
    for n, item in enumerate(items, 1):
        start = time.perf_counter()
        try:
            note = job(item)
            result.ok.append(str(item))
            progress.update(n, f"{item} -> {note} ({time.perf_counter() - start:.1f} s)")
        except UserError as exc:
            result.failed.append((str(item), str(exc)))
            progress.update(n, f"{item}: FAILED")
        except Exception as exc:  # keep the batch going; the summary names the failure
            result.failed.append((str(item), f"{type(exc).__name__}: {exc}"))
            progress.update(n, f"{item}: FAILED")
            if verbose:
                traceback.print_exc()
    print(result.summary(), file=sys.stderr)
    return result
