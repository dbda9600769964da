"""The frame rule every track follows (lip-sync, emotion): frame k at t = k / fps, from 0
to the end inclusive, so a track of `duration` seconds has round(duration * fps) + 1
frames."""
from __future__ import annotations

import numpy as np


def frame_count(duration: float, fps: float) -> int:
    """Frames of a track `duration` seconds long at `fps` (both ends included)."""
    return int(round(duration * fps)) + 1


def frame_times(duration: float, fps: float) -> np.ndarray:
    """[frame_count] times k / fps in seconds."""
    return np.arange(frame_count(duration, fps)) / fps
