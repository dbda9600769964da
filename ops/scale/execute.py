"""Run one planned item in this process, whichever runner called: hold the item's lock,
clear temporaries a dead writer left, run the command's job, record the outcome."""
from __future__ import annotations

import os
import time
import traceback
from pathlib import Path

from .. import errors
from . import manifest
from .manifest import Busy, Journal

#: Test and drill aid: `crash:NAME` aborts the process (as a Blender crash does) when it
#: reaches the input named NAME; `sleep:NAME:SECONDS` makes that item slow (NAME * : every
#: item). Comma-separated.
FAULT_ENV = "FACEFORGE_FAULT"
#: seconds to wait for an item another process is writing (a worker of a run killed a
#: moment ago may still be ending) before reporting it busy
LOCK_WAIT = 10.0


def _inject_fault(source: str) -> None:
    spec = os.environ.get(FAULT_ENV, "")
    for part in filter(None, spec.split(",")):
        kind, _, rest = part.partition(":")
        name, _, arg = rest.partition(":")
        if name not in ("*", Path(source).name):
            continue
        if kind == "crash":
            os.abort()
        if kind == "sleep":
            time.sleep(float(arg))


def run_item(plan, item, overwrite: bool, attempt: int = 1, journal: Journal | None = None,
             verbose: bool = False) -> dict:
    """Run `item` of `plan` here; returns the journal record of its outcome
    (state 'done' with hash, or 'failed' with error; duration in seconds)."""
    journal = journal or Journal(plan.output_dir)
    out = Path(item.output)
    base = dict(index=item.index, source=item.source, output=item.name,
                fingerprint=item.fingerprint, attempt=attempt)
    try:
        lock = manifest.item_lock(plan.output_dir, item.name, wait=LOCK_WAIT)
        lock.__enter__()
    except Busy as exc:
        return dict(base, state="failed", error=str(exc), duration=0.0, busy=True)
    try:
        for tmp in manifest.stale_temporaries(out):  # we hold the lock: no live writer
            tmp.unlink(missing_ok=True)
        journal.write(**base, state="running")
        start = time.perf_counter()
        error = None
        try:
            _inject_fault(item.source)
            note = plan.run_item(item, overwrite)
            if Path(str(note)).resolve() != out.resolve() or not out.exists():
                error = f"the command wrote {note!r}, not the planned {out}"
        except Exception as exc:  # the item's failure, worded for a person; the batch goes on
            error = errors.message(exc)
            if verbose:
                traceback.print_exc()
        duration = round(time.perf_counter() - start, 4)
        for tmp in manifest.stale_temporaries(out):
            tmp.unlink(missing_ok=True)
        if error is None:
            st = out.stat()
            return journal.write(**base, state="done", hash=manifest.file_hash(out),
                                 size=st.st_size, mtime_ns=st.st_mtime_ns, duration=duration,
                                 error=None)
        return journal.write(**base, state="failed", error=error, duration=duration)
    finally:
        lock.__exit__(None, None, None)


def recheck(plan, item, overwrite: bool, journal: Journal) -> tuple[dict | None, bool]:
    """Before retrying an item whose worker died: (its record, _) if that attempt had
    committed its output after all (adopted, not redone), else (None, overwrite to use)."""
    d = manifest.decide(item, manifest.latest(plan.output_dir).get(item.name), overwrite,
                        journal)
    if d.action == "skip":
        return manifest.latest(plan.output_dir)[item.name].last, overwrite
    return None, d.overwrite or overwrite
