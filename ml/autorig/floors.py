"""A visible-motion floor, and the lip and brow measures the evaluation shares.

The network answers heads unlike its training artists (a closed muzzle, a toon face) with
small motion. Where browInnerUp lifts the inner brows less than BROW_UP_FLOOR_MM, it is
scaled up to the floor (at most MAX_BOOST times); human heads of either training family
lift 2-4 mm, so the floor leaves them alone. The brow measure is linear in the shape, so
scaling reaches the floor exactly. The jaw gets no such floor: the lip-gap measure is
not linear once a weak jawOpen folds the lower lip over the chin (Suzanne), and scaling
such a shape makes it worse. Both measures are the evaluation's own
(`lab/autorig/metrics.py` imports them), in the canonical frame: mm with the eye
centres 63 mm apart at (+-31.5, 0, 0), +X the subject's left, -Y forward, +Z up.
"""
from __future__ import annotations

import numpy as np

from ..arkit import INDEX

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


def inner_lip_gap_mm(verts: np.ndarray, deltas: np.ndarray, skin: np.ndarray,
                     shape: str = "jawOpen") -> float:
    """How far the lips part at the mouth's centre line at `shape` = 1, in mm (NaN where
    no lip strip lies where a human mouth would be).

    The lip-surface vertices are the skin in the mid-sagittal strip (|x| < LIP_STRIP_MM)
    between nose base and chin, in front of the eye centres (y < 0; the back of the neck
    lies in the same heights), on the front surface at rest (within LIP_DEPTH_MM of the
    frontmost strip vertex within LIP_BIN_MM of their height). Sorted by posed height, the
    mouth is the split between consecutive vertices whose gap grew most from rest; the
    opening is its posed gap less any gap there at rest, so a mouth that does not open
    measures 0. verts [V,3], deltas [52,V,3], skin [V] bool.
    """
    x, y, z = verts.T
    sel = np.flatnonzero(skin & (np.abs(x) < LIP_STRIP_MM) & (y < 0.0)
                         & (z > LIP_Z_MM[0]) & (z < LIP_Z_MM[1]))
    near = np.abs(z[sel, None] - z[None, sel]) < LIP_BIN_MM
    front = np.where(near, y[None, sel], np.inf).min(axis=1)
    lips = sel[y[sel] < front + LIP_DEPTH_MM]
    if len(lips) < 2:
        return float("nan")
    posed = z[lips] + deltas[INDEX[shape], lips, 2]
    order = np.argsort(posed)
    zp, zn = posed[order], z[lips][order]
    posed_gap = np.diff(zp)
    # Rest gap across the same split: lowest above it minus highest below it.
    rest_gap = np.minimum.accumulate(zn[::-1])[::-1][1:] - np.maximum.accumulate(zn)[:-1]
    best = np.argmax(posed_gap - rest_gap)
    return float(posed_gap[best] - max(rest_gap[best], 0.0))


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


def apply_floors(verts: np.ndarray, deltas: np.ndarray, skin: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """deltas [52,V,3] with browInnerUp scaled up to the floor where it falls short;
    returns (deltas, notes saying what was scaled)."""
    measured = brow_inner_up(verts, deltas, skin)
    factor = _boost(measured, BROW_UP_FLOOR_MM)
    if factor == 1.0:
        return deltas, []
    deltas[INDEX["browInnerUp"]] *= factor
    return deltas, [f"inner brows rose only {measured:.1f} mm (at 63 mm between the eyes): "
                    f"browInnerUp scaled x{factor:.1f}"]
