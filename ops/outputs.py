"""Writing outputs safely: each file is written beside its final name under a hidden
temporary name, then committed without replacing anything that is already there (unless
--overwrite), so neither a failure, a Ctrl-C nor a second run writing into the same folder
can leave a half-written file or silently replace a result. Temporary files left by killed
processes on this machine are recognised by their owner's id and removed."""
from __future__ import annotations

import errno
import os
import re
import socket
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from .errors import UserError, clean_text

TMP_TAG = ".faceforge-tmp-"
# .NAME.faceforge-tmp-HOST-PID.EXT (Blender may add '@' while saving); older: no HOST.
_TMP_RE = re.compile(r"^\..*\.faceforge-tmp-(?:(?P<host>[A-Za-z0-9_]+)-)?(?P<pid>\d+)(?:\.[^.]*)?@?$")
_NO_LINKS = {errno.EPERM, errno.EXDEV, errno.EMLINK, errno.ENOSYS,
             getattr(errno, "ENOTSUP", -1), getattr(errno, "EOPNOTSUPP", -1)}


class OutputError(UserError):
    """An output cannot be written (exists, folder not writable); the message says why."""

    def __init__(self, text: str, subject=None):
        super().__init__(text, subject)


def safe_name(name: str) -> str:
    """A Blender datablock name as part of a file name: anything but letters, digits,
    '-', '_' and '.' becomes '_'."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", socket.gethostname().split(".")[0]) or "host"


def temp_path(target: Path) -> Path:
    """The hidden temporary name a write to target goes through (keeps target's suffix,
    since exporters pick formats by it)."""
    return target.with_name(f".{target.stem}{TMP_TAG}{_host()}-{os.getpid()}{target.suffix}")


def _pid_alive(pid: int) -> bool:
    if os.name == "nt":  # os.kill would terminate it there: never judge, never clean
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_stale_temps(folder: Path) -> list[Path]:
    """Remove temporary files in folder left by FaceForge processes of this machine that
    no longer run (a kill -9, a crash); returns what was removed."""
    removed = []
    try:
        entries = list(Path(folder).iterdir())
    except OSError:
        return removed
    for f in entries:
        m = _TMP_RE.match(f.name) if TMP_TAG in f.name else None
        if m is None or m["host"] not in (None, _host()):
            continue
        pid = int(m["pid"])
        if pid != os.getpid() and not _pid_alive(pid):
            try:
                f.unlink()
                removed.append(f)
            except OSError:
                pass
    return removed


def check_folder(folder: Path, create: bool = True) -> None:
    """OutputError (naming the folder) unless files can be created in folder (created
    first when `create`; otherwise its nearest existing parent must be a writable folder)."""
    folder = Path(folder)

    def fail(why: str):
        return OutputError(f"cannot use it as the output folder: {why}; choose another -o",
                           subject=folder)
    if not create:
        probe = folder
        while not probe.exists() and probe != probe.parent:
            probe = probe.parent
        if not probe.is_dir():
            raise fail(f"{probe} is a file")
        if not os.access(probe, os.W_OK | os.X_OK):
            raise fail(f"{probe} is not writable")
        return
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise fail("a file is in the way") from None
    except OSError as exc:
        raise fail(exc.strerror or str(exc)) from None
    probe = folder / f".faceforge-probe{TMP_TAG}{_host()}-{os.getpid()}"
    try:
        fd = os.open(probe, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except OSError as exc:
        raise fail(f"cannot write into it ({exc.strerror or exc})") from None
    os.close(fd)
    probe.unlink()


def exists_message(target: Path) -> str:
    return f"{target} already exists (pass --overwrite to replace it)"


def commit(tmp: Path, target: Path, overwrite: bool) -> None:
    """Give the written tmp its final name. Without overwrite the name is created
    exclusively (a hard link, else an O_EXCL placeholder), so an existing file, even one a
    concurrent run wrote a moment ago, is never replaced."""
    if overwrite:
        os.replace(tmp, target)
        return
    try:
        os.link(tmp, target)
    except FileExistsError:
        raise OutputError(exists_message(target)) from None
    except OSError as exc:
        if exc.errno not in _NO_LINKS:
            raise
        try:  # no hard links on this file system: claim the name, then move onto it
            os.close(os.open(target, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            raise OutputError(exists_message(target)) from None
        os.replace(tmp, target)
    else:
        os.unlink(tmp)


@contextmanager
def atomic_output(target: Path, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside target; commit it to target only if the block
    succeeds (see commit). Errors mention target, never the temporary name."""
    target = Path(target)
    if target.exists() and not overwrite:
        raise OutputError(exists_message(target))
    check_folder(target.parent)
    tmp = temp_path(target)
    try:
        try:
            yield tmp
        except (OSError, RuntimeError) as exc:  # an exporter's message quotes tmp
            raise OutputError(f"could not write {target}: "
                              f"{clean_message(exc, tmp, target)}") from exc
        if not tmp.exists():
            raise OutputError(f"could not write {target}: nothing was written")
        commit(tmp, target, overwrite)
    finally:
        for leftover in (tmp, tmp.with_name(tmp.name + "@")):
            if leftover.exists():
                leftover.unlink()


def clean_message(exc: BaseException, tmp: Path | None = None, target: Path | None = None) -> str:
    """exc's message for a person, the temporary name replaced by the final one."""
    if isinstance(exc, OSError) and exc.strerror:
        text = exc.strerror + (f": {exc.filename}" if exc.filename else "")
    else:
        text = clean_text(exc)
    if tmp is not None and target is not None:
        text = text.replace(str(tmp), str(target)).replace(tmp.name, target.name)
    return text
