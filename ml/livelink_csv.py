"""Read and write Epic's Live Link Face CSV takes (bpy-free).

A take is `Timecode,BlendShapeCount,<52 shapes>,<9 head/eye rotations>` per row, with
timecodes `HH:MM:SS:FF.sss` (FF a frame at the capture rate, .sss the sub-frame).
Values are written in float32's shortest round-trip form, so read -> write -> read is exact.

Value checks, the same on read and on write: NaN and infinity are refused; shape weights
belong in 0..1, and those a little outside (WEIGHT_CLAMP_RANGE, capture overshoot or a
slider pushed past 1) are clamped with one warning naming the worst cell, while weights
beyond it or rotations beyond ROTATION_LIMIT radians are refused (a corrupted file or
another format: baking them would be garbage). Warnings are kept in LiveLinkTake.warnings
(read) or returned (write), and issued as LiveLinkCsvWarning.
"""
from __future__ import annotations

import csv
import io
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .arkit import (ARKIT_NAMES, LIVELINK_COLUMNS, LIVELINK_ROTATION_COLUMNS,
                    LIVELINK_SHAPE_COLUMNS, LIVELINK_TO_ARKIT, NUM_SHAPES, arkit_from_column)

STANDARD_RATES = (24, 25, 30, 50, 60)
DEFAULT_FPS = 60  # Live Link Face's default capture rate
BLENDSHAPE_COUNT = 61  # 52 shapes + 9 rotations, as the app writes it
WEIGHT_CLAMP_RANGE = (-1.0, 2.0)  # weights in here are clamped into 0..1, beyond: refused
ROTATION_LIMIT = 2 * np.pi  # radians; head and eye angles beyond a full turn are refused
_TIMECODE = re.compile(r"^(\d+):(\d\d):(\d\d)[:;](\d+(?:\.\d+)?)$")
# Non-shape columns by lower-case name (shapes match through arkit_from_column).
_OTHER_COLUMNS = {n.lower(): n for n in ("Timecode", "BlendShapeCount") + LIVELINK_ROTATION_COLUMNS}


class LiveLinkCsvError(ValueError):
    """A Live Link Face CSV that cannot be read, or a take that cannot be written."""


class LiveLinkCsvWarning(UserWarning):
    """Values changed on the way in or out (weights clamped into 0..1)."""


@dataclass
class LiveLinkTake:
    """One take: times [T] float64 s (from the first row), weights [T,52] float32 in ARKit
    order, rotations [T,9] float32 in LIVELINK_ROTATION_COLUMNS order, the rows' timecodes
    and the frame rate they count in."""
    times: np.ndarray
    weights: np.ndarray
    rotations: np.ndarray
    timecodes: list[str] = field(default_factory=list)
    fps: int = DEFAULT_FPS
    warnings: list[str] = field(default_factory=list)


def read_livelink_csv(path, fps: float | None = None) -> LiveLinkTake:
    """Parse a Live Link Face CSV; `fps` is the timecode frame rate (inferred when None)."""
    path = Path(path)
    if not path.is_file():
        raise LiveLinkCsvError(f"Live Link CSV not found: {path}")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise LiveLinkCsvError(f"cannot read {path}: {exc}; a Live Link Face CSV is UTF-8 "
                               "text") from None
    # Keep file line numbers for messages; blank lines carry no data.
    try:
        lines = [(n, row) for n, row in enumerate(csv.reader(io.StringIO(text)), start=1)
                 if any(c.strip() for c in row)]
    except csv.Error as exc:  # e.g. a NUL byte: a binary file or a damaged take
        raise LiveLinkCsvError(f"{path}: not CSV text ({exc}); is this a Live Link Face "
                               "CSV?") from None
    if not lines:
        raise LiveLinkCsvError(f"{path} is empty")
    header = [h.strip() for h in lines[0][1]]
    while header and not header[-1]:  # trailing commas
        header.pop()
    cols = _match_columns(path, header)
    width = len(header)
    rows = []
    for n, row in lines[1:]:
        if len(row) > width and not any(c.strip() for c in row[width:]):
            row = row[:width]
        if len(row) != width:
            raise LiveLinkCsvError(f"{path} line {n}: {len(row)} values, header has {width} columns")
        rows.append(row)
    if not rows:
        raise LiveLinkCsvError(f"{path} has a header but no data rows")
    cells = np.array(rows, dtype=str)
    where = [f"{path} line {n}" for n, _ in lines[1:]]

    rot_cols = [cols.get(name) for name in LIVELINK_ROTATION_COLUMNS]
    present = [i for i, c in enumerate(rot_cols) if c is not None]
    value_cols = [cols[name] for name in ARKIT_NAMES] + [rot_cols[i] for i in present]
    names = [header[c] for c in value_cols]
    values = _parse_values(cells, value_cols, names, where)
    notes = _check_values(values, len(present), lambda r, c: f"{where[r]}, column {names[c]}",
                          str(path))
    rotations = np.zeros((len(rows), len(LIVELINK_ROTATION_COLUMNS)), dtype=np.float32)
    rotations[:, present] = values[:, NUM_SHAPES:]

    timecodes = [c.strip() for c in cells[:, cols["Timecode"]]]
    whole, frames = _split_timecodes(timecodes, where)
    rate = _infer_fps(whole, frames, where) if fps is None else _check_fps(fps)
    if frames.max() >= rate:
        i = int(np.argmax(frames))
        raise LiveLinkCsvError(f"{where[i]}: frame {timecodes[i]} is past the {rate} fps frame range")
    times = (whole - whole[0]) + (frames - frames[0]) / rate
    back = np.flatnonzero(np.diff(times) < 0)
    if len(back):
        i = back[0] + 1
        raise LiveLinkCsvError(f"{where[i]}: timecode {timecodes[i]} goes back in time "
                               f"(after {timecodes[i - 1]})")
    return LiveLinkTake(times=times, weights=values[:, :NUM_SHAPES].astype(np.float32),
                        rotations=rotations, timecodes=timecodes, fps=rate, warnings=notes)


def write_livelink_csv(path, take: LiveLinkTake, fps: float = DEFAULT_FPS,
                       start_timecode: str = "00:00:00:00.000") -> list[str]:
    """Write `take` as a Live Link Face CSV. Its own timecodes are kept; a take without any
    gets timecodes at `fps` from its times, counted from `start_timecode`. Returns the
    warnings (weights clamped into 0..1); nothing is written when a value is refused."""
    weights = np.asarray(take.weights)
    rotations = np.asarray(take.rotations)
    times = np.asarray(take.times, dtype=np.float64)
    t = len(times)
    if weights.shape != (t, NUM_SHAPES) or rotations.shape != (t, len(LIVELINK_ROTATION_COLUMNS)):
        raise LiveLinkCsvError(f"take shapes do not match: times {times.shape}, weights {weights.shape} "
                               f"(want [T,52]), rotations {rotations.shape} (want [T,9])")
    if len(take.timecodes) not in (0, t):
        raise LiveLinkCsvError(f"take has {len(take.timecodes)} timecodes for {t} rows")
    values = np.concatenate([weights[:, LIVELINK_TO_ARKIT], rotations], axis=1).astype(np.float32)
    if not (np.isfinite(values).all() and np.isfinite(times).all()):
        raise LiveLinkCsvError("take contains NaN or infinite values")
    # The checks run in ARKit order (as on read); the written columns are Live Link's.
    checked = np.concatenate([weights, rotations], axis=1).astype(np.float64)
    names = list(ARKIT_NAMES) + list(LIVELINK_ROTATION_COLUMNS)
    notes = _check_values(checked, len(LIVELINK_ROTATION_COLUMNS),
                          lambda r, c: f"row {r + 1} ({times[r]:.3f} s), {names[c]}", "the take")
    values = np.concatenate([checked[:, :NUM_SHAPES][:, LIVELINK_TO_ARKIT],
                             checked[:, NUM_SHAPES:]], axis=1).astype(np.float32)
    timecodes = list(take.timecodes) or _timecodes(times, _check_fps(fps), start_timecode)
    cells = values.astype(str)  # numpy's shortest text that reads back to the same float32
    out = [",".join(LIVELINK_COLUMNS)]
    out += [f"{tc},{BLENDSHAPE_COUNT}," + ",".join(row) for tc, row in zip(timecodes, cells)]
    Path(path).write_text("\n".join(out) + "\n", encoding="utf-8")
    return notes


def _match_columns(path: Path, header: list[str]) -> dict[str, int]:
    """Header positions keyed by ARKit name (shapes) or LIVELINK_COLUMNS name (the rest)."""
    found: dict[str, int] = {}
    unknown, duplicates = [], []
    for pos, raw in enumerate(header):
        name = arkit_from_column(raw) or _OTHER_COLUMNS.get(raw.lower())
        if name is None:
            unknown.append(raw or f"<unnamed column {pos + 1}>")
        elif name in found:
            duplicates.append(raw)
        else:
            found[name] = pos
    if "Timecode" not in found:
        raise LiveLinkCsvError(f"{path}: no Timecode column in the header, so this is not a Live "
                               f"Link Face CSV (header starts {','.join(header[:3])!r})")
    if unknown:
        raise LiveLinkCsvError(f"{path}: unknown columns {', '.join(unknown)}")
    if duplicates:
        raise LiveLinkCsvError(f"{path}: duplicate columns {', '.join(duplicates)}")
    missing = [c for c in LIVELINK_SHAPE_COLUMNS if arkit_from_column(c) not in found]
    if missing:
        raise LiveLinkCsvError(f"{path}: missing blendshape columns {', '.join(missing)}")
    return found


def _parse_values(cells: np.ndarray, columns: list[int], names: list[str],
                  where: list[str]) -> np.ndarray:
    """[T, len(columns)] float64 from the text cells; the first bad cell is named in the error."""
    block = cells[:, columns]  # numpy's float parsing ignores surrounding spaces
    try:
        values = block.astype(np.float64)
    except ValueError:
        r, c = next(rc for rc, text in np.ndenumerate(block) if not _is_number(text))
        raise LiveLinkCsvError(f"{where[r]}, column {names[c]}: "
                               f"not a number: {block[r, c]!r}") from None
    bad = np.argwhere(~np.isfinite(values))
    if len(bad):
        r, c = bad[0]
        raise LiveLinkCsvError(f"{where[r]}, column {names[c]}: {block[r, c]!r} is not finite")
    return values


def _check_values(values: np.ndarray, n_rotations: int, where, what: str) -> list[str]:
    """Clamp weights (the first NUM_SHAPES columns of values [T, 52 + n_rotations], in
    place) into 0..1 when inside WEIGHT_CLAMP_RANGE, refuse the rest and rotations beyond
    ROTATION_LIMIT. `where(row, col)` names a cell. Returns the warnings."""
    weights = values[:, :NUM_SHAPES]
    lo, hi = WEIGHT_CLAMP_RANGE
    far = np.argwhere((weights < lo) | (weights > hi))
    if len(far):
        r, c = far[0]
        raise LiveLinkCsvError(f"{where(r, c)}: {weights[r, c]:g} is not a blendshape weight "
                               f"(0..1; {lo:g}..{hi:g} would be clamped), and {len(far)} value(s) "
                               "like it: the file is damaged or not a Live Link Face take")
    rot = values[:, NUM_SHAPES:NUM_SHAPES + n_rotations]
    wild = np.argwhere(np.abs(rot) > ROTATION_LIMIT)
    if len(wild):
        r, c = wild[0]
        raise LiveLinkCsvError(f"{where(r, NUM_SHAPES + c)}: {rot[r, c]:g} is not a rotation "
                               f"(radians within +-{ROTATION_LIMIT:.2f}): the file is damaged or "
                               "not a Live Link Face take")
    out = np.argwhere((weights < 0) | (weights > 1))
    if not len(out):
        return []
    excess = np.maximum(weights - 1, -weights)
    r, c = np.unravel_index(np.argmax(excess), weights.shape)
    msg = (f"{what}: {len(out)} blendshape weight(s) outside 0..1 clamped into it (the worst: "
           f"{weights[r, c]:g} at {where(r, c)})")
    np.clip(weights, 0.0, 1.0, out=weights)
    warnings.warn(msg, LiveLinkCsvWarning, stacklevel=3)
    return [msg]


def _is_number(text: str) -> bool:
    """Whether numpy reads `text` as a float (the same rule as the bulk conversion)."""
    try:
        np.array(text).astype(np.float64)
    except ValueError:
        return False
    return True


def _split_timecodes(timecodes: list[str], where: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Timecodes -> (whole seconds [T] int64, frame incl. sub-frame [T] float64)."""
    matches = [_TIMECODE.match(tc) for tc in timecodes]
    bad = [i for i, m in enumerate(matches) if m is None or int(m[2]) >= 60 or int(m[3]) >= 60]
    if bad:
        raise LiveLinkCsvError(f"{where[bad[0]]}: cannot read timecode {timecodes[bad[0]]!r} "
                               "(expected HH:MM:SS:FF.sss)")
    parts = np.array([m.groups() for m in matches])
    h, m, s = parts[:, :3].astype(np.int64).T
    return h * 3600 + m * 60 + s, parts[:, 3].astype(np.float64)


def _infer_fps(whole: np.ndarray, frames: np.ndarray, where: list[str]) -> int:
    """The standard rate whose frame range the take's frame numbers fill; 60 when the take
    never crosses a second (its frame numbers then say nothing about the rate)."""
    top = int(frames.max())
    if top >= STANDARD_RATES[-1]:
        raise LiveLinkCsvError(f"{where[int(np.argmax(frames))]}: frame number {top} is past every "
                               f"standard rate {STANDARD_RATES}; pass fps explicitly")
    if whole.min() == whole.max():
        return DEFAULT_FPS
    return next(r for r in STANDARD_RATES if r > top)


def _check_fps(fps: float) -> int:
    """Timecode frame rates are whole numbers of frames per second."""
    if not (float(fps) > 0 and float(fps).is_integer()):
        raise LiveLinkCsvError(f"fps must be a positive whole number, got {fps!r}")
    return int(fps)


def _timecodes(times: np.ndarray, fps: int, start_timecode: str) -> list[str]:
    """`HH:MM:SS:FF.sss` timecodes for `times` seconds after `start_timecode`."""
    whole, frames = _split_timecodes([start_timecode.strip()], ["start_timecode"])
    milli = np.rint(((whole[0] * fps + frames[0]) + times * fps) * 1000).astype(np.int64)
    if (milli < 0).any() or (np.diff(milli) < 0).any():
        raise LiveLinkCsvError("take times must not go back in time or before start_timecode")
    frame, sub = np.divmod(milli, 1000)
    sec, ff = np.divmod(frame, fps)
    h, rest = np.divmod(sec, 3600)
    m, s = np.divmod(rest, 60)
    return [f"{a:02d}:{b:02d}:{c:02d}:{d:02d}.{e:03d}" for a, b, c, d, e in zip(h, m, s, ff, sub)]
