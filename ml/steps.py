"""Long work as step generators (bpy-free): a generator yields how far it has got and
returns its result, so the same work runs straight through on the command line
(`run_steps`) and a slice at a time from a Blender operator's timer, which keeps the
window responsive and lets Esc stop it (`ops.background.ModalSteps`). Work that does not
touch bpy runs on a thread (`in_thread`) while its generator reports its progress."""
from __future__ import annotations

import threading
from collections import deque
from typing import Callable, Generator

POLL_S = 0.05   # how long `in_thread` waits for its thread before reporting again


class Cancelled(Exception):
    """The user stopped a long operation; nothing was written."""


def run_steps(steps: Generator, progress=None, cancel=None):
    """Drive a step generator to its return value, calling `progress(step)` after each step;
    raises Cancelled as soon as `cancel()` is true (the generator is closed first, so its
    own clean-up runs)."""
    while True:
        if cancel is not None and cancel():
            steps.close()
            raise Cancelled("cancelled")
        try:
            step = next(steps)
        except StopIteration as done:
            return done.value
        if progress is not None:
            progress(step)


def in_thread(work: Callable, name: str = "faceforge-work") -> Generator[float, None, object]:
    """Run `work(progress, cancel)` on a daemon thread: the generator yields every share
    (0..1) the work passed to `progress`, in order (and the last one again every POLL_S
    while there is none new, so a caller's window gets its turn), and returns the work's
    result or raises its exception. Closing the generator (the user cancelled) makes
    `cancel()` true, and `progress` raise Cancelled, and returns at once: the work stops at
    its next check or progress report, and its result is dropped."""
    reports: deque[float] = deque()
    stop = threading.Event()
    out: dict = {}

    def progress(share) -> None:
        if stop.is_set():
            raise Cancelled("cancelled")
        reports.append(float(share))

    def body():
        try:
            out["value"] = work(progress, stop.is_set)
        except BaseException as exc:        # handed to the caller's thread below
            out["error"] = exc

    thread = threading.Thread(target=body, name=name, daemon=True)
    thread.start()
    last = 0.0
    try:
        while thread.is_alive() or reports:
            thread.join(POLL_S)             # the GIL is free while waiting
            if not reports:
                yield last
            while reports:
                last = reports.popleft()
                yield last
    finally:
        if thread.is_alive():               # closed early: tell the work to stop
            stop.set()
    if "error" in out:
        raise out["error"]
    return out["value"]


def mapped(steps: Generator, each: Callable) -> Generator:
    """The steps of `steps` passed through `each(step)`, returning its result; closing this
    closes `steps`."""
    try:
        while True:
            try:
                step = next(steps)
            except StopIteration as done:
                return done.value
            yield each(step)
    finally:
        steps.close()


def labelled(stage: str, steps: Generator) -> Generator[tuple[str, float], None, object]:
    """The steps of `steps` as (stage, share) pairs, returning its result."""
    return mapped(steps, lambda share: (stage, share))
