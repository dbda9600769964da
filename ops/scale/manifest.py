"""The run manifest beside the outputs (`<output>/.faceforge/`): what happened to each
item (state, output hash, duration, error, attempt), the locks that keep two runs from
writing the same output at once, and the resume decision for each planned item.

Every process appends to its own journal (`journal/<host>-<pid>.jsonl`), so nodes of a
cluster never append to one file together; readers merge the journals, later records
winning. `manifest.json` is a merged snapshot written at the end of each run."""
from __future__ import annotations

import hashlib
import itertools
import json
import os
import socket
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ..errors import UserError
from ..outputs import exists_message

try:
    import fcntl
except ImportError:  # Windows: no POSIX record locks; outputs still commit exclusively
    fcntl = None

MANIFEST_DIR = ".faceforge"
TMP_MARK = ".faceforge-tmp-"  # ops.batch.atomic_output's temporary names: .<stem>.faceforge-tmp-<pid><suffix>
HOST = socket.gethostname()


class ManifestError(UserError):
    """The manifest folder cannot be written (read-only, disk full): the run stops."""


def file_hash(path: Path) -> str:
    """sha256 of a file's bytes (hex)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class Journal:
    """This process's append-only record file in the manifest folder."""
    _seq = itertools.count()

    def __init__(self, output_dir: Path):
        self.dir = Path(output_dir) / MANIFEST_DIR / "journal"
        self.path = self.dir / f"{HOST}-{os.getpid()}.jsonl"

    def write(self, **record) -> dict:
        record.update(time=time.time(), seq=next(self._seq), host=HOST, pid=os.getpid())
        line = json.dumps(record, sort_keys=True) + "\n"
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, line.encode())
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            raise ManifestError(f"cannot record progress in {self.dir}: {exc.strerror or exc}; "
                                f"stopping (outputs already committed are kept)") from exc
        return record


def read_records(output_dir: Path) -> list[dict]:
    """Every journal record under output_dir, oldest first (a torn last line is ignored)."""
    records = []
    for path in sorted((Path(output_dir) / MANIFEST_DIR / "journal").glob("*.jsonl")):
        try:
            text = path.read_text(encoding="utf-8")
        except OSError:
            continue
        for line in text.splitlines():
            try:
                records.append(json.loads(line))
            except ValueError:
                pass
    records.sort(key=lambda r: (r.get("time", 0), r.get("host", ""), r.get("pid", 0), r.get("seq", 0)))
    return records


def latest(output_dir: Path) -> dict[str, "History"]:
    """Output file name -> its latest record and its latest 'done' record."""
    out: dict[str, History] = {}
    for r in read_records(output_dir):
        if "output" in r:
            h = out.setdefault(r["output"], History())
            state = r.get("state")
            if state == "crashed" or (state == "running" and h.last is not None
                                      and h.last.get("state") == "running"):
                h.crashes += 1  # that attempt's process died inside the item
            elif state in ("done", "failed"):
                h.crashes = 0
            h.last = r
            if r.get("state") in ("done", "running"):
                setattr(h, r["state"], r)
    return out


@dataclass
class History:
    """An output's latest record, its latest successful one, and how many attempts in a
    row since the last outcome ended with their process dying (not counting a last
    'running' record: its process may be the one that died, or still be running it)."""
    last: dict | None = None
    done: dict | None = None
    running: dict | None = None
    crashes: int = 0


@dataclass
class Decision:
    """What a run does with one item: 'skip' (done), 'run' (overwrite or not), 'refuse'."""
    action: str
    overwrite: bool = False
    why: str = ""


def decide(item, history: "History | None", overwrite: bool,
           journal: Journal | None = None) -> Decision:
    """Resume rule: skip an item whose committed output matches the plan; redo failed or
    missing ones; redo an output of ours made under other options; never replace a file
    this plan did not make unless --overwrite."""
    out = Path(item.output)
    if overwrite:
        return Decision("run", True)
    if not out.exists():
        return Decision("run")
    st = out.stat()
    history = history or History()
    record, done = history.last, history.done
    if record is not None and record.get("state") == "done" \
            and record.get("fingerprint") == item.fingerprint:
        same = (record.get("size"), record.get("mtime_ns")) == (st.st_size, st.st_mtime_ns) \
            or record.get("hash") == file_hash(out)
        if same:
            return Decision("skip", why="done")
    run = history.running
    if record is not None and record.get("state") in ("running", "crashed") and run \
            and run.get("fingerprint") == item.fingerprint and st.st_mtime >= run["time"] - 1:
        # the attempt committed its output, then its process died before recording it
        if journal is not None:
            journal.write(**_done_fields(item, out), state="done", duration=None, error=None,
                          attempt=run.get("attempt", 1), adopted=True)
        return Decision("skip", why="adopted")
    if done is not None and done.get("hash") == file_hash(out):
        return Decision("run", True, "redo")  # ours: made under other options, or a retry
    return Decision("refuse", why=exists_message(out) + "; it was not made by this command")


def _done_fields(item, out: Path) -> dict:
    st = out.stat()
    return dict(index=item.index, source=item.source, output=item.name,
                fingerprint=item.fingerprint, hash=file_hash(out), size=st.st_size,
                mtime_ns=st.st_mtime_ns)


def stale_temporaries(output: Path) -> list[Path]:
    """Temporary files a dead writer of `output` left beside it."""
    output = Path(output)
    if not output.parent.is_dir():
        return []
    prefix = f".{output.stem}{TMP_MARK}"
    return [p for p in output.parent.iterdir() if p.name.startswith(prefix)]


# --- locks -----------------------------------------------------------------------------
# One lock file per output folder; POSIX record locks on its bytes: byte 0 is the run
# (exclusive for a whole plan, shared for a --shard), byte 1 + hash(output name) is one
# item. The kernel drops them when a process dies, so no lock is ever stale. POSIX locks
# belong to the process and closing any descriptor of the file drops them all: each
# process opens the lock file once and keeps it.
_lock_fds: dict[str, int] = {}


def _lock_fd(output_dir: Path) -> int:
    d = Path(output_dir) / MANIFEST_DIR
    key = str(d.resolve())
    if key not in _lock_fds:
        d.mkdir(parents=True, exist_ok=True)
        _lock_fds[key] = os.open(d / "lock", os.O_RDWR | os.O_CREAT, 0o644)
    return _lock_fds[key]


def _item_offset(name: str) -> int:
    return 1 + int(hashlib.sha1(name.encode()).hexdigest()[:12], 16)


class Busy(UserError):
    """Another process holds the lock."""


def _lockf(fd: int, mode: str, offset: int) -> None:
    """Lock (non-blocking; OSError if held), share or unlock the byte at `offset` of the
    lock file. Without fcntl (Windows) nothing is locked: concurrent runs into one folder
    are then not detected, though no output is ever replaced (ops.outputs.commit)."""
    if fcntl is None:
        return
    flag = {"shared": fcntl.LOCK_SH | fcntl.LOCK_NB, "exclusive": fcntl.LOCK_EX | fcntl.LOCK_NB,
            "unlock": fcntl.LOCK_UN}[mode]
    fcntl.lockf(fd, flag, 1, offset)


@contextmanager
def run_lock(output_dir: Path, shard: str | None):
    """Hold the output folder for this run; a second whole run into it is refused."""
    try:
        fd = _lock_fd(output_dir)
    except OSError as exc:
        raise UserError(f"{output_dir}: cannot write there ({exc.strerror or exc})") from exc
    owner = Path(output_dir) / MANIFEST_DIR / "owner.json"
    try:
        _lockf(fd, "shared" if shard else "exclusive", 0)
    except OSError:
        who = ""
        try:
            info = json.loads(owner.read_text())
            who = f" (pid {info['pid']} on {info['host']}: {' '.join(info['argv'][:3])} ...)"
        except (OSError, ValueError, KeyError):
            pass
        raise Busy(f"another faceforge run is writing into {output_dir}{who}; wait for it to "
                   f"finish or choose another -o folder") from None
    if not shard:
        try:
            owner.write_text(json.dumps({"pid": os.getpid(), "host": HOST,
                                         "argv": _current_argv()}))
        except OSError:
            pass
    try:
        yield
    finally:
        _lockf(fd, "unlock", 0)


def _current_argv() -> list[str]:
    import sys
    return list(sys.argv)


@contextmanager
def item_lock(output_dir: Path, name: str, wait: float = 0.0):
    """Hold one output for writing; Busy if another process still writes it after `wait` s."""
    fd = _lock_fd(output_dir)
    off = _item_offset(name)
    deadline = time.monotonic() + wait
    while True:
        try:
            _lockf(fd, "exclusive", off)
            break
        except OSError:
            if time.monotonic() >= deadline:
                raise Busy(f"{name}: being written by another faceforge run right "
                           f"now") from None
            time.sleep(0.2)
    try:
        yield
    finally:
        _lockf(fd, "unlock", off)


def write_snapshot(output_dir: Path, plan) -> Path:
    """manifest.json: the plan's items with their merged latest state (atomic replace)."""
    recs = {name: h.last for name, h in latest(output_dir).items()}
    attempts: dict[str, int] = {}
    for r in read_records(output_dir):
        if r.get("state") == "running":
            attempts[r["output"]] = attempts.get(r["output"], 0) + 1
    items = []
    for it in plan.items:
        r = recs.get(it.name, {})
        items.append({"index": it.index, "source": it.source, "output": it.output,
                      "state": r.get("state", "pending"), "hash": r.get("hash"),
                      "duration": r.get("duration"), "error": r.get("error"),
                      "attempts": attempts.get(it.name, 0)})
    path = Path(output_dir) / MANIFEST_DIR / "manifest.json"
    tmp = path.with_name(f".manifest.json.{os.getpid()}")
    tmp.write_text(json.dumps({"command": plan.command, "argv": plan.argv, "items": items},
                              indent=1))
    os.replace(tmp, path)
    return path
