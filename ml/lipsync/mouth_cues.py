"""Mouth-shape timings for 2D animation, in Rhubarb Lip Sync's shapes and file formats, so
that a rig drawn for Rhubarb (mouths A-F, extended G H X) plays them unchanged.

Each frame of lip-sync output takes the Rhubarb shape whose pose (targets.poses, from the
one viseme table) is nearest on the mouth controls; runs of equal frames are cues. Files:
TSV (`start<TAB>shape` lines, then the end with X), JSON (`metadata` + `mouthCues`) and
Moho/OpenToonz switch data (`MohoSwitch1`, then `frame shape` lines), as Rhubarb writes them.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import NamedTuple

import numpy as np

from .controls import from_arkit
from .targets import RHUBARB, poses

BASIC = "ABCDEF"
EXTENDED = "GHX"                        # Rhubarb's default --extendedShapes
BASIC_OF = {"G": "B", "H": "C", "X": "A"}   # what Rhubarb draws without an extended shape
PRESTON_BLAIR = {"A": "MBP", "B": "etc", "C": "E", "D": "AI", "E": "O", "F": "U", "G": "FV",
                 "H": "L", "X": "rest"}
DAT_FPS_RANGE = (24.0, 100.0)          # Rhubarb refuses other Moho frame rates
FORMATS = ("tsv", "json", "dat")


class Cue(NamedTuple):
    """One mouth shape held from `start` to `end` (seconds)."""
    start: float
    end: float
    shape: str


def check_options(paths=(), dat_frame_rate: float = 24.0, preston_blair: bool = False,
                  extended: str = EXTENDED) -> None:
    """ValueError, worded for the user, for anything `write_cues` would refuse (checked
    before the analysis, so a bad option leaves nothing half done)."""
    if set(extended) - set(EXTENDED):
        raise ValueError(f"extended shapes must be among {EXTENDED}, got {extended!r}")
    if not DAT_FPS_RANGE[0] <= dat_frame_rate <= DAT_FPS_RANGE[1]:
        raise ValueError(f"the Moho frame rate must be within {DAT_FPS_RANGE[0]:g}-"
                         f"{DAT_FPS_RANGE[1]:g} fps, got {dat_frame_rate:g}")
    for path in paths:
        if Path(path).suffix.lower().lstrip(".") not in FORMATS:
            raise ValueError(f"{Path(path).name}: mouth cues are written as "
                             f"{', '.join(FORMATS)}")


def shape_track(weights: np.ndarray, extended: str = EXTENDED) -> list[str]:
    """[T] the Rhubarb shape of each frame of [T, 52] lip-sync weights: the nearest pose
    among the shapes the viseme table gives one, then extended shapes the rig lacks
    replaced by their basic shape."""
    check_options(extended=extended)
    pose = poses("rhubarb")
    live = np.flatnonzero(np.abs(pose).sum(1) > 0)
    x = from_arkit(weights).astype(np.float64)
    dist = ((x[:, None, :] - pose[None, live]) ** 2).sum(-1)                 # [T, S]
    names = [RHUBARB[i] for i in live]
    shapes = [names[i] for i in dist.argmin(1)]
    return [s if s in BASIC or s in extended else BASIC_OF[s] for s in shapes]


def mouth_cues(weights: np.ndarray, fps: float, extended: str = EXTENDED) -> list[Cue]:
    """Cues of [T, 52] weights sampled at t = k / fps: a run of equal frames from its first
    frame's time to the next run's (the last ends at the last frame's time)."""
    shapes = shape_track(weights, extended)
    if not shapes:
        return []
    starts = [0] + [k for k in range(1, len(shapes)) if shapes[k] != shapes[k - 1]]
    ends = starts[1:] + [len(shapes) - 1]
    return [Cue(a / fps, b / fps, shapes[a]) for a, b in zip(starts, ends) if b > a or a == 0]


def _centi(t: float) -> str:
    return f"{round(t * 100) / 100:.2f}"


def _rest(extended: str) -> str:
    return "X" if "X" in extended else "A"


def to_tsv(cues: list[Cue], duration: float, extended: str = EXTENDED) -> str:
    """Rhubarb's TSV: each cue's start and shape, then the end time with the rest shape."""
    lines = [f"{_centi(c.start)}\t{c.shape}" for c in cues]
    return "\n".join(lines + [f"{_centi(duration)}\t{_rest(extended)}"]) + "\n"


def to_json(cues: list[Cue], duration: float, sound_file: str | Path,
            extended: str = EXTENDED) -> str:
    """Rhubarb's JSON (its layout and two-decimal times): metadata (absolute sound file
    path, duration) and the cues; no cues gives one empty rest cue, as Rhubarb does."""
    cues = cues or [Cue(0.0, 0.0, _rest(extended))]
    body = ",\n".join(f'    {{ "start": {_centi(c.start)}, "end": {_centi(c.end)}, '
                      f'"value": "{c.shape}" }}' for c in cues)
    return ("{\n  \"metadata\": {\n"
            f"    \"soundFile\": {json.dumps(str(Path(sound_file).absolute()))},\n"
            f"    \"duration\": {_centi(duration)}\n  }},\n"
            f"  \"mouthCues\": [\n{body}\n  ]\n}}\n")


def to_dat(cues: list[Cue], duration: float, frame_rate: float = 24.0,
           preston_blair: bool = False, extended: str = EXTENDED) -> str:
    """Moho switch data as Rhubarb writes it: 1-based frame numbers at `frame_rate`
    (24-100), a cue landing on the previous one's frame is dropped, and the end closes
    with the rest shape; `preston_blair` names the shapes MBP etc E AI O U FV L rest."""
    check_options(dat_frame_rate=frame_rate, extended=extended)

    def name(shape: str) -> str:
        return PRESTON_BLAIR[shape] if preston_blair else shape

    def frame(t: float) -> int:
        return 1 + int(frame_rate * round(t * 100) / 100)

    lines, last = ["MohoSwitch1"], 0
    for c in cues:
        if frame(c.start) != last:
            last = frame(c.start)
            lines.append(f"{last} {name(c.shape)}")
    end = frame(duration)
    lines.append(f"{end + 1 if end == last else end} {name(_rest(extended))}")
    return "\n".join(lines) + "\n"


def write_cues(path: str | Path, cues: list[Cue], duration: float, sound_file: str | Path,
               dat_frame_rate: float = 24.0, preston_blair: bool = False,
               extended: str = EXTENDED) -> Path:
    """Write the cues to `path` in the format its suffix names (.tsv, .json or .dat)."""
    path = Path(path)
    check_options([path], dat_frame_rate, preston_blair, extended)
    fmt = path.suffix.lower().lstrip(".")
    if fmt == "tsv":
        text = to_tsv(cues, duration, extended)
    elif fmt == "json":
        text = to_json(cues, duration, sound_file, extended)
    else:
        text = to_dat(cues, duration, dat_frame_rate, preston_blair, extended)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path
