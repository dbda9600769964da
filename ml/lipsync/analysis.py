"""A speech file -> its lip-sync analysis (bpy-free): everything a bake computes before it
writes a key; `analysis_steps`, the same on a thread as steps (Blender's operator keeps the
window responsive and can stop it); and `LinesAhead`, which analyses every other voice line
of a folder in the chunk worker process while this one analyses and bakes the rest (2
cores, one command)."""
from __future__ import annotations

import os
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Generator

import numpy as np

from ..steps import in_thread
from .audio import AudioWarning, load_audio
from .engine import LipSyncResult, lipsync
from .phonemes import WORKERS_ENV, _ChunkWorker


@dataclass
class SpeechAnalysis:
    """One file's analysis: the engine's result, the audio's length (s), notes on the audio
    for the user (a truncated file), the fps and the `engine.lipsync` options it was made
    with (None where an emotion track was laid in)."""
    result: LipSyncResult
    duration: float
    notes: list[str]
    fps: float
    options: dict | None = None


# One analysis at a time per process: the recognisers' decoders are not thread-safe, and a
# cancelled analysis on its thread runs until its next progress report.
_ONE_AT_A_TIME = threading.Lock()


def analyse_speech(path: Path, fps: float, *,
                   emotion: Callable[[float], np.ndarray] | None = None,
                   progress=None, **options) -> SpeechAnalysis:
    """Load the audio (AudioError / ValueError on bad input) and run `engine.lipsync` on it
    with `options` (transcript, engine, secondary, transcribe, language). `emotion(duration
    s)` gives the upper-face track to lay under the secondary motion."""
    notes: list[str] = []
    with warnings.catch_warnings():   # they come back in notes, worded for the user
        warnings.simplefilter("ignore", AudioWarning)
        samples, rate = load_audio(Path(path), notes=notes)
    duration = len(samples) / rate
    with _ONE_AT_A_TIME:
        result = lipsync(samples, rate, fps, emotion=emotion(duration) if emotion else None,
                         progress=progress, **options)
    return SpeechAnalysis(result, duration, notes, fps, None if emotion else options)


def analysis_steps(path: Path, fps: float, **options) -> Generator[float, None, SpeechAnalysis]:
    """`analyse_speech` on a thread, as steps (the share of the analysis done); closing the
    generator stops the analysis at its next progress report (steps.in_thread)."""
    return (yield from in_thread(
        lambda progress, cancel: analyse_speech(path, fps, progress=progress, **options),
        "faceforge-lipsync"))


def _analyse_in_worker(path: Path, fps: float, options: dict) -> SpeechAnalysis:
    """`analyse_speech` in the chunk worker, which must not start a worker of its own."""
    os.environ[WORKERS_ENV] = "0"
    return analyse_speech(path, fps, **options)


class LinesAhead:
    """Analyses of a folder's voice lines shared with the chunk worker: whenever this
    process analyses a line itself (`take` gave None), the next line goes to the worker,
    so the two cores analyse lines side by side while this one also writes the keys and
    saves the scenes. Same code, same models: the results are the ones this process would
    compute. Without a worker (inside Blender, one core, WORKERS_ENV "0") nothing is sent.
    `options(path)`: `analyse_speech`'s options for that line. The caller checks that an
    analysis it is given fits its bake (fps, options: `SpeechAnalysis`)."""

    def __init__(self, paths: list[Path], options: Callable[[Path], dict]):
        order = [Path(p) for p in paths]
        self.following = dict(zip(order, order[1:]))    # each line -> the next one
        self.options = options
        self.futures: dict[Path, object] = {}

    def take(self, path: Path, fps: float) -> SpeechAnalysis | None:
        """The worker's analysis of `path` (waiting for it), or None: analyse it here (the
        worker was not given it, or failed on it: its error is raised here); then the next
        line goes to the worker, at `fps`."""
        path = Path(path)
        future = self.futures.pop(path, None)
        if future is not None:
            try:
                return future.result()
            except Exception:        # bad audio, a dead worker: this process finds out
                return None
        nxt = self.following.get(path)
        if nxt is None:
            return None
        try:
            options = self.options(nxt)
        except Exception:            # (a missing transcript): reported when its turn comes
            return None
        pool = _ChunkWorker.get()
        if pool is not None:
            try:
                self.futures[nxt] = pool.submit(_analyse_in_worker, nxt, fps, options)
            except Exception:        # it died: analyse everything here from now on
                _ChunkWorker.fail()
        return None
